"""Statistics for evals: means and spread, pass^k / pass@k, intervals, significance, agreement.

Pure functions, checkable by hand.

* ``pass@k`` (Chen et al., 2021): the chance that at least one of k samples passes, estimated
  without bias from n samples with c passes: ``1 - C(n-c, k) / C(n, k)``.
* ``pass^k`` (Yao et al., 2024, tau-bench): the chance that all k samples pass:
  ``C(c, k) / C(n, k)``. With k = n these are "passed at least once" and "passed every time".
* Wilson score interval for a pass rate; Fisher's exact test (two-sided) for two pass counts;
  the exact sign test for paired score changes.
* Agreement of a judge with human labels: accuracy, Cohen's kappa, the confusion matrix, and
  Spearman's rank correlation for scores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def std(values: Sequence[float]) -> float | None:
    """The sample standard deviation (n - 1); 0 for one value, None for none."""
    if not values:
        return None
    if len(values) == 1:
        return 0.0
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError("need 0 <= c <= n and 1 <= k <= n")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError("need 0 <= c <= n and 1 <= k <= n")
    return math.comb(c, k) / math.comb(n, k)


def wilson(passed: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The 95% Wilson score interval of a pass rate."""
    if n == 0:
        return None
    p = passed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def fisher_exact(a_pass: int, a_n: int, b_pass: int, b_n: int) -> float:
    """Two-sided p-value of Fisher's exact test on the table [[a_pass, a_fail], [b_pass, b_fail]]."""
    total_pass, total = a_pass + b_pass, a_n + b_n
    if a_n == 0 or b_n == 0 or total_pass in (0, total):
        return 1.0

    def prob(x: int) -> float:
        return math.comb(a_n, x) * math.comb(b_n, total_pass - x) / math.comb(total, total_pass)

    observed = prob(a_pass)
    lo, hi = max(0, total_pass - b_n), min(a_n, total_pass)
    p = sum(q for x in range(lo, hi + 1) if (q := prob(x)) <= observed * (1 + 1e-7))
    return min(1.0, p)


def sign_test(deltas: Sequence[float]) -> float:
    """Two-sided exact sign test p-value for paired changes (zeros dropped)."""
    ups, downs = sum(d > 0 for d in deltas), sum(d < 0 for d in deltas)
    n = ups + downs
    if n == 0:
        return 1.0
    k = min(ups, downs)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n)


def confusion(truth: Sequence[bool], predicted: Sequence[bool]) -> dict[str, int]:
    """Counts with "pass" as the positive class."""
    pairs = list(zip(truth, predicted))
    return {"tp": sum(t and p for t, p in pairs), "fp": sum(p and not t for t, p in pairs),
            "fn": sum(t and not p for t, p in pairs), "tn": sum(not t and not p for t, p in pairs)}


def cohen_kappa(truth: Sequence[bool], predicted: Sequence[bool]) -> float | None:
    """Agreement beyond chance: 1 is perfect, 0 is what chance gives; None when undefined."""
    n = len(truth)
    if n == 0:
        return None
    c = confusion(truth, predicted)
    observed = (c["tp"] + c["tn"]) / n
    expected = ((c["tp"] + c["fn"]) * (c["tp"] + c["fp"]) + (c["tn"] + c["fp"]) * (c["tn"] + c["fn"])) / (n * n)
    if expected == 1:
        return 1.0 if observed == 1 else None
    return (observed - expected) / (1 - expected)


def _ranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1  # ties share their average rank
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (Pearson correlation of the ranks, ties averaged); None when undefined."""
    if len(x) != len(y) or len(x) < 2:
        return None
    rx, ry = _ranks(x), _ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx, vy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)
