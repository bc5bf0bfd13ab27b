"""Model-graded assertions: a judge model scores the output, through constrained decoding.

Every judge call asks for ``{"score", "pass", "reason"}`` with a strict JSON schema
(``response_format: json_schema``), so even a 135M local judge always answers parseable JSON;
the reason is kept with the result. The judge is any model alias (local, upstream, router),
given for the whole file (``judge:``) or per assertion.

* ``rubric``: criteria (a string, or a list with weights); one judge call per criterion, the
  score is the weighted mean of the criteria's scores (0..10 scaled to 0..1).
* ``g-eval``: G-Eval (Liu et al., 2023): criteria and evaluation steps in the prompt, a 1-5
  score filled in first; when the server returns log-probabilities, the score is the
  probability-weighted mean of the candidate digits (the paper's refinement), else the sampled
  score; ``samples`` averages several calls.
* ``faithfulness``: the answer is split into claims (sentences); the judge checks each claim
  against the sources; the score is the fraction supported (all by default).
* ``answer-relevance``: does the answer address the question (not: is it true)?
* ``similar``: embedding cosine between the output and ``value`` (no judge; an embedding model).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cupola.errors import RuntimeFailure
from cupola.evals.assertions import Grade, GradeContext, Kind
from cupola.evals.output import Output
from cupola.evals.spec import AssertionSpec, JudgeSpec, render_text

MAX_REASON = 200
JUDGE_MAX_TOKENS = 320  # room for the longest reason, one token per character, and the JSON around it


class JudgeError(RuntimeFailure):
    """The judge's answer could not be used (not JSON, or not the verdict's shape)."""

    code = "judge_failed"


def verdict_schema(low: int, high: int) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "required": ["score", "pass", "reason"],
            "properties": {"score": {"type": "integer", "minimum": low, "maximum": high},
                           "pass": {"type": "boolean"},
                           "reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON}}}


@dataclass
class Verdict:
    score: float  # 0..1
    passed: bool
    reason: str
    raw: int
    weighted: float | None = None  # probability-weighted raw score, when log-probabilities came back


def judge_of(spec: AssertionSpec, ctx: GradeContext) -> JudgeSpec:
    judge = spec.judge or ctx.judge
    if judge is None:  # the loader reports this with a line; here only as a guard
        raise JudgeError(f"{spec.type} needs a judge model: set `judge:` in the file or on the assertion")
    return judge


def judge_key(template: AssertionSpec, judge: JudgeSpec | None) -> str:
    """Identifies a grader (judge model and settings, the assertion as written): calibrations
    computed for a grader are shown next to every result of the same grader."""
    data = {"judge": judge.model_dump() if judge else None, "type": template.type, "value": template.value,
            "threshold": template.threshold, "options": template.options}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def weighted_digit(logprobs: Any, low: int, high: int) -> float | None:
    """The probability-weighted score at the score's token (G-Eval), from OpenAI-style logprobs."""
    content = (logprobs or {}).get("content") if isinstance(logprobs, dict) else None
    if not content:
        return None
    text = ""
    for item in content:
        token = item.get("token", "")
        if '"score"' in text and token.strip().isdigit():
            weights: dict[int, float] = {}
            for cand in item.get("top_logprobs") or [item]:
                tok = cand.get("token", "").strip()
                if tok.isdigit() and low <= int(tok) <= high:
                    weights[int(tok)] = weights.get(int(tok), 0.0) + math.exp(cand.get("logprob", -100.0))
            total = sum(weights.values())
            return sum(k * w for k, w in weights.items()) / total if total > 0 else None
        text += token
    return None


async def ask_judge(ctx: GradeContext, judge: JudgeSpec, system: str, user: str, *, low: int = 0, high: int = 10,
                    logprobs: bool = False) -> Verdict:
    params: dict[str, Any] = {"max_tokens": JUDGE_MAX_TOKENS, **judge.settings, "response_format": {
        "type": "json_schema", "json_schema": {"name": "verdict", "strict": True, "schema": verdict_schema(low, high)}}}
    if logprobs:
        params.update(logprobs=True, top_logprobs=5)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    completion = await ctx.client.chat(judge.model, messages, **params)
    choice = (completion.get("choices") or [{}])[0]
    raw = (choice.get("message") or {}).get("content") or ""
    try:
        data = json.loads(raw)
        score = int(data["score"])
        passed = data["pass"]
        reason = str(data.get("reason", ""))
        if not isinstance(passed, bool) or not low <= score <= high:
            raise ValueError("score or pass out of range")
    except (ValueError, KeyError, TypeError) as exc:
        raise JudgeError(f"the judge {judge.model} did not answer a verdict ({exc}): {raw[:200]!r}",
                         hint="use a server with JSON-schema constrained decoding for the judge") from exc
    weighted = weighted_digit(choice.get("logprobs"), low, high) if logprobs else None
    value = weighted if weighted is not None else score
    return Verdict((value - low) / (high - low), passed, reason[:MAX_REASON], score, weighted)


