"""A circuit breaker: stop calling a store that keeps failing, probe it after a cool-down."""

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

    ``failure_threshold`` consecutive failures open the circuit. After
    ``reset_timeout_seconds`` the next :meth:`allow` lets exactly one probe through
    (HALF_OPEN); every other caller is refused until the probe reports back: success
    closes the circuit, failure re-opens it for another cool-down.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout_seconds: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_timeout_seconds = reset_timeout_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self.times_opened = 0

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker past its cool-down still reads OPEN until probed)."""
        return self._state

    def retry_after(self) -> float:
        """Seconds until a probe is allowed (0 when not open)."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_seconds - self._clock())

    def allow(self) -> bool:
        """May a call go to the store now? Moves OPEN to HALF_OPEN when the cool-down is over."""
        state = self._state
        if state is BreakerState.CLOSED:
            return True
        with self._lock:
            if (
                self._state is BreakerState.OPEN
                and self._clock() - self._opened_at >= self.reset_timeout_seconds
            ):
                self._state = BreakerState.HALF_OPEN
                return True
            return False

    def record_success(self) -> None:
        if self._state is BreakerState.CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._state = BreakerState.CLOSED

    def record_failure(self) -> bool:
        """Count a failure; returns True when this failure opened the circuit."""
        with self._lock:
            self._failures += 1
            if self._state is BreakerState.HALF_OPEN or (
                self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self.times_opened += 1
                return True
            return False
