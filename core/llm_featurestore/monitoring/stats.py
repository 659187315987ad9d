"""What the monitor counts and reports: counters, sliding windows, percentiles, and the
snapshot models :class:`MonitorStats`, :class:`TaskStats` and :class:`FeatureRate`.

Nothing here locks: :class:`~llm_featurestore.monitoring.FeatureMonitor` guards every
call with its one lock.
"""

from __future__ import annotations

import math
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.models import FAILED_STATUSES, FeatureStatus
from llm_featurestore.monitoring.config import MonitorConfig
from llm_featurestore.prompting.results import DropReason, EnrichmentResult, FeatureProvenance

__all__ = ["LRU", "Counters", "FeatureRate", "MonitorStats", "TaskStats", "mean", "percentile"]

_MAX_SKIP_REASONS = 64
"""Distinct skip reasons counted by name; the rest are counted under "other"."""


class FeatureRate(BaseModel):
    """Outcomes of one feature (``entity_type.feature``) across recorded enrichments.

    Counts are since creation or :meth:`FeatureMonitor.reset`; rates are count / requests.
    """

    model_config = ConfigDict(frozen=True)

    requests: int = Field(description="Times the feature appeared in a provenance record.")
    used: int = Field(description="Times it reached the prompt.")
    missing: int = Field(description="No value: NOT_FOUND, NULL_VALUE, or dropped as missing.")
    stale: int = Field(description="Older than the freshness threshold (status or drop reason).")
    unavailable: int = Field(description="The read failed: TIMED_OUT or UNAVAILABLE.")
    missing_rate: float
    stale_rate: float
    used_rate: float
    unavailable_rate: float


class TaskStats(BaseModel):
    """Counts and quality for one task type."""

    model_config = ConfigDict(frozen=True)

    total: int = Field(description="Results recorded for this task type.")
    successful: int = Field(description="Results with features_available True.")
    skipped: int = Field(description="Results with a skipped_reason (enrichment did not run).")
    quality_with_features: float | None = Field(
        description="Mean quality over the window of answers given with features."
    )
    quality_without_features: float | None = Field(
        description="Mean quality over the window of answers given without features."
    )
    quality_samples_with: int
    quality_samples_without: int
    enabled: bool = Field(description="False while this task's quality gate is open.")
    disabled_reason: str | None = None


class MonitorStats(BaseModel):
    """A snapshot of :class:`FeatureMonitor`.

    ``total_*``/``successful_*``/``skipped_*`` and ``feature_stats``/``task_stats`` counts are
    since creation or reset; means, percentiles, quality and availability are over the
    last ``window_size`` results whose enrichment ran (``skipped_reason`` None).
    Quality means are None without samples; latency and feature means are 0.0 without
    samples; availability is 100.0 until the store has been consulted.
    """

    model_config = ConfigDict(frozen=True)

    total_enrichments: int
    successful_enrichments: int = Field(description="Results with features_available True.")
    skipped_enrichments: int = Field(description="Results with a skipped_reason.")
    skipped_by_reason: dict[str, int]
    window_size: int = Field(description="Results currently in the sliding window.")
    avg_features_used: float
    avg_latency_ms: float
    p50_latency_ms: float
    p99_latency_ms: float
    quality_with_features: float | None
    quality_without_features: float | None
    feature_store_availability_pct: float
    holdouts: int = Field(description="should_enrich calls turned away as the control group.")
    store_enabled: bool = Field(description="False while the store gate is open.")
    store_disabled_reason: str | None = None
    consecutive_store_failures: int
    feature_stats: dict[str, FeatureRate] = Field(
        description='Per feature, keyed "entity_type.feature".'
    )
    task_stats: dict[str, TaskStats]


_K = TypeVar("_K")
_V = TypeVar("_V")


