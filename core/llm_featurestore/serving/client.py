"""The serving layer: timeouts, fallback, circuit breaker, cache, cold-start defaults and
request coalescing, composed around any :class:`FeatureStoreClient`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from typing import Any

from llm_featurestore.clients.base import FeatureStoreClient, WritableFeatureStore, check_request
from llm_featurestore.errors import (
    FeatureConfigError,
    InvalidEntityIdError,
)
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.breaker import CircuitBreaker
from llm_featurestore.serving.cache import VectorCache
from llm_featurestore.serving.coalescer import AsyncCoalescer, Outcome, ThreadCoalescer
from llm_featurestore.serving.defaults import apply_defaults
from llm_featurestore.serving.degrade import split_invalid
from llm_featurestore.serving.failures import Failures, ServingStats
from llm_featurestore.serving.options import CacheConfig, CircuitBreakerConfig, CoalesceConfig
from llm_featurestore.workers import Lane

__all__ = ["ServingClient", "ServingStats"]

logger = logging.getLogger("llm_featurestore.serving")


def _raise_first(outcomes: list[Outcome]) -> list[FeatureVector]:
    """The vectors of a batch read, or the first per-id error (a direct batch call fails
    as a whole; only coalesced requests fail one by one)."""
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes  # type: ignore[return-value]


class ServingClient(FeatureStoreClient):
    """Wrap a backend so that a slow or dead store never takes a chain down.

    Reads go: cache → coalescing (single-entity reads, including
    ``get_batch_features([id])``) → circuit breaker → backend (bounded by
    ``timeout_ms``) → defaults → cache. Failures follow the table in
    :mod:`llm_featurestore.serving.degrade`: a timeout, outage or refused credential
    answers the affected entities with TIMED_OUT or UNAVAILABLE, an id the join key
    cannot take answers that id alone with INVALID_ID, an entity type the store lacks
    gives UNKNOWN_ENTITY_TYPE; each cause is logged once (then at most once a minute)
    and counted in :attr:`stats`. With ``fallback_on_timeout=False`` these raise
    instead. Unknown feature names and invalid values are caller errors and always raise.

    Args:
        backend: Any client.
        timeout_ms: Budget for one backend call, sync or async. Sync reads of a
            backend that may block run on a worker thread so the caller can stop
            waiting (the client's own bounded lane, see :mod:`llm_featurestore.workers`,
            so a hung store cannot starve the others); in-process backends
            (``may_block = False``) and ``None`` (no timeout) run inline. For the lowest
            sync overhead on a network store, set ``None`` here and rely on the
            driver's own socket timeout.
        fallback_on_timeout: Degrade instead of raising on timeouts and store errors.
        cache: Cache settings; ``None`` disables caching.
        coalesce: Coalescing of concurrent single-entity lookups (async tasks or sync
            threads) into one batch call; ``None`` disables it.
        circuit_breaker: Breaker settings; ``None`` disables it.
        defaults: Cold-start values ``{entity_type: {feature: value}}`` used for features
            the store does not hold (status DEFAULTED).
    """

    def __init__(
        self,
        backend: FeatureStoreClient,
        *,
        timeout_ms: float | None = 200.0,
        fallback_on_timeout: bool = True,
        cache: CacheConfig | None = None,
        coalesce: CoalesceConfig | None = None,
        circuit_breaker: CircuitBreakerConfig | None = CircuitBreakerConfig(),  # noqa: B008 - frozen
        defaults: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if timeout_ms is not None and timeout_ms <= 0:
            raise FeatureConfigError(f"timeout_ms must be positive or None, got {timeout_ms}")
        self.backend = backend
        self.source = backend.source  # type: ignore[misc]
        self.may_block = backend.may_block  # type: ignore[misc]
        self.timeout_ms = timeout_ms
        self._timeout_s = None if timeout_ms is None else timeout_ms / 1000.0
        self.cache = VectorCache(cache.ttl_seconds, cache.max_entries) if cache else None
        breaker = (
            CircuitBreaker(circuit_breaker.failure_threshold, circuit_breaker.reset_timeout_seconds)
            if circuit_breaker
            else None
        )
        self.defaults: dict[str, dict[str, Any]] = {
            etype: dict(values) for etype, values in (defaults or {}).items()
        }
        self.coalescer = (
            AsyncCoalescer(
                self._afetch_batch,
                window_s=coalesce.window_ms / 1000.0,
                max_batch=coalesce.max_batch,
            )
            if coalesce
            else None
        )
        self.thread_coalescer = (
            ThreadCoalescer(
                self._fetch_batch,
                window_s=coalesce.window_ms / 1000.0,
                max_batch=coalesce.max_batch,
            )
            if coalesce
            else None
        )
        self.stats = ServingStats()
        self.failures = Failures(self.source, timeout_ms, fallback_on_timeout, breaker, self.stats)
        self._lane = Lane(f"llmfs-serving-{self.source}")

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The circuit breaker (``None`` when disabled); replaceable, e.g. with a test clock."""
        return self.failures.breaker

    @breaker.setter
    def breaker(self, breaker: CircuitBreaker | None) -> None:
        self.failures.breaker = breaker

    @property
    def fallback_on_timeout(self) -> bool:
        """Degrade failed reads instead of raising (:mod:`llm_featurestore.serving.degrade`)."""
        return self.failures.fallback

    # ------------------------------------------------------------------ reads

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        names = tuple(feature_names)
        found, misses = self._from_cache(entity_ids, entity_type, names)
        if len(misses) == 1 and self.thread_coalescer is not None:
            found[misses[0]] = self.thread_coalescer.get(misses[0], entity_type, names)
        elif misses:
            outcomes = self._fetch_batch(misses, entity_type, names)
            found.update(zip(misses, _raise_first(outcomes), strict=True))
        return [found[eid] for eid in entity_ids]

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        names = tuple(feature_names)
        found, misses = self._from_cache(entity_ids, entity_type, names)
        if len(misses) == 1 and self.coalescer is not None:
            found[misses[0]] = await self.coalescer.get(misses[0], entity_type, names)
        elif misses:
            outcomes = await self._afetch_batch(misses, entity_type, names)
            found.update(zip(misses, _raise_first(outcomes), strict=True))
        return [found[eid] for eid in entity_ids]

    def list_features(self, entity_type: str) -> list[str]:
        return self.backend.list_features(entity_type)

    def health_check(self) -> bool:
        return self.backend.health_check()

    async def ahealth_check(self) -> bool:
        return await self.backend.ahealth_check()

    # ----------------------------------------------------------------- writes

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Write through to a writable backend and drop the entity's cached reads."""
        self._writable().write_features(entity_id, entity_type, features, event_timestamp)
        if self.cache is not None:
            self.cache.invalidate(entity_type, entity_id)

    async def awrite_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Async twin of :meth:`write_features`."""
        await self._writable().awrite_features(entity_id, entity_type, features, event_timestamp)
        if self.cache is not None:
            self.cache.invalidate(entity_type, entity_id)

    def _writable(self) -> WritableFeatureStore:
        if not isinstance(self.backend, WritableFeatureStore):
            raise FeatureConfigError(
                f"The {type(self.backend).__name__} backend is read-only; write through "
                "the store's own ingestion path (writable: local, redis, feast)"
            )
        return self.backend

    # -------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._lane.shutdown()
        self.backend.close()

    async def aclose(self) -> None:
        self._lane.shutdown()
        await self.backend.aclose()

    # -------------------------------------------------------------- internals

    def _from_cache(
        self, entity_ids: Sequence[str], entity_type: str, names: tuple[str, ...]
    ) -> tuple[dict[str, FeatureVector], list[str]]:
        """Split a request into cached vectors and the unique ids still to fetch."""
        self.stats.requests += len(entity_ids)
        unique = list(dict.fromkeys(entity_ids))
        if self.cache is None:
            return {}, unique
        found: dict[str, FeatureVector] = {}
        misses: list[str] = []
        for eid in unique:
            hit = self.cache.get((entity_type, eid, names))
            if hit is None:
                misses.append(eid)
            else:
                found[eid] = hit
        self.stats.cache_hits += len(found)
        self.stats.cache_misses += len(misses)
        return found, misses

    def _fetch_batch(
        self, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> list[Outcome]:
        """Drive :meth:`_steps` with blocking calls, bounded by the timeout."""
        steps = self._steps(ids, entity_type, names)
        try:
            batch = next(steps)
            while True:
                try:
                    answer: list[FeatureVector] | Exception = self._call(batch, entity_type, names)
                except Exception as exc:
                    answer = exc
                except BaseException:
                    self.failures.cancelled()
                    raise
                batch = steps.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _afetch_batch(
        self, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> list[Outcome]:
        """Drive :meth:`_steps` with awaited calls, bounded by the timeout."""
        steps = self._steps(ids, entity_type, names)
        try:
            batch = next(steps)
            while True:
                try:
                    answer: list[FeatureVector] | Exception = await asyncio.wait_for(
                        self.backend.aget_batch_features(batch, entity_type, names),
                        self._timeout_s,
                    )
                except Exception as exc:
                    answer = exc
                except BaseException:  # cancelled: the outcome is unknown
                    self.failures.cancelled()
                    raise
                batch = steps.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _call(
        self, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> list[FeatureVector]:
        if self._timeout_s is None or not self.backend.may_block:
            return self.backend.get_batch_features(ids, entity_type, names)
        future = self._lane.submit(self.backend.get_batch_features, ids, entity_type, names)
        try:
            return future.result(timeout=self._timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError from None

    def _steps(
        self, ids: list[str], entity_type: str, names: tuple[str, ...]
    ) -> Generator[list[str], list[FeatureVector] | Exception, list[Outcome]]:
        """Every decision of one read, written once: yields the ids to send to the backend
        and receives its vectors or its error; returns one outcome per id.

        An invalid id is answered on its own (INVALID_ID, or its error without fallback)
        and the other ids are sent again; when the store does not say which id it could
        not take, the ids are sent one by one.
        """
        outcomes: dict[str, Outcome] = {}
        queue = [ids]
        while queue:
            batch = queue.pop(0)
            if self.breaker is not None and not self.breaker.allow():
                outcomes.update(
                    zip(batch, self.failures.refuse(batch, entity_type, names), strict=True)
                )
                continue
            self.stats.backend_calls += 1
            answer = yield batch
            if not isinstance(answer, Exception):
                vectors = self._on_success(answer, entity_type, names)
                if batch is ids:
                    return list(vectors)  # the common case: one call answered every id
                outcomes.update(zip(batch, vectors, strict=True))
            elif isinstance(answer, InvalidEntityIdError):
                self.failures.record_success()  # the store answered; some ids were wrong
                bad, resend = split_invalid(batch, answer)
                if bad:
                    rejected = self.failures.reject(answer, bad, entity_type, names)
                    outcomes.update(zip(bad, rejected, strict=True))
                queue[:0] = resend
            else:
                failed = self.failures.on_failure(answer, batch, entity_type, names)
                outcomes.update(zip(batch, failed, strict=True))
        return [outcomes[eid] for eid in ids]

    def _on_success(
        self, vectors: list[FeatureVector], entity_type: str, names: tuple[str, ...]
    ) -> list[FeatureVector]:
        self.failures.record_success()
        defaults = self.defaults.get(entity_type)
        if defaults:
            vectors = [self._apply_defaults(v, defaults) for v in vectors]
        if self.cache is not None:
            for vector in vectors:
                self.cache.put((entity_type, vector.entity_id, names), vector)
        return vectors

    def _apply_defaults(self, vector: FeatureVector, defaults: Mapping[str, Any]) -> FeatureVector:
        defaulted = apply_defaults(vector, defaults)
        if defaulted is None:
            return vector
        self.stats.defaulted += 1
        return defaulted
