"""Evaluating the evaluator: run a grader over human-labelled outputs and measure agreement.

A judge file names the judge and the grader to calibrate (the same assertion you use in evals)::

    description: Does the answer address the question? (smollm2 as judge)
    judge: smollm2-135m
    assert:
      - {type: answer-relevance, question: "{question}"}
    labels: relevance_labels.jsonl        # optional; --labels overrides

Each label row (JSONL) is ``{"vars": {...}, "output": "...", "pass": true, "score": 0.8,
"prompt": "...", "sources": [...]}`` (``score``, ``prompt`` and ``sources`` optional). The
report: accuracy, Cohen's kappa and the confusion matrix of pass / fail, Spearman's rho between
the grader's and the humans' scores when rows have scores. The result is stored, and every later
run's report shows it next to results of the same grader (judge model, settings and assertion).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cupola.errors import UsageError
from cupola.evals import grading, stats
from cupola.evals.assertions import GradeContext
from cupola.evals.cache import CellClient, ResponseCache
from cupola.evals.loader import (
    EvalFileError,
    SourceMap,
    build_assertion,
    load_dataset,
    load_yaml,
    pydantic_problems,
)
from cupola.evals.output import Output
from cupola.evals.spec import AssertionSpec, JudgeSpec
from cupola.knowledge.service import citations


class JudgeFile(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""
    judge: JudgeSpec | None = None
    assert_: list[AssertionSpec] = Field(..., alias="assert", min_length=1)
    threshold: float | None = Field(None, ge=0, le=1)
    labels: str | None = None


class LabelRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    output: str
    prompt: str = ""
    sources: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    pass_: bool = Field(..., alias="pass")
    score: float | None = Field(None, ge=0, le=1)


@dataclass
class Calibration:
    spec: JudgeFile
    source: str
    base_dir: Path
    smap: SourceMap


def load_judge_file(path: Path) -> Calibration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read judge file {path}: {exc.strerror}", param="file") from exc
    data, smap = load_yaml(text, str(path))
    if not isinstance(data, dict):
        raise EvalFileError([f"{path}: a judge file is a mapping with `judge` and `assert`"])
    try:
        spec = JudgeFile.model_validate(data)
    except ValidationError as exc:
        raise EvalFileError(pydantic_problems(exc, smap)) from None
    return Calibration(spec, str(path), path.parent, smap)


def labels_path(cal: Calibration, given: Path | None) -> Path:
    if given is not None:
        return Path(given)
    if cal.spec.labels:
        return cal.base_dir / cal.spec.labels
    raise UsageError(f"{cal.source} names no labels file", hint="pass --labels LABELS.jsonl")


async def calibrate(cal: Calibration, labels: Path, client: Any, *, concurrency: int = 4, seed: int = 0,
                    embedding_model: str = "minilm-l6") -> dict[str, Any]:
    """Grade every labelled output; agreement metrics and each row's verdict."""
    if not labels.is_file():
        raise UsageError(f"labels file {labels} does not exist", param="labels")
    problems: list[str] = []
    rows: list[tuple[LabelRow, str, list[grading.CaseAssertion]]] = []
    for raw, smap, path in load_dataset(labels, problems):
        try:
            row = LabelRow.model_validate(raw)
        except ValidationError as exc:
            problems += pydantic_problems(exc, smap, path)
            continue
        label = row.id or f"row {path[0]}"
        items = [build_assertion(a, row.vars, cal.smap, ("assert", i), cal.spec.judge, cal.base_dir, label, problems)
                 for i, a in enumerate(cal.spec.assert_)]
        rows.append((row, smap.where(path), [i for i in items if i is not None]))
    if problems:
        raise EvalFileError(list(dict.fromkeys(problems)))
    if not rows:
        raise UsageError(f"{labels} has no labelled rows")
    cache = ResponseCache()
    limit = asyncio.Semaphore(concurrency)

    async def one(row: LabelRow, where: str, items: list[grading.CaseAssertion]) -> dict[str, Any]:
        sources = [{"n": s.get("n", i + 1), **s} for i, s in enumerate(row.sources)]
        out = Output(text=row.output, prompt=row.prompt, sources=sources, tool_calls=row.tool_calls,
                     citations=citations(row.output, sources) if sources else [])
        ctx = GradeContext(vars=row.vars, client=CellClient(client, cache, seed, 0), judge=cal.spec.judge,
                           embedding_model=embedding_model, base_dir=cal.base_dir)
        async with limit:
            verdict = await grading.grade(items, out, ctx, cal.spec.threshold)
        return {"id": row.id, "where": where, "label_pass": row.pass_, "label_score": row.score,
                "status": verdict.status, "judge_pass": verdict.status == "passed" if verdict.status != "error" else None,
                "judge_score": verdict.score, "error": verdict.error,
                "reasons": [r.get("reason") for r in verdict.results]}

    graded = await asyncio.gather(*(one(*r) for r in rows))
    keys = sorted({i.judge_key for _, _, items in rows for i in items if i.judge_key})
    return {"object": "eval.calibration", "description": cal.spec.description or cal.source, "source": cal.source,
            "labels": str(labels), "judge": cal.spec.judge.model if cal.spec.judge else None, "judge_keys": keys,
            **agreement(graded), "rows": graded}


def agreement(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if r["status"] != "error"]
    truth, predicted = [r["label_pass"] for r in ok], [r["judge_pass"] for r in ok]
    scored = [r for r in ok if r["label_score"] is not None and r["judge_score"] is not None]
    rho = stats.spearman([r["label_score"] for r in scored], [r["judge_score"] for r in scored]) if scored else None
    kappa = stats.cohen_kappa(truth, predicted)
    return {"n": len(rows), "graded": len(ok), "errors": len(rows) - len(ok),
            "accuracy": round(sum(t == p for t, p in zip(truth, predicted)) / len(ok), 4) if ok else None,
            "kappa": None if kappa is None else round(kappa, 4), "confusion": stats.confusion(truth, predicted),
            "spearman": None if rho is None else round(rho, 4), "scored": len(scored)}
