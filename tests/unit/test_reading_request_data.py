"""The read flow with request data: passed per id, aligned, in the grouped batch calls
(sync and async drive the same flow); requests still batch by entity type and feature
set, and only an id asked for with other request data goes into a further call."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest
from llm_featurestore.serving import CacheConfig, ServingClient
from tests.contract.wrappers import CountingClient
from tests.request_store import request_store

NAMES = {"user": ["tier", "cart_vs_aov"]}


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def read_many(
    reader: FeatureReader, requests: Sequence[ReadRequest], use_async: bool
) -> list[FeatureVectors]:
    if use_async:
        return asyncio.run(reader.aread_many(requests))
    return reader.read_many(requests)


def request(user: str, cart_total: float | None = None, **more: Any) -> ReadRequest:
    data = {} if cart_total is None else {"user": {"cart_total": cart_total}}
    return ReadRequest({"user": user, **more}, NAMES, request_data=data)


def ratios(read: Sequence[FeatureVectors]) -> list[Any]:
    return [r["user"].features["cart_vs_aov"] for r in read]


def test_requests_with_request_data_still_make_one_call(use_async: bool) -> None:
    store = request_store()
    got = read_many(FeatureReader(store), [request("u1", 50.0), request("u2", 50.0)], use_async)
    assert ratios(got) == [0.5, 1.0]
    assert store.calls == [(["u1", "u2"], [{"cart_total": 50.0}, {"cart_total": 50.0}])]


def test_an_id_with_other_request_data_goes_into_a_further_call(use_async: bool) -> None:
    store = request_store()
    requests = [request("u1", 50.0), request("u2", 10.0), request("u1", 200.0)]
    got = read_many(FeatureReader(store), requests, use_async)
    assert ratios(got) == [0.5, 0.2, 2.0]
    # The two calls run concurrently: compare them in any order.
    assert sorted(store.calls, key=lambda c: len(c[0])) == [
        (["u1"], [{"cart_total": 200.0}]),
        (["u1", "u2"], [{"cart_total": 50.0}, {"cart_total": 10.0}]),
    ]


def test_the_same_id_and_request_data_is_read_once(use_async: bool) -> None:
    store = request_store()
    got = read_many(FeatureReader(store), [request("u1", 5.0), request("u1", 5.0)], use_async)
    assert ratios(got) == [0.05, 0.05]
    assert store.calls == [(["u1"], [{"cart_total": 5.0}])]


def test_requests_without_request_data_ride_along_with_empty_mappings(use_async: bool) -> None:
    store = request_store()
    got = read_many(FeatureReader(store), [request("u1", 50.0), request("u2")], use_async)
    assert ratios(got) == [0.5, None]
    assert got[1]["user"].statuses["cart_vs_aov"] is FeatureStatus.NOT_FOUND
    assert store.calls == [(["u1", "u2"], [{"cart_total": 50.0}, {}])]


def test_request_data_of_other_entity_types_does_not_reach_a_call(use_async: bool) -> None:
    store = request_store()
    other = ReadRequest({"user": "u1"}, NAMES, request_data={"org": {"plan_size": 3}})
    read_many(FeatureReader(store), [other], use_async)
    assert store.calls == [(["u1"], None)]


def test_without_request_data_no_keyword_reaches_the_backend(use_async: bool) -> None:
    local = LocalFeatureStore()
    local.write_features("u1", "user", {"tier": "gold"})
    counted = CountingClient(local)  # its get_batch_features has no request_data keyword
    got = read_many(
        FeatureReader(counted), [ReadRequest({"user": "u1"}, {"user": ["tier"]})], use_async
    )
    assert got[0]["user"].features == {"tier": "gold"}


def test_an_invalid_id_degrades_alone_and_the_others_keep_their_data(use_async: bool) -> None:
    store = request_store(fail_ids=["bad"])
    requests = [request("u1", 10.0), request("bad", 1.0), request("u2", 100.0)]
    got = read_many(FeatureReader(store), requests, use_async)
    assert [r["user"].statuses["cart_vs_aov"] for r in got] == [
        FeatureStatus.PRESENT,
        FeatureStatus.INVALID_ID,
        FeatureStatus.PRESENT,
    ]
    assert ratios(got) == [0.1, None, 2.0]
    assert store.calls[-1] == (["u1", "u2"], [{"cart_total": 10.0}, {"cart_total": 100.0}])


def test_through_a_serving_client_each_request_data_is_cached_apart(use_async: bool) -> None:
    store = request_store()
    reader = FeatureReader(ServingClient(store, cache=CacheConfig()))
    first = read_many(reader, [request("u1", 50.0), request("u1", 200.0)], use_async)
    again = read_many(reader, [request("u1", 200.0), request("u1", 50.0)], use_async)
    assert ratios(first) == [0.5, 2.0]
    assert ratios(again) == [2.0, 0.5]
    assert len(store.calls) == 2


def test_a_backend_without_request_data_fails_the_read_naming_it(use_async: bool) -> None:
    local = LocalFeatureStore()
    local.write_features("u1", "user", {"tier": "gold", "cart_vs_aov": None})
    with pytest.raises(FeatureConfigError) as caught:
        read_many(FeatureReader(local), [request("u1", 5.0)], use_async)
    message = str(caught.value)
    assert "The lookup looks up tier, cart_vs_aov for entity type 'user'" in message
    assert "The LocalFeatureStore backend does not take request data (got cart_total)" in message
