"""Quality scorers for routers: from a request's features, the probability that each candidate
answers it acceptably.

Two kinds, each a few dozen lines of numpy (small data: hundreds to thousands of prompts):

* ``logistic``: one L2-regularised logistic regression per candidate, fitted by Newton's method
  with soft labels (scores 0..1).
* ``neighbours``: similarity-weighted k nearest neighbours, after RouteLLM's similarity-weighted
  ranking: a request's score for a candidate is the candidate's score on the ``k`` most similar
  training prompts (cosine of their embeddings), weighted by ``exp(sharpness * cosine)`` and shrunk
  towards the candidate's mean by one pseudo-prompt.

`select` picks the kind and its settings (``l2``; ``k`` and ``sharpness``) with the lowest
cross-validated log loss on the training data, so nothing is tuned by hand on an evaluation set.
A fitted scorer is a JSON-able ``state`` dict (stored in the trained router's file).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("logistic", "neighbours")
L2_GRID = (0.1, 1.0, 10.0, 100.0)
K_GRID = (5, 10, 20, 40)
SHARPNESS_GRID = (5.0, 20.0)


@dataclass
class Labels:
    """One candidate's training targets: rows of the feature matrix and their scores (0..1)."""

    rows: np.ndarray
    scores: np.ndarray


# -- logistic regression ----------------------------------------------------------------------------

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 25) -> np.ndarray:
    """Weights (bias last) of an L2-regularised logistic regression with soft labels ``y`` in 0..1,
    by Newton's method (the problem is small and convex; a few iterations converge)."""
    xb = np.hstack([x, np.ones((x.shape[0], 1), dtype=x.dtype)]).astype(np.float64)
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        grad = xb.T @ (p - y) + reg * w
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + np.diag(reg) + 1e-9 * np.eye(xb.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-6:
            break
    return w


def predict_logistic(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x @ w[:-1] + w[-1], -30, 30)))


# -- similarity-weighted nearest neighbours ----------------------------------------------------------

def _unit(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def similarity(a: np.ndarray, b: np.ndarray, columns: int | None = None, flags: list[int] | None = None) -> np.ndarray:
    """Cosine of the first ``columns`` columns (the embedding), minus 1 for every ``flags`` column
    (tools present, structured output present) on which the two rows differ."""
    sims = _unit(a[:, :columns]) @ _unit(b[:, :columns]).T
    for col in flags or []:
        sims -= np.abs(a[:, col][:, None] - b[:, col][None, :])
    return sims


def predict_neighbours(train_x: np.ndarray, labels: Labels, x: np.ndarray, params: dict[str, Any],
                       prior: float) -> np.ndarray:
    """Similarity-weighted mean score of the k most similar labelled prompts, shrunk to ``prior``."""
    sharpness = params["sharpness"]
    sims = similarity(x, train_x[labels.rows], params.get("columns"), params.get("flags"))
    k = min(params["k"], sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, axis=1)
    w = np.exp(sharpness * (s - 1.0))  # relative to a perfect match: no overflow
    pseudo = math.exp(-0.5 * sharpness)  # the prior counts as one neighbour at cosine 0.5
    return ((w * labels.scores[top]).sum(axis=1) + prior * pseudo) / (w.sum(axis=1) + pseudo)


# -- fitting, predicting, selecting -------------------------------------------------------------------

def fit(kind: str, params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels]) -> dict[str, Any]:
    """A fitted scorer's state (JSON-able)."""
    if kind == "logistic":
        return {"kind": kind, "params": params,
                "weights": {c: fit_logistic(x[lab.rows], lab.scores, params["l2"]).tolist()
                            for c, lab in labels.items()}}
    if kind == "neighbours":
        used = np.unique(np.concatenate([lab.rows for lab in labels.values()]))
        remap = {int(r): i for i, r in enumerate(used)}
        return {"kind": kind, "params": params, "x": _pack(x[used]),
                "labels": {c: {"rows": [remap[int(r)] for r in lab.rows], "scores": lab.scores.tolist()}
                           for c, lab in labels.items()}}
    raise ValueError(f"unknown scorer kind {kind!r}")


