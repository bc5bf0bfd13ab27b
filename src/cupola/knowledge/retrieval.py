"""Retrieval math: score normalisation, fusion and near-duplicate removal.

Pure functions over ``{chunk id: score}`` maps, so they can be checked by hand.

* Reciprocal rank fusion (Cormack et al., 2009): ``sum_s w_s / (k + rank_s)`` with ranks from 1;
  a chunk missing from a signal's list gets nothing from it. Scale-free, so BM25 and cosine
  need no calibration. ``k`` = 60 by default.
* Weighted fusion: each signal's scores min-max normalised to [0, 1] over its candidates, then
  ``sum_s w_s * norm_s`` (a chunk missing from a signal gets 0 from it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cupola.errors import InvalidParameter

Mode = Literal["lexical", "semantic", "hybrid"]
Fusion = Literal["rrf", "weighted"]
MODES = ("lexical", "semantic", "hybrid")
Scores = Mapping[int, float]


@dataclass
class SearchOptions:
    mode: Mode = "hybrid"
    k: int = 5
    fusion: Fusion = "rrf"
    rrf_k: float = 60.0
    weights: dict[str, float] = field(default_factory=lambda: {"lexical": 1.0, "semantic": 1.0})
    candidates: int | None = None  # per signal; default max(50, 4k)
    filters: dict[str, Any] | None = None
    per_document: bool = False  # at most one chunk per document
    dedupe: float = 0.95  # drop a chunk this similar (cosine) to a better one; 1 keeps all

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidParameter(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}", param="mode")
        if self.fusion not in ("rrf", "weighted"):
            raise InvalidParameter(f"fusion must be 'rrf' or 'weighted', not {self.fusion!r}", param="fusion")
        if not 1 <= self.k <= 1000:
            raise InvalidParameter("k must be between 1 and 1000", param="k")
        if self.rrf_k <= 0:
            raise InvalidParameter("rrf_k must be positive", param="rrf_k")
        unknown = set(self.weights) - {"lexical", "semantic"}
        if unknown or any(w < 0 for w in self.weights.values()):
            raise InvalidParameter("weights take 'lexical' and 'semantic', each >= 0", param="weights")

    @property
    def depth(self) -> int:
        return self.candidates or max(50, 4 * self.k)


def ranks(scores: Scores) -> dict[int, int]:
    """1-based ranks, best (highest) score first; ties keep insertion order."""
    ordered = sorted(scores, key=lambda i: -scores[i])
    return {cid: r for r, cid in enumerate(ordered, start=1)}


def rrf(signals: Mapping[str, Scores], k: float = 60.0, weights: Mapping[str, float] | None = None) -> dict[int, float]:
    fused: dict[int, float] = {}
    for name, scores in signals.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for cid, r in ranks(scores).items():
            fused[cid] = fused.get(cid, 0.0) + w / (k + r)
    return fused


def min_max(scores: Scores) -> dict[int, float]:
    """Scores mapped onto [0, 1]; when all are equal, all become 1."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi == lo:
        return {cid: 1.0 for cid in scores}
    return {cid: (s - lo) / (hi - lo) for cid, s in scores.items()}


def weighted(signals: Mapping[str, Scores], weights: Mapping[str, float] | None = None) -> dict[int, float]:
    fused: dict[int, float] = {}
    for name, scores in signals.items():
        w = 1.0 if weights is None else weights.get(name, 1.0)
        for cid, s in min_max(scores).items():
            fused[cid] = fused.get(cid, 0.0) + w * s
    return fused


def fuse(signals: Mapping[str, Scores], options: SearchOptions) -> dict[int, float]:
    if len(signals) == 1:
        return dict(next(iter(signals.values())))
    if options.fusion == "rrf":
        return rrf(signals, options.rrf_k, options.weights)
    return weighted(signals, options.weights)


def top_k(similarities: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first (O(n) selection, then a small sort)."""
    k = min(k, similarities.shape[0])
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-similarities, k - 1)[:k]
    return part[np.argsort(-similarities[part], kind="stable")]


def select(order: list[int], k: int, *, vectors: Mapping[int, np.ndarray], texts: Mapping[int, str],
           documents: Mapping[int, str], dedupe: float, per_document: bool) -> list[int]:
    """The first ``k`` chunk ids of ``order`` that are not near-duplicates of a better one."""
    kept: list[int] = []
    kept_vecs: list[np.ndarray] = []
    seen_text: set[str] = set()
    seen_docs: set[str] = set()
    for cid in order:
        if len(kept) >= k:
            break
        text = " ".join(texts.get(cid, "").lower().split())
        if text in seen_text or (per_document and documents.get(cid) in seen_docs):
            continue
        vec = vectors.get(cid)
        if vec is not None and kept_vecs and dedupe < 1 and float(np.max(np.stack(kept_vecs) @ vec)) >= dedupe:
            continue
        kept.append(cid)
        seen_text.add(text)
        seen_docs.add(documents.get(cid, ""))
        if vec is not None:
            kept_vecs.append(vec)
    return kept
