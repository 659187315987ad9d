"""Watch enrichment in production, and turn it off by itself when it does not help.

:class:`FeatureMonitor` receives every :class:`~llm_featurestore.enricher.EnrichmentResult`
(``record_enrichment``; a :class:`~llm_featurestore.enricher.FeatureEnricher` given the
monitor does this itself for every enrichment that ran), optionally with the feature
vectors that were read (``vectors=`` or :meth:`~FeatureMonitor.record_vector`). Scores of
the model's answers arrive with the result or later through
:meth:`~FeatureMonitor.record_quality`. From them it keeps:

* counters since creation (or :meth:`~FeatureMonitor.reset`): totals, successes, skips,
  per-feature outcomes, per-task counts;
* sliding windows of the last ``window_size`` results: feature counts, latencies
  (mean, p50, p99), store availability, and per task the quality of answers given with
  and without features;
* per feature, a sliding window of recent values, compared with a baseline set by
  :meth:`~FeatureMonitor.set_baseline` (population stability index and null rate, see
  :mod:`llm_featurestore.drift`).

Two gates decide :meth:`~FeatureMonitor.should_enrich`, each a small circuit breaker
(closed -> open for ``cooldown_seconds`` -> half-open: one probe enrichment goes through;
a successful probe closes the gate, a failed one opens it for another cool-down):

* the **store gate** (all tasks) opens after ``disable_after_failures`` consecutive
  results where every lookup failed, or when availability over the last
  ``availability_window`` results drops below ``availability_threshold_pct``;
* a **quality gate** per task opens when there are ``quality_min_samples`` quality scores
  both with and without features and the mean with features does not beat the mean
  without by at least ``quality_margin``. A successful probe (features available) starts
  a new trial: the task's with-features samples are cleared and collected again.

Answers without features come from users the store knows nothing about, from
pass-throughs while a gate is open, and from an optional random hold-out
(``holdout_fraction``) that keeps a control group when every user has features.

Everything is guarded by one lock and bounded: windows are ``deque(maxlen=...)``, the
number of tracked features and task types is capped (least recently seen dropped first).
The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.drift import (
    DistributionProfile,
    DriftReport,
    build_profile,
    compare_to_profile,
)
from llm_featurestore.errors import FeatureConfigError, unknown_name_message
from llm_featurestore.models import FAILED_STATUSES, FeatureStatus, FeatureVector
from llm_featurestore.serving.breaker import CircuitBreaker

__all__ = [
    "EnrichmentLike",
    "FeatureMonitor",
    "FeatureRate",
    "MonitorStats",
    "ProvenanceLike",
    "TaskStats",
]

_MAX_VALUE_CHARS = 256
_MAX_SKIP_REASONS = 64
"""Distinct skip reasons counted by name; the rest are counted under "other"."""
_FAILED = FAILED_STATUSES
_NULLISH = frozenset({FeatureStatus.NOT_FOUND, FeatureStatus.NULL_VALUE, FeatureStatus.DEFAULTED})


class ProvenanceLike(Protocol):
    """What the monitor reads from a ``FeatureProvenance`` (see ``enricher.py``)."""

    @property
    def feature(self) -> str: ...
    @property
    def entity_type(self) -> str: ...
    @property
    def status(self) -> FeatureStatus: ...
    @property
    def used(self) -> bool: ...
    @property
    def drop_reason(self) -> str | None: ...


class EnrichmentLike(Protocol):
    """What the monitor reads from an ``EnrichmentResult`` (see ``enricher.py``).

    Declared structurally so this module never imports the enricher (which imports it).
    """

    @property
    def task_type(self) -> str: ...
    @property
    def features_used(self) -> Sequence[str]: ...
    @property
    def enrichment_latency_ms(self) -> float: ...
    @property
    def features_available(self) -> bool: ...
    @property
    def store_available(self) -> bool: ...
    @property
    def skipped_reason(self) -> str | None: ...
    @property
    def provenance(self) -> Sequence[ProvenanceLike]: ...


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


class _LRU(Generic[_K, _V]):
    """A dict capped at ``maxsize`` entries; the least recently touched is evicted."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self.data: OrderedDict[_K, _V] = OrderedDict()

    def get_or_create(self, key: _K, factory: Callable[[], _V]) -> _V:
        value = self.data.get(key)
        if value is None:
            value = factory()
            self.data[key] = value
            while len(self.data) > self.maxsize:
                self.data.popitem(last=False)
        else:
            self.data.move_to_end(key)
        return value

    def clear(self) -> None:
        self.data.clear()


