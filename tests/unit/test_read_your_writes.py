"""Read-your-writes through the serving layer: writes and pushes forget the cache entries
of what they touched, ``invalidate`` does it for writes made elsewhere, and a per-type
cache TTL bounds how stale a read of another process's writes can be."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from llm_featurestore.clients.base import EntityKey, PushableFeatureStore, PushMode
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.config import load_client
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving import CacheConfig, ServingClient, VectorCache
from tests.request_store import request_store


class LocalPush(LocalFeatureStore, PushableFeatureStore):
    """A local store with push sources: ``{source: (entity type, join key)}``."""

    def __init__(self, sources: Mapping[str, tuple[str, str]]) -> None:
        super().__init__()
        self.sources = dict(sources)

    def push(self, push_source: str, rows: Any, *, to: PushMode = "online") -> list[EntityKey]:
        entity_type, join_key = self.sources[push_source]
        keys: list[EntityKey] = []
        for row in rows:
            values = {k: v for k, v in row.items() if k != join_key}
            self.write_features(str(row[join_key]), entity_type, values)
            key = EntityKey(entity_type, str(row[join_key]))
            if key not in keys:
                keys.append(key)
        return keys


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def tier(serving: ServingClient, use_async: bool, eid: str = "u1") -> Any:
    if use_async:
        vector: FeatureVector = await serving.aget_features(eid, "user", ["tier"])
    else:
        vector = serving.get_features(eid, "user", ["tier"])
    return vector.features["tier"]


def cached(backend: LocalFeatureStore, clock: list[float], **config: Any) -> ServingClient:
    serving = ServingClient(backend, cache=CacheConfig(**config))
    serving.cache = VectorCache.from_config(CacheConfig(**config), clock=lambda: clock[0])
    return serving


async def test_a_write_through_the_library_is_read_back_through_the_cache(
    use_async: bool,
) -> None:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"tier": "silver"})
    serving = cached(store, [0.0], ttl_seconds=3600)
    assert await tier(serving, use_async) == "silver"
    if use_async:
        await serving.awrite_features("u1", "user", {"tier": "gold"})
    else:
        serving.write_features("u1", "user", {"tier": "gold"})
    assert await tier(serving, use_async) == "gold"


async def test_a_push_forgets_every_entity_it_touched(use_async: bool) -> None:
    store = LocalPush({"user_push": ("user", "user_id")})
    for eid in ("u1", "u2", "u3"):
        store.write_features(eid, "user", {"tier": "silver"})
    serving = cached(store, [0.0], ttl_seconds=3600)
    assert [await tier(serving, use_async, e) for e in ("u1", "u2", "u3")] == ["silver"] * 3
    rows = [{"user_id": "u1", "tier": "gold"}, {"user_id": "u2", "tier": "gold"}]
    if use_async:
        keys = await serving.apush("user_push", rows)
    else:
        keys = serving.push("user_push", rows, to="online")
    assert keys == [EntityKey("user", "u1"), EntityKey("user", "u2")]
    assert [await tier(serving, use_async, e) for e in ("u1", "u2", "u3")] == [
        "gold",
        "gold",
        "silver",  # untouched: still served from the cache
    ]
    assert serving.stats.cache_hits == 1


async def test_push_needs_a_backend_with_push_sources(use_async: bool) -> None:
    serving = ServingClient(LocalFeatureStore())
    push = serving.apush if use_async else serving.push
    with pytest.raises(FeatureConfigError) as caught:
        await _maybe(push("user_push", [{"user_id": "u1"}]))
    assert str(caught.value) == (
        "The LocalFeatureStore backend has no push sources; push through a backend that "
        "has them (feast, feast_http), or write the features with write_features"
    )


async def _maybe(result: Any) -> Any:
    return await result if asyncio.iscoroutine(result) else result


def test_writes_need_a_writable_backend() -> None:
    serving = ServingClient(ServingClient(LocalFeatureStore()))
    with pytest.raises(FeatureConfigError, match=r"The ServingClient backend is read-only; .*"):
        serving.write_features("u1", "user", {"tier": "gold"})
    with pytest.raises(FeatureConfigError, match=r"writable: local, redis, feast, feast_http\)"):
        serving.write_features("u1", "user", {"tier": "gold"})


async def test_invalidate_one_entity_or_a_whole_type_for_writes_made_elsewhere(
    use_async: bool,
) -> None:
    store = LocalFeatureStore()
    for eid in ("u1", "u2"):
        store.write_features(eid, "user", {"tier": "silver"})
    store.write_features("o1", "org", {"tier": "team"})
    serving = cached(store, [0.0], ttl_seconds=3600)
    for eid in ("u1", "u2"):
        await tier(serving, use_async, eid)
    serving.get_features("o1", "org", ["tier"])
    for eid in ("u1", "u2"):
        store.write_features(eid, "user", {"tier": "gold"})  # elsewhere: the cache cannot know
    assert await tier(serving, use_async, "u1") == "silver"
    assert serving.invalidate("user", "u1") == 1
    assert await tier(serving, use_async, "u1") == "gold"
    assert await tier(serving, use_async, "u2") == "silver"
    assert serving.invalidate("user") == 2  # u1 (read again) and u2; org o1 stays
    assert await tier(serving, use_async, "u2") == "gold"
    assert serving.invalidate("nobody") == 0
    assert serving.cache is not None
    assert len(serving.cache) == 2
    assert ServingClient(store).invalidate("user") == 0  # no cache: nothing to forget


def test_invalidate_drops_entries_of_every_request_data() -> None:
    serving = ServingClient(request_store(), cache=CacheConfig())
    for total in (10.0, 20.0):
        serving.get_features("u1", "user", ["cart_vs_aov"], request_data={"cart_total": total})
    serving.get_features("u1", "user", ["tier"])
    assert serving.invalidate("user", "u1") == 3


async def test_per_type_ttl_bounds_staleness_of_writes_made_elsewhere(use_async: bool) -> None:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"tier": "silver"})
    store.write_features("s1", "session", {"tier": "new"})
    clock = [0.0]
    serving = cached(store, clock, ttl_seconds=300, ttl_seconds_by_entity_type={"session": 5})
    assert await tier(serving, use_async) == "silver"
    assert serving.get_features("s1", "session", ["tier"]).features["tier"] == "new"
    store.write_features("u1", "user", {"tier": "gold"})
    store.write_features("s1", "session", {"tier": "returning"})
    clock[0] = 6.0
    assert serving.get_features("s1", "session", ["tier"]).features["tier"] == "returning"
    assert await tier(serving, use_async) == "silver"  # the user TTL has not run out
    clock[0] = 301.0
    assert await tier(serving, use_async) == "gold"


def test_per_type_ttl_from_the_yaml_cache_section() -> None:
    serving = load_client(
        {
            "provider": "local",
            "cache": {"ttl_seconds": 60, "ttl_seconds_by_entity_type": {"session": 2.5}},
        }
    )
    assert serving.cache is not None
    assert serving.cache.ttl_for("session") == 2.5
    assert serving.cache.ttl_for("user") == 60


@pytest.mark.parametrize("bad", [0, -1, "soon"])
def test_a_bad_per_type_ttl_names_its_key(bad: Any) -> None:
    with pytest.raises(FeatureConfigError) as caught:
        load_client({"provider": "local", "cache": {"ttl_seconds_by_entity_type": {"s": bad}}})
    assert "feature_store.cache.ttl_seconds_by_entity_type.s:" in str(caught.value)
    with pytest.raises(FeatureConfigError, match=r"ttl_seconds_by_entity_type\.s"):
        CacheConfig(ttl_seconds_by_entity_type={"s": bad})
