"""The statistics bench/guest_speed.py prints: the median ratio's confidence interval."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from guest_speed import median_interval  # noqa: E402  (bench/ is not a package)


@pytest.mark.parametrize("n, k", [(6, 1), (9, 2), (15, 4), (21, 6), (41, 14)])
def test_interval_matches_the_sign_test_table(n, k):
    """The k-th smallest and largest of n values: the published order statistics of a
    95% interval for a median (binomial(n, 1/2) tails)."""
    values = [float(i) for i in range(1, n + 1)]
    assert median_interval(values) == (float(k), float(n + 1 - k))


def test_interval_ignores_input_order_and_covers_the_median():
    values = [1.07, 0.98, 1.02, 1.10, 0.95, 1.01, 1.04, 0.99, 1.03]
    lo, hi = median_interval(values)
    assert median_interval(list(reversed(values))) == (lo, hi)
    assert lo <= sorted(values)[4] <= hi and lo > min(values) and hi < max(values)


@pytest.mark.parametrize("n", [1, 2, 5])
def test_too_few_pairs_give_no_interval(n):
    lo, hi = median_interval([1.0] * n)
    assert math.isnan(lo) and math.isnan(hi)
