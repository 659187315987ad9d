"""TectonClient with request data: each read's request data becomes its rows'
``request_context_map``, against the local Tecton-API server's on-demand features."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import CacheConfig, ServingClient
from tests import tecton_server as ts
from tests.fixtures.tecton import make_tecton_client

pytestmark = pytest.mark.integration

AOV = "user_stats.avg_order_value"
RATIO = "user_request.cart_vs_aov"
WORDS = "user_request.query_words"
ROWS: dict[str, dict[str, Any]] = {"1": {AOV: 100.0}, "2": {AOV: 50.0}}


@pytest.fixture
def server() -> Iterator[ts.TectonTestServer]:
    with ts.running_tecton_server(
        ROWS, request_context_keys=ts.REQUEST_CONTEXT_KEYS, on_demand=ts.ON_DEMAND
    ) as srv:
        yield srv


@pytest.fixture
def client(server: ts.TectonTestServer) -> Iterator[TectonClient]:
    c = make_tecton_client(server.url, request_context={"query": "fixed words"})
    yield c
    c.close()


def contexts(server: ts.TectonTestServer) -> list[dict[str, Any]]:
    """The request_context_map of every row of every read the server received."""
    out = []
    for path, body in server.requests:
        params = body["params"]
        if path.endswith("/get-features"):
            out.append(params["request_context_map"])
        elif path.endswith("/get-features-batch"):
            out.extend(item["request_context_map"] for item in params["request_data"])
    return out


async def read(
    client: TectonClient, use_async: bool, ids: list[str], data: list[dict[str, Any]] | None
) -> list[FeatureVector]:
    names = [AOV, RATIO, WORDS]
    if use_async:
        return await client.aget_batch_features(ids, "user", names, request_data=data)
    return client.get_batch_features(ids, "user", names, request_data=data)


@pytest.mark.parametrize("use_async", [False, True])
async def test_single_read_sends_its_request_data_merged_over_the_fixed_map(
    server: ts.TectonTestServer, client: TectonClient, use_async: bool
) -> None:
    names = [RATIO, WORDS]
    data = {"cart_total": 150.0}
    if use_async:
        vector = await client.aget_features("1", "user", names, request_data=data)
    else:
        vector = client.get_features("1", "user", names, request_data=data)
    assert vector.features == {RATIO: 1.5, WORDS: 2}
    assert vector.statuses[RATIO] is FeatureStatus.PRESENT
    assert contexts(server) == [{"query": "fixed words", "cart_total": 150.0}]


@pytest.mark.parametrize("use_async", [False, True])
async def test_batch_sends_each_entity_its_own_request_data(
    server: ts.TectonTestServer, client: TectonClient, use_async: bool
) -> None:
    data = [
        {"cart_total": 10.0, "query": "running shoes for trails"},
        {"cart_total": 100.0},
    ]
    first, second = await read(client, use_async, ["1", "2"], data)
    assert first.features == {AOV: 100.0, RATIO: 0.1, WORDS: 4}
    assert second.features == {AOV: 50.0, RATIO: 2.0, WORDS: 2}
    assert contexts(server) == [
        {"query": "running shoes for trails", "cart_total": 10.0},  # the read's own value wins
        {"query": "fixed words", "cart_total": 100.0},
    ]


@pytest.mark.parametrize("use_async", [False, True])
async def test_one_id_with_different_request_data_is_a_row_each(
    server: ts.TectonTestServer, client: TectonClient, use_async: bool
) -> None:
    data = [{"cart_total": 50.0}, {"cart_total": 200.0}, {"cart_total": 50.0}]
    vectors = await read(client, use_async, ["1", "1", "1"], data)
    assert [v.features[RATIO] for v in vectors] == [0.5, 2.0, 0.5]
    assert [v.entity_id for v in vectors] == ["1", "1", "1"]
    assert len(contexts(server)) == 2  # the repeated (id, request data) is asked once


@pytest.mark.parametrize("use_async", [False, True])
async def test_micro_batches_keep_each_rows_request_data(
    server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_tecton_client(server.url, micro_batch_size=2)
    try:
        ids = ["1", "2", "1", "2", "1"]
        data = [{"cart_total": float(n), "query": "w " * n} for n in range(1, 6)]
        vectors = await read(client, use_async, ids, data)
    finally:
        client.close()
    assert [v.features[WORDS] for v in vectors] == [1, 2, 3, 4, 5]
    assert [v.features[RATIO] for v in vectors] == [0.01, 0.04, 0.03, 0.08, 0.05]
    reads = [p for p, _ in server.requests if "get-features" in p]
    assert len(reads) == 3


@pytest.mark.parametrize("use_async", [False, True])
async def test_missing_request_context_key_is_a_usage_error_before_any_read(
    server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_tecton_client(server.url)
    try:
        with pytest.raises(FeatureConfigError) as caught:
            await read(client, use_async, ["1", "2"], [{"cart_total": 1.0, "query": "a"}, {}])
    finally:
        client.close()
    message = str(caught.value)
    assert "needs request context cart_total, query" in message
    assert "the read of '2' lacks cart_total, query" in message
    assert "request_data" in message
    assert not [p for p, _ in server.requests if "get-features" in p]


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_value_tecton_rejects_is_a_usage_error_naming_the_key(
    client: TectonClient, use_async: bool
) -> None:
    with pytest.raises(FeatureConfigError, match="'cart_total' must be float64, got str"):
        await read(client, use_async, ["1"], [{"cart_total": "ten"}])


def test_request_data_values_are_validated_before_anything_is_sent(
    server: ts.TectonTestServer, client: TectonClient
) -> None:
    with pytest.raises(FeatureValidationError, match=r"Request field 'cart_total' \(entity '1'\)"):
        client.get_features("1", "user", [RATIO], request_data={"cart_total": float("inf")})
    assert not server.requests


def test_tecton_accepts_request_data() -> None:
    assert TectonClient.accepts_request_data is True


@pytest.mark.parametrize("use_async", [False, True])
async def test_through_the_serving_layer_each_request_data_is_its_own_cache_entry(
    server: ts.TectonTestServer, client: TectonClient, use_async: bool
) -> None:
    serving = ServingClient(client, cache=CacheConfig(ttl_seconds=60), timeout_ms=5_000)
    data = [{"cart_total": 50.0}, {"cart_total": 200.0}]
    first = await read_serving(serving, use_async, ["1", "1"], data)
    again = await read_serving(serving, use_async, ["1", "1"], data)
    assert [v.features[RATIO] for v in first] == [0.5, 2.0]
    assert [v.features[RATIO] for v in again] == [0.5, 2.0]
    assert len(contexts(server)) == 2  # two rows once, then the cache
    assert serving.stats.cache_hits == 2


async def read_serving(
    serving: ServingClient, use_async: bool, ids: list[str], data: list[dict[str, Any]]
) -> list[FeatureVector]:
    if use_async:
        return await serving.aget_batch_features(ids, "user", [RATIO], request_data=data)
    return serving.get_batch_features(ids, "user", [RATIO], request_data=data)