def _decide(spec: AssertionSpec, score: float, judge_pass: bool | None, default: float) -> bool:
    """With a threshold (or without the judge's own verdict), the score decides."""
    if spec.threshold is not None or judge_pass is None:
        return score >= (spec.threshold if spec.threshold is not None else default)
    return judge_pass


def _details(judge: JudgeSpec, template: AssertionSpec | None, **more: Any) -> dict[str, Any]:
    return {"judge": judge.model, **more}


# -- rubric ----------------------------------------------------------------------------------------

RUBRIC_SYSTEM = ("You are a strict grader. Judge whether the OUTPUT meets the CRITERION. Answer in JSON: "
                 "score from 0 (does not meet it at all) to 10 (fully meets it), pass (true if it meets the "
                 "criterion), and a short reason.")


def criteria_of(spec: AssertionSpec) -> list[tuple[str, str, float]]:
    """``(name, description, weight)`` of each criterion of a rubric."""
    given = spec.options.get("criteria")
    if given is None:
        return [("criterion", str(spec.value), 1.0)]
    out = []
    for i, c in enumerate(given):
        if isinstance(c, str):
            out.append((f"c{i + 1}", c, 1.0))
        else:
            out.append((str(c.get("name") or f"c{i + 1}"), str(c["description"]), float(c.get("weight", 1.0))))
    return out


def _check_rubric(spec: AssertionSpec, base: Path) -> None:
    given = spec.options.get("criteria")
    if given is None:
        if not isinstance(spec.value, str) or not spec.value.strip():
            raise ValueError("a rubric needs criteria: `value: \"...\"` or `criteria: [{description, weight}]`")
        return
    if not isinstance(given, list) or not given:
        raise ValueError("criteria must be a non-empty list")
    for c in given:
        if isinstance(c, str):
            continue
        if not isinstance(c, dict) or not isinstance(c.get("description"), str) or \
                not isinstance(c.get("weight", 1.0), (int, float)) or c.get("weight", 1.0) < 0 or \
                set(c) - {"name", "description", "weight"}:
            raise ValueError("each criterion is a string or {name, description, weight >= 0}")
    if sum(float(c.get("weight", 1.0)) if isinstance(c, dict) else 1.0 for c in given) <= 0:
        raise ValueError("the criteria's weights add up to 0")


def _subject(out: Output, text: str) -> str:
    return (f"INPUT:\n{out.prompt}\n\n" if out.prompt else "") + f"OUTPUT:\n{text}"


