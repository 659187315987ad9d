"""Distribution drift of feature values: population stability index and null-rate change.

Pure functions, no I/O and no state: :class:`~llm_featurestore.monitoring.FeatureMonitor`
keeps the windows of values and calls these.

The population stability index (PSI) of a current distribution ``a`` against a
baseline ``e``, over the same buckets, is ``sum((a_i - e_i) * ln(a_i / e_i))``.
An empty bucket's fraction is replaced by a small epsilon so the sum stays finite.

* **Numeric** values are bucketed by the baseline's quantiles (``bins`` buckets, fewer
  when the baseline has ties), plus one bucket for current values that are not numbers.
* **Categorical** values (strings, booleans, or anything that is not a number) are
  bucketed by the baseline's most frequent categories plus an ``"__other__"`` bucket
  for every category the baseline did not keep.

Conventional reading of PSI: below :data:`MODERATE_PSI` (0.1) no meaningful shift,
up to :data:`SIGNIFICANT_PSI` (0.25) a moderate shift, above it a significant one.
``None`` and NaN are nulls: they are left out of the PSI and reported as the null rate.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.errors import FeatureConfigError

__all__ = [
    "DEFAULT_EPSILON",
    "MODERATE_NULL_RATE_CHANGE",
    "MODERATE_PSI",
    "NON_NUMERIC_BUCKET",
    "OTHER_BUCKET",
    "SIGNIFICANT_NULL_RATE_CHANGE",
    "SIGNIFICANT_PSI",
    "DistributionProfile",
    "DriftReport",
    "DriftSeverity",
    "build_profile",
    "compare_to_profile",
    "compute_drift",
    "drift_severity",
    "is_null",
    "population_stability_index",
    "quantile_edges",
]

MODERATE_PSI = 0.1
"""PSI at or above this is a moderate shift."""
SIGNIFICANT_PSI = 0.25
"""PSI at or above this is a significant shift."""
MODERATE_NULL_RATE_CHANGE = 0.05
"""An absolute change of the null rate at or above this (5 points) is a moderate shift."""
SIGNIFICANT_NULL_RATE_CHANGE = 0.10
"""An absolute change of the null rate at or above this (10 points) is a significant shift."""
DEFAULT_EPSILON = 1e-4
"""Fraction used in place of an empty bucket's zero."""
OTHER_BUCKET = "__other__"
"""Categorical bucket for categories the baseline did not keep."""
NON_NUMERIC_BUCKET = "__non_numeric__"
"""Numeric bucket for current values that are not numbers."""

DriftSeverity = Literal["none", "moderate", "significant"]
_SEVERITY_ORDER: dict[str, int] = {"none": 0, "moderate": 1, "significant": 2}


def is_null(value: Any) -> bool:
    """True for ``None`` and float NaN, the values counted in the null rate."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _category(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], *, epsilon: float = DEFAULT_EPSILON
) -> float:
    """PSI of ``actual`` against ``expected`` over the same buckets.

    Args:
        expected: Baseline bucket counts or fractions (normalised here to sum to 1).
        actual: Current bucket counts or fractions, same length and bucket order.
        epsilon: Used in place of a zero fraction on either side.

    Returns:
        ``sum((a - e) * ln(a / e))`` over the buckets; 0.0 for identical distributions,
        never negative.

    Raises:
        FeatureConfigError: the sequences differ in length, are empty, hold a negative
            number, or one of them sums to zero.
    """
    if len(expected) != len(actual):
        raise FeatureConfigError(
            f"PSI needs the same buckets on both sides: got {len(expected)} expected and "
            f"{len(actual)} actual buckets"
        )
    if not expected:
        raise FeatureConfigError("PSI needs at least one bucket")
    if any(x < 0 for x in expected) or any(x < 0 for x in actual):
        raise FeatureConfigError("PSI bucket counts and fractions may not be negative")
    total_e, total_a = float(sum(expected)), float(sum(actual))
    if total_e <= 0 or total_a <= 0:
        raise FeatureConfigError(
            "PSI needs at least one observation on each side "
            f"(expected sums to {total_e}, actual sums to {total_a})"
        )
    psi = 0.0
    for e_raw, a_raw in zip(expected, actual, strict=True):
        e = max(e_raw / total_e, epsilon)
        a = max(a_raw / total_a, epsilon)
        psi += (a - e) * math.log(a / e)
    return psi


def quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """Inner bucket edges at the ``1/bins .. (bins-1)/bins`` quantiles of ``values``.

    Quantiles are taken by linear interpolation between order statistics; repeated
    edges (from ties) are collapsed, so the result has at most ``bins - 1`` strictly
    increasing edges. A value ``x`` falls in bucket ``bisect_right(edges, x)``.

    Raises:
        FeatureConfigError: ``bins`` is below 2 or ``values`` is empty.
    """
    if bins < 2:
        raise FeatureConfigError(f"bins must be at least 2, got {bins}")
    if not values:
        raise FeatureConfigError("cannot compute quantile edges of no values")
    ordered = sorted(values)
    n = len(ordered)
    edges: list[float] = []
    for i in range(1, bins):
        pos = (n - 1) * i / bins
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        edge = ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)
        if not edges or edge > edges[-1]:
            edges.append(float(edge))
    return edges


class DistributionProfile(BaseModel):
    """A baseline distribution, reduced to its buckets (the raw values are not kept).

    ``buckets`` names every bucket; ``fractions`` holds the baseline's share of its
    non-null values in each, in the same order (the trailing ``__other__`` or
    ``__non_numeric__`` bucket may be 0).
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["numeric", "categorical"]
    edges: list[float] = Field(default_factory=list, description="Numeric inner bucket edges.")
    categories: list[str] = Field(
        default_factory=list, description="Categorical buckets kept, most frequent first."
    )
    buckets: list[str]
    fractions: list[float]
    null_rate: float = Field(description="Share of baseline values that were null, 0..1.")
    count: int = Field(description="Number of baseline values, nulls included.")

    @property
    def non_null_count(self) -> int:
        """Baseline values that were not null."""
        return round(self.count * (1.0 - self.null_rate))


