"""Pure drift functions: PSI against hand-computed values and known distributions."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_featurestore.drift import (
    NON_NUMERIC_BUCKET,
    OTHER_BUCKET,
    build_profile,
    compare_to_profile,
    compute_drift,
    drift_severity,
    is_null,
    population_stability_index,
    quantile_edges,
)
from llm_featurestore.errors import FeatureConfigError


def test_psi_matches_hand_computation() -> None:
    expected = [0.25, 0.25, 0.25, 0.25]
    actual = [0.1, 0.2, 0.3, 0.4]
    # sum((a - e) * ln(a / e)) worked out term by term:
    hand = (
        (0.1 - 0.25) * math.log(0.1 / 0.25)
        + (0.2 - 0.25) * math.log(0.2 / 0.25)
        + (0.3 - 0.25) * math.log(0.3 / 0.25)
        + (0.4 - 0.25) * math.log(0.4 / 0.25)
    )
    assert hand == pytest.approx(0.2282, abs=1e-4)
    assert population_stability_index(expected, actual) == pytest.approx(hand, rel=1e-12)


def test_psi_normalises_counts_and_is_zero_for_identical() -> None:
    assert population_stability_index([10, 30, 60], [1, 3, 6]) == pytest.approx(0.0, abs=1e-12)
    assert population_stability_index([1, 1], [3, 1]) == pytest.approx(
        population_stability_index([0.5, 0.5], [0.75, 0.25])
    )


def test_psi_uses_epsilon_for_empty_buckets() -> None:
    eps = 1e-4
    got = population_stability_index([0.5, 0.5, 0.0], [0.5, 0.25, 0.25], epsilon=eps)
    hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.25 - eps) * math.log(0.25 / eps)
    assert got == pytest.approx(hand, rel=1e-12)
    assert math.isfinite(got)


@pytest.mark.parametrize(
    ("expected", "actual", "message"),
    [
        ([0.5, 0.5], [1.0], "same buckets on both sides: got 2 expected and 1 actual"),
        ([], [], "at least one bucket"),
        ([1, -1], [1, 1], "may not be negative"),
        ([0, 0], [1, 1], "at least one observation on each side"),
    ],
)
def test_psi_rejects_bad_input(expected: list[float], actual: list[float], message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        population_stability_index(expected, actual)


def test_quantile_edges_interpolate_and_collapse_ties() -> None:
    assert quantile_edges([0, 1, 2, 3, 4], 4) == [1.0, 2.0, 3.0]
    assert quantile_edges([1, 1, 1, 1, 2], 4) == [1.0]
    with pytest.raises(FeatureConfigError, match="bins must be at least 2, got 1"):
        quantile_edges([1.0], 1)
    with pytest.raises(FeatureConfigError, match="no values"):
        quantile_edges([], 4)


def test_numeric_identical_distribution_has_no_drift() -> None:
    rng = random.Random(7)
    values = [rng.gauss(50, 10) for _ in range(5000)]
    report = compute_drift(values, values, feature="user.avg_order_value")
    assert report.kind == "numeric"
    assert report.psi == pytest.approx(0.0, abs=1e-9)
    assert report.severity == "none"
    assert not report.drifted
    # Deciles: ten buckets of the baseline, plus the non-numeric bucket, each ~10%.
    assert len(report.buckets) == 11
    assert report.buckets[-1] == NON_NUMERIC_BUCKET
    assert report.baseline_fractions[:10] == pytest.approx([0.1] * 10, abs=0.001)


def test_numeric_same_population_resampled_stays_below_moderate() -> None:
    rng = random.Random(1)
    baseline = [rng.gauss(50, 10) for _ in range(5000)]
    current = [rng.gauss(50, 10) for _ in range(5000)]
    report = compute_drift(baseline, current)
    assert report.psi is not None
    assert report.psi < 0.1
    assert report.severity == "none"


def test_numeric_shifted_distribution_is_significant() -> None:
    rng = random.Random(2)
    baseline = [rng.gauss(50, 10) for _ in range(5000)]
    current = [rng.gauss(65, 10) for _ in range(5000)]  # mean shifted by 1.5 sd
    report = compute_drift(baseline, current, feature="user.avg_order_value")
    assert report.psi is not None
    assert report.psi > 0.25
    assert report.severity == "significant"
    assert report.drifted


def test_numeric_bucketing_matches_hand_computed_psi() -> None:
    # Baseline 0..99 -> quartile edges 24.75, 49.5, 74.25: 25 values per bucket.
    baseline = list(range(100))
    profile = build_profile(baseline, bins=4)
    assert profile.edges == [24.75, 49.5, 74.25]
    assert profile.fractions == [0.25, 0.25, 0.25, 0.25, 0.0]
    # Current: 10 in bucket 0, 20 in 1, 30 in 2, 40 in 3.
    current = [0] * 10 + [30] * 20 + [60] * 30 + [90] * 40
    report = compare_to_profile(profile, current)
    hand = (
        (0.1 - 0.25) * math.log(0.1 / 0.25)
        + (0.2 - 0.25) * math.log(0.2 / 0.25)
        + (0.3 - 0.25) * math.log(0.3 / 0.25)
        + (0.4 - 0.25) * math.log(0.4 / 0.25)
    )  # the non-numeric bucket is empty on both sides (eps vs eps): it adds 0
    assert report.psi == pytest.approx(hand, rel=1e-9)
    assert report.current_fractions == [0.1, 0.2, 0.3, 0.4, 0.0]
    assert report.severity == "moderate"


def test_numeric_profile_puts_strings_in_non_numeric_bucket() -> None:
    profile = build_profile([1, 2, 3, 4])
    report = compare_to_profile(profile, [1, 2, "three", "four"])
    assert report.current_fractions[-1] == 0.5
    assert report.psi is not None
    assert report.psi > 0.25


def test_categorical_drift_with_other_bucket() -> None:
    baseline = ["shoes"] * 50 + ["books"] * 30 + ["toys"] * 15 + ["garden"] * 5
    profile = build_profile(baseline, max_categories=2)
    assert profile.kind == "categorical"
    assert profile.buckets == ["shoes", "books", OTHER_BUCKET]
    assert profile.fractions == pytest.approx([0.5, 0.3, 0.2])
    same = compare_to_profile(profile, ["shoes"] * 5 + ["books"] * 3 + ["kitchen"] * 2)
    assert same.psi == pytest.approx(0.0, abs=1e-12)  # unseen "kitchen" lands in other
    shifted = compare_to_profile(profile, ["books"] * 8 + ["shoes"] * 2)
    hand = (0.2 - 0.5) * math.log(0.2 / 0.5) + (0.8 - 0.3) * math.log(0.8 / 0.3)
    hand += (1e-4 - 0.2) * math.log(1e-4 / 0.2)
    assert shifted.psi == pytest.approx(hand, rel=1e-9)
    assert shifted.severity == "significant"


def test_categorical_ties_ranked_by_name_and_bools_are_categories() -> None:
    profile = build_profile(["b", "a", "c", "c"], max_categories=2)
    assert profile.categories == ["c", "a"]
    flags = build_profile([True, False, True, None])
    assert flags.kind == "categorical"
    assert flags.categories == ["True", "False"]
    assert flags.null_rate == 0.25


def test_null_rate_change_alone_flags_drift() -> None:
    profile = build_profile([1.0, 2.0, 3.0, 4.0] * 25)
    current = [1.0, 2.0, 3.0, 4.0] * 20 + [None] * 20  # same shape, 20% nulls
    report = compare_to_profile(profile, current)
    assert report.psi == pytest.approx(0.0, abs=1e-12)
    assert report.baseline_null_rate == 0.0
    assert report.current_null_rate == pytest.approx(0.2)
    assert report.null_rate_change == pytest.approx(0.2)
    assert report.severity == "significant"


def test_nan_counts_as_null() -> None:
    assert is_null(None)
    assert is_null(float("nan"))
    assert not is_null(0.0)
    assert build_profile([1.0, float("nan")]).null_rate == 0.5


def test_no_current_values_gives_no_psi() -> None:
    profile = build_profile([1, 2, 3])
    report = compare_to_profile(profile, [])
    assert report.psi is None
    assert report.current_count == 0
    assert report.null_rate_change == 0.0
    assert report.severity == "none"
    all_null = compare_to_profile(profile, [None, None])
    assert all_null.psi is None
    assert all_null.severity == "significant"  # null rate 0 -> 1


def test_all_null_baseline_cannot_give_psi() -> None:
    profile = build_profile([None, None])
    assert profile.fractions == []
    report = compare_to_profile(profile, [1, 2])
    assert report.psi is None
    assert report.null_rate_change == -1.0


@pytest.mark.parametrize(
    ("psi", "null_change", "severity"),
    [
        (0.0, 0.0, "none"),
        (0.099, 0.0, "none"),
        (0.1, 0.0, "moderate"),
        (0.2499, 0.0, "moderate"),
        (0.25, 0.0, "significant"),
        (None, 0.05, "moderate"),
        (0.0, -0.1, "significant"),
        (0.3, 0.06, "significant"),
    ],
)
def test_severity_thresholds(psi: float | None, null_change: float, severity: str) -> None:
    assert drift_severity(psi, null_change) == severity


def test_profile_errors_are_explained() -> None:
    with pytest.raises(FeatureConfigError, match="at least one value"):
        build_profile([])
    with pytest.raises(FeatureConfigError, match=r"non-numeric value 'x'.*kind='categorical'"):
        build_profile([1, "x"], kind="numeric")
    with pytest.raises(FeatureConfigError, match="max_categories must be at least 1, got 0"):
        build_profile(["a"], max_categories=0)
    with pytest.raises(FeatureConfigError, match="bins must be at least 2, got 1"):
        build_profile([None], kind="numeric", bins=1)


@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200),
)
def test_psi_is_finite_non_negative_and_zero_against_itself(
    baseline: list[float], current: list[float]
) -> None:
    profile = build_profile(baseline)
    report = compare_to_profile(profile, current)
    assert report.psi is not None
    assert math.isfinite(report.psi)
    assert report.psi >= 0.0
    assert sum(report.current_fractions) == pytest.approx(1.0)
    assert compare_to_profile(profile, baseline).psi == pytest.approx(0.0, abs=1e-9)
