"""A run's results as numbers: per cell (target x test over its repeats), per target, overall;
the JSON document (``--json``, ``GET /api/evals/{id}``) and router training rows.

A sample is one target on one test in one repeat: ``passed``, ``failed`` or ``error`` (the
target or a grader could not run). Pass rates count errors as not passed, so a broken target
cannot look good; errors are reported next to them. Mean scores and their spread are over
graded samples only. A cell is flaky when it passed in some repeats and failed in others.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from cupola.evals import stats


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def cell_stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(samples)
    passed = sum(s["status"] == "passed" for s in samples)
    failed = sum(s["status"] == "failed" for s in samples)
    scores = [s["score"] for s in samples if s["score"] is not None]
    return {"n": n, "passed": passed, "failed": failed, "errors": n - passed - failed,
            "pass_rate": _r(passed / n) if n else None, "mean_score": _r(stats.mean(scores)),
            "std": _r(stats.std(scores)), "pass_at_n": passed > 0, "pass_hat_n": n > 0 and passed == n,
            "flaky": passed > 0 and failed > 0}


def target_stats(samples: list[dict[str, Any]], cells: dict[str, dict[str, Any]], repeat: int) -> dict[str, Any]:
    n = len(samples)
    passed = sum(s["status"] == "passed" for s in samples)
    failed = sum(s["status"] == "failed" for s in samples)
    scores = [s["score"] for s in samples if s["score"] is not None]
    latencies = [s["latency_ms"] for s in samples if s["status"] != "error" and s.get("latency_ms") is not None]
    completion = [s["tokens"]["completion"] for s in samples if (s.get("tokens") or {}).get("completion") is not None]
    costs = [s["cost"] for s in samples if s.get("cost") is not None]
    by_repeat: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        by_repeat[s["repeat"]].append(s)
    repeat_rates = [sum(x["status"] == "passed" for x in by_repeat[r]) / len(by_repeat[r]) for r in sorted(by_repeat)]
    ci = stats.wilson(passed, n)
    graded_cells = [c for c in cells.values() if c["n"]]
    return {
        "samples": n, "passed": passed, "failed": failed, "errors": n - passed - failed,
        "pass_rate": _r(passed / n) if n else None, "pass_rate_ci95": [_r(ci[0]), _r(ci[1])] if ci else None,
        "mean_score": _r(stats.mean(scores)), "std": _r(stats.std(scores)),
        "repeat_pass_rates": [_r(x) for x in repeat_rates], "repeat_std": _r(stats.std(repeat_rates)),
        "pass_at_n": _r(stats.mean([float(c["pass_at_n"]) for c in graded_cells])),
        "pass_hat_n": _r(stats.mean([float(c["pass_hat_n"]) for c in graded_cells])), "n": repeat,
        "flaky": sum(c["flaky"] for c in graded_cells),
        "latency_ms": {"mean": _r(stats.mean(latencies), 1), "p50": _r(stats.percentile(latencies, 50), 1),
                       "p95": _r(stats.percentile(latencies, 95), 1)},
        "completion_tokens": {"total": sum(completion) if completion else None,
                              "mean": _r(stats.mean(completion), 1)},
        "cost": _r(sum(costs), 6) if costs else None,
    }


def summarize(plan: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per target (with its per-test cells) and overall, from every sample of a run."""
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in samples:
        by_cell[(s["target"], s["test"])].append(s)
    repeat = plan.get("options", {}).get("repeat", 1)
    targets = []
    for t in plan["targets"]:
        cells = {c["id"]: cell_stats(sorted(by_cell.get((t["id"], c["id"]), []), key=lambda s: s["repeat"]))
                 for c in plan["tests"]}
        mine = [s for s in samples if s["target"] == t["id"]]
        targets.append({"id": t["id"], **target_stats(mine, cells, repeat), "cells": cells})
    n = len(samples)
    passed = sum(s["status"] == "passed" for s in samples)
    return {"samples": n, "passed": passed, "failed": sum(s["status"] == "failed" for s in samples),
            "errors": sum(s["status"] == "error" for s in samples), "pass_rate": _r(passed / n) if n else None,
            "flaky": sum(t["flaky"] for t in targets), "targets": targets}


def document(run: dict[str, Any], samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole run as JSON: ``targets`` (stats, and per test the stats and every repeat) and
    ``tests`` (each test with its per-target stats)."""
    plan, summary = run["plan"], run.get("summary") or summarize(run["plan"], samples)
    by_cell: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for s in sorted(samples, key=lambda s: s["repeat"]):
        by_cell[(s["target"], s["test"])].append(s)
    stats_of = {t["id"]: t for t in summary["targets"]}
    targets = []
    for t in plan["targets"]:
        st = {k: v for k, v in stats_of.get(t["id"], {}).items() if k != "cells"}
        cells = stats_of.get(t["id"], {}).get("cells", {})
        targets.append({**t, **st, "tests": [
            {"test": c["id"], **cells.get(c["id"], {}), "repeats": by_cell.get((t["id"], c["id"]), [])}
            for c in plan["tests"]]})
    tests = [{**c, "results": {t["id"]: stats_of.get(t["id"], {}).get("cells", {}).get(c["id"])
                               for t in plan["targets"]}} for c in plan["tests"]]
    head = {k: run.get(k) for k in ("id", "description", "source", "status", "created_at", "finished_at", "error")}
    overall = {k: v for k, v in summary.items() if k != "targets"}
    return {"object": "eval.run", **head, "options": plan.get("options", {}), "summary": overall,
            "targets": targets, "tests": tests}


def router_rows(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per prompt x target: ``{prompt, target, score, passed, category}`` (what the
    router's ``train`` reads). ``passed`` means at least half of the repeats passed; cells that
    only errored and targets without a single model alias are left out."""
    tests = {t["id"]: t for t in doc["tests"]}
    rows = []
    for target in doc["targets"]:
        alias = target.get("alias")
        if not alias:
            continue
        for cell in target["tests"]:
            graded = [s for s in cell["repeats"] if s["status"] != "error"]
            if not graded:
                continue
            scores = [s["score"] for s in graded if s["score"] is not None]
            meta = tests[cell["test"]].get("metadata") or {}
            rows.append({"prompt": graded[0].get("prompt", ""), "target": alias,
                         "score": round(sum(scores) / len(scores), 4) if scores else 0.0,
                         "passed": sum(s["status"] == "passed" for s in graded) * 2 >= len(graded),
                         "category": meta.get("category")})
    return rows
