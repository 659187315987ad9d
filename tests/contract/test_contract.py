"""What every backend must do, sync and async: one suite, parametrised over real stores.

Each ``contract_<name>`` fixture (tests/fixtures/<name>.py) loads the dataset of
``tests/contract/harness.py`` into a real store and yields a ContractHarness.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Any

import pytest

from llm_featurestore.clients.base import (
    MAX_ENTITY_ID_LENGTH,
    MAX_NAME_LENGTH,
    FeatureStoreClient,
)
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.reading import FeatureReader, ReadRequest
from llm_featurestore.serving import (
    BreakerState,
    CacheConfig,
    CircuitBreaker,
    CircuitBreakerConfig,
    CoalesceConfig,
    ServingClient,
    VectorCache,
)
from tests.contract import harness as h
from tests.contract.wrappers import CountingClient, FlakyClient, SlowClient

pytestmark = pytest.mark.integration

BACKENDS = ["local", "feast_sqlite", "feast_redis", "feast_http", "redis", "tecton"]


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> h.ContractHarness:
    return request.getfixturevalue(f"contract_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def read(
    client: FeatureStoreClient, use_async: bool, ids: Sequence[str], names: Sequence[str]
) -> list[FeatureVector]:
    if use_async:
        return await client.aget_batch_features(ids, h.ENTITY_TYPE, names)
    return client.get_batch_features(ids, h.ENTITY_TYPE, names)


async def read_one(
    client: FeatureStoreClient, use_async: bool, eid: str, names: Sequence[str]
) -> FeatureVector:
    if use_async:
        return await client.aget_features(eid, h.ENTITY_TYPE, names)
    return client.get_features(eid, h.ENTITY_TYPE, names)


def assert_values(
    harness: h.ContractHarness, vector: FeatureVector, expected: dict[str, Any]
) -> None:
    """The vector holds exactly ``expected`` (in harness spelling), floats within tolerance."""
    assert list(vector.features) == harness.feature_names
    for name, bare in zip(harness.feature_names, h.FEATURES, strict=True):
        got, want = vector.features[name], expected[bare]
        if isinstance(want, float):
            assert isinstance(got, float), (name, got)
            assert math.isclose(got, want, rel_tol=harness.float_tolerance), (name, got, want)
        else:
            assert got == want, (name, got, want)
            assert type(got) is type(want), (name, type(got), type(want))


# --------------------------------------------------------------------------- reads


async def test_single_read_returns_stored_values(
    harness: h.ContractHarness, use_async: bool
) -> None:
    vector = await read_one(harness.client, use_async, "1001", harness.feature_names)
    assert vector.entity_id == "1001"
    assert vector.entity_type == h.ENTITY_TYPE
    assert vector.source == harness.source
    assert_values(harness, vector, h.FRESH["1001"])
    assert set(vector.statuses.values()) == {FeatureStatus.PRESENT}
    assert vector.found
    assert not vector.failed
    assert vector.retrieved_at.tzinfo is not None
    assert 0.0 <= vector.freshness_seconds < h.STALE_AFTER.total_seconds()
    assert all(ts is not None for ts in vector.event_timestamps.values())


async def test_batch_keeps_request_order_and_duplicates(
    harness: h.ContractHarness, use_async: bool
) -> None:
    ids = ["1002", h.MISSING_ID, "1001", "1002"]
    vectors = await read(harness.client, use_async, ids, harness.feature_names)
    assert [v.entity_id for v in vectors] == ids
    assert_values(harness, vectors[0], h.FRESH["1002"])
    assert_values(harness, vectors[2], h.FRESH["1001"])
    assert vectors[3].features == vectors[0].features
    assert set(vectors[1].statuses.values()) == {FeatureStatus.NOT_FOUND}


async def test_missing_entity_is_not_found_without_values(
    harness: h.ContractHarness, use_async: bool
) -> None:
    vector = await read_one(harness.client, use_async, h.MISSING_ID, harness.feature_names)
    assert vector.statuses == dict.fromkeys(harness.feature_names, FeatureStatus.NOT_FOUND)
    assert vector.features == dict.fromkeys(harness.feature_names)
    assert not vector.found
    assert vector.usable == {}
    assert vector.freshness_seconds == 0.0


async def test_stale_values_are_marked_and_kept(
    harness: h.ContractHarness, use_async: bool
) -> None:
    vector = await read_one(harness.client, use_async, h.STALE_ID, harness.feature_names)
    assert set(vector.statuses.values()) == {FeatureStatus.STALE}
    assert_values(harness, vector, h.STALE)
    assert vector.found
    assert vector.usable == {}  # stale values are kept but never "usable"


async def test_unknown_feature_lists_available_names(
    harness: h.ContractHarness, use_async: bool
) -> None:
    with pytest.raises(FeatureConfigError) as err:
        await read(harness.client, use_async, ["1001"], [*harness.feature_names, "no_such_feature"])
    message = str(err.value)
    assert "no_such_feature" in message
    for bare in h.FEATURES:
        assert bare in message


LONG_ID = "7" * (MAX_ENTITY_ID_LENGTH + 1)
LONG_ID_MESSAGE = (
    f"Entity id '{'7' * 40}'... has {MAX_ENTITY_ID_LENGTH + 1:,} characters, more than the "
    f"limit of {MAX_ENTITY_ID_LENGTH:,} (llm_featurestore.clients.values.MAX_ENTITY_ID_LENGTH)"
)


@pytest.mark.parametrize("through", ["client", "serving", "reader"])
async def test_an_id_over_its_bound_is_refused_on_read_before_any_call(
    harness: h.ContractHarness, use_async: bool, through: str
) -> None:
    counting = CountingClient(harness.client)
    serving = ServingClient(counting, cache=CacheConfig(), coalesce=CoalesceConfig())
    names = harness.feature_names

    async def attempt() -> object:
        if through != "reader":
            client = harness.client if through == "client" else serving
            return await read(client, use_async, ["1001", LONG_ID], names)
        request = ReadRequest(entities={h.ENTITY_TYPE: LONG_ID}, features={h.ENTITY_TYPE: names})
        reader = FeatureReader(serving)
        return await reader.aread(request) if use_async else reader.read(request)

    with pytest.raises(FeatureValidationError) as err:
        await attempt()
    assert str(err.value) == LONG_ID_MESSAGE
    assert counting.calls == []  # refused before the store was asked
    # An id of exactly the bound is an ordinary id: asked for (what the store answers for
    # it, not found or refused as no key of this type, is the backend's).
    edge = "7" * MAX_ENTITY_ID_LENGTH
    vectors = await read(ServingClient(counting, timeout_ms=None), use_async, [edge], names)
    assert [v.entity_id for v in vectors] == [edge]
    assert counting.batches == [[edge]]


async def test_a_feature_name_over_its_bound_is_refused_on_read(
    harness: h.ContractHarness, use_async: bool
) -> None:
    long_name = "f" * (MAX_NAME_LENGTH + 1)
    with pytest.raises(FeatureValidationError, match=r"^Feature name 'f{40}'\.\.\. has 257 char"):
        await read(harness.client, use_async, ["1001"], [*harness.feature_names, long_name])


async def test_ambiguous_name_lists_candidates(harness: h.ContractHarness, use_async: bool) -> None:
    if harness.ambiguous_name is None:
        pytest.skip(f"{harness.source}: feature names cannot be ambiguous")
    with pytest.raises(FeatureConfigError) as err:
        await read(harness.client, use_async, ["1001"], [harness.ambiguous_name])
    message = str(err.value)
    assert harness.ambiguous_name in message
    assert "ambiguous" in message.lower()


def test_list_features_names_every_feature(harness: h.ContractHarness) -> None:
    listed = harness.client.list_features(h.ENTITY_TYPE)
    assert listed == sorted(listed)
    for name in harness.feature_names:
        assert name in listed


async def test_health_check(harness: h.ContractHarness, use_async: bool) -> None:
    client = harness.client
    assert (await client.ahealth_check()) if use_async else client.health_check()
    if harness.make_dead_client is not None:
        dead = harness.make_dead_client()
        try:
            assert not ((await dead.ahealth_check()) if use_async else dead.health_check())
        finally:
            await dead.aclose() if use_async else dead.close()


async def test_dead_store_raises_unavailable_and_serving_degrades(
    harness: h.ContractHarness, use_async: bool
) -> None:
    if harness.make_dead_client is None:
        pytest.skip(f"{harness.source}: an in-process store cannot be unreachable")
    dead = harness.make_dead_client()
    try:
        with pytest.raises(FeatureStoreUnavailableError):
            await read(dead, use_async, ["1001"], harness.feature_names)
        serving = ServingClient(dead, timeout_ms=5_000)
        vector = await read_one(serving, use_async, "1001", harness.feature_names)
        assert set(vector.statuses.values()) == {FeatureStatus.UNAVAILABLE}
        assert vector.features == dict.fromkeys(harness.feature_names)
        assert vector.failed
        assert serving.stats.failures == 1
    finally:
        await dead.aclose() if use_async else dead.close()


# ------------------------------------------------------------------ serving layer


async def test_timeout_falls_back_or_raises(harness: h.ContractHarness, use_async: bool) -> None:
    # The delay dwarfs the timeout, and the timeout dwarfs a real round trip under load.
    slow = SlowClient(harness.client, delay_s=2.0)
    serving = ServingClient(slow, timeout_ms=150)
    vector = await read_one(serving, use_async, "1001", harness.feature_names)
    assert set(vector.statuses.values()) == {FeatureStatus.TIMED_OUT}
    assert vector.features == dict.fromkeys(harness.feature_names)
    assert serving.stats.timeouts == 1

    strict = ServingClient(slow, timeout_ms=150, fallback_on_timeout=False)
    with pytest.raises(FeatureTimeoutError, match=r"did not answer within 150 ms"):
        await read_one(strict, use_async, "1001", harness.feature_names)

    # The same wrapper, now fast: real values come through the same kind of client.
    slow.slow = False
    patient = ServingClient(slow, timeout_ms=30_000)
    vector = await read_one(patient, use_async, "1001", harness.feature_names)
    assert_values(harness, vector, h.FRESH["1001"])
    assert patient.stats.timeouts == 0
    for client in (serving, strict, patient):
        client.close()


async def test_circuit_breaker_opens_half_opens_and_closes(
    harness: h.ContractHarness, use_async: bool
) -> None:
    now = [0.0]
    flaky = FlakyClient(harness.client)
    serving = ServingClient(flaky, circuit_breaker=CircuitBreakerConfig(failure_threshold=3))
    serving.breaker = CircuitBreaker(3, 10.0, clock=lambda: now[0])
    flaky.failing = True
    for _ in range(3):
        vector = await read_one(serving, use_async, "1001", harness.feature_names)
        assert set(vector.statuses.values()) == {FeatureStatus.UNAVAILABLE}
    assert serving.breaker.state is BreakerState.OPEN
    assert len(flaky.calls) == 3

    # Open: answered at once, the store is not called.
    vector = await read_one(serving, use_async, "1001", harness.feature_names)
    assert set(vector.statuses.values()) == {FeatureStatus.UNAVAILABLE}
    assert len(flaky.calls) == 3
    assert serving.stats.short_circuited == 1

    # Cool-down over, probe fails: open again.
    now[0] = 10.0
    await read_one(serving, use_async, "1001", harness.feature_names)
    assert len(flaky.calls) == 4
    assert serving.breaker.state is BreakerState.OPEN

    # Next cool-down, store recovered: the probe closes the circuit.
    now[0] = 20.0
    flaky.failing = False
    vector = await read_one(serving, use_async, "1001", harness.feature_names)
    assert_values(harness, vector, h.FRESH["1001"])
    assert serving.breaker.state is BreakerState.CLOSED
    vector = await read_one(serving, use_async, "1002", harness.feature_names)
    assert_values(harness, vector, h.FRESH["1002"])


async def test_cache_hit_and_expiry(harness: h.ContractHarness, use_async: bool) -> None:
    now = [0.0]
    counting = CountingClient(harness.client)
    serving = ServingClient(counting, cache=CacheConfig(ttl_seconds=30))
    assert serving.cache is not None
    serving.cache = VectorCache(30, 1000, clock=lambda: now[0])

    first = await read_one(serving, use_async, "1001", harness.feature_names)
    second = await read_one(serving, use_async, "1001", harness.feature_names)
    assert len(counting.calls) == 1
    assert second == first
    # A different entity or feature set never shares an entry.
    other = await read_one(serving, use_async, "1002", harness.feature_names)
    assert_values(harness, other, h.FRESH["1002"])
    subset = await read_one(serving, use_async, "1001", harness.feature_names[:1])
    assert list(subset.features) == harness.feature_names[:1]
    assert len(counting.calls) == 3

    now[0] = 31.0
    third = await read_one(serving, use_async, "1001", harness.feature_names)
    assert len(counting.calls) == 4
    assert_values(harness, third, h.FRESH["1001"])
    assert serving.stats.cache_hits == 1


async def test_defaults_fill_cold_start_entities(
    harness: h.ContractHarness, use_async: bool
) -> None:
    first = harness.feature_names[0]
    serving = ServingClient(harness.client, defaults={h.ENTITY_TYPE: {first: "popular"}})
    vector = await read_one(serving, use_async, h.MISSING_ID, harness.feature_names)
    assert vector.statuses[first] is FeatureStatus.DEFAULTED
    assert vector.features[first] == "popular"
    assert vector.usable == {first: "popular"}
    for name in harness.feature_names[1:]:
        assert vector.statuses[name] is FeatureStatus.NOT_FOUND
    known = await read_one(serving, use_async, "1001", harness.feature_names)
    assert_values(harness, known, h.FRESH["1001"])


async def test_coalescing_200_concurrent_lookups_each_get_their_own_entity(
    harness: h.ContractHarness,
) -> None:
    counting = CountingClient(harness.client)
    serving = ServingClient(
        counting, timeout_ms=10_000, coalesce=CoalesceConfig(window_ms=2.0, max_batch=64)
    )
    rng = random.Random(7)
    ids = [rng.choice(sorted(h.BULK)) for _ in range(190)] + [h.MISSING_ID] * 10
    rng.shuffle(ids)

    results = await asyncio.gather(
        *(serving.aget_features(eid, h.ENTITY_TYPE, harness.feature_names) for eid in ids)
    )
    assert len(results) == 200
    for eid, vector in zip(ids, results, strict=True):
        assert vector.entity_id == eid
        if eid == h.MISSING_ID:
            assert set(vector.statuses.values()) == {FeatureStatus.NOT_FOUND}
        else:
            assert_values(harness, vector, h.BULK[eid])
    # 200 lookups became a handful of batch calls, each id fetched once per batch.
    assert 1 <= len(counting.calls) <= 200 // 64 + 2
    assert all(len(batch) == len(set(batch)) for batch in counting.batches)
    assert serving.coalescer is not None
    assert serving.coalescer.requests_coalesced == 200


def test_client_works_across_event_loops(harness: h.ContractHarness) -> None:
    """An app may call the same client from several loops (e.g. per-thread or per-test)."""

    async def one() -> FeatureVector:
        return await harness.client.aget_features("1001", h.ENTITY_TYPE, harness.feature_names)

    for _ in range(2):
        vector = asyncio.run(one())
        assert_values(harness, vector, h.FRESH["1001"])
