"""Quality scorers for routers: from a request's features, the probability that each candidate
answers it acceptably.

Three kinds, each a few dozen lines of numpy (small data: hundreds to thousands of prompts):

* ``logistic``: one L2-regularised logistic regression per candidate, fitted by Newton's method
  with soft labels (scores 0..1).
* ``neighbours``: similarity-weighted k nearest neighbours, after RouteLLM's similarity-weighted
  ranking: a request's score for a candidate is the candidate's score on the ``k`` most similar
  training prompts (cosine of their embeddings), weighted by ``exp(sharpness * cosine)`` and shrunk
  towards the candidate's mean by one pseudo-prompt.
* ``ensemble``: the mean of the two above (each with its own cross-validated settings).
* ``types``: when the training rows say what kind of task each prompt is (``category``, as
  `cupola eval export --router-data` writes it), a logistic regression per task type (one against
  the rest) gives a request's type probabilities, and a candidate's score is its mean score on each
  type weighted by them, plus ``beta`` times what the ``k`` most similar prompts of the most likely
  type scored above their type's mean. With ``slope`` (a ridge penalty), each type also has a slope
  on the prompt's log length, fitted on the scores around the type's mean: within a kind of task,
  longer prompts tend to be harder for a small model (or, for extraction, easier), and the length
  tells prompts of one type apart where their embeddings do not. Routing by task type is what tells
  a 135M model's easy requests from its hard ones; the neighbours then separate prompts within a type.

`select` picks the kind and its settings (``l2``; ``k`` and ``sharpness``) with the lowest
cross-validated log loss on the training data (5 folds stratified by which candidates passed,
repeated with 3 seeds; the spread over the repeats is kept), so nothing is tuned by hand on an
evaluation set.
A fitted scorer is a JSON-able ``state`` dict (stored in the trained router's file).
"""

from __future__ import annotations

import base64
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

KINDS = ("logistic", "neighbours", "ensemble")
TYPED = "types"  # offered only with a task type per prompt
ENSEMBLE_PARTS = ("logistic", "neighbours")
L2_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)
TYPE_L2_GRID = (0.01, 0.03, 0.1, 0.3)  # (types are few and separable: less shrinkage than a quality scorer's)
BETA_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
K_GRID = (5, 10, 20, 40)
SHARPNESS_GRID = (5.0, 20.0)
SLOPE_GRID: tuple[float | None, ...] = (None, 1.0, 3.0, 10.0)  # ridge of a type's length slope (None: no slope)


@dataclass
class Labels:
    """One candidate's training targets: rows of the feature matrix and their scores (0..1)."""

    rows: np.ndarray
    scores: np.ndarray


# -- logistic regression ----------------------------------------------------------------------------

def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iterations: int = 25) -> np.ndarray:
    """Weights (bias last) of an L2-regularised logistic regression with soft labels ``y`` in 0..1,
    by Newton's method (the problem is small and convex; a few iterations converge). With fewer
    rows than features (a few hundred prompts, 388 features) the steps are taken in the rows' dual
    space (w = x.T @ a): the same solution, a (rows+1)-sized system instead of a (features+1)-sized one."""
    if 0 < l2 and x.shape[0] < x.shape[1]:
        return _fit_logistic_dual(x.astype(np.float64), y, l2, iterations)
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


def _fit_logistic_dual(x: np.ndarray, y: np.ndarray, l2: float, iterations: int) -> np.ndarray:
    """Newton's method on (a, b) with w = x.T @ a (the representer theorem: the optimum lies in the
    rows' span); the bias b is not shrunk."""
    n = x.shape[0]
    gram = x @ x.T
    a, b = np.zeros(n), 0.0
    for _ in range(iterations):
        f = gram @ a + b
        p = 1.0 / (1.0 + np.exp(-np.clip(f, -30, 30)))
        d = p * (1 - p) + 1e-9
        system = np.empty((n + 1, n + 1))
        system[:n, :n] = d[:, None] * gram + l2 * np.eye(n)
        system[:n, n] = d
        system[n, :n] = d @ gram
        system[n, n] = d.sum()
        rhs = np.concatenate([p - y + l2 * a, [float((p - y).sum())]])
        step = np.linalg.solve(system, rhs)
        a -= step[:n]
        b -= float(step[n])
        if float(np.max(np.abs(step))) < 1e-7:
            break
    return np.concatenate([x.T @ a, [b]])


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
                       prior: float, sims: np.ndarray | None = None) -> np.ndarray:
    """Similarity-weighted mean score of the k most similar labelled prompts, shrunk to ``prior``.
    ``sims``: the similarities of ``x`` to every row of ``train_x``, if already computed."""
    sharpness = params["sharpness"]
    if sims is None:
        sims = similarity(x, train_x[labels.rows], params.get("columns"), params.get("flags"))
    else:
        sims = sims[:, labels.rows]
    k = min(params["k"], sims.shape[1])
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    s = np.take_along_axis(sims, top, axis=1)
    w = np.exp(sharpness * (s - 1.0))  # relative to a perfect match: no overflow
    pseudo = math.exp(-0.5 * sharpness)  # the prior counts as one neighbour at cosine 0.5
    return ((w * labels.scores[top]).sum(axis=1) + prior * pseudo) / (w.sum(axis=1) + pseudo)