async def _rubric(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    judge = judge_of(spec, ctx)
    parts = []
    for name, description, weight in criteria_of(spec):
        v = await ask_judge(ctx, judge, RUBRIC_SYSTEM, f"{_subject(out, text)}\n\nCRITERION:\n{description}")
        parts.append({"name": name, "weight": weight, "score": round(v.score, 4), "pass": v.passed, "reason": v.reason})
    total = sum(p["weight"] for p in parts)
    score = sum(p["weight"] * p["score"] for p in parts) / total
    judged = all(p["pass"] for p in parts) if len(parts) == 1 else None
    passed = _decide(spec, score, judged, 0.5)
    reason = parts[0]["reason"] if len(parts) == 1 else "; ".join(f"{p['name']}: {p['reason']}" for p in parts)
    return Grade(passed, score, reason, _details(judge, spec, criteria=parts))


# -- G-Eval ----------------------------------------------------------------------------------------

GEVAL_SYSTEM = """You will be given an output written for an input. Rate the output on one metric.

Evaluation criteria:
{criteria}

Evaluation steps:
{steps}

Answer in JSON: score from 1 (worst) to 5 (best), pass (true if the output meets the criteria), and a short reason."""
DEFAULT_STEPS = ["Read the input and the output carefully.", "Check the output against the criteria.",
                 "Assign a score from 1 to 5."]


async def _geval(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    judge = judge_of(spec, ctx)
    steps = spec.options.get("steps") or DEFAULT_STEPS
    system = GEVAL_SYSTEM.format(criteria=spec.value, steps="\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
    samples = int(spec.options.get("samples", 1))
    verdicts = [await ask_judge(ctx, judge, system, _subject(out, text), low=1, high=5, logprobs=True)
                for _ in range(samples)]
    score = sum(v.score for v in verdicts) / len(verdicts)
    votes = [v.passed for v in verdicts]
    passed = _decide(spec, score, sum(votes) * 2 > len(votes), 0.5)
    weighted = [round(v.weighted, 3) for v in verdicts if v.weighted is not None]
    return Grade(passed, score, verdicts[0].reason, _details(judge, spec, scores=[v.raw for v in verdicts],
                                                             weighted=weighted or None))


def _check_geval(spec: AssertionSpec, base: Path) -> None:
    if not isinstance(spec.value, str) or not spec.value.strip():
        raise ValueError("g-eval needs the criteria as `value`")
    steps = spec.options.get("steps")
    if steps is not None and (not isinstance(steps, list) or not all(isinstance(s, str) for s in steps)):
        raise ValueError("steps must be a list of strings")
    samples = spec.options.get("samples", 1)
    if not isinstance(samples, int) or not 1 <= samples <= 20:
        raise ValueError("samples must be a whole number from 1 to 20")


# -- faithfulness ----------------------------------------------------------------------------------

FAITHFUL_SYSTEM = ("You check facts. Decide whether the SOURCES support the CLAIM. Answer in JSON: score from 0 "
                   "(not supported, or contradicted) to 10 (fully supported), pass (true if the sources support "
                   "the claim), and a short reason.")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CITE = re.compile(r"\s*\[\d+(?:\s*,\s*\d+)*\]")


def claims(answer: str, limit: int = 8) -> list[str]:
    """The sentences of an answer that state something (citations removed, at least 3 words)."""
    found = []
    for part in _SENTENCE.split(answer):
        sentence = _CITE.sub("", part).strip(" -*\t")
        if len(sentence.split()) >= 3:
            found.append(sentence)
    return found[:limit]


async def _faithfulness(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    judge = judge_of(spec, ctx)
    if spec.options.get("context") is not None:
        context = render_text(str(spec.options["context"]), ctx.vars)
    elif out.sources:
        context = "\n\n".join(f"[{s.get('n', i + 1)}] {s.get('title', '')}\n{s.get('text', '')}"
                              for i, s in enumerate(out.sources))
    else:
        raise JudgeError("faithfulness needs sources: use a knowledge target, or set `context: \"{var}\"`")
    found = claims(text, int(spec.options.get("max_claims", 8)))
    if not found:
        return Grade(False, 0.0, "the answer states nothing to check", _details(judge, spec, claims=[]))
    checked = []
    for claim in found:
        v = await ask_judge(ctx, judge, FAITHFUL_SYSTEM, f"SOURCES:\n{context}\n\nCLAIM:\n{claim}")
        checked.append({"claim": claim, "supported": v.passed, "reason": v.reason})
    score = sum(c["supported"] for c in checked) / len(checked)
    passed = score >= (spec.threshold if spec.threshold is not None else 1.0)
    unsupported = [c["claim"] for c in checked if not c["supported"]]
    reason = (f"{len(checked) - len(unsupported)} of {len(checked)} claims supported" +
              (f"; not supported: {unsupported[0]!r}" if unsupported else ""))
    return Grade(passed, score, reason, _details(judge, spec, claims=checked))


def _check_faithfulness(spec: AssertionSpec, base: Path) -> None:
    limit = spec.options.get("max_claims", 8)
    if not isinstance(limit, int) or not 1 <= limit <= 50:
        raise ValueError("max_claims must be a whole number from 1 to 50")


# -- answer relevance --------------------------------------------------------------------------------

RELEVANCE_SYSTEM = ("You judge whether the ANSWER addresses the QUESTION (not whether it is true). Answer in JSON: "
                    "score from 0 (unrelated) to 10 (answers exactly what was asked), pass (true if it addresses "
                    "the question), and a short reason.")


async def _relevance(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    judge = judge_of(spec, ctx)
    question = render_text(str(spec.options["question"]), ctx.vars) if spec.options.get("question") else out.prompt
    if not question:
        raise JudgeError("answer-relevance needs the question: set `question: \"{var}\"`")
    v = await ask_judge(ctx, judge, RELEVANCE_SYSTEM, f"QUESTION:\n{question}\n\nANSWER:\n{text}")
    return Grade(_decide(spec, v.score, v.passed, 0.5), v.score, v.reason, _details(judge, spec, score=v.raw))


# -- similar (embeddings) ----------------------------------------------------------------------------

async def _similar(spec: AssertionSpec, out: Output, text: str, ctx: GradeContext) -> Grade:
    model = str(spec.options.get("embedding_model") or ctx.embedding_model)
    vectors = np.asarray(await ctx.client.embed(model, [text or " ", str(spec.value)]), dtype=np.float64)
    a, b = vectors[0], vectors[1]
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) or 1.0))
    limit = spec.threshold if spec.threshold is not None else 0.75
    return Grade(cosine >= limit, max(0.0, cosine), f"cosine {cosine:.3f} (at least {limit:g}, {model})")


KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("rubric", _rubric, value="optional", options=("criteria",), check=_check_rubric, model_graded=True,
         help="a judge scores the output against criteria (weighted); passes at threshold (0.5), or by the "
              "judge's verdict for a single criterion"),
    Kind("g-eval", _geval, options=("steps", "samples"), check=_check_geval, model_graded=True,
         help="G-Eval: criteria and steps, a 1-5 score weighted by the judge's token probabilities"),
    Kind("faithfulness", _faithfulness, value="none", options=("context", "max_claims"), check=_check_faithfulness,
         model_graded=True, help="every claim of the answer is supported by the sources (threshold: the "
                                 "fraction needed, 1.0)"),
    Kind("answer-relevance", _relevance, value="none", options=("question",), model_graded=True,
         help="the answer addresses the question (the rendered prompt, or `question`)"),
    Kind("similar", _similar, options=("embedding_model",), help="embedding cosine with value at least "
                                                                  "threshold (0.75)"),
]}
