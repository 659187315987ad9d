"""ServingClient reads with request data: per-request-data cache entries, unique ids per
backend call, no coalescing, refusal naming the backend, and the failure table unchanged."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest

from llm_featurestore.clients.base import RequestData
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import CacheConfig, CoalesceConfig, ServingClient
from llm_featurestore.serving.plan import ReadPlan, rounds
from tests.request_store import RequestDataStore, request_store

NAMES = ["avg_order_value", "cart_vs_aov"]


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def read(
    client: ServingClient, use_async: bool, ids: list[str], data: list[dict[str, Any]] | None
) -> list[FeatureVector]:
    if use_async:
        return await client.aget_batch_features(ids, "user", NAMES, request_data=data)
    return client.get_batch_features(ids, "user", NAMES, request_data=data)


def test_rounds_put_each_repeat_of_an_id_in_a_further_call() -> None:
    a1, a2, b1, a3 = ("a", (1,)), ("a", (2,)), ("b", (1,)), ("a", (3,))
    assert rounds([a1, b1]) == [[a1, b1]]
    assert rounds([a1, a2, b1, a3]) == [[a1, b1], [a2], [a3]]
    assert rounds([]) == []


def test_plan_without_request_data_keys_items_by_id_alone() -> None:
    plan = ReadPlan.of(["a", "b", "a"], None)
    assert plan.unique() == [("a", ()), ("b", ())]
    assert not plan.has_data
    assert plan.request_data(plan.unique()) is None


async def test_cache_entries_are_per_request_data(use_async: bool) -> None:
    store = request_store()
    serving = ServingClient(store, cache=CacheConfig(ttl_seconds=60))
    first = await read(serving, use_async, ["u1"], [{"cart_total": 50.0}])
    again = await read(serving, use_async, ["u1"], [{"cart_total": 50.0}])
    other = await read(serving, use_async, ["u1"], [{"cart_total": 200.0}])
    plain = await read(serving, use_async, ["u1"], None)
    assert first[0].features["cart_vs_aov"] == again[0].features["cart_vs_aov"] == 0.5
    assert other[0].features["cart_vs_aov"] == 2.0
    assert plain[0].statuses["cart_vs_aov"] is FeatureStatus.NOT_FOUND
    assert len(store.calls) == 3  # the repeat was served from the cache
    assert serving.stats.cache_hits == 1
    assert serving.cache is not None
    assert serving.cache.invalidate("user", "u1") == 3


async def test_one_backend_call_never_holds_an_id_twice(use_async: bool) -> None:
    store = request_store()
    serving = ServingClient(store)
    data = [{"cart_total": 50.0}, {"cart_total": 50.0}, {"cart_total": 25.0}, {"cart_total": 5.0}]
    vectors = await read(serving, use_async, ["u1", "u2", "u1", "u1"], data)
    assert [v.entity_id for v in vectors] == ["u1", "u2", "u1", "u1"]
    assert [v.features["cart_vs_aov"] for v in vectors] == [0.5, 1.0, 0.25, 0.05]
    assert [ids for ids, _ in store.calls] == [["u1", "u2"], ["u1"], ["u1"]]
    assert store.calls[1][1] == [{"cart_total": 25.0}]


async def test_same_id_with_same_request_data_is_read_once(use_async: bool) -> None:
    store = request_store()
    serving = ServingClient(store)
    vectors = await read(serving, use_async, ["u1", "u1"], [{"cart_total": 10.0}] * 2)
    assert [v.features["cart_vs_aov"] for v in vectors] == [0.1, 0.1]
    assert store.calls == [(["u1"], [{"cart_total": 10.0}])]


async def test_single_reads_with_request_data_skip_coalescing(use_async: bool) -> None:
    store = request_store()
    serving = ServingClient(store, coalesce=CoalesceConfig(window_ms=0))
    if use_async:
        got = await asyncio.gather(
            serving.aget_features("u1", "user", NAMES, request_data={"cart_total": 10.0}),
            serving.aget_features("u2", "user", NAMES, request_data={"cart_total": 10.0}),
        )
        assert serving.coalescer is not None
        assert serving.coalescer.batches_sent == 0
    else:
        got = [
            serving.get_features(eid, "user", NAMES, request_data={"cart_total": 10.0})
            for eid in ("u1", "u2")
        ]
        assert serving.thread_coalescer is not None
        assert serving.thread_coalescer.batches_sent == 0
    assert [v.features["cart_vs_aov"] for v in got] == [0.1, 0.2]
    assert len(store.calls) == 2


async def test_backend_without_request_data_is_named_in_the_refusal(use_async: bool) -> None:
    local = LocalFeatureStore()
    local.write_features("u1", "user", {"avg_order_value": 1.0, "cart_vs_aov": None})
    serving = ServingClient(local, cache=CacheConfig())
    assert serving.accepts_request_data is False
    with pytest.raises(FeatureConfigError, match="The LocalFeatureStore backend does not take"):
        await read(serving, use_async, ["u1"], [{"cart_total": 1.0}])
    assert serving.stats.backend_calls == 0
    # Empty request data is none: the read goes through.
    (vector,) = await read(serving, use_async, ["u1"], [{}])
    assert vector.features["avg_order_value"] == 1.0


async def test_an_invalid_id_degrades_alone_and_the_rest_keep_their_request_data(
    use_async: bool,
) -> None:
    store = request_store(fail_ids=["bad"])
    serving = ServingClient(store, cache=CacheConfig())
    data = [{"cart_total": 10.0}, {"cart_total": 1.0}, {"cart_total": 100.0}]
    vectors = await read(serving, use_async, ["u1", "bad", "u2"], data)
    assert [v.statuses["cart_vs_aov"] for v in vectors] == [
        FeatureStatus.PRESENT,
        FeatureStatus.INVALID_ID,
        FeatureStatus.PRESENT,
    ]
    assert [v.features["cart_vs_aov"] for v in vectors] == [0.1, None, 2.0]
    assert store.calls[-1] == (["u1", "u2"], [{"cart_total": 10.0}, {"cart_total": 100.0}])


class _Broken(RequestDataStore):
    """Fails every read (after recording it), or blocks until released."""

    def __init__(self, *, block: threading.Event | None = None) -> None:
        super().__init__()
        self.block = block
        self.may_block = block is not None  # type: ignore[misc]

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        self.calls.append((list(entity_ids), None))
        if self.block is not None:
            self.block.wait(10)
        raise FeatureStoreUnavailableError("store down")

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        if self.block is not None:
            await asyncio.sleep(10)
        return self.get_batch_features(entity_ids, entity_type, feature_names)


async def test_outages_and_timeouts_degrade_as_without_request_data(use_async: bool) -> None:
    down = ServingClient(_Broken(), cache=CacheConfig())
    (vector,) = await read(down, use_async, ["u1"], [{"cart_total": 1.0}])
    assert vector.statuses["cart_vs_aov"] is FeatureStatus.UNAVAILABLE
    (again,) = await read(down, use_async, ["u1"], [{"cart_total": 1.0}])
    assert again.statuses["cart_vs_aov"] is FeatureStatus.UNAVAILABLE
    assert down.stats.backend_calls == 2  # degraded answers are not cached

    release = threading.Event()
    slow = ServingClient(_Broken(block=release), timeout_ms=20)
    try:
        (late,) = await read(slow, use_async, ["u1"], [{"cart_total": 1.0}])
    finally:
        release.set()
        slow.close()
    assert late.statuses["cart_vs_aov"] is FeatureStatus.TIMED_OUT
    assert slow.stats.timeouts == 1


async def test_without_fallback_failures_raise(use_async: bool) -> None:
    serving = ServingClient(_Broken(), fallback_on_timeout=False)
    with pytest.raises(FeatureStoreUnavailableError, match="store down"):
        await read(serving, use_async, ["u1"], [{"cart_total": 1.0}])