# -- fitting, predicting, selecting -------------------------------------------------------------------

def fit(kind: str, params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels],
        types: list[str] | None = None) -> dict[str, Any]:
    """A fitted scorer's state (JSON-able). ``types``: each prompt's task type (the ``types`` kind)."""
    if kind == TYPED:
        if types is None:
            raise ValueError("the types scorer needs a task type per prompt")
        return _fit_types(params, x, labels, types)
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
    if kind == "ensemble":
        return {"kind": kind, "params": params,
                "parts": [fit(part, params[part], x, labels) for part in ENSEMBLE_PARTS]}
    raise ValueError(f"unknown scorer kind {kind!r}")


def _fit_types(params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels], types: list[str]) -> dict[str, Any]:
    used = np.unique(np.concatenate([lab.rows for lab in labels.values()]))
    names = sorted({types[i] for i in used})
    known = set(used.tolist())
    of = np.array([names.index(types[i]) if i in known else -1 for i in range(len(types))])
    weights = _type_weights(x, used, of[used], len(names), params["l2"])
    remap = {int(r): i for i, r in enumerate(used)}
    means, rows, slopes = {}, {}, {}
    ridge = params.get("slope")
    length = _length(x, params)
    centres = [float(length[used][of[used] == t].mean()) for t in range(len(names))]
    for c, lab in labels.items():
        prior = float(lab.scores.mean())
        kind = of[lab.rows]  # each type's mean, shrunk towards the candidate's mean by one pseudo-prompt
        mean = [float((lab.scores[kind == t].sum() + prior) / ((kind == t).sum() + 1)) for t in range(len(names))]
        residual = lab.scores - np.asarray(mean)[kind]
        if ridge is not None:  # within a type, longer prompts are harder: a ridge slope on the length
            d = length[lab.rows] - np.asarray(centres)[kind]
            slope = [float((d[kind == t] * residual[kind == t]).sum() / ((d[kind == t] ** 2).sum() + ridge))
                     for t in range(len(names))]
            slopes[c] = slope
            residual = residual - np.asarray(slope)[kind] * d
        means[c] = mean
        rows[c] = {"rows": [remap[int(r)] for r in lab.rows],
                   "scores": residual.tolist()}  # above or below the type's mean
    return {"kind": TYPED, "params": params, "types": names, "weights": weights, "means": means,
            "slopes": slopes, "centres": centres, "x": _pack(x[used]), "of": of[used].tolist(), "labels": rows}


