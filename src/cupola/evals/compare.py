"""Comparing two runs: regressions and improvements per test, with significance where repeats allow.

Targets and tests are matched by id. Per test, the pass rates of the two runs are compared with
Fisher's exact test; per target, the per-test score changes with the exact sign test. With one
sample per cell no test can be significant, so the gate (``--fail-on-regression``) counts every
test that went from passing to failing; with repeats on both sides, only significant regressions
(p < alpha) count — a flaky test that happened to fail once does not fail the build.
"""

from __future__ import annotations

from typing import Any

from cupola.evals import stats


def _rate(cell: dict[str, Any] | None) -> float | None:
    return None if not cell or not cell.get("n") else cell["passed"] / cell["n"]


def compare(a: dict[str, Any], b: dict[str, Any], alpha: float = 0.05) -> dict[str, Any]:
    """``a`` is the baseline, ``b`` the candidate (run documents)."""
    a_targets, b_targets = {t["id"]: t for t in a["targets"]}, {t["id"]: t for t in b["targets"]}
    labels = {t["id"]: t.get("label") or t["id"] for t in [*a["tests"], *b["tests"]]}
    out_targets, regressions, improvements, gate = [], [], [], []
    for tid in [t for t in a_targets if t in b_targets]:
        ta, tb = a_targets[tid], b_targets[tid]
        cells_a = {c["test"]: c for c in ta["tests"]}
        cells_b = {c["test"]: c for c in tb["tests"]}
        tests, deltas = [], []
        for test in [t for t in cells_a if t in cells_b]:
            ca, cb = cells_a[test], cells_b[test]
            ra, rb = _rate(ca), _rate(cb)
            if ra is None or rb is None:
                continue
            p = stats.fisher_exact(ca["passed"], ca["n"], cb["passed"], cb["n"])
            change = "regression" if rb < ra else "improvement" if rb > ra else "same"
            repeated = ca["n"] >= 2 and cb["n"] >= 2
            row = {"test": test, "label": labels.get(test, test), "target": tid, "a_pass_rate": round(ra, 4),
                   "b_pass_rate": round(rb, 4), "a_n": ca["n"], "b_n": cb["n"], "delta": round(rb - ra, 4),
                   "a_score": ca.get("mean_score"), "b_score": cb.get("mean_score"), "p_value": round(p, 4),
                   "significant": repeated and p < alpha, "change": change}
            tests.append(row)
            if ca.get("mean_score") is not None and cb.get("mean_score") is not None:
                deltas.append(cb["mean_score"] - ca["mean_score"])
            if change == "regression":
                regressions.append(row)
                if row["significant"] or not repeated:
                    gate.append(row)
            elif change == "improvement":
                improvements.append(row)
        out_targets.append({
            "id": tid, "a": {k: ta.get(k) for k in ("pass_rate", "mean_score", "std", "samples")},
            "b": {k: tb.get(k) for k in ("pass_rate", "mean_score", "std", "samples")},
            "delta_pass_rate": None if ta.get("pass_rate") is None or tb.get("pass_rate") is None
            else round(tb["pass_rate"] - ta["pass_rate"], 4),
            "p_value": round(stats.sign_test(deltas), 4), "tests": tests})
    return {"object": "eval.comparison", "a": a["id"], "b": b["id"], "alpha": alpha, "targets": out_targets,
            "regressions": regressions, "improvements": improvements, "gate_failures": gate,
            "only_in_a": [t for t in a_targets if t not in b_targets],
            "only_in_b": [t for t in b_targets if t not in a_targets]}
