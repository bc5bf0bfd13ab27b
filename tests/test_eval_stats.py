"""Statistics against values computed by hand or published (scipy's documented examples)."""

from __future__ import annotations

import numpy as np
import pytest

from cupola.evals import stats


def test_mean_std_percentile():
    assert stats.mean([]) is None and stats.std([]) is None and stats.std([3.0]) == 0.0
    assert stats.std([0.0, 1.0]) == pytest.approx(0.70710678)
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    for q in (0, 25, 50, 90, 100):
        assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_pass_at_k_and_pass_hat_k():
    assert stats.pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert stats.pass_at_k(5, 2, 2) == pytest.approx(0.7)  # 1 - C(3,2)/C(5,2)
    assert stats.pass_at_k(5, 4, 2) == 1.0
    assert stats.pass_hat_k(5, 2, 2) == pytest.approx(0.1)  # C(2,2)/C(5,2)
    assert stats.pass_hat_k(3, 3, 3) == 1.0 and stats.pass_hat_k(3, 2, 3) == 0.0
    with pytest.raises(ValueError):
        stats.pass_at_k(3, 4, 1)


def test_wilson_interval():
    lo, hi = stats.wilson(7, 10)
    assert (lo, hi) == (pytest.approx(0.3968, abs=1e-4), pytest.approx(0.8922, abs=1e-4))
    assert stats.wilson(0, 0) is None
    assert stats.wilson(10, 10)[1] == 1.0


def test_fisher_exact_and_sign_test():
    assert stats.fisher_exact(8, 10, 1, 6) == pytest.approx(0.0349650, abs=1e-6)  # scipy: [[8, 2], [1, 5]]
    assert stats.fisher_exact(3, 3, 0, 3) == pytest.approx(0.1)
    assert stats.fisher_exact(1, 1, 0, 1) == 1.0  # one sample each: never significant
    assert stats.fisher_exact(2, 4, 2, 4) == pytest.approx(1.0)
    assert stats.sign_test([1.0] * 10) == pytest.approx(2 / 1024)
    assert stats.sign_test([1, -1, 0, 0]) == 1.0 and stats.sign_test([]) == 1.0


def test_agreement_measures():
    truth, predicted = [True, True, False, False], [True, False, False, False]
    assert stats.confusion(truth, predicted) == {"tp": 1, "fp": 0, "fn": 1, "tn": 2}
    assert stats.cohen_kappa(truth, predicted) == pytest.approx(0.5)
    assert stats.cohen_kappa(truth, truth) == 1.0
    assert stats.cohen_kappa([True, False], [False, True]) == pytest.approx(-1.0)
    assert stats.spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(0.8207826816681233)  # scipy's example
    assert stats.spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert stats.spearman([1, 1, 1], [1, 2, 3]) is None