def _numeric_bucket_names(edges: Sequence[float]) -> list[str]:
    if not edges:
        return ["(-inf, inf)", NON_NUMERIC_BUCKET]
    names = [f"(-inf, {edges[0]:g})"]
    names += [f"[{lo:g}, {hi:g})" for lo, hi in pairwise(edges)]
    names.append(f"[{edges[-1]:g}, inf)")
    names.append(NON_NUMERIC_BUCKET)
    return names


def build_profile(
    values: Iterable[Any],
    *,
    kind: Literal["numeric", "categorical"] | None = None,
    bins: int = 10,
    max_categories: int = 20,
) -> DistributionProfile:
    """Reduce baseline ``values`` to a :class:`DistributionProfile`.

    Args:
        values: Baseline observations; ``None``/NaN count as nulls.
        kind: ``"numeric"`` or ``"categorical"``; inferred when omitted (numeric when
            every non-null value is an int or float, booleans excluded).
        bins: Number of quantile buckets for numeric values (fewer with ties).
        max_categories: Categories kept for categorical values, most frequent first
            (ties broken by name); the rest share the ``__other__`` bucket.

    Raises:
        FeatureConfigError: ``values`` is empty, ``kind="numeric"`` with a non-numeric
            value, or ``bins``/``max_categories`` out of range.
    """
    items = list(values)
    if not items:
        raise FeatureConfigError("a drift baseline needs at least one value")
    if max_categories < 1:
        raise FeatureConfigError(f"max_categories must be at least 1, got {max_categories}")
    present = [v for v in items if not is_null(v)]
    null_rate = 1.0 - len(present) / len(items)
    if kind is None:
        kind = "numeric" if present and all(_is_number(v) for v in present) else "categorical"
    if kind == "numeric":
        bad = next((v for v in present if not _is_number(v)), None)
        if bad is not None:
            raise FeatureConfigError(
                f"numeric drift baseline holds a non-numeric value {bad!r}; "
                "pass kind='categorical' or clean the values"
            )
        return _numeric_profile([float(v) for v in present], bins, null_rate, len(items))
    return _categorical_profile(present, max_categories, null_rate, len(items))


def _numeric_profile(
    numbers: list[float], bins: int, null_rate: float, count: int
) -> DistributionProfile:
    if bins < 2:
        raise FeatureConfigError(f"bins must be at least 2, got {bins}")
    edges = quantile_edges(numbers, bins) if numbers else []
    counts = [0] * (len(edges) + 2)
    for x in numbers:
        counts[bisect_right(edges, x)] += 1
    return DistributionProfile(
        kind="numeric",
        edges=edges,
        buckets=_numeric_bucket_names(edges),
        fractions=[c / len(numbers) for c in counts] if numbers else [],
        null_rate=null_rate,
        count=count,
    )