@dataclass
class _FeatureCounts:
    requests: int = 0
    used: int = 0
    missing: int = 0
    stale: int = 0
    unavailable: int = 0


@dataclass
class _TaskState:
    quality_window: int
    gate: CircuitBreaker
    total: int = 0
    successful: int = 0
    skipped: int = 0
    with_q: deque[float] = field(init=False)
    without_q: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.with_q = deque(maxlen=self.quality_window)
        self.without_q = deque(maxlen=self.quality_window)


@dataclass(frozen=True)
class _Sample:
    features_used: int
    latency_ms: float
    store_available: bool


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def _percentile(ordered: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending sequence (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _drift_value(value: Any) -> Any:
    """What the drift window keeps of a value: scalars (long strings cut), else nothing."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:_MAX_VALUE_CHARS]
    return _SKIP


_SKIP = object()


def _check_quality_score(score: object) -> None:
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise FeatureConfigError(f"inference_quality must be a finite number, got {score!r}")


class FeatureMonitor:
    """Statistics, automatic disabling and drift for enrichment; thread-safe, bounded.

    Args:
        window_size: Results kept in the sliding window (latency, feature counts,
            availability for stats, and per task the quality samples on each side).
        disable_after_failures: Consecutive results with the store unavailable
            (``store_available`` False) that open the store gate.
        availability_threshold_pct: The store gate opens when availability over the last
            ``availability_window`` consulted results drops below this percentage...
        availability_window: ...measured over this many results...
        availability_min_samples: ...once at least this many are in the window.
        quality_min_samples: Quality scores needed on each side (with and without
            features) before a task's quality gate may open.
        quality_margin: A task's quality gate opens when mean quality with features minus
            mean quality without is below this (so 0.0 disables only when worse).
        cooldown_seconds: How long an open gate stays open before a probe is let through.
        max_tracked_features: Features with counters, usage and value windows.
        max_tracked_tasks: Task types with counters, quality windows and gates.
        drift_window: Recent values kept per feature for drift.
        drift_bins: Quantile buckets for numeric baselines.
        drift_max_categories: Categories kept for categorical baselines.
        holdout_fraction: Share (0..1) of requests :meth:`should_enrich` turns away at
            random while enrichment is on, so that quality without features keeps being
            measured even when every user has features (0.0: no control group).
        seed: Seed of the hold-out's random draws, for reproducible tests.
        clock: Monotonic time in seconds; inject a fake in tests.

    Raises:
        FeatureConfigError: a size is below 1, a percentage outside 0..100, or the
            cool-down negative.
    """

    def __init__(
        self,
        *,
        window_size: int = 1000,
        disable_after_failures: int = 5,
        availability_threshold_pct: float = 50.0,
        availability_window: int = 50,
        availability_min_samples: int = 20,
        quality_min_samples: int = 30,
        quality_margin: float = 0.01,
        cooldown_seconds: float = 60.0,
        max_tracked_features: int = 1000,
        max_tracked_tasks: int = 200,
        drift_window: int = 1000,
        drift_bins: int = 10,
        drift_max_categories: int = 20,
        holdout_fraction: float = 0.0,
        seed: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in {
            "window_size": window_size,
            "disable_after_failures": disable_after_failures,
            "availability_window": availability_window,
            "availability_min_samples": availability_min_samples,
            "quality_min_samples": quality_min_samples,
            "max_tracked_features": max_tracked_features,
            "max_tracked_tasks": max_tracked_tasks,
            "drift_window": drift_window,
            "drift_max_categories": drift_max_categories,
        }.items():
            if value < 1:
                raise FeatureConfigError(f"FeatureMonitor: {name} must be at least 1, got {value}")
        if drift_bins < 2:
            raise FeatureConfigError(
                f"FeatureMonitor: drift_bins must be at least 2, got {drift_bins}"
            )
        if availability_min_samples > availability_window:
            raise FeatureConfigError(
                f"FeatureMonitor: availability_min_samples ({availability_min_samples}) "
                f"cannot exceed availability_window ({availability_window})"
            )
        if not 0.0 <= availability_threshold_pct <= 100.0:
            raise FeatureConfigError(
                "FeatureMonitor: availability_threshold_pct must be between 0 and 100, "
                f"got {availability_threshold_pct}"
            )
        if not 0.0 <= holdout_fraction <= 1.0:
            raise FeatureConfigError(
                f"FeatureMonitor: holdout_fraction must be between 0 and 1, got {holdout_fraction}"
            )
        if cooldown_seconds < 0 or not math.isfinite(cooldown_seconds):
            raise FeatureConfigError(
                f"FeatureMonitor: cooldown_seconds must be a finite number >= 0, "
                f"got {cooldown_seconds}"
            )
        self.window_size = window_size
        self.disable_after_failures = disable_after_failures
        self.availability_threshold_pct = availability_threshold_pct
        self.availability_window = availability_window
        self.availability_min_samples = availability_min_samples
        self.quality_min_samples = quality_min_samples
        self.quality_margin = quality_margin
        self.cooldown_seconds = cooldown_seconds
        self.max_tracked_features = max_tracked_features
        self.max_tracked_tasks = max_tracked_tasks
        self.drift_window = drift_window
        self.drift_bins = drift_bins
        self.drift_max_categories = drift_max_categories
        self.holdout_fraction = holdout_fraction
        self._rng = random.Random(seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._baselines: _LRU[str, DistributionProfile] = _LRU(max_tracked_features)
        self._reset_locked()

    # -- state -------------------------------------------------------------------------

    def _reset_locked(self) -> None:
        self._total = 0
        self._successful = 0
        self._skipped = 0
        self._skip_reasons: Counter[str] = Counter()
        self._holdouts = 0
        self._window: deque[_Sample] = deque(maxlen=self.window_size)
        self._store_gate = self._gate()
        self._consecutive_failures = 0
        self._availability: deque[bool] = deque(maxlen=self.availability_window)
        self._quality_with: deque[float] = deque(maxlen=self.window_size)
        self._quality_without: deque[float] = deque(maxlen=self.window_size)
        self._tasks: _LRU[str, _TaskState] = _LRU(self.max_tracked_tasks)
        self._features: _LRU[str, _FeatureCounts] = _LRU(self.max_tracked_features)
        self._usage: _LRU[str, OrderedDict[str, None]] = _LRU(self.max_tracked_features)
        self._values: _LRU[str, deque[Any]] = _LRU(self.max_tracked_features)

    def reset(self, *, keep_baselines: bool = True) -> None:
        """Forget every counter, window, gate and recorded value.

        Args:
            keep_baselines: Keep the drift baselines set with :meth:`set_baseline`
                (they are configuration, not observations).
        """
        with self._lock:
            self._reset_locked()
            if not keep_baselines:
                self._baselines.clear()

    def _gate(self) -> CircuitBreaker:
        """A gate: the serving layer's breaker, opened by the monitor's own rules (trip)."""
        return CircuitBreaker(
            failure_threshold=2**31, reset_timeout_seconds=self.cooldown_seconds, clock=self._clock
        )

    def _task(self, task_type: str) -> _TaskState:
        return self._tasks.get_or_create(
            task_type, lambda: _TaskState(self.window_size, gate=self._gate())
        )

    # -- recording ---------------------------------------------------------------------

    def record_enrichment(
        self,
        result: EnrichmentLike,
        inference_quality: float | None = None,
        *,
        vectors: Mapping[str, FeatureVector] | Iterable[FeatureVector] | None = None,
        store_recorded: bool = False,
    ) -> None:
        """Record one enrichment (or pass-through) and update the gates.

        Args:
            result: The enricher's result, skipped ones included (they count in totals
                and, with a quality score, as answers given without features).
            inference_quality: A score of the model's answer (any scale, higher is
                better, e.g. 0..1); with it the monitor compares quality with and
                without features for ``result.task_type``.
            vectors: The feature vectors the enricher read, to feed drift windows
                (same as calling :meth:`record_vector` for each).
            store_recorded: The read behind ``result`` already reported its outcome
                (:meth:`record_read`, as the library's read flow does), so the store
                gate is left alone; otherwise ``result.store_available`` updates it.

        Raises:
            FeatureConfigError: ``inference_quality`` is not a finite number.
        """
        if inference_quality is not None:
            _check_quality_score(inference_quality)
        vector_list: list[FeatureVector] = []
        if vectors is not None:
            vector_list = list(vectors.values() if isinstance(vectors, Mapping) else vectors)
        now = self._clock()
        with self._lock:
            self._record_locked(result, inference_quality, now, store_recorded)
            for vector in vector_list:
                self._record_vector_locked(vector)

    def record_quality(self, result: EnrichmentLike, inference_quality: float) -> None:
        """Attach the score of the answer to a result that was already recorded.

        The enricher records every enrichment it runs (without a score) when it was given
        this monitor; call this once the model's answer has been scored, with the same
        result (pass-through results too: they are answers without features). Only the
        quality windows and the task's quality gate change, no counter.

        Raises:
            FeatureConfigError: ``inference_quality`` is not a finite number.
        """
        _check_quality_score(inference_quality)
        now = self._clock()
        with self._lock:
            task = self._task(result.task_type)
            self._add_quality(task, bool(result.features_available), inference_quality)
            self._check_quality(task, now)

    def _add_quality(self, task: _TaskState, with_features: bool, quality: float) -> None:
        (self._quality_with if with_features else self._quality_without).append(quality)
        (task.with_q if with_features else task.without_q).append(quality)

    def _record_locked(
        self, result: EnrichmentLike, quality: float | None, now: float, store_recorded: bool
    ) -> None:
        task = self._task(result.task_type)
        self._total += 1
        task.total += 1
        ran = result.skipped_reason is None
        with_features = bool(result.features_available)
        if with_features:
            self._successful += 1
            task.successful += 1
        if not ran:
            reason = str(result.skipped_reason)
            self._skipped += 1
            task.skipped += 1
            if reason in self._skip_reasons or len(self._skip_reasons) < _MAX_SKIP_REASONS - 1:
                self._skip_reasons[reason] += 1
            else:
                self._skip_reasons["other"] += 1
        else:
            self._window.append(
                _Sample(
                    features_used=len(result.features_used),
                    latency_ms=float(result.enrichment_latency_ms),
                    store_available=bool(result.store_available),
                )
            )
            if not store_recorded:
                self._update_store_gate(bool(result.store_available))
        for prov in result.provenance:
            self._record_provenance(prov, result.task_type)
        probe_outcome = ran and task.gate.cooled_down()
        if probe_outcome:
            self._quality_probe_outcome(task, with_features, now)
        if quality is not None:
            self._add_quality(task, with_features, quality)
        if not probe_outcome:
            self._check_quality(task, now)

    def _record_provenance(self, prov: ProvenanceLike, task_type: str) -> None:
        key = f"{prov.entity_type}.{prov.feature}"
        counts = self._features.get_or_create(key, _FeatureCounts)
        counts.requests += 1
        reason = (
            None
            if prov.drop_reason is None
            else str(getattr(prov.drop_reason, "value", prov.drop_reason)).lower()
        )
        if prov.used:
            counts.used += 1
            tasks = self._usage.get_or_create(key, OrderedDict)
            tasks[task_type] = None
            tasks.move_to_end(task_type)
            while len(tasks) > self.max_tracked_tasks:
                tasks.popitem(last=False)
        if prov.status in _FAILED or reason == "unavailable":
            counts.unavailable += 1
        elif prov.status is FeatureStatus.STALE or reason == "stale":
            counts.stale += 1
        elif (
            prov.status in (FeatureStatus.NOT_FOUND, FeatureStatus.NULL_VALUE)
            or reason == "missing"
        ):
            counts.missing += 1

    def _update_store_gate(self, store_available: bool) -> None:
        gate = self._store_gate
        if gate.cooled_down():  # this result is the probe's outcome
            if store_available:
                gate.reset()
                self._consecutive_failures = 0
                self._availability.clear()
            else:
                gate.trip(gate.reason or "store unavailable")
            self._availability.append(store_available)
            return
        self._availability.append(store_available)
        self._consecutive_failures = 0 if store_available else self._consecutive_failures + 1
        if not gate.closed:
            return
        if self._consecutive_failures >= self.disable_after_failures:
            gate.trip(
                f"{self._consecutive_failures} consecutive enrichments found the store unavailable"
            )
            return
        if len(self._availability) >= self.availability_min_samples:
            pct = 100.0 * sum(self._availability) / len(self._availability)
            if pct < self.availability_threshold_pct:
                gate.trip(
                    f"store availability {pct:.1f}% over the last {len(self._availability)} "
                    f"enrichments is below {self.availability_threshold_pct:g}%"
                )

    def _quality_probe_outcome(self, task: _TaskState, with_features: bool, now: float) -> None:
        if with_features:
            task.gate.reset()
            task.with_q.clear()  # a new trial: judge enrichment on fresh samples
        else:
            task.gate.trip(task.gate.reason or "quality")

    def _check_quality(self, task: _TaskState, now: float) -> None:
        gate = task.gate
        if not gate.closed:
            return
        n = self.quality_min_samples
        if len(task.with_q) < n or len(task.without_q) < n:
            return
        mean_with = sum(task.with_q) / len(task.with_q)
        mean_without = sum(task.without_q) / len(task.without_q)
        if mean_with - mean_without < self.quality_margin:
            gate.trip(
                f"quality with features ({mean_with:.3f}) does not beat quality without "
                f"({mean_without:.3f}) by the margin {self.quality_margin:g}",
            )

    def record_vector(self, vector: FeatureVector) -> None:
        """Add one vector's values to the per-feature drift windows.

        Values of PRESENT and STALE features are kept (numbers and booleans as they are,
        strings cut to 256 characters; lists and dicts are skipped); NOT_FOUND,
        NULL_VALUE and DEFAULTED count as nulls; TIMED_OUT and UNAVAILABLE are read
        failures, not data, and are skipped.
        """
        with self._lock:
            self._record_vector_locked(vector)

    def _record_vector_locked(self, vector: FeatureVector) -> None:
        for name, status in vector.statuses.items():
            if status in _FAILED:
                continue
            value = None if status in _NULLISH else _drift_value(vector.features.get(name))
            if value is _SKIP:
                continue
            key = f"{vector.entity_type}.{name}"
            window = self._values.get_or_create(key, lambda: deque(maxlen=self.drift_window))
            window.append(value)

    # -- decisions ---------------------------------------------------------------------

    def should_enrich(self, task_type: str) -> bool:
        """Whether the enricher should enrich a request of ``task_type`` now.

        False while the store gate or the task's quality gate is open. Once a gate's
        cool-down has passed, one call returns True (the probe) and the following calls
        return False until the probe's result is recorded, or until another cool-down
        passes without it (a lost probe is replaced).

        With ``holdout_fraction`` set, that share of the calls where both gates are closed
        also returns False (a control group answered without features, counted in
        ``MonitorStats.holdouts``); probes are never held out.
        """
        return self.should_read(task_type)

    def should_read(self, task_type: str | None = None) -> bool:
        """Whether a request may read the store now: :meth:`should_enrich` for a task,
        and for a read that serves no task (a lookup, a filter) the store gate alone
        (no quality gate, no hold-out)."""
        with self._lock:
            store_ok, store_probe = self._store_gate.peek()
            task = None if task_type is None else self._tasks.data.get(task_type)
            task_ok, task_probe = (True, False) if task is None else task.gate.peek()
            if not (store_ok and task_ok):
                return False
            if (
                task_type is not None
                and self.holdout_fraction > 0.0
                and not (store_probe or task_probe)
                and self._rng.random() < self.holdout_fraction
            ):
                self._holdouts += 1
                return False
            if store_probe:
                self._store_gate.allow()
            if task_probe and task is not None:
                task.gate.allow()
            return True

    def record_read(self, store_available: bool) -> None:
        """Report the outcome of one request's read to the store gate: ``False`` when
        every lookup of the request failed (timed out or unavailable). The library's
        read flow calls this once per request it let through."""
        with self._lock:
            self._update_store_gate(store_available)

    # -- reading -----------------------------------------------------------------------

    def get_stats(self) -> MonitorStats:
        """A consistent snapshot of every statistic (see :class:`MonitorStats`)."""
        with self._lock:
            samples = list(self._window)
            latencies = sorted(s.latency_ms for s in samples)
            n = len(samples)
            availability = 100.0 * sum(s.store_available for s in samples) / n if n else 100.0
            features = {
                key: FeatureRate(
                    requests=c.requests,
                    used=c.used,
                    missing=c.missing,
                    stale=c.stale,
                    unavailable=c.unavailable,
                    missing_rate=c.missing / c.requests if c.requests else 0.0,
                    stale_rate=c.stale / c.requests if c.requests else 0.0,
                    used_rate=c.used / c.requests if c.requests else 0.0,
                    unavailable_rate=c.unavailable / c.requests if c.requests else 0.0,
                )
                for key, c in self._features.data.items()
            }
            tasks = {
                name: TaskStats(
                    total=t.total,
                    successful=t.successful,
                    skipped=t.skipped,
                    quality_with_features=_mean(t.with_q),
                    quality_without_features=_mean(t.without_q),
                    quality_samples_with=len(t.with_q),
                    quality_samples_without=len(t.without_q),
                    enabled=t.gate.closed,
                    disabled_reason=t.gate.reason,
                )
                for name, t in self._tasks.data.items()
            }
            return MonitorStats(
                total_enrichments=self._total,
                successful_enrichments=self._successful,
                skipped_enrichments=self._skipped,
                skipped_by_reason=dict(self._skip_reasons),
                holdouts=self._holdouts,
                window_size=n,
                avg_features_used=sum(s.features_used for s in samples) / n if n else 0.0,
                avg_latency_ms=sum(latencies) / n if n else 0.0,
                p50_latency_ms=_percentile(latencies, 50),
                p99_latency_ms=_percentile(latencies, 99),
                quality_with_features=_mean(self._quality_with),
                quality_without_features=_mean(self._quality_without),
                feature_store_availability_pct=availability,
                store_enabled=self._store_gate.closed,
                store_disabled_reason=self._store_gate.reason,
                consecutive_store_failures=self._consecutive_failures,
                feature_stats=features,
                task_stats=tasks,
            )

    def feature_usage(self) -> dict[str, set[str]]:
        """``"entity_type.feature"`` -> the task types whose prompts used it."""
        with self._lock:
            return {key: set(tasks) for key, tasks in self._usage.data.items()}

    # -- drift -------------------------------------------------------------------------

    def set_baseline(
        self,
        feature: str,
        values: Iterable[Any],
        *,
        kind: Literal["numeric", "categorical"] | None = None,
    ) -> DistributionProfile:
        """Set the reference distribution of ``feature`` (``"entity_type.feature"``).

        Only the bucketed profile is kept, not the values.

        Returns:
            The profile built (see :func:`llm_featurestore.drift.build_profile`).

        Raises:
            FeatureConfigError: ``values`` is empty, or ``kind="numeric"`` with a
                non-numeric value.
        """
        profile = build_profile(
            values, kind=kind, bins=self.drift_bins, max_categories=self.drift_max_categories
        )
        with self._lock:
            self._baselines.data[feature] = profile
            self._baselines.data.move_to_end(feature)
            while len(self._baselines.data) > self._baselines.maxsize:
                self._baselines.data.popitem(last=False)
        return profile

    def baseline_from_current(self, feature: str) -> DistributionProfile:
        """Use the values recorded so far for ``feature`` as its baseline.

        Raises:
            FeatureConfigError: no value was recorded for ``feature``; lists those that were.
        """
        with self._lock:
            window = self._values.data.get(feature)
            if not window:
                raise FeatureConfigError(
                    unknown_name_message(
                        "feature", feature, self._values.data, scope="values recorded"
                    )
                )
            values = list(window)
        return self.set_baseline(feature, values)

    def current_values(self, feature: str) -> list[Any]:
        """The recorded window of values for ``feature``, oldest first (nulls as None)."""
        with self._lock:
            return list(self._values.data.get(feature, ()))

    def drift_report(self, feature: str) -> DriftReport:
        """Compare the recorded values of ``feature`` with its baseline.

        Raises:
            FeatureConfigError: no baseline was set for ``feature``; lists those that were.
        """
        with self._lock:
            profile = self._baselines.data.get(feature)
            if profile is None:
                raise FeatureConfigError(
                    unknown_name_message(
                        "feature", feature, self._baselines.data, scope="drift baselines"
                    )
                    + ". Set one with FeatureMonitor.set_baseline(feature, values)"
                )
            values = list(self._values.data.get(feature, ()))
        return compare_to_profile(profile, values, feature=feature)

    def drift_reports(self) -> dict[str, DriftReport]:
        """:meth:`drift_report` of every feature with a baseline."""
        with self._lock:
            pairs = [
                (name, profile, list(self._values.data.get(name, ())))
                for name, profile in self._baselines.data.items()
            ]
        return {
            name: compare_to_profile(profile, values, feature=name)
            for name, profile, values in pairs
        }
