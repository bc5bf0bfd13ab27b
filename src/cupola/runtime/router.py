"""Model routers: virtual models that pick one of their candidates for each request.

A router (``[routers.NAME]``) scores a request with a small local classifier and picks a candidate
by its mode, as Microsoft Foundry's Model Router does, but locally and trainable from your own
evidence.

* **Features**: the embedded embedding model's vector of the head of the prompt (its first
  words: that is what says "write code" or "say hello", and it keeps routing under ~10 ms on a
  CPU), plus the prompt's length, and whether tools or a ``response_format`` are present. How many
  words (12, 24, 48 or 256, i.e. all the embedder reads) is chosen when training.
* **Classifier** (`cupola.runtime.scorers`): per candidate, the probability that its answer is
  acceptable, from a logistic regression (L2, Newton's method in numpy), a similarity-weighted
  k-nearest-neighbours scorer, or the mean of both. Training picks the kind, its settings and the
  head length by cross-validated log loss on the training prompts (5 folds stratified by which
  candidates passed, repeated with 3 seeds; every option's mean and spread are kept in the file).
* **Modes**: ``quality`` takes the best predicted quality; ``balanced`` the cheapest candidate
  within a small margin (0.05) of the best; ``cost`` within a wide margin (0.2); ``latency`` the
  fastest within 0.1. Costs come from ``costs`` (per 1M tokens), else the model's size on disk,
  else the candidates' order; upstream models without a cost count as dearer than local ones.
* **Calibration** (RouteLLM's): ``train --calibrate 0.3`` sets a threshold on how much better the
  strongest candidate is predicted to be, so that about 30% of the training prompts go to it.
* **Untrained**: an honest heuristic — tools, structured output or a long prompt go to the
  strongest (largest) candidate, everything else to the cheapest — and ``cupola router show``
  says so.

Training data: JSONL rows ``{"prompt", "target", "score"}`` (``score`` 0..1, or ``passed``), one
per prompt and candidate — what ``cupola eval`` exports — or ``{"prompt", "scores": {model: score}}``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from cupola import jsonl
from cupola.config import RouterConfig
from cupola.errors import InvalidParameter, UsageError
from cupola.runtime import scorers

HEAD_WORDS = 12  # the prompt's head that is embedded (about 16 tokens) when it is not chosen by CV
HEAD_CHOICES = (12, 24, 48, 256)  # what `train` chooses among (256 words: the embedder's whole context)
LONG_PROMPT_CHARS = 1600  # the heuristic's "long prompt" (about 400 tokens)
MARGINS = {"quality": 0.0, "balanced": 0.05, "cost": 0.2, "latency": 0.1}
FEATURES_VERSION = 1
EXTRA_FEATURES = ("log length", "tools", "response_format")  # after the embedding, in this order

Embed = Callable[[list[str]], Awaitable[np.ndarray]]


def prompt_text(body: dict[str, Any]) -> str:
    """The text a router looks at: the last user message (or the completion prompt)."""
    if "prompt" in body:
        prompt = body["prompt"]
        return prompt if isinstance(prompt, str) else " ".join(map(str, prompt))
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content or "")
    return ""


def _all_text(body: dict[str, Any]) -> str:
    if "prompt" in body:
        return prompt_text(body)
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content")
        parts.append(" ".join(p.get("text", "") for p in content if isinstance(p, dict))
                     if isinstance(content, list) else str(content or ""))
    return "\n".join(parts)


def head(text: str, words: int = HEAD_WORDS) -> str:
    return " ".join(text.split()[:words]) or "(empty)"


def extra_features(body: dict[str, Any]) -> np.ndarray:
    """Length, tools present, structured output present (scaled to about unit range)."""
    chars = len(_all_text(body))
    return np.array([math.log1p(chars) / 8.0, float(bool(body.get("tools"))),
                     float(bool(body.get("response_format")))], dtype=np.float32)


async def features(bodies: list[dict[str, Any]], embed: Embed, head_words: int = HEAD_WORDS) -> np.ndarray:
    """The feature rows of requests: head embedding + extra features."""
    vectors = await embed([head(prompt_text(b), head_words) for b in bodies])
    extras = np.stack([extra_features(b) for b in bodies])
    return np.hstack([vectors.astype(np.float32), extras])


@dataclass
class RouterModel:
    """A trained router, stored as ``$CUPOLA_HOME/routers/NAME.json``."""

    candidates: list[str]
    weights: dict[str, list[float]]
    strongest: str
    threshold: float | None = None  # calibrated: the strongest wins when it leads by this much
    calibrated_share: float | None = None
    l2: float | None = 1.0
    rows: int = 0
    prompts: int = 0
    mean_scores: dict[str, float] = field(default_factory=dict)
    embedding_model: str = "minilm-l6"
    features_version: int = FEATURES_VERSION
    trained_at: float = field(default_factory=time.time)
    kind: str = "logistic"  # the scorer: logistic (``weights``), or neighbours, ensemble, types (``scorer``)
    scorer: dict[str, Any] = field(default_factory=dict)
    head_words: int = 12  # what files trained before this field was stored used
    selection: dict[str, float] = field(default_factory=dict)  # cross-validated log loss per option tried
    selection_spread: dict[str, float] = field(default_factory=dict)  # its std over the CV repeats

    @property
    def chosen(self) -> str | None:
        """The label of the option cross-validation chose (a key of ``selection``), if it chose."""
        return min(self.selection, key=self.selection.__getitem__) if self.selection else None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> RouterModel | None:
        try:
            data = json.loads(path.read_text())
            model = cls(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError) as exc:
            raise UsageError(f"the trained router {path} cannot be read ({exc})",
                             hint="train it again with `cupola router train`") from exc
        return model if model.features_version == FEATURES_VERSION else None

    def settings(self) -> dict[str, float]:
        """The scorer's settings that cross-validation chose (``l2``, or ``k`` and ``sharpness``, or
        all three for an ensemble, and ``beta`` and ``slope`` for task types)."""
        if self.kind == "logistic":
            return {"l2": self.l2} if self.l2 is not None else {}
        params = self.scorer.get("params", {})
        if self.kind == "ensemble":
            params = {**params.get("logistic", {}), **params.get("neighbours", {})}
        return {k: v for k, v in params.items() if k in ("l2", "k", "sharpness", "beta", "slope")}

    def cv_summary(self) -> str:
        """What cross-validation chose and its held-out log loss (mean ± spread over the repeats)."""
        if self.chosen is None:
            return "not run (settings given)"
        spread = self.selection_spread.get(self.chosen)
        return (f"{self.chosen}: log loss {self.selection[self.chosen]:.4f}"
                + (f" ± {spread:.4f}" if spread is not None else "") + f" (best of {len(self.selection)} options)")

    def scores(self, x: np.ndarray) -> dict[str, np.ndarray]:
        if self.kind == "logistic":
            return {c: scorers.predict_logistic(np.array(w), x) for c, w in self.weights.items()}
        return scorers.predict(self.scorer, x)


@dataclass
class Decision:
    order: list[str]  # candidates in the order to try them
    reason: str
    predicted: dict[str, float] = field(default_factory=dict)


class Router:
    def __init__(self, name: str, config: RouterConfig, model: RouterModel | None, costs: dict[str, float]) -> None:
        self.name = name
        self.config = config
        self.model = model if model is not None and set(model.candidates) == set(config.candidates) else None
        self.stale = model is not None and self.model is None  # trained for another set of candidates
        self.costs = costs  # effective cost per candidate (lower is cheaper)

    @property
    def margin(self) -> float:
        return self.config.margin if self.config.margin is not None else MARGINS[self.config.mode]

    def cheapest_first(self, names: Iterable[str]) -> list[str]:
        order = {c: i for i, c in enumerate(self.config.candidates)}
        return sorted(names, key=lambda c: (self.costs.get(c, math.inf), order[c]))

    @property
    def strongest(self) -> str:
        if self.model is not None:
            return self.model.strongest
        return self.cheapest_first(self.config.candidates)[-1]

    def pick(self, predicted: dict[str, float]) -> tuple[str, str]:
        """The candidate the mode picks among predicted qualities, and why."""
        if self.model is not None and self.model.threshold is not None and len(predicted) > 1:
            strong = self.model.strongest
            rest = {c: q for c, q in predicted.items() if c != strong}
            lead = predicted[strong] - max(rest.values())
            if lead >= self.model.threshold:
                return strong, f"calibrated: {strong} leads by {lead:.2f} >= {self.model.threshold:.2f}"
            predicted = rest
        best = max(predicted.values())
        eligible = [c for c, q in predicted.items() if q >= best - self.margin]
        chosen = self.cheapest_first(eligible)[0]
        return chosen, f"{self.config.mode}: {chosen} predicted {predicted[chosen]:.2f} (best {best:.2f})"

    async def choose(self, body: dict[str, Any], embed: Embed) -> Decision:
        if self.model is None:
            strong = self.strongest
            cheap = self.cheapest_first(self.config.candidates)[0]
            text = _all_text(body)
            why = ("tools" if body.get("tools") else "structured output" if body.get("response_format")
                   else "long prompt" if len(text) > LONG_PROMPT_CHARS else None)
            chosen = strong if why else cheap
            reason = f"heuristic (untrained): {why or 'short prompt'} -> {chosen}"
            rest = [c for c in self.cheapest_first(self.config.candidates) if c != chosen]
            return Decision([chosen, *(reversed(rest) if why else rest)], f"router {self.name} {reason}")
        x = await features([body], embed, self.model.head_words)
        predicted = {c: float(s[0]) for c, s in self.model.scores(x).items()}
        chosen, reason = self.pick(predicted)
        rest = sorted((c for c in predicted if c != chosen), key=lambda c: -predicted[c])
        return Decision([chosen, *rest], f"router {self.name} {reason}", predicted)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "candidates": self.config.candidates, "mode": self.config.mode,
                               "margin": self.margin, "costs": {c: self.costs.get(c) for c in self.config.candidates},
                               "trained": self.model is not None, "strongest": self.strongest}
        if self.model is None:
            cheap = self.cheapest_first(self.config.candidates)[0]
            out["policy"] = (f"untrained heuristic: requests with tools, structured output or prompts over "
                             f"~{LONG_PROMPT_CHARS // 4} tokens go to {self.strongest}; the rest to {cheap}")
            if self.stale:
                out["policy"] += " (a trained model exists for other candidates: train again)"
        else:
            m = self.model
            out.update(rows=m.rows, prompts=m.prompts, mean_scores=m.mean_scores, threshold=m.threshold,
                       calibrated_share=m.calibrated_share, trained_at=m.trained_at, scorer=m.kind,
                       scorer_settings=m.settings(),
                       head_words=m.head_words, cross_validation=m.cv_summary(),
                       policy=f"trained {m.kind} scorer on {m.prompts} prompts; {self.config.mode} mode"
                              + (f", calibrated to send ~{m.calibrated_share:.0%} to {m.strongest}"
                                 if m.threshold is not None else ""))
        return out


# -- training -------------------------------------------------------------------------------

def read_rows(path: Path) -> list[dict[str, Any]]:
    """Training rows as ``{"prompt", "target", "score"}`` (and ``category``, the task type, when given),
    from either accepted shape."""
    rows: list[dict[str, Any]] = []
    for number, data in jsonl.rows(path, required="prompt"):
        category = data.get("category")
        kind = {"category": str(category)} if isinstance(category, (str, int)) and str(category).strip() else {}
        if isinstance(data.get("scores"), dict):
            for target, score in data["scores"].items():
                rows.append({"prompt": data["prompt"], "target": str(target), "score": _score(score, path, number),
                             **kind})
        elif "target" in data:
            score = data.get("score", data.get("passed"))
            rows.append({"prompt": data["prompt"], "target": str(data["target"]), "score": _score(score, path, number),
                         **kind})
        else:
            raise InvalidParameter(f"{path}:{number}: give `target` and `score` (or `passed`), or `scores`")
    return rows


def _score(value: Any, path: Path, number: int) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and 0 <= value <= 1:
        return float(value)
    raise InvalidParameter(f"{path}:{number}: a score is a number from 0 to 1 (or passed: true/false)")


ROUTING_BUDGET_MS = 10.0  # what routing may add to a request (p95), embedding included
DECISION_MS = 1.0  # the classifier and decision after the embedding (p95 ~0.7 ms on 2 cores)


async def embedding_p95(embed: Embed, texts: list[str], samples: int = 60) -> float:
    """p95 milliseconds of embedding one of ``texts`` per call (the longest ``samples`` of them), as
    routing a request does."""
    longest = sorted(texts, key=len, reverse=True)[:samples]
    for text in longest[:3]:
        await embed([text])  # warm up
    times = []
    for text in longest:
        started = time.perf_counter()
        await embed([text])
        times.append((time.perf_counter() - started) * 1000)
    return float(np.percentile(times, 95))


async def train(candidates: list[str], rows: list[dict[str, Any]], embed: Embed, *, calibrate: float | None = None,
                l2: float | None = None, kind: str = "auto", head_words: int | None = None,
                embedding_model: str = "minilm-l6", repeats: int = 3, timing_embed: Embed | None = None
                ) -> RouterModel:
    """Fit the candidates' quality scorer on the rows that name them. ``kind`` "auto" picks the
    scorer (logistic, neighbours, or their ensemble) and its settings by cross-validated log loss
    (5 stratified folds, ``repeats`` seeds); a given ``l2`` means a logistic regression with that
    regularisation. ``head_words`` None chooses the embedded head's length among `HEAD_CHOICES`
    by the same cross-validation: the shortest head whose loss is within one spread (standard
    deviation over the repeats) of the best, since every request pays for embedding the head (heads
    longer than every training prompt are not tried: they embed the same text as the shorter one), and
    no head whose embedding takes more than the routing budget (``ROUTING_BUDGET_MS`` less the
    decision, p95 over the longest training prompts, timed with ``timing_embed`` or ``embed``) once a
    shorter one has been tried."""
    if kind != "auto" and kind not in scorers.KINDS + (scorers.TYPED,):
        raise InvalidParameter(f"unknown scorer kind {kind!r} (auto, {', '.join(scorers.KINDS + (scorers.TYPED,))})")
    if calibrate is not None and not 0 < calibrate < 1:
        raise InvalidParameter("--calibrate is the share of traffic for the strongest model, between 0 and 1")
    used = [r for r in rows if r["target"] in candidates]
    missing = [c for c in candidates if not any(r["target"] == c for r in used)]
    if missing:
        raise InvalidParameter(f"the training data has no rows for {', '.join(missing)}",
                               hint="export results for every candidate (e.g. `cupola eval export`)")
    prompts = sorted({r["prompt"] for r in used})
    index = {p: i for i, p in enumerate(prompts)}
    labels = {}
    for c in candidates:
        mine = [r for r in used if r["target"] == c]
        labels[c] = scorers.Labels(np.array([index[r["prompt"]] for r in mine]),
                                   np.array([r["score"] for r in mine], dtype=np.float64))
    # the task type of each prompt, when every prompt has one and there are several (`category`)
    type_of = {r["prompt"]: r["category"] for r in used if r.get("category")}
    types = [type_of[p] for p in prompts] if len(type_of) == len(prompts) and len(set(type_of.values())) > 1 \
        else None
    if kind == scorers.TYPED and types is None:
        raise InvalidParameter("the types scorer needs a `category` (task type) on every training row, and "
                               "at least two of them", hint="e.g. `cupola eval export RUN --router-data FILE` "
                               "writes each test's category")
    kinds = ("logistic",) if l2 is not None else scorers.KINDS if kind == "auto" else (kind,)
    if kind == "auto" and l2 is None and types is not None:
        kinds = kinds + (scorers.TYPED,)
    if kind == "ensemble" and l2 is None:
        kinds = scorers.ENSEMBLE_PARTS
    bodies = [{"messages": [{"role": "user", "content": p}]} for p in prompts]
    heads = (head_words,) if head_words is not None else HEAD_CHOICES
    # Small matrices: BLAS threads only add contention (measured: 2.2 s vs 0.08 s per fit on 2 busy cores).
    with threadpool_limits(1):
        found_by_head: list[tuple[scorers.Selection, int, np.ndarray]] = []
        tried: dict[str, float] = {}
        spread: dict[str, float] = {}
        longest = max(len(p.split()) for p in prompts)
        for i, words in enumerate(heads):
            if i and heads[i - 1] >= longest:
                break  # every prompt fits a shorter head: a longer one embeds the same text
            if i and await embedding_p95(timing_embed or embed, [head(p, words) for p in prompts]) \
                    > ROUTING_BUDGET_MS - DECISION_MS:
                break  # every request would pay more than routing may add for this head
            x = await features(bodies, embed, words)
            layout = {"columns": x.shape[1] - len(EXTRA_FEATURES), "flags": [x.shape[1] - 2, x.shape[1] - 1]}
            found = scorers.select(x, labels, scorers.options(kinds, l2, layout), repeats=repeats,
                                   require="ensemble" if kind == "ensemble" else None, types=types)
            prefix = f"head {words}: " if len(heads) > 1 else ""
            tried.update({prefix + k: v for k, v in found.tried.items()})
            spread.update({prefix + k: v for k, v in found.spread.items()})
            found_by_head.append((found, words, x))
        # The shortest head within one spread of the best loss (the one-standard-error rule): a longer
        # head costs embedding time on every request (48 words: ~10 ms p95 on 2 cores, 24: ~8 ms).
        top = min(found_by_head, key=lambda f: f[0].loss)[0]
        found, words, x = next(f for f in found_by_head  # (no loss when nothing was cross-validated: the first)
                               if not f[0].loss > top.loss + top.loss_sd + 1e-12)
        chosen, params = found.kind, found.params
        state = scorers.fit(chosen, params, x, labels, types)
        means = {c: float(lab.scores.mean()) for c, lab in labels.items()}
        strongest = max(candidates, key=lambda c: means[c])
        model = RouterModel(list(candidates), state.get("weights", {}), strongest, l2=params.get("l2"),
                            rows=len(used), prompts=len(prompts), mean_scores=means, embedding_model=embedding_model,
                            kind=chosen, scorer=state if chosen != "logistic" else {}, head_words=words,
                            selection=tried, selection_spread=spread)
        if calibrate is not None and len(candidates) > 1:
            # Calibrate on out-of-fold predictions: a scorer is over-confident on its own training
            # prompts (a neighbours scorer finds each of them at cosine 1), new traffic is not.
            fold_of = scorers.folds(len(prompts), strata=scorers.strata(len(prompts), labels))
            predicted = scorers.out_of_fold(chosen, params, x, labels, fold_of, types)
            lead = predicted[strongest] - np.max(np.stack([predicted[c] for c in candidates if c != strongest]),
                                                 axis=0)
            lead = lead[~np.isnan(lead)]
            if not len(lead):
                lead = model_lead(model, x)
            model.threshold = float(np.quantile(lead, 1 - calibrate))
            model.calibrated_share = calibrate
    return model


def model_lead(model: RouterModel, x: np.ndarray) -> np.ndarray:
    scores = model.scores(x)
    others = np.stack([scores[c] for c in model.candidates if c != model.strongest])
    return scores[model.strongest] - np.max(others, axis=0)
