"""What the serving layer does when a backend call fails: the failure table of
:mod:`llm_featurestore.serving.degrade` applied to one call, with the breaker, the
counters and the once-per-cause log."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    InvalidEntityIdError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving.breaker import CircuitBreaker
from llm_featurestore.serving.coalescer import Outcome
from llm_featurestore.serving.degrade import CauseLog, degraded_status

__all__ = ["Failures", "ServingStats"]

logger = logging.getLogger("llm_featurestore.serving")


@dataclass
class ServingStats:
    """Counters since the client was created (approximate under heavy threading)."""

    requests: int = 0
    """Entities asked for (a batch of 10 counts 10)."""
    cache_hits: int = 0
    cache_misses: int = 0
    backend_calls: int = 0
    """Batch calls that reached the backend."""
    timeouts: int = 0
    failures: int = 0
    """Backend errors other than timeouts."""
    fallbacks: int = 0
    """Entities answered with a degraded status (TIMED_OUT, UNAVAILABLE, INVALID_ID,
    UNKNOWN_ENTITY_TYPE) instead of an error."""
    rejected: int = 0
    """Of those, entities the store cannot serve: INVALID_ID or UNKNOWN_ENTITY_TYPE."""
    auth_failures: int = 0
    """Backend calls the store refused for their credentials (counted in ``failures``)."""
    short_circuited: int = 0
    """Batch calls refused because the circuit was open."""
    defaulted: int = 0
    """Entities that received at least one cold-start default."""


class Failures:
    """Turns failed backend calls into degraded vectors, or raises (fallback off).

    Args:
        source: The backend's ``source``, for messages and vectors.
        timeout_ms: The call budget, for messages.
        fallback: Degrade instead of raising.
        breaker: Counts failures and successes; ``None`` for none.
        stats: The serving client's counters.
    """

    def __init__(
        self,
        source: str,
        timeout_ms: float | None,
        fallback: bool,
        breaker: CircuitBreaker | None,
        stats: ServingStats,
    ) -> None:
        self.source = source
        self.timeout_ms = timeout_ms
        self.fallback = fallback
        self.breaker = breaker
        self.stats = stats
        self._log = CauseLog(logger)

    def cancelled(self) -> None:
        if self.breaker is not None:
            self.breaker.record_cancelled()

    def record_success(self) -> None:
        if self.breaker is not None:
            self.breaker.record_success()

    def refuse(
        self, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> list[FeatureVector]:
        assert self.breaker is not None
        self.stats.short_circuited += 1
        message = (
            f"Circuit open for the {self.source} feature store after repeated failures; "
            f"next probe in {self.breaker.retry_after():.1f}s"
        )
        if not self.fallback:
            raise FeatureStoreUnavailableError(message)
        logger.debug("%s; answering %d entities with UNAVAILABLE", message, len(ids))
        return self.degrade(ids, entity_type, names, FeatureStatus.UNAVAILABLE)

    def reject(
        self, exc: InvalidEntityIdError, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> list[Outcome]:
        """Outcomes for ids the store cannot take: INVALID_ID, or the error itself."""
        if not self.fallback:
            return [exc] * len(ids)
        self.stats.rejected += len(ids)
        self._log.warn(
            ("invalid_id", entity_type),
            f"The {self.source} feature store cannot take {len(ids)} {entity_type} id(s) "
            f"({exc}); answering them with invalid_id",
        )
        return list(self.degrade(ids, entity_type, names, FeatureStatus.INVALID_ID))

    def on_failure(
        self, exc: Exception, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> list[FeatureVector]:
        """Degrade a failed call (see :mod:`~llm_featurestore.serving.degrade`), or raise."""
        status = degraded_status(exc)
        if status is None or status is FeatureStatus.UNKNOWN_ENTITY_TYPE:
            self.record_success()  # the store answered; the request was wrong
            if status is None or not self.fallback:
                raise exc
            self.stats.rejected += len(ids)
            self._log.warn(
                ("unknown_entity_type", entity_type), f"{exc}; answering with {status.value}"
            )
            return self.degrade(ids, entity_type, names, status)
        timed_out = status is FeatureStatus.TIMED_OUT
        if timed_out:
            self.stats.timeouts += 1
            message = f"The {self.source} feature store did not answer within {self.timeout_ms} ms"
        else:
            self.stats.failures += 1
            self.stats.auth_failures += isinstance(exc, FeatureAuthError)
            message = f"The {self.source} feature store failed: {type(exc).__name__}: {exc}"
        if self.breaker is not None and self.breaker.record_failure():
            logger.warning(
                "Circuit opened for the %s feature store after %d consecutive failures",
                self.source,
                self.breaker.failure_threshold,
            )
        if not self.fallback:
            if timed_out:
                raise FeatureTimeoutError(message) from exc
            if isinstance(exc, FeatureStoreError):
                raise exc
            raise FeatureStoreUnavailableError(message) from exc
        self._log.warn(
            (status.value, entity_type, type(exc).__name__),
            f"{message}; answering {len(ids)} entities with {status.value}",
        )
        return self.degrade(ids, entity_type, names, status)

    def degrade(
        self, ids: list[str], entity_type: str, names: tuple[str, ...], status: FeatureStatus
    ) -> list[FeatureVector]:
        self.stats.fallbacks += len(ids)
        return [
            FeatureVector.unavailable(eid, entity_type, names, status=status, source=self.source)
            for eid in ids
        ]
