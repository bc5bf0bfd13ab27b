"""Grading one output against a test's assertions: negation, ``path``, weights and thresholds.

An assertion passes or fails with a score in 0..1 and a reason; ``not-`` inverts both. A test
passes when every assertion with a weight above 0 passes, or, when the test (or ``default``) has
a ``threshold``, when the weighted mean score reaches it. An assertion that could not be graded
(a judge that failed, a Python check that raised) makes the result an error, not a failure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cupola.errors import CupolaError
from cupola.evals import assertions, judges
from cupola.evals.assertions import Grade, GradeContext, Kind
from cupola.evals.output import Output
from cupola.evals.spec import AssertionSpec

KINDS: dict[str, Kind] = {**assertions.KINDS, **judges.KINDS}


@dataclass
class CaseAssertion:
    spec: AssertionSpec  # with the test's vars filled in
    template: AssertionSpec  # as written (identifies the grader for calibrations)
    judge_key: str | None = None  # for model-graded assertions
    where: str = ""  # file:line


@dataclass
class Verdict:
    status: str  # passed, failed or error
    score: float | None
    results: list[dict[str, Any]]
    error: str | None = None


def field_of(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.lstrip("-").isdigit() and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            raise KeyError(part)
    return value


async def grade_one(item: CaseAssertion, out: Output, ctx: GradeContext) -> dict[str, Any]:
    spec = item.spec
    kind = KINDS[spec.base_type]
    result: dict[str, Any] = {"type": spec.type, "label": spec.label(), "weight": spec.weight,
                              "threshold": spec.threshold}
    if item.judge_key:
        result["judge_key"] = item.judge_key
    text = out.text
    grade: Grade | None = None
    if spec.path:
        try:
            value = field_of(out.parsed(), spec.path)
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        except ValueError:
            grade = Grade(False, 0.0, f"the output is not JSON, so it has no field {spec.path!r}")
        except KeyError as exc:
            grade = Grade(False, 0.0, f"the output has no field {spec.path!r} (missing {exc.args[0]!r})")
    if grade is None:
        try:
            grade = await kind.grade(spec, out, text, ctx)
        except CupolaError as exc:
            return {**result, "pass": None, "score": None, "reason": exc.message, "error": exc.message}
        except Exception as exc:  # a user's Python check, a broken judge: an error, not a failure
            message = f"{type(exc).__name__}: {exc}"
            return {**result, "pass": None, "score": None, "reason": message, "error": message}
    passed, score, reason = grade.passed, grade.score, grade.reason
    if spec.negated:
        passed, score, reason = not passed, 1.0 - score, f"not: {reason}"
    result.update({"pass": passed, "score": round(score, 4), "reason": reason})
    if grade.details:
        result["details"] = grade.details
    return result


async def grade(items: list[CaseAssertion], out: Output, ctx: GradeContext,
                threshold: float | None = None) -> Verdict:
    results = [await grade_one(item, out, ctx) for item in items]
    errors = [r for r in results if r.get("error")]
    if errors:
        return Verdict("error", None, results, f"{errors[0]['type']}: {errors[0]['error']}")
    counted = [r for r in results if r["weight"] > 0]
    if not counted:
        return Verdict("passed", 1.0, results)
    total = sum(r["weight"] for r in counted)
    score = sum(r["weight"] * r["score"] for r in counted) / total
    passed = score >= threshold if threshold is not None else all(r["pass"] for r in counted)
    return Verdict("passed" if passed else "failed", round(score, 4), results)