class LRU(Generic[_K, _V]):
    """A dict capped at ``maxsize`` entries; the least recently touched is evicted."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.data: OrderedDict[_K, _V] = OrderedDict()

    def get_or_create(self, key: _K, factory: Callable[[], _V]) -> _V:
        value = self.data.get(key)
        if value is None:
            value = factory()
            self.put(key, value)
        else:
            self.data.move_to_end(key)
        return value

    def put(self, key: _K, value: _V) -> None:
        self.data[key] = value
        self.data.move_to_end(key)
        while len(self.data) > self.maxsize:
            self.data.popitem(last=False)

    def clear(self) -> None:
        self.data.clear()


def mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class _FeatureCounts:
    requests: int = 0
    used: int = 0
    missing: int = 0
    stale: int = 0
    unavailable: int = 0

    def add(self, prov: FeatureProvenance) -> None:
        """Count one provenance record: a failed read, else stale, else missing."""
        self.requests += 1
        self.used += prov.used
        reason = prov.drop_reason
        if prov.status in FAILED_STATUSES or reason is DropReason.UNAVAILABLE:
            self.unavailable += 1
        elif prov.status is FeatureStatus.STALE or reason is DropReason.STALE:
            self.stale += 1
        elif (
            prov.status in (FeatureStatus.NOT_FOUND, FeatureStatus.NULL_VALUE)
            or reason is DropReason.MISSING
        ):
            self.missing += 1

    def rate(self) -> FeatureRate:
        n = self.requests
        return FeatureRate(
            requests=n,
            used=self.used,
            missing=self.missing,
            stale=self.stale,
            unavailable=self.unavailable,
            missing_rate=self.missing / n if n else 0.0,
            stale_rate=self.stale / n if n else 0.0,
            used_rate=self.used / n if n else 0.0,
            unavailable_rate=self.unavailable / n if n else 0.0,
        )


@dataclass(frozen=True)
class _Sample:
    features_used: int
    latency_ms: float
    store_available: bool


class Counters:
    """Totals since creation, the sliding window of results that ran, the overall quality
    windows, and per feature its outcomes and the tasks whose prompts used it."""

    def __init__(self, config: MonitorConfig) -> None:
        self.max_tasks_per_feature = config.max_tracked_tasks
        self.total = 0
        self.successful = 0
        self.skipped = 0
        self.holdouts = 0
        self.skip_reasons: Counter[str] = Counter()
        self.window: deque[_Sample] = deque(maxlen=config.window_size)
        self.quality_with: deque[float] = deque(maxlen=config.window_size)
        self.quality_without: deque[float] = deque(maxlen=config.window_size)
        self.features: LRU[str, _FeatureCounts] = LRU(config.max_tracked_features)
        self.usage: LRU[str, OrderedDict[str, None]] = LRU(config.max_tracked_features)

    def count(self, result: EnrichmentResult) -> None:
        """Count one result: totals, its skip reason or its sample, its provenance."""
        self.total += 1
        self.successful += bool(result.features_available)
        if result.skipped_reason is not None:
            self.skipped += 1
            reason = str(result.skipped_reason)
            if reason in self.skip_reasons or len(self.skip_reasons) < _MAX_SKIP_REASONS - 1:
                self.skip_reasons[reason] += 1
            else:
                self.skip_reasons["other"] += 1
        else:
            sample = _Sample(
                features_used=len(result.features_used),
                latency_ms=float(result.enrichment_latency_ms),
                store_available=bool(result.store_available),
            )
            self.window.append(sample)
        for prov in result.provenance:
            key = prov.qualified_name
            self.features.get_or_create(key, _FeatureCounts).add(prov)
            if prov.used:
                self._used_by(key, result.task_type)

    def _used_by(self, key: str, task_type: str) -> None:
        tasks = self.usage.get_or_create(key, OrderedDict)
        tasks[task_type] = None
        tasks.move_to_end(task_type)
        while len(tasks) > self.max_tasks_per_feature:
            tasks.popitem(last=False)

    def add_quality(self, with_features: bool, quality: float) -> None:
        (self.quality_with if with_features else self.quality_without).append(quality)

    def feature_usage(self) -> dict[str, set[str]]:
        return {key: set(tasks) for key, tasks in self.usage.data.items()}

    def snapshot(
        self,
        tasks: dict[str, TaskStats],
        *,
        store_enabled: bool,
        store_disabled_reason: str | None,
        consecutive_store_failures: int,
    ) -> MonitorStats:
        """The :class:`MonitorStats` of these counters, with the gates' state given."""
        samples = list(self.window)
        latencies = sorted(s.latency_ms for s in samples)
        n = len(samples)
        return MonitorStats(
            total_enrichments=self.total,
            successful_enrichments=self.successful,
            skipped_enrichments=self.skipped,
            skipped_by_reason=dict(self.skip_reasons),
            holdouts=self.holdouts,
            window_size=n,
            avg_features_used=sum(s.features_used for s in samples) / n if n else 0.0,
            avg_latency_ms=sum(latencies) / n if n else 0.0,
            p50_latency_ms=percentile(latencies, 50),
            p99_latency_ms=percentile(latencies, 99),
            quality_with_features=mean(self.quality_with),
            quality_without_features=mean(self.quality_without),
            feature_store_availability_pct=(
                100.0 * sum(s.store_available for s in samples) / n if n else 100.0
            ),
            store_enabled=store_enabled,
            store_disabled_reason=store_disabled_reason,
            consecutive_store_failures=consecutive_store_failures,
            feature_stats={key: c.rate() for key, c in self.features.data.items()},
            task_stats=tasks,
        )
