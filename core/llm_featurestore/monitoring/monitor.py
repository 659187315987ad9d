"""Watch enrichment in production, and turn it off by itself when it does not help.

:class:`FeatureMonitor` receives every :class:`~llm_featurestore.EnrichmentResult`
(``record_enrichment``; a :class:`~llm_featurestore.FeatureEnricher` given the monitor
does this itself for every enrichment that ran), optionally with the feature vectors
that were read (``vectors=`` or :meth:`~FeatureMonitor.record_vector`). Scores of the
model's answers arrive with the result or later through
:meth:`~FeatureMonitor.record_quality`. From them it keeps counters and sliding windows
(:mod:`~llm_featurestore.monitoring.stats`), and per feature a window of recent values
compared with a baseline set by :meth:`~FeatureMonitor.set_baseline`
(:mod:`~llm_featurestore.monitoring.drift`).

Two gates decide :meth:`~FeatureMonitor.should_enrich`, the store gate and a quality gate
per task (:mod:`~llm_featurestore.monitoring.gates`). Answers without features come from
users the store knows nothing about, from pass-throughs while a gate is open, and from an
optional random hold-out (``holdout_fraction``) that keeps a control group when every
user has features.

Everything is guarded by one lock and bounded: windows are ``deque(maxlen=...)``, the
number of tracked features and task types is capped (least recently seen dropped first).
The clock is injectable so tests never sleep. Settings: :class:`MonitorConfig`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from llm_featurestore.errors import FeatureConfigError, unknown_name_message
from llm_featurestore.models import FeatureVector
from llm_featurestore.monitoring.config import MonitorConfig, Setting
from llm_featurestore.monitoring.drift import (
    DistributionProfile,
    DriftReport,
    build_profile,
    compare_to_profile,
)
from llm_featurestore.monitoring.gates import QualityGates, StoreGate
from llm_featurestore.monitoring.stats import Counters, MonitorStats
from llm_featurestore.monitoring.templates import TemplateQuality, TemplateStats
from llm_featurestore.monitoring.values import ValueWindows
from llm_featurestore.prompting.results import EnrichmentResult
from llm_featurestore.settings import settings_from
from llm_featurestore.telemetry import hooks

__all__ = ["FeatureMonitor"]


def _check_quality_score(score: object) -> None:
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise FeatureConfigError(f"inference_quality must be a finite number, got {score!r}")


class FeatureMonitor:
    """Statistics, automatic disabling and drift for enrichment; thread-safe, bounded.

    Args:
        config: The settings; or pass their fields as keywords instead
            (``FeatureMonitor(window_size=100)``), see :class:`MonitorConfig`.
        clock: Monotonic time in seconds; inject a fake in tests.

    Raises:
        FeatureConfigError: a setting is unknown or out of bounds (the message names it).
    """

    window_size = Setting[int]()
    disable_after_failures = Setting[int]()
    availability_threshold_pct = Setting[float]()
    availability_window = Setting[int]()
    availability_min_samples = Setting[int]()
    quality_min_samples = Setting[int]()
    quality_margin = Setting[float]()
    cooldown_seconds = Setting[float]()
    max_tracked_features = Setting[int]()
    max_tracked_tasks = Setting[int]()
    drift_window = Setting[int]()
    drift_bins = Setting[int]()
    drift_max_categories = Setting[int]()
    holdout_fraction = Setting[float]()

    def __init__(
        self,
        config: MonitorConfig | None = None,
        /,
        *,
        clock: Callable[[], float] = time.monotonic,
        **fields: Any,
    ) -> None:
        self.config = settings_from(MonitorConfig, config, fields)
        self._rng = random.Random(self.config.seed)
        self._clock = clock
        self._lock = threading.Lock()
        self._values = ValueWindows(self.config)
        self._reset_locked()
        hooks.register_monitor(self)

    def _reset_locked(self) -> None:
        self._counters = Counters(self.config)
        self._store = StoreGate(self.config, self._clock)
        self._quality = QualityGates(self.config, self._clock)
        self._templates = TemplateQuality(self.config.window_size, self.config.max_tracked_tasks)

    def reset(self, *, keep_baselines: bool = True) -> None:
        """Forget every counter, window, gate and recorded value.

        Args:
            keep_baselines: Keep the drift baselines set with :meth:`set_baseline`
                (they are configuration, not observations).
        """
        with self._lock:
            self._reset_locked()
            self._values.clear(keep_baselines=keep_baselines)

    # -- recording ---------------------------------------------------------------------

    def record_enrichment(
        self,
        result: EnrichmentResult,
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
        with self._lock:
            self._record_locked(result, inference_quality, store_recorded)
            for vector in vector_list:
                self._values.record(vector)

    def _record_locked(
        self, result: EnrichmentResult, quality: float | None, store_recorded: bool
    ) -> None:
        task = self._quality.task(result.task_type)
        self._counters.count(result)
        ran = result.skipped_reason is None
        with_features = bool(result.features_available)
        task.total += 1
        task.successful += with_features
        task.skipped += not ran
        if ran and not store_recorded:
            self._store.update(bool(result.store_available))
        probe_outcome = ran and task.breaker.cooled_down()
        if probe_outcome:
            task.probe_outcome(with_features)
        if quality is not None:
            self._add_quality(result, quality)
        if not probe_outcome:
            self._quality.check(task)

    def _add_quality(self, result: EnrichmentResult, quality: float) -> None:
        with_features = bool(result.features_available)
        self._counters.add_quality(with_features, quality)
        self._quality.task(result.task_type).add_quality(with_features, quality)

    def record_quality(self, result: EnrichmentResult, inference_quality: float) -> None:
        """Attach the score of the answer to a result that was already recorded.

        The enricher records every enrichment it runs (without a score) when it was given
        this monitor; call this once the model's answer has been scored, with the same
        result (pass-through results too: they are answers without features). Only the
        quality windows and the task's quality gate change, no counter.

        Raises:
            FeatureConfigError: ``inference_quality`` is not a finite number.
        """
        _check_quality_score(inference_quality)
        with self._lock:
            self._add_quality(result, inference_quality)
            self._quality.check(self._quality.task(result.task_type))

    def record_template_quality(self, template: Any, inference_quality: float) -> None:
        """Score an answer given with one prompt template version.

        Args:
            template: The :class:`~llm_featurestore.templates.PromptTemplateVersion` used
                (anything with ``template_id`` and ``version``).
            inference_quality: The answer's score.

        :meth:`template_stats` then compares the versions of a template. Call
        :meth:`record_quality` too when the answer's enrichment result should count
        towards the task's quality gate.

        Raises:
            FeatureConfigError: the score is not a finite number, or ``template`` has no
                ``template_id``/``version``.
        """
        _check_quality_score(inference_quality)
        template_id, version = (
            getattr(template, "template_id", None),
            getattr(template, "version", None),
        )
        if (
            not isinstance(template_id, str)
            or isinstance(version, bool)
            or not isinstance(version, int)
        ):
            raise FeatureConfigError(
                "template must be a PromptTemplateVersion (with template_id and version), "
                f"got {type(template).__name__}"
            )
        with self._lock:
            self._templates.add(template_id, version, float(inference_quality))

    def template_stats(self, template_id: str | None = None) -> dict[str, TemplateStats]:
        """Quality per template version, keyed ``"<template_id>@v<n>"`` (one template's
        versions, or every scored version)."""
        with self._lock:
            return self._templates.stats(template_id)

    def record_vector(self, vector: FeatureVector) -> None:
        """Add one vector's values to the per-feature drift windows.

        Values of PRESENT and STALE features are kept (numbers and booleans as they are,
        strings cut to 256 characters; lists and dicts are skipped); NOT_FOUND,
        NULL_VALUE and DEFAULTED count as nulls; TIMED_OUT and UNAVAILABLE are read
        failures, not data, and are skipped.
        """
        with self._lock:
            self._values.record(vector)

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
            store_ok, store_probe = self._store.breaker.peek()
            task = self._quality.find(task_type)
            task_ok, task_probe = (True, False) if task is None else task.breaker.peek()
            if not (store_ok and task_ok):
                return False
            if (
                task_type is not None
                and self.config.holdout_fraction > 0.0
                and not (store_probe or task_probe)
                and self._rng.random() < self.config.holdout_fraction
            ):
                self._counters.holdouts += 1
                return False
            if store_probe:
                self._store.breaker.allow()
            if task_probe and task is not None:
                task.breaker.allow()
            return True

    def record_read(self, store_available: bool) -> None:
        """Report the outcome of one request's read to the store gate: ``False`` when
        every lookup of the request failed (timed out or unavailable). The library's
        read flow calls this once per request it let through."""
        with self._lock:
            self._store.update(store_available)

    # -- reading -----------------------------------------------------------------------

    def get_stats(self) -> MonitorStats:
        """A consistent snapshot of every statistic (see :class:`MonitorStats`)."""
        with self._lock:
            breaker = self._store.breaker
            return self._counters.snapshot(
                self._quality.stats(),
                store_enabled=breaker.closed,
                store_disabled_reason=breaker.reason,
                consecutive_store_failures=self._store.consecutive_failures,
            )

    def feature_usage(self) -> dict[str, set[str]]:
        """``"entity_type.feature"`` -> the task types whose prompts used it."""
        with self._lock:
            return self._counters.feature_usage()

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
        config = self.config
        profile = build_profile(
            values, kind=kind, bins=config.drift_bins, max_categories=config.drift_max_categories
        )
        with self._lock:
            self._values.baselines.put(feature, profile)
        return profile

    def baseline_from_current(self, feature: str) -> DistributionProfile:
        """Use the values recorded so far for ``feature`` as its baseline.

        Raises:
            FeatureConfigError: no value was recorded for ``feature``; lists those that were.
        """
        with self._lock:
            values = self._values.current(feature)
            if not values:
                raise FeatureConfigError(
                    unknown_name_message(
                        "feature", feature, self._values.values.data, scope="values recorded"
                    )
                )
        return self.set_baseline(feature, values)

    def current_values(self, feature: str) -> list[Any]:
        """The recorded window of values for ``feature``, oldest first (nulls as None)."""
        with self._lock:
            return self._values.current(feature)

    def drift_report(self, feature: str) -> DriftReport:
        """Compare the recorded values of ``feature`` with its baseline.

        Raises:
            FeatureConfigError: no baseline was set for ``feature``; lists those that were.
        """
        with self._lock:
            profile = self._values.baselines.data.get(feature)
            if profile is None:
                raise FeatureConfigError(
                    unknown_name_message(
                        "feature", feature, self._values.baselines.data, scope="drift baselines"
                    )
                    + ". Set one with FeatureMonitor.set_baseline(feature, values)"
                )
            values = self._values.current(feature)
        return compare_to_profile(profile, values, feature=feature)

    def drift_reports(self) -> dict[str, DriftReport]:
        """:meth:`drift_report` of every feature with a baseline."""
        with self._lock:
            pairs = self._values.pairs()
        return {
            name: compare_to_profile(profile, values, feature=name)
            for name, profile, values in pairs
        }