def _categorical_profile(
    present: list[Any], max_categories: int, null_rate: float, count: int
) -> DistributionProfile:
    freq = Counter(_category(v) for v in present)
    ranked = sorted(freq.items(), key=lambda kv: (-kv[1], kv[0]))
    kept = [name for name, _ in ranked[:max_categories]]
    other = sum(c for _, c in ranked[max_categories:])
    fractions: list[float] = []
    if present:
        fractions = [freq[name] / len(present) for name in kept] + [other / len(present)]
    return DistributionProfile(
        kind="categorical",
        categories=kept,
        buckets=[*kept, OTHER_BUCKET],
        fractions=fractions,
        null_rate=null_rate,
        count=count,
    )


def _bucket_counts(profile: DistributionProfile, present: Sequence[Any]) -> list[int]:
    counts = [0] * len(profile.buckets)
    if profile.kind == "numeric":
        last = len(counts) - 1  # the non-numeric bucket
        for v in present:
            counts[bisect_right(profile.edges, float(v)) if _is_number(v) else last] += 1
    else:
        index = {name: i for i, name in enumerate(profile.categories)}
        other = len(counts) - 1
        for v in present:
            counts[index.get(_category(v), other)] += 1
    return counts


def drift_severity(psi: float | None, null_rate_change: float) -> DriftSeverity:
    """The worse of the PSI's and the null-rate change's severity.

    ``psi=None`` (not computable) contributes ``"none"``.
    """
    by_psi: DriftSeverity = "none"
    if psi is not None:
        if psi >= SIGNIFICANT_PSI:
            by_psi = "significant"
        elif psi >= MODERATE_PSI:
            by_psi = "moderate"
    change = abs(null_rate_change)
    by_null: DriftSeverity = "none"
    if change >= SIGNIFICANT_NULL_RATE_CHANGE:
        by_null = "significant"
    elif change >= MODERATE_NULL_RATE_CHANGE:
        by_null = "moderate"
    return by_psi if _SEVERITY_ORDER[by_psi] >= _SEVERITY_ORDER[by_null] else by_null


class DriftReport(BaseModel):
    """How a feature's current values compare with its baseline."""

    model_config = ConfigDict(frozen=True)

    feature: str = Field(description='Qualified name, e.g. "user.avg_order_value".')
    kind: Literal["numeric", "categorical"]
    psi: float | None = Field(
        description="Population stability index; None when either side has no non-null value."
    )
    baseline_null_rate: float
    current_null_rate: float
    null_rate_change: float = Field(description="current_null_rate - baseline_null_rate.")
    baseline_count: int
    current_count: int
    severity: DriftSeverity
    buckets: list[str] = Field(default_factory=list)
    baseline_fractions: list[float] = Field(default_factory=list)
    current_fractions: list[float] = Field(default_factory=list)

    @property
    def drifted(self) -> bool:
        """True when the severity is moderate or significant."""
        return self.severity != "none"


def compare_to_profile(
    profile: DistributionProfile,
    current: Iterable[Any],
    *,
    feature: str = "",
    epsilon: float = DEFAULT_EPSILON,
) -> DriftReport:
    """Compare current values with a baseline profile.

    Args:
        profile: From :func:`build_profile`.
        current: Current observations; ``None``/NaN are nulls.
        feature: Name to put in the report.
        epsilon: Fraction used for empty buckets.

    Returns:
        A :class:`DriftReport`. With no current values at all, the null rate is taken as
        unchanged and ``psi`` is ``None``.
    """
    items = list(current)
    present = [v for v in items if not is_null(v)]
    current_null = 1.0 - len(present) / len(items) if items else profile.null_rate
    counts = _bucket_counts(profile, present)
    psi: float | None = None
    current_fractions: list[float] = []
    if present:
        current_fractions = [c / len(present) for c in counts]
    if present and profile.fractions:
        psi = population_stability_index(profile.fractions, counts, epsilon=epsilon)
    change = current_null - profile.null_rate
    return DriftReport(
        feature=feature,
        kind=profile.kind,
        psi=psi,
        baseline_null_rate=profile.null_rate,
        current_null_rate=current_null,
        null_rate_change=change,
        baseline_count=profile.count,
        current_count=len(items),
        severity=drift_severity(psi, change),
        buckets=list(profile.buckets),
        baseline_fractions=list(profile.fractions),
        current_fractions=current_fractions,
    )


def compute_drift(
    baseline: Iterable[Any],
    current: Iterable[Any],
    *,
    feature: str = "",
    kind: Literal["numeric", "categorical"] | None = None,
    bins: int = 10,
    max_categories: int = 20,
    epsilon: float = DEFAULT_EPSILON,
) -> DriftReport:
    """:func:`build_profile` of ``baseline`` then :func:`compare_to_profile` of ``current``."""
    profile = build_profile(baseline, kind=kind, bins=bins, max_categories=max_categories)
    return compare_to_profile(profile, current, feature=feature, epsilon=epsilon)
