"""A circuit breaker: stop calling a store that keeps failing, probe it after a cool-down.

The serving layer guards each backend with one, and the monitor's store and quality
gates are the same class (opened by a rule of their own through :meth:`CircuitBreaker.trip`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import Enum

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(str, Enum):
    CLOSED = "closed"
    """Calls go through; failures are counted."""
    OPEN = "open"
    """Calls are refused until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """One probe call is in flight; its outcome closes or re-opens the circuit."""


class CircuitBreaker:
    """Thread-safe breaker over consecutive failures.

    ``failure_threshold`` consecutive failures (or :meth:`trip`) open the circuit. After
    ``reset_timeout_seconds`` the next :meth:`allow` lets exactly one probe through
    (HALF_OPEN); every other caller is refused until the probe reports back: success
    closes the circuit, failure re-opens it for another cool-down. A probe that never
    reports (its caller was cancelled, or forgot) cannot wedge the breaker:
    :meth:`record_cancelled` frees the probe slot at once, and a probe still out after
    ``probe_timeout_seconds`` (default: the reset timeout) is replaced by the next caller.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_seconds: float = 10.0,
        *,
        probe_timeout_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout_seconds = reset_timeout_seconds
        self.probe_timeout_seconds = (
            reset_timeout_seconds if probe_timeout_seconds is None else probe_timeout_seconds
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_at = 0.0
        self.reason: str | None = None
        """Why the circuit last opened (``None`` while closed)."""
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker past its cool-down still reads OPEN until probed)."""
        return self._state

    @property
    def closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    def retry_after(self) -> float:
        """Seconds until a probe is allowed (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_seconds - self._clock())

    def cooled_down(self) -> bool:
        """True when the circuit is not closed and a probe is, or may be, out: the next
        outcome recorded decides whether it closes."""
        if self._state is BreakerState.HALF_OPEN:
            return True
        return (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout_seconds
        )

    def peek(self) -> tuple[bool, bool]:
        """``(allowed, is_probe)``: what :meth:`allow` would answer, without changing state."""
        with self._lock:
            return self._decide(self._clock())

    def allow(self) -> bool:
        """May a call go to the store now? Lets one probe through once the cool-down is over."""
        if self._state is BreakerState.CLOSED:
            return True
        with self._lock:
            now = self._clock()
            allowed, probe = self._decide(now)
            if probe:
                self._state = BreakerState.HALF_OPEN
                self._probe_at = now
            return allowed

    def _decide(self, now: float) -> tuple[bool, bool]:
        if self._state is BreakerState.CLOSED:
            return True, False
        if self._state is BreakerState.OPEN:
            ready = now - self._opened_at >= self.reset_timeout_seconds
            return ready, ready
        expired = now - self._probe_at >= self.probe_timeout_seconds  # a lost probe
        return expired, expired

    def record_success(self) -> None:
        if self._state is BreakerState.CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._state = BreakerState.CLOSED
            self.reason = None

    def record_failure(self) -> bool:
        """Count a failure; returns True when this failure opened the circuit."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._open(f"{self._failures} consecutive failures")
                return True
            return False

    def record_cancelled(self) -> None:
        """A call was cancelled before it finished: neither success nor failure. A
        cancelled probe frees its slot, so the next call probes again."""
        if self._state is not BreakerState.HALF_OPEN:
            return
        with self._lock:
            if self._state is BreakerState.HALF_OPEN:
                self._state = BreakerState.OPEN
                self._opened_at = self._clock() - self.reset_timeout_seconds

    def trip(self, reason: str) -> None:
        """Open the circuit now, for one cool-down, whatever its state."""
        with self._lock:
            self._open(reason)

    def _open(self, reason: str) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self.reason = reason
        self.times_opened += 1

    def reset(self) -> None:
        """Close the circuit and forget the failure streak."""
        with self._lock:
            self._state = BreakerState.CLOSED
            self._failures = 0
            self.reason = None