def predict(state: dict[str, Any], x: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted quality per candidate for the feature rows ``x``."""
    if state["kind"] == "logistic":
        return {c: predict_logistic(np.asarray(w), x) for c, w in state["weights"].items()}
    train_x = _unpack(state["x"])
    params = state["params"]
    out = {}
    for c, lab in state["labels"].items():
        labels = Labels(np.asarray(lab["rows"], dtype=int), np.asarray(lab["scores"], dtype=np.float64))
        out[c] = predict_neighbours(train_x, labels, x, params, float(labels.scores.mean()))
    return out


def out_of_fold(kind: str, params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels],
                fold_of: np.ndarray) -> dict[str, np.ndarray]:
    """Every prompt's predicted quality per candidate from a scorer fitted without its fold."""
    out = {c: np.full(x.shape[0], np.nan) for c in labels}
    for f in np.unique(fold_of):
        held = fold_of == f
        fit_labels = {}
        for c, lab in labels.items():
            keep = ~held[lab.rows]
            if keep.any():
                fit_labels[c] = Labels(lab.rows[keep], lab.scores[keep])
        if len(fit_labels) < len(labels):
            continue  # a candidate has labels only in this fold: nothing to learn from
        for c, p in predict(fit(kind, params, x, fit_labels), x[held]).items():
            out[c][held] = p
    return out


def cv_loss(kind: str, params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels],
            fold_of: np.ndarray) -> float:
    """Mean held-out log loss over every candidate's labelled rows (prompts split into folds)."""
    predicted = out_of_fold(kind, params, x, labels, fold_of)
    total, n = 0.0, 0
    for c, lab in labels.items():
        p = predicted[c][lab.rows]
        known = ~np.isnan(p)
        p = np.clip(p[known], 1e-6, 1 - 1e-6)
        y = lab.scores[known]
        total += float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())
        n += len(y)
    return total / n if n else math.inf


def folds(prompts: int, count: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(prompts) % count


def select(x: np.ndarray, labels: dict[str, Labels], options: list[tuple[str, dict[str, Any]]],
           count: int = 4) -> tuple[str, dict[str, Any], dict[str, float]]:
    """Among ``options`` (kind, settings), the one with the lowest cross-validated log loss, and
    every tried loss. A single option is returned without cross-validation."""
    if len(options) == 1:
        return options[0][0], options[0][1], {}
    fold_of = folds(x.shape[0], count)
    tried: dict[str, float] = {}
    best: tuple[float, str, dict[str, Any]] = (math.inf, *options[0])
    for kind, params in options:
        loss = cv_loss(kind, params, x, labels, fold_of)
        tried[f"{kind} {_label(params)}"] = round(loss, 5)
        if loss < best[0]:
            best = (loss, kind, params)
    return best[1], best[2], tried


def options(kinds: tuple[str, ...] = KINDS, l2: float | None = None,
            layout: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The settings cross-validation chooses among (a given ``l2`` pins the logistic one).
    ``layout`` tells neighbours which columns to compare (``columns``, ``flags``: see `similarity`)."""
    out: list[tuple[str, dict[str, Any]]] = []
    for kind in kinds:
        if kind == "logistic":
            out += [("logistic", {"l2": v}) for v in ([l2] if l2 is not None else L2_GRID)]
        elif kind == "neighbours":
            out += [("neighbours", {"k": k, "sharpness": s, **(layout or {})}) for k in K_GRID for s in SHARPNESS_GRID]
        else:
            raise ValueError(f"unknown scorer kind {kind!r}")
    return out


def _label(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:g}" for k, v in params.items() if isinstance(v, (int, float)) and k != "columns")


def _pack(x: np.ndarray) -> dict[str, Any]:
    """A matrix as base64 float16 (a tenth of the size of JSON numbers; cosine error < 1e-3)."""
    data = np.ascontiguousarray(x, dtype="<f2")
    return {"shape": list(x.shape), "f16": base64.b64encode(data.tobytes()).decode()}


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(packed["f16"]), dtype="<f2")
    return data.reshape(packed["shape"]).astype(np.float32)
