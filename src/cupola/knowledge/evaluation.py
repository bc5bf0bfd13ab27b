"""Retrieval evaluation on BEIR-format datasets: nDCG@10, Recall@10/100, MRR@10, latency.

A BEIR dataset is a folder with ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
(``_id``, ``text``) and ``qrels/<split>.tsv`` (``query-id``, ``corpus-id``, ``score``). The corpus
is ingested into a knowledge base (skipping what is already there), then every judged query is
searched in each mode and ranked documents are scored against the judgments.

Metric definitions follow trec_eval (as BEIR reports them): gains are the judged scores, the
discount is ``log2(rank + 1)``, the ideal ranking sorts all judged documents by score.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cupola.errors import NotFound, UsageError
from cupola.knowledge.documents import Document
from cupola.knowledge.retrieval import SearchOptions

Qrels = dict[str, dict[str, int]]


def ndcg_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    dcg = sum(judged.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    relevant = {d for d, g in judged.items() if g > 0}
    return len(relevant.intersection(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if judged.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else 0.0


@dataclass
class Dataset:
    path: Path
    split: str
    queries: dict[str, str]
    qrels: Qrels

    @classmethod
    def load(cls, path: Path, split: str | None = None) -> "Dataset":
        path = Path(path)
        for name in ("corpus.jsonl", "queries.jsonl"):
            if not (path / name).is_file():
                raise UsageError(f"{path} is not a BEIR dataset: {name} is missing",
                                 hint="a BEIR folder holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
        splits = sorted(p.stem for p in (path / "qrels").glob("*.tsv"))
        if not splits:
            raise UsageError(f"{path}/qrels holds no <split>.tsv judgments")
        if split is None:
            split = next((s for s in ("test", "dev", "train") if s in splits), splits[0])
        elif split not in splits:
            raise NotFound(f"no qrels/{split}.tsv in {path}; splits: {', '.join(splits)}", param="split")
        qrels: Qrels = {}
        with open(path / "qrels" / f"{split}.tsv", newline="") as f:
            reader = csv.reader(f, delimiter="\t")
            for row in reader:
                if len(row) < 3 or not row[2].strip().lstrip("-").isdigit():
                    continue  # header or blank line
                qrels.setdefault(row[0], {})[row[1]] = int(row[2])
        queries = {}
        for rec in _jsonl(path / "queries.jsonl"):
            if str(rec["_id"]) in qrels:
                queries[str(rec["_id"])] = rec["text"]
        return cls(path, split, queries, qrels)

    def corpus(self) -> Iterator[Document]:
        for rec in _jsonl(self.path / "corpus.jsonl"):
            meta = {k: v for k, v in rec.items() if k not in ("_id", "title", "text")}
            yield Document(id=str(rec["_id"]), text=rec.get("text") or "", title=rec.get("title") or "",
                           metadata=meta.get("metadata") if isinstance(meta.get("metadata"), dict) else {})

    def corpus_size(self) -> int:
        with open(self.path / "corpus.jsonl", "rb") as f:
            return sum(1 for line in f if line.strip())


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{n}: not valid JSON: {exc}") from exc


async def evaluate(service: Any, dataset: Dataset, base: str, modes: Sequence[str], *,
                   options: SearchOptions | None = None, limit: int | None = None,
                   progress: Callable[[str, int, int | None], None] | None = None) -> dict[str, Any]:
    """Search every judged query in each mode; return metrics and latencies per mode."""
    template = options or SearchOptions()
    depth = max(100, template.k)
    query_ids = sorted(dataset.queries)[:limit] if limit else sorted(dataset.queries)
    results: dict[str, Any] = {}
    for mode in modes:
        opts = SearchOptions(mode=mode, k=depth, fusion=template.fusion, rrf_k=template.rrf_k,
                             weights=template.weights, candidates=template.candidates, per_document=True,
                             dedupe=1.0)
        sums = {"ndcg@10": 0.0, "recall@10": 0.0, "recall@100": 0.0, "mrr@10": 0.0}
        latencies: list[float] = []
        used_modes: set[str] = set()
        for i, qid in enumerate(query_ids, 1):
            started = time.perf_counter()
            found = await service.search(base, dataset.queries[qid], opts)
            latencies.append((time.perf_counter() - started) * 1000)
            used_modes.add(found["mode"])
            ranked = [r["doc_id"] for r in found["results"]]
            judged = dataset.qrels[qid]
            sums["ndcg@10"] += ndcg_at(ranked, judged, 10)
            sums["recall@10"] += recall_at(ranked, judged, 10)
            sums["recall@100"] += recall_at(ranked, judged, 100)
            sums["mrr@10"] += mrr_at(ranked, judged, 10)
            if progress:
                progress(mode, i, len(query_ids))
        n = max(1, len(query_ids))
        results[mode] = {**{k: round(v / n, 4) for k, v in sums.items()},
                         "latency_ms": {"p50": round(percentile(latencies, 50), 2),
                                        "p95": round(percentile(latencies, 95), 2)},
                         "used_mode": "/".join(sorted(used_modes))}
    return {"dataset": str(dataset.path), "split": dataset.split, "queries": len(query_ids), "base": base,
            "k": depth, "modes": results}