def _length(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """The prompts' log length, ``log(1 + characters)`` (the column after the embedding, stored divided
    by 8: see `router.extra_features`)."""
    return x[:, params.get("columns", x.shape[1] - 3)] * 8.0


_TYPE_FITS: dict[tuple, list[list[float]]] = {}  # cross-validation refits the same classifier for every beta


def _type_weights(x: np.ndarray, used: np.ndarray, of: np.ndarray, types: int, l2: float) -> list[list[float]]:
    """One logistic regression per task type (that type against the rest) on the rows ``used``."""
    key = (x.shape, float(x[used].sum()), used.tobytes(), of.tobytes(), l2)
    if key not in _TYPE_FITS:
        if len(_TYPE_FITS) > 256:
            _TYPE_FITS.clear()
        _TYPE_FITS[key] = [fit_logistic(x[used], (of == t).astype(np.float64), l2).tolist() for t in range(types)]
    return _TYPE_FITS[key]


def _predict_types(state: dict[str, Any], x: np.ndarray) -> dict[str, np.ndarray]:
    params = state["params"]
    p = np.stack([predict_logistic(np.asarray(w), x) for w in state["weights"]], axis=1)
    p /= np.maximum(p.sum(axis=1, keepdims=True), 1e-12)
    likely = p.argmax(axis=1)
    beta = float(params.get("beta", 0.0))
    sims = similarity(x, _unpack(state["x"]), params.get("columns"), params.get("flags")) if beta else None
    of = np.asarray(state["of"], dtype=int)
    out = {}
    slopes = state.get("slopes") or {}
    d = _length(x, params)[:, None] - np.asarray(state.get("centres") or [0.0] * p.shape[1])[None, :] \
        if slopes else None
    for c, lab in state["labels"].items():
        score = p @ np.asarray(state["means"][c])
        if c in slopes:
            score += (p * d) @ np.asarray(slopes[c])
        if sims is not None:
            rows, above = np.asarray(lab["rows"], dtype=int), np.asarray(lab["scores"], dtype=np.float64)
            for t in np.unique(likely):
                mine, same = likely == t, of[rows] == t
                if same.any():  # the nearest prompts of the same type: how far above its mean they scored
                    score[mine] += beta * predict_neighbours(np.empty(0), Labels(rows[same], above[same]), x[mine],
                                                             params, 0.0, sims[mine])
        out[c] = np.clip(score, 1e-4, 1 - 1e-4)
    return out


def predict(state: dict[str, Any], x: np.ndarray) -> dict[str, np.ndarray]:
    """Predicted quality per candidate for the feature rows ``x``."""
    if state["kind"] == TYPED:
        return _predict_types(state, x)
    if state["kind"] == "logistic":
        return {c: predict_logistic(np.asarray(w), x) for c, w in state["weights"].items()}
    if state["kind"] == "ensemble":
        parts = [predict(part, x) for part in state["parts"]]
        return {c: np.mean([p[c] for p in parts], axis=0) for c in parts[0]}
    train_x = _unpack(state["x"])
    params = state["params"]
    sims = similarity(x, train_x, params.get("columns"), params.get("flags"))  # once for every candidate
    out = {}
    for c, lab in state["labels"].items():
        labels = Labels(np.asarray(lab["rows"], dtype=int), np.asarray(lab["scores"], dtype=np.float64))
        out[c] = predict_neighbours(train_x, labels, x, params, float(labels.scores.mean()), sims)
    return out


def out_of_fold(kind: str, params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels],
                fold_of: np.ndarray, types: list[str] | None = None) -> dict[str, np.ndarray]:
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
        for c, p in predict(fit(kind, params, x, fit_labels, types), x[held]).items():
            out[c][held] = p
    return out


def log_loss(predicted: dict[str, np.ndarray], labels: dict[str, Labels]) -> float:
    """Mean log loss of out-of-fold predictions over every candidate's labelled rows."""
    total, n = 0.0, 0
    for c, lab in labels.items():
        p = predicted[c][lab.rows]
        known = ~np.isnan(p)
        p = np.clip(p[known], 1e-6, 1 - 1e-6)
        y = lab.scores[known]
        total += float(-(y * np.log(p) + (1 - y) * np.log(1 - p)).sum())
        n += len(y)
    return total / n if n else math.inf


def cv_loss(kind: str, params: dict[str, Any], x: np.ndarray, labels: dict[str, Labels],
            fold_of: np.ndarray, types: list[str] | None = None) -> float:
    """Mean held-out log loss over every candidate's labelled rows (prompts split into folds)."""
    return log_loss(out_of_fold(kind, params, x, labels, fold_of, types), labels)


def strata(prompts: int, labels: dict[str, Labels]) -> np.ndarray:
    """A stratum per prompt: which candidates passed it (scores rounded; -1 where unlabelled), so
    that every fold gets its share of "only the strong one passes", "both pass", ... prompts."""
    key = np.zeros(prompts, dtype=np.int64)
    for c in sorted(labels):
        lab = labels[c]
        passed = np.full(prompts, 2)  # unlabelled
        passed[lab.rows] = np.round(lab.scores).astype(int)
        key = key * 3 + passed
    return key


