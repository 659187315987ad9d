"""The serving layer: timeouts, fallback, circuit breaker, cache, cold-start defaults and
request coalescing, composed around any :class:`FeatureStoreClient`."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import math
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from typing import Any

from llm_featurestore.clients.base import (
    BoundedRead,
    EntityKey,
    FeatureStoreClient,
    PushMode,
    RequestData,
    check_request,
)
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.breaker import CircuitBreaker
from llm_featurestore.serving.cache import VectorCache
from llm_featurestore.serving.coalescer import AsyncCoalescer, Outcome, ThreadCoalescer
from llm_featurestore.serving.defaults import defaulted
from llm_featurestore.serving.failures import Failures, ServingStats
from llm_featurestore.serving.options import CacheConfig, CircuitBreakerConfig, CoalesceConfig
from llm_featurestore.serving.plan import (
    ReadPlan,
    checked_request_data,
    from_cache,
    raise_first,
    remember,
    rounds,
)
from llm_featurestore.serving.steps import Answer, read_steps
from llm_featurestore.serving.writes import forget, pushable, writable
from llm_featurestore.telemetry import hooks
from llm_featurestore.workers import Lane

__all__ = ["ServingClient", "ServingStats"]


class ServingClient(FeatureStoreClient):
    """Wrap a backend so that a slow or dead store never takes a chain down.

    Reads go: cache → coalescing (single-entity reads, including
    ``get_batch_features([id])``) → circuit breaker → backend (bounded by
    ``timeout_ms``) → defaults → cache; reads with request data are cached per request
    data and not coalesced (:mod:`llm_featurestore.serving.plan`). Failures follow the table in
    :mod:`llm_featurestore.serving.degrade`: a timeout, outage or refused credential
    answers the affected entities with TIMED_OUT or UNAVAILABLE, an id the join key
    cannot take answers that id alone with INVALID_ID, an entity type the store lacks
    gives UNKNOWN_ENTITY_TYPE; each cause is logged once (then at most once a minute)
    and counted in :attr:`stats`. With ``fallback_on_timeout=False`` these raise
    instead. Unknown feature names and invalid values are caller errors and always raise.

    Args:
        backend: Any client.
        timeout_ms: Budget for one backend call, sync or async. A sync read runs
            inline when the backend's driver bounds it by this budget itself
            (:meth:`~FeatureStoreClient.bounded_reader`: ``RedisFeatureStore``, and
            ``FeastClient``'s direct reads of Redis and SQLite through socket and busy
            timeouts); other sync reads of a backend that may block run on a worker
            thread so the caller can stop waiting (the client's own bounded lane, see
            :mod:`llm_featurestore.workers`, so a hung store cannot starve the others).
            In-process backends (``may_block = False``) and ``None`` (no timeout) run
            inline.
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
        if timeout_ms is not None and not (timeout_ms > 0 and math.isfinite(timeout_ms)):
            raise FeatureConfigError(
                f"timeout_ms must be a positive number of milliseconds or None (no limit), "
                f"got {timeout_ms!r}"
            )
        self.backend = backend
        self.source = backend.source  # type: ignore[misc]
        self.may_block = backend.may_block  # type: ignore[misc]
        self.accepts_request_data = backend.accepts_request_data  # type: ignore[misc]
        self.timeout_ms = timeout_ms
        self._timeout_s = None if timeout_ms is None else timeout_ms / 1000.0
        self.cache = VectorCache.from_config(cache) if cache else None
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
        self._bounded: BoundedRead | None = None
        """The backend's :meth:`~FeatureStoreClient.bounded_reader` for the timeout."""
        self._asked_bounded = False
        hooks.register_serving(self)

    @property
    def breaker(self) -> CircuitBreaker | None:
        """The circuit breaker (``None`` when disabled); replaceable, e.g. with a test clock."""
        return self.failures.breaker

    @breaker.setter
    def breaker(self, breaker: CircuitBreaker | None) -> None:
        self.failures.breaker = breaker

    def _breaker_state(self) -> str:
        breaker = self.failures.breaker
        return "none" if breaker is None else breaker.state.value

    @property
    def fallback_on_timeout(self) -> bool:
        """Degrade failed reads instead of raising (:mod:`llm_featurestore.serving.degrade`)."""
        return self.failures.fallback

    # ------------------------------------------------------------------ reads

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        names = tuple(feature_names)
        data = checked_request_data(self.backend, entity_ids, request_data)
        plan = ReadPlan.of(entity_ids, data)
        with hooks.span("serving", entity_type=entity_type, entities=len(entity_ids)) as span:
            found, misses = from_cache(self.cache, self.stats, plan, entity_type, names)
            span.set(cache_hits=len(found), breaker=self._breaker_state())
            if len(misses) == 1 and not plan.has_data and self.thread_coalescer is not None:
                found[misses[0]] = self.thread_coalescer.get(misses[0][0], entity_type, names)
                span.set(coalesced=True)
                misses = []
            calls = rounds(misses)
            for call in calls:
                ids = [eid for eid, _ in call]
                outcomes = self._fetch_batch(ids, entity_type, names, plan.request_data(call))
                found.update(zip(call, raise_first(outcomes), strict=True))
            return _reported(span, plan.answer(found), len(calls))

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        names = tuple(feature_names)
        data = checked_request_data(self.backend, entity_ids, request_data)
        plan = ReadPlan.of(entity_ids, data)
        with hooks.span("serving", entity_type=entity_type, entities=len(entity_ids)) as span:
            found, misses = from_cache(self.cache, self.stats, plan, entity_type, names)
            span.set(cache_hits=len(found), breaker=self._breaker_state())
            if len(misses) == 1 and not plan.has_data and self.coalescer is not None:
                found[misses[0]] = await self.coalescer.get(misses[0][0], entity_type, names)
                span.set(coalesced=True)
                misses = []
            calls = rounds(misses)
            for call in calls:
                ids = [eid for eid, _ in call]
                outcomes = await self._afetch_batch(
                    ids, entity_type, names, plan.request_data(call)
                )
                found.update(zip(call, raise_first(outcomes), strict=True))
            return _reported(span, plan.answer(found), len(calls))

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
        writable(self.backend).write_features(entity_id, entity_type, features, event_timestamp)
        self.invalidate(entity_type, entity_id)

    async def awrite_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Async twin of :meth:`write_features`."""
        await writable(self.backend).awrite_features(
            entity_id, entity_type, features, event_timestamp
        )
        self.invalidate(entity_type, entity_id)

    def push(self, push_source: str, rows: Any, *, to: PushMode = "online") -> list[EntityKey]:
        """:meth:`PushableFeatureStore.push` through the backend, then forget the cached
        reads of every entity the rows touched (a backend without push sources raises
        :class:`FeatureConfigError` naming those that have them)."""
        keys = pushable(self.backend).push(push_source, rows, to=to)
        forget(self.cache, keys)
        return keys

    async def apush(
        self, push_source: str, rows: Any, *, to: PushMode = "online"
    ) -> list[EntityKey]:
        """Async twin of :meth:`push`."""
        keys = await pushable(self.backend).apush(push_source, rows, to=to)
        forget(self.cache, keys)
        return keys

    def invalidate(self, entity_type: str, entity_id: str | None = None) -> int:
        """Forget the cached reads of one entity (every feature set and request data), or
        of every ``entity_type`` entity when ``entity_id`` is ``None``, for writes made
        elsewhere (another process, a raw Feast push); returns how many entries went."""
        if self.cache is None:
            return 0
        if entity_id is None:
            return self.cache.invalidate_type(entity_type)
        return self.cache.invalidate(entity_type, entity_id)

    # -------------------------------------------------------------- lifecycle

    def close(self) -> None:
        self._lane.shutdown()
        self.backend.close()

    async def aclose(self) -> None:
        self._lane.shutdown()
        await self.backend.aclose()

    # -------------------------------------------------------------- internals

    def _fetch_batch(
        self,
        ids: list[str],
        entity_type: str,
        names: tuple[str, ...],
        request_data: Sequence[RequestData] | None = None,
    ) -> list[Outcome]:
        """Drive :meth:`_steps` with blocking calls, bounded by the timeout."""
        data = None if request_data is None else dict(zip(ids, request_data, strict=True))
        steps = self._steps(ids, entity_type, names, data)
        try:
            batch = next(steps)
            while True:
                subset = None if data is None else [data[eid] for eid in batch]
                try:
                    answer: Answer = self._call(batch, entity_type, names, subset)
                except Exception as exc:
                    answer = exc
                except BaseException:
                    self.failures.cancelled()
                    raise
                batch = steps.send(answer)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _afetch_batch(
        self,
        ids: list[str],
        entity_type: str,
        names: tuple[str, ...],
        request_data: Sequence[RequestData] | None = None,
    ) -> list[Outcome]:
        """Drive :meth:`_steps` with awaited calls, bounded by the timeout."""
        data = None if request_data is None else dict(zip(ids, request_data, strict=True))
        steps = self._steps(ids, entity_type, names, data)
        try:
            batch = next(steps)
            while True:
                extra = {} if data is None else {"request_data": [data[eid] for eid in batch]}
                try:
                    answer: Answer = await asyncio.wait_for(
                        self.backend.aget_batch_features(batch, entity_type, names, **extra),
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
        self,
        ids: list[str],
        entity_type: str,
        names: tuple[str, ...],
        request_data: list[RequestData] | None,
    ) -> list[FeatureVector]:
        read = self.backend.get_batch_features
        if request_data is not None:  # backends written before request data lack the keyword
            read = functools.partial(read, request_data=request_data)
        if self._timeout_s is None or not self.backend.may_block:
            return read(ids, entity_type, names)
        if not self._asked_bounded:
            self._bounded = self.backend.bounded_reader(self._timeout_s)
            self._asked_bounded = True
        if self._bounded is not None:
            answer = self._bounded(ids, entity_type, names, request_data)
            if answer is not None:
                return answer
        future = self._lane.submit(read, ids, entity_type, names)
        try:
            return future.result(timeout=self._timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError from None

    def _steps(
        self,
        ids: list[str],
        entity_type: str,
        names: tuple[str, ...],
        request_data: Mapping[str, RequestData] | None,
    ) -> Generator[list[str], Answer, list[Outcome]]:
        """The decisions of one read (:func:`~llm_featurestore.serving.steps.read_steps`);
        the answers are cached under each id's ``request_data``."""
        answered = functools.partial(
            self._on_success, entity_type=entity_type, names=names, request_data=request_data
        )
        return read_steps(self.failures, self.stats, ids, entity_type, names, answered)

    def _on_success(
        self,
        vectors: list[FeatureVector],
        *,
        entity_type: str,
        names: tuple[str, ...],
        request_data: Mapping[str, RequestData] | None,
    ) -> list[FeatureVector]:
        self.failures.record_success()
        defaults = self.defaults.get(entity_type)
        if defaults:
            vectors = defaulted(vectors, defaults, self.stats)
        remember(self.cache, entity_type, names, vectors, request_data)
        return vectors


def _reported(span: Any, vectors: list[FeatureVector], backend_calls: int) -> list[FeatureVector]:
    """``vectors``, after telling the read's span what they hold."""
    span.set(backend_calls=backend_calls)
    span.vectors(vectors)
    return vectors
