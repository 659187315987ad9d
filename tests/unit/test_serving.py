"""Serving layer units: breaker, cache, coalescer and ServingClient edge cases (no servers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureValidationError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import (
    AsyncCoalescer,
    BreakerState,
    CacheConfig,
    CircuitBreaker,
    CircuitBreakerConfig,
    CoalesceConfig,
    ServingClient,
    ThreadCoalescer,
    VectorCache,
)
from tests.contract.wrappers import CountingClient, FlakyClient, Wrapper


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    for i in range(10):
        s.write_features(f"u{i}", "user", {"cat": f"c{i}", "aov": float(i)})
    return s


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ breaker


def test_breaker_counts_consecutive_failures_only() -> None:
    clock = Clock()
    breaker = CircuitBreaker(3, 5.0, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # resets the streak
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.record_failure() is True
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == 5.0
    assert breaker.allow() is False


def test_breaker_lets_exactly_one_probe_through_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.record_failure()
    clock.now = 4.9
    assert breaker.allow() is False
    clock.now = 5.0
    assert breaker.allow() is True
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() is False  # others wait for the probe
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow() is True
    assert breaker.times_opened == 1


# -------------------------------------------------------------------- cache


def _vector(eid: str, value: str = "x") -> FeatureVector:
    return FeatureVector.build(
        entity_id=eid,
        entity_type="user",
        feature_names=["cat"],
        values={"cat": value},
        statuses={"cat": FeatureStatus.PRESENT},
        source="local",
    )


def test_cache_evicts_least_recently_used() -> None:
    cache = VectorCache(60, 2)
    cache.put(("user", "a", ("cat",)), _vector("a"))
    cache.put(("user", "b", ("cat",)), _vector("b"))
    assert cache.get(("user", "a", ("cat",))) is not None  # a is now most recent
    cache.put(("user", "c", ("cat",)), _vector("c"))
    assert cache.get(("user", "b", ("cat",))) is None
    assert cache.get(("user", "a", ("cat",))) is not None
    assert len(cache) == 2


def test_cache_refuses_a_vector_under_another_entitys_key() -> None:
    cache = VectorCache(60, 10)
    with pytest.raises(ValueError, match="does not match vector"):
        cache.put(("user", "a", ("cat",)), _vector("b"))


def test_cache_invalidate_drops_every_feature_set_of_one_entity() -> None:
    cache = VectorCache(60, 10)
    cache.put(("user", "a", ("cat",)), _vector("a"))
    cache.put(("user", "a", ("cat", "aov")), _vector("a"))
    cache.put(("user", "b", ("cat",)), _vector("b"))
    assert cache.invalidate("user", "a") == 2
    assert cache.get(("user", "a", ("cat",))) is None
    assert cache.get(("user", "b", ("cat",))) is not None


# ---------------------------------------------------------------- coalescer


async def test_coalescer_flushes_at_max_batch_and_dedupes_ids() -> None:
    batches: list[list[str]] = []

    async def fetch(ids: list[str], etype: str, names: tuple[str, ...]) -> list[FeatureVector]:
        batches.append(ids)
        return [_vector(i, f"v-{i}") for i in ids]

    coalescer = AsyncCoalescer(fetch, window_s=10.0, max_batch=4)  # only size can flush
    results = await asyncio.gather(*(coalescer.get(i, "user", ("cat",)) for i in "abab"))
    assert batches == [["a", "b"]]
    assert [r.features["cat"] for r in results] == ["v-a", "v-b", "v-a", "v-b"]


async def test_coalescer_raises_a_batch_failure_to_every_waiter() -> None:
    async def fetch(ids: list[str], etype: str, names: tuple[str, ...]) -> list[FeatureVector]:
        raise FeatureStoreUnavailableError("boom")

    coalescer = AsyncCoalescer(fetch, window_s=0.001, max_batch=100)
    results = await asyncio.gather(
        *(coalescer.get(i, "user", ("cat",)) for i in "abc"), return_exceptions=True
    )
    assert all(isinstance(r, FeatureStoreUnavailableError) for r in results)


async def test_coalescer_keeps_feature_sets_apart() -> None:
    seen: list[tuple[str, ...]] = []

    async def fetch(ids: list[str], etype: str, names: tuple[str, ...]) -> list[FeatureVector]:
        seen.append(names)
        return [_vector(i) for i in ids]

    coalescer = AsyncCoalescer(fetch, window_s=0.001, max_batch=100)
    await asyncio.gather(coalescer.get("a", "user", ("cat",)), coalescer.get("a", "user", ("aov",)))
    assert sorted(seen) == [("aov",), ("cat",)]


async def test_a_cancelled_waiter_does_not_break_the_others(store: LocalFeatureStore) -> None:
    serving = ServingClient(store, coalesce=CoalesceConfig(window_ms=5))
    doomed = asyncio.ensure_future(serving.aget_features("u1", "user", ["cat"]))
    kept = asyncio.ensure_future(serving.aget_features("u2", "user", ["cat"]))
    await asyncio.sleep(0)
    doomed.cancel()
    assert (await kept).features == {"cat": "c2"}
    with pytest.raises(asyncio.CancelledError):
        await doomed


# ----------------------------------------------------------- ServingClient


async def test_caller_errors_raise_and_never_trip_the_breaker(store: LocalFeatureStore) -> None:
    serving = ServingClient(store, circuit_breaker=CircuitBreakerConfig(failure_threshold=1))
    for _ in range(3):
        with pytest.raises(FeatureConfigError, match="Unknown feature 'nope'"):
            serving.get_features("u1", "user", ["nope"])
        with pytest.raises(FeatureConfigError, match="Unknown feature 'nope'"):
            await serving.aget_features("u1", "user", ["nope"])
    assert serving.breaker is not None
    assert serving.breaker.state is BreakerState.CLOSED
    assert serving.stats.fallbacks == 0


class Exploding(Wrapper):
    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        raise ConnectionResetError("peer reset")


def test_unexpected_errors_become_unavailable_or_a_chained_error(
    store: LocalFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    lenient = ServingClient(Exploding(store))
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.serving"):
        vector = lenient.get_features("u1", "user", ["cat"])
    assert vector.statuses == {"cat": FeatureStatus.UNAVAILABLE}
    assert "ConnectionResetError: peer reset" in caplog.text
    assert "answering 1 entities with unavailable" in caplog.text

    strict = ServingClient(Exploding(store), fallback_on_timeout=False)
    with pytest.raises(FeatureStoreUnavailableError, match="peer reset") as err:
        strict.get_features("u1", "user", ["cat"])
    assert isinstance(err.value.__cause__, ConnectionResetError)


def test_open_circuit_raises_when_fallback_is_off(
    store: LocalFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    flaky = FlakyClient(store)
    flaky.failing = True
    serving = ServingClient(
        flaky,
        fallback_on_timeout=False,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, reset_timeout_seconds=60),
    )
    with (
        caplog.at_level(logging.WARNING, logger="llm_featurestore.serving"),
        pytest.raises(FeatureStoreUnavailableError, match="injected failure"),
    ):
        serving.get_features("u1", "user", ["cat"])
    assert "Circuit opened for the local feature store after 1 consecutive failures" in caplog.text
    with pytest.raises(FeatureStoreUnavailableError, match=r"Circuit open .* next probe in"):
        serving.get_features("u1", "user", ["cat"])
    assert len(flaky.calls) == 1


def test_writes_go_through_and_invalidate_the_cache(store: LocalFeatureStore) -> None:
    counting = CountingClient(store)
    serving = ServingClient(store, cache=CacheConfig())
    serving.backend = counting  # reads counted; writes reach the real store below
    assert serving.get_features("u1", "user", ["cat"]).features == {"cat": "c1"}
    serving.backend = store
    serving.write_features("u1", "user", {"cat": "new"})
    serving.backend = counting
    assert serving.get_features("u1", "user", ["cat"]).features == {"cat": "new"}
    assert len(counting.calls) == 2


async def test_async_write_invalidates_the_cache(store: LocalFeatureStore) -> None:
    serving = ServingClient(store, cache=CacheConfig())
    assert (await serving.aget_features("u1", "user", ["cat"])).features == {"cat": "c1"}
    await serving.awrite_features("u1", "user", {"cat": "async-new"})
    assert (await serving.aget_features("u1", "user", ["cat"])).features == {"cat": "async-new"}


def test_writes_to_a_read_only_backend_say_so(store: LocalFeatureStore) -> None:
    serving = ServingClient(Wrapper(store))
    with pytest.raises(FeatureConfigError, match="Wrapper backend is read-only"):
        serving.write_features("u1", "user", {"cat": "x"})


def test_invalid_writes_are_rejected_through_the_serving_layer(store: LocalFeatureStore) -> None:
    serving = ServingClient(store)
    with pytest.raises(FeatureValidationError):
        serving.write_features("u1", "user", {"cat": float("nan")})


@pytest.mark.parametrize("timeout_ms", [0, -5, float("nan"), float("inf")])
def test_timeout_must_be_positive(store: LocalFeatureStore, timeout_ms: float) -> None:
    with pytest.raises(
        FeatureConfigError, match=r"timeout_ms must be a positive number of milliseconds or None"
    ):
        ServingClient(store, timeout_ms=timeout_ms)


def test_no_timeout_calls_the_backend_inline(store: LocalFeatureStore) -> None:
    guarded = ServingClient(Wrapper(store))  # a wrapper may block: guarded by a thread
    assert guarded.get_features("u3", "user", ["aov"]).features == {"aov": 3.0}
    assert guarded._lane.running
    guarded.close()
    serving = ServingClient(Wrapper(store), timeout_ms=None)
    assert serving.get_features("u3", "user", ["aov"]).features == {"aov": 3.0}
    assert not serving._lane.running


def test_in_process_stores_are_read_inline_even_with_a_timeout(store: LocalFeatureStore) -> None:
    serving = ServingClient(store, timeout_ms=50)
    assert serving.may_block is False
    assert serving.get_features("u3", "user", ["aov"]).features == {"aov": 3.0}
    assert not serving._lane.running
    assert ServingClient(Wrapper(store)).may_block is True


def test_batch_with_partial_cache_fetches_only_the_misses(store: LocalFeatureStore) -> None:
    counting = CountingClient(store)
    serving = ServingClient(counting, cache=CacheConfig())
    serving.get_features("u1", "user", ["cat"])
    vectors = serving.get_batch_features(["u2", "u1", "u2", "u3"], "user", ["cat"])
    assert [v.features["cat"] for v in vectors] == ["c2", "c1", "c2", "c3"]
    assert counting.batches == [["u1"], ["u2", "u3"]]
    assert serving.stats.cache_hits == 1


def test_fallback_vectors_are_never_cached(store: LocalFeatureStore) -> None:
    flaky = FlakyClient(store)
    serving = ServingClient(flaky, cache=CacheConfig())
    flaky.failing = True
    assert serving.get_features("u1", "user", ["cat"]).failed
    flaky.failing = False
    assert serving.get_features("u1", "user", ["cat"]).features == {"cat": "c1"}


async def test_coalesced_lookups_use_the_cache_first(store: LocalFeatureStore) -> None:
    counting = CountingClient(store)
    serving = ServingClient(counting, cache=CacheConfig(), coalesce=CoalesceConfig())
    await serving.aget_features("u1", "user", ["cat"])
    again = await asyncio.gather(*(serving.aget_features("u1", "user", ["cat"]) for _ in range(5)))
    assert {v.features["cat"] for v in again} == {"c1"}
    assert len(counting.calls) == 1


def test_serving_client_is_a_context_manager(store: LocalFeatureStore) -> None:
    with ServingClient(store) as serving:
        assert serving.get_features("u1", "user", ["cat"]).features == {"cat": "c1"}
        assert serving.list_features("user") == ["aov", "cat"]
        assert serving.health_check() is True


def test_wrapping_keeps_the_backends_source(store: LocalFeatureStore) -> None:
    client: FeatureStoreClient = ServingClient(ServingClient(store))
    assert client.source == "local"
    assert client.get_features("u1", "user", ["cat"]).source == "local"


def test_thread_coalescing_answers_concurrent_threads_with_one_batch(
    store: LocalFeatureStore,
) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    counting = CountingClient(store)
    serving = ServingClient(counting, coalesce=CoalesceConfig(window_ms=50, max_batch=8))
    # A window far longer than any scheduling delay: only max_batch=8 can send the batch,
    # so the assertion below cannot depend on how fast the threads are scheduled.
    serving.thread_coalescer = ThreadCoalescer(serving._fetch_batch, window_s=30.0, max_batch=8)
    barrier = threading.Barrier(8)

    def lookup(i: int) -> FeatureVector:
        barrier.wait()
        return serving.get_features(f"u{i}", "user", ["cat"])

    with ThreadPoolExecutor(8) as pool:
        vectors = list(pool.map(lookup, range(8)))
    assert [v.features["cat"] for v in vectors] == [f"c{i}" for i in range(8)]
    assert [v.entity_id for v in vectors] == [f"u{i}" for i in range(8)]
    assert len(counting.calls) == 1
    assert sorted(counting.batches[0]) == sorted(f"u{i}" for i in range(8))
    assert serving.thread_coalescer is not None
    assert serving.thread_coalescer.requests_coalesced == 8
    assert serving.stats.requests == 8


def test_thread_coalescing_propagates_store_errors_when_fallback_is_off(
    store: LocalFeatureStore,
) -> None:
    flaky = FlakyClient(store)
    flaky.failing = True
    serving = ServingClient(flaky, fallback_on_timeout=False, coalesce=CoalesceConfig(window_ms=1))
    with pytest.raises(FeatureStoreUnavailableError, match="injected failure"):
        serving.get_features("u1", "user", ["cat"])
    with pytest.raises(FeatureConfigError, match="Unknown feature"):
        ServingClient(store, coalesce=CoalesceConfig()).get_features("u1", "user", ["nope"])


async def test_zero_window_batches_one_gather_without_a_timer(store: LocalFeatureStore) -> None:
    counting = CountingClient(store)
    serving = ServingClient(counting, coalesce=CoalesceConfig(window_ms=0, max_batch=128))
    vectors = await asyncio.gather(
        *(serving.aget_features(f"u{i}", "user", ["cat"]) for i in range(10))
    )
    assert [v.features["cat"] for v in vectors] == [f"c{i}" for i in range(10)]
    assert len(counting.calls) == 1
    # Lookups issued one after another (not concurrently) are not held back.
    for i in range(3):
        await serving.aget_features(f"u{i}", "user", ["cat"])
    assert len(counting.calls) == 4