def folds(prompts: int, count: int = 5, seed: int = 0, strata: np.ndarray | None = None) -> np.ndarray:
    """A fold per prompt, random (seeded) and, given ``strata``, balanced within each stratum."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.permutation(prompts) % count
    fold_of = np.zeros(prompts, dtype=int)
    offset = int(rng.integers(count))
    for value in np.unique(strata):
        members = rng.permutation(np.nonzero(strata == value)[0])
        fold_of[members] = (np.arange(len(members)) + offset) % count
        offset += len(members)
    return fold_of


@dataclass
class Selection:
    """What cross-validation chose, and every option's mean held-out loss and its spread (the
    standard deviation over the repeats with other folds)."""

    kind: str
    params: dict[str, Any]
    loss: float
    tried: dict[str, float]
    spread: dict[str, float]
    loss_sd: float = 0.0  # the chosen option's spread


def select(x: np.ndarray, labels: dict[str, Labels], options: list[tuple[str, dict[str, Any]]],
           count: int = 5, repeats: int = 3, ensemble: bool = True, require: str | None = None,
           types: list[str] | None = None) -> Selection:
    """Among ``options`` (kind, settings), the one with the lowest cross-validated log loss
    (``count`` folds stratified by which candidates passed, repeated with ``repeats`` seeds, losses
    averaged). With ``ensemble`` and both kinds among the options, the average of the best logistic
    and the best neighbours scorer is an option too (scored from their out-of-fold predictions).
    ``require`` restricts the choice to one kind (e.g. "ensemble"). A single option is returned
    without cross-validation."""
    if len(options) == 1:
        return Selection(options[0][0], options[0][1], math.nan, {}, {})
    n = x.shape[0]
    splits = [folds(n, min(count, n), seed, strata(n, labels)) for seed in range(repeats)]
    results: list[tuple[str, dict[str, Any], list[dict[str, np.ndarray]], list[float]]] = []
    for kind, params in options:
        oof = [out_of_fold(kind, params, x, labels, fold_of, types) for fold_of in splits]
        results.append((kind, params, oof, [log_loss(o, labels) for o in oof]))
    best_of = {k: min((r for r in results if r[0] == k), key=lambda r: np.mean(r[3]), default=None)
               for k in ENSEMBLE_PARTS}
    if ensemble and all(best_of.values()):
        parts = [best_of[k] for k in ENSEMBLE_PARTS]
        oof = [{c: np.mean([p[2][i][c] for p in parts], axis=0) for c in labels} for i in range(len(splits))]
        results.append(("ensemble", {k: p[1] for k, p in zip(ENSEMBLE_PARTS, parts)}, oof,
                        [log_loss(o, labels) for o in oof]))
    tried = {f"{kind} {_label(params)}": round(float(np.mean(losses)), 5) for kind, params, _, losses in results}
    spread = {f"{kind} {_label(params)}": round(float(np.std(losses)), 5) for kind, params, _, losses in results}
    eligible = [r for r in results if require is None or r[0] == require]
    if not eligible:
        raise ValueError(f"no {require} option among {[r[0] for r in results]}")
    kind, params, _, losses = min(eligible, key=lambda r: np.mean(r[3]))
    return Selection(kind, params, float(np.mean(losses)), tried, spread, float(np.std(losses)))


def options(kinds: tuple[str, ...] = KINDS, l2: float | None = None,
            layout: dict[str, Any] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The settings cross-validation chooses among (a given ``l2`` pins the logistic one).
    ``layout`` tells neighbours which columns to compare (``columns``, ``flags``: see `similarity`).
    The ensemble is not listed: `select` builds it from the best of each kind."""
    out: list[tuple[str, dict[str, Any]]] = []
    for kind in kinds:
        if kind == TYPED:
            out += [(TYPED, {"l2": v, "beta": b, "k": 10, "sharpness": 5.0, **(layout or {}),
                             **({} if sl is None else {"slope": sl})})
                    for v in TYPE_L2_GRID for b in BETA_GRID for sl in SLOPE_GRID]
        elif kind == "logistic":
            out += [("logistic", {"l2": v}) for v in ([l2] if l2 is not None else L2_GRID)]
        elif kind == "neighbours":
            out += [("neighbours", {"k": k, "sharpness": s, **(layout or {})}) for k in K_GRID for s in SHARPNESS_GRID]
        elif kind != "ensemble":
            raise ValueError(f"unknown scorer kind {kind!r}")
    return out


def _label(params: dict[str, Any]) -> str:
    if all(k in params for k in ENSEMBLE_PARTS):  # an ensemble's settings: its parts'
        return " + ".join(_label(params[k]) for k in ENSEMBLE_PARTS)
    return " ".join(f"{k}={v:g}" for k, v in params.items() if isinstance(v, (int, float)) and k != "columns")


def _pack(x: np.ndarray) -> dict[str, Any]:
    """A matrix as base64 float16 (a tenth of the size of JSON numbers; cosine error < 1e-3)."""
    data = np.ascontiguousarray(x, dtype="<f2")
    return {"shape": list(x.shape), "f16": base64.b64encode(data.tobytes()).decode()}


def _unpack(packed: dict[str, Any]) -> np.ndarray:
    return _decode(packed["f16"], tuple(packed["shape"]))


@functools.lru_cache(maxsize=32)
def _decode(f16: str, shape: tuple[int, ...]) -> np.ndarray:
    """Decoded once per stored matrix (routing decodes on every request otherwise: a Python string
    keeps its hash, so the lookup is cheap). Read-only: callers share it."""
    data = np.frombuffer(base64.b64decode(f16), dtype="<f2").reshape(shape).astype(np.float32)
    data.flags.writeable = False
    return data
