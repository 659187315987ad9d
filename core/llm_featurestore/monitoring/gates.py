"""The monitor's two gates, each the serving layer's
:class:`~llm_featurestore.serving.breaker.CircuitBreaker` opened by a rule of its own
(:meth:`~llm_featurestore.serving.breaker.CircuitBreaker.trip`):

* :class:`StoreGate` (all tasks) opens after ``disable_after_failures`` consecutive
  results where every lookup failed, or when availability over the last
  ``availability_window`` results drops below ``availability_threshold_pct``;
* a :class:`TaskGate` per task opens when there are ``quality_min_samples`` quality
  scores both with and without features and the mean with features does not beat the
  mean without by at least ``quality_margin``.

An open gate stays open for ``cooldown_seconds``; then one probe goes through, and the
outcome recorded next closes it (store available; features available, which starts a
new quality trial) or opens it for another cool-down.

Nothing here locks: :class:`~llm_featurestore.monitoring.FeatureMonitor` guards every
call with its one lock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from llm_featurestore.monitoring.config import MonitorConfig
from llm_featurestore.monitoring.stats import LRU, TaskStats, mean
from llm_featurestore.serving.breaker import CircuitBreaker

__all__ = ["QualityGates", "StoreGate", "TaskGate", "gate"]

_NEVER = 2**31
"""The breakers' own failure count never opens a gate: the monitor's rules do."""


def gate(config: MonitorConfig, clock: Callable[[], float]) -> CircuitBreaker:
    """A closed gate that stays open ``cooldown_seconds`` once tripped."""
    return CircuitBreaker(
        failure_threshold=_NEVER, reset_timeout_seconds=config.cooldown_seconds, clock=clock
    )


class StoreGate:
    """Whether the store may be read, from the outcomes of the reads it let through."""

    def __init__(self, config: MonitorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.breaker = gate(config, clock)
        self.consecutive_failures = 0
        self.availability: deque[bool] = deque(maxlen=config.availability_window)

    def update(self, store_available: bool) -> None:
        """Record one read's outcome (False: every lookup failed) and apply the rules."""
        breaker = self.breaker
        if breaker.cooled_down():  # this result is the probe's outcome
            if store_available:
                breaker.reset()
                self.consecutive_failures = 0
                self.availability.clear()
            else:
                breaker.trip(breaker.reason or "store unavailable")
            self.availability.append(store_available)
            return
        self.availability.append(store_available)
        self.consecutive_failures = 0 if store_available else self.consecutive_failures + 1
        if breaker.closed:
            reason = self._reason_to_open()
            if reason is not None:
                breaker.trip(reason)

    def _reason_to_open(self) -> str | None:
        config = self.config
        if self.consecutive_failures >= config.disable_after_failures:
            return (
                f"{self.consecutive_failures} consecutive enrichments found the store unavailable"
            )
        window = self.availability
        if len(window) >= config.availability_min_samples:
            pct = 100.0 * sum(window) / len(window)
            if pct < config.availability_threshold_pct:
                return (
                    f"store availability {pct:.1f}% over the last {len(window)} "
                    f"enrichments is below {config.availability_threshold_pct:g}%"
                )
        return None


@dataclass
class TaskGate:
    """One task type: its counts, its quality windows on each side, and its gate."""

    quality_window: int
    breaker: CircuitBreaker
    total: int = 0
    successful: int = 0
    skipped: int = 0
    with_q: deque[float] = field(init=False)
    without_q: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.with_q = deque(maxlen=self.quality_window)
        self.without_q = deque(maxlen=self.quality_window)

    def add_quality(self, with_features: bool, quality: float) -> None:
        (self.with_q if with_features else self.without_q).append(quality)

    def probe_outcome(self, with_features: bool) -> None:
        """The probe let through after a cool-down ran: features close the gate and start
        a new trial (enrichment is judged on fresh samples); none re-open it."""
        if with_features:
            self.breaker.reset()
            self.with_q.clear()
        else:
            self.breaker.trip(self.breaker.reason or "quality")

    def check_quality(self, min_samples: int, margin: float) -> None:
        """Open the gate when enough samples on each side show no gain of ``margin``."""
        if not self.breaker.closed:
            return
        if len(self.with_q) < min_samples or len(self.without_q) < min_samples:
            return
        mean_with = sum(self.with_q) / len(self.with_q)
        mean_without = sum(self.without_q) / len(self.without_q)
        if mean_with - mean_without < margin:
            self.breaker.trip(
                f"quality with features ({mean_with:.3f}) does not beat quality without "
                f"({mean_without:.3f}) by the margin {margin:g}",
            )

    def stats(self) -> TaskStats:
        return TaskStats(
            total=self.total,
            successful=self.successful,
            skipped=self.skipped,
            quality_with_features=mean(self.with_q),
            quality_without_features=mean(self.without_q),
            quality_samples_with=len(self.with_q),
            quality_samples_without=len(self.without_q),
            enabled=self.breaker.closed,
            disabled_reason=self.breaker.reason,
        )


class QualityGates:
    """The :class:`TaskGate` of each task type (the least recently seen dropped first)."""

    def __init__(self, config: MonitorConfig, clock: Callable[[], float]) -> None:
        self.config = config
        self.clock = clock
        self.tasks: LRU[str, TaskGate] = LRU(config.max_tracked_tasks)

    def task(self, task_type: str) -> TaskGate:
        """The task's gate, created closed on first sight."""
        return self.tasks.get_or_create(
            task_type, lambda: TaskGate(self.config.window_size, gate(self.config, self.clock))
        )

    def find(self, task_type: str | None) -> TaskGate | None:
        """The task's gate if it was seen (without touching its recency)."""
        return None if task_type is None else self.tasks.data.get(task_type)

    def check(self, task: TaskGate) -> None:
        task.check_quality(self.config.quality_min_samples, self.config.quality_margin)

    def stats(self) -> dict[str, TaskStats]:
        return {name: t.stats() for name, t in self.tasks.data.items()}
