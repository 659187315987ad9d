"""The failure table: which read errors degrade to a status, which always raise, and how
degraded reads are logged (once per cause, rate limited, never once per request).

================================  =====================  ================================
What went wrong                   Fallback on            Fallback off
================================  =====================  ================================
timeout                           TIMED_OUT              :class:`FeatureTimeoutError`
outage, driver error, open        UNAVAILABLE            :class:`FeatureStoreUnavailableError`
circuit
credentials refused (401/403)     UNAVAILABLE            :class:`FeatureAuthError`
id the join key cannot take       INVALID_ID (that id    :class:`InvalidEntityIdError`
                                  only)                  (that id only, when coalesced)
entity type the store lacks       UNKNOWN_ENTITY_TYPE    :class:`UnknownEntityTypeError`
unknown or ambiguous feature,     raises                 raises
bad configuration, bad value      (programming error)    (programming error)
================================  =====================  ================================

:func:`degraded_status` is that table; the serving layer and the read flow both use it.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureTimeoutError,
    FeatureValidationError,
    InvalidEntityIdError,
    UnknownEntityTypeError,
)
from llm_featurestore.models import FeatureStatus

__all__ = ["CauseLog", "degraded_status", "forget_logged_causes", "split_invalid"]


def degraded_status(exc: BaseException, *, driver_errors: bool = True) -> FeatureStatus | None:
    """The status a read that failed with ``exc`` degrades to, or ``None`` when ``exc``
    is a programming error (unknown feature, bad configuration or value) that always
    raises, or not an error at all (cancellation, ``KeyboardInterrupt``).

    Args:
        exc: The error.
        driver_errors: Treat any other exception as an outage (UNAVAILABLE), as the
            serving layer does for a backend's driver errors. ``False`` (above a client,
            whose interface promises :class:`FeatureStoreError`) lets them raise: there
            they are bugs, not outages.
    """
    if isinstance(exc, InvalidEntityIdError):
        return FeatureStatus.INVALID_ID
    if isinstance(exc, UnknownEntityTypeError):
        return FeatureStatus.UNKNOWN_ENTITY_TYPE
    if isinstance(exc, (FeatureConfigError, FeatureValidationError)):
        return None
    if isinstance(exc, (TimeoutError, FeatureTimeoutError)):
        return FeatureStatus.TIMED_OUT
    if isinstance(exc, FeatureStoreError) or (driver_errors and isinstance(exc, Exception)):
        return FeatureStatus.UNAVAILABLE
    return None


def split_invalid(
    ids: Sequence[str], exc: InvalidEntityIdError
) -> tuple[list[str], list[list[str]]]:
    """For a batch the store refused with ``exc``: the ids it rejects, and the batches
    to send again. When the store named the bad ids, the rest go again in one batch;
    when it did not, every id goes alone (and none is rejected yet)."""
    if len(ids) == 1:
        return list(ids), []
    named = [eid for eid in ids if exc.entity_ids and eid in exc.entity_ids]
    if not named:
        return [], [[eid] for eid in ids]
    rest = [eid for eid in ids if eid not in named]
    return named, [rest] if rest else []


@dataclass
class _Seen:
    logged_at: float
    suppressed: int = 0


_LOGS: weakref.WeakSet[CauseLog] = weakref.WeakSet()


def forget_logged_causes() -> None:
    """Let every cause be logged again at once (for tests, or after a fix is deployed)."""
    for log in list(_LOGS):
        log.forget()


class CauseLog:
    """Log a warning once per cause, then at most once per ``interval_s`` for it.

    A cause is any hashable key that leaves out what differs per request (the entity
    id): for example ``(source, entity_type, status, exception class)``. A repeated
    warning says how many were suppressed since the last one. At most ``max_causes``
    causes are remembered (the oldest is forgotten first).
    """

    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval_s: float = 60.0,
        max_causes: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.max_causes = max_causes
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[Hashable, _Seen] = {}
        _LOGS.add(self)

    def forget(self) -> None:
        """Forget every cause logged so far."""
        with self._lock:
            self._seen.clear()

    def warn(self, cause: Hashable, message: str) -> bool:
        """Log ``message`` unless ``cause`` was logged less than ``interval_s`` ago.

        Returns:
            True when the message was logged.
        """
        now = self._clock()
        with self._lock:
            seen = self._seen.get(cause)
            if seen is not None and now - seen.logged_at < self.interval_s:
                seen.suppressed += 1
                return False
            suppressed = 0 if seen is None else seen.suppressed
            self._seen.pop(cause, None)
            self._seen[cause] = _Seen(now)
            while len(self._seen) > self.max_causes:
                del self._seen[next(iter(self._seen))]
        if suppressed:
            message = f"{message} ({suppressed} more like this in the last {self.interval_s:g}s)"
        self.logger.warning(message)
        return True
