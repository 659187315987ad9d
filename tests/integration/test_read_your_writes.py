"""Read-your-writes against a real redis-server: a write through the serving layer is
seen by the next read through its cache; a write made by another client is seen after
``invalidate`` or once the entity type's cache TTL ran out."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.serving import CacheConfig, ServingClient, VectorCache

pytestmark = pytest.mark.integration


@pytest.fixture
def stores(redis_url: str) -> Iterator[tuple[RedisFeatureStore, RedisFeatureStore]]:
    """Two clients of one namespace: the one behind the cache and "another process"."""
    namespace = f"ryw-{uuid.uuid4().hex[:8]}"
    mine, other = (RedisFeatureStore(redis_url, namespace=namespace) for _ in range(2))
    mine.write_features("u1", "user", {"tier": "silver"})
    mine.write_features("s1", "session", {"tier": "new"})
    yield mine, other
    mine.close()
    other.close()


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def read(serving: ServingClient, use_async: bool, etype: str, eid: str) -> object:
    if use_async:
        return (await serving.aget_features(eid, etype, ["tier"])).features["tier"]
    return serving.get_features(eid, etype, ["tier"]).features["tier"]


async def test_a_write_through_the_library_is_visible_on_the_next_cached_read(
    stores: tuple[RedisFeatureStore, RedisFeatureStore], use_async: bool
) -> None:
    mine, _ = stores
    serving = ServingClient(mine, cache=CacheConfig(ttl_seconds=3600), timeout_ms=5_000)
    assert await read(serving, use_async, "user", "u1") == "silver"
    assert await read(serving, use_async, "user", "u1") == "silver"
    if use_async:
        await serving.awrite_features("u1", "user", {"tier": "gold"})
    else:
        serving.write_features("u1", "user", {"tier": "gold"})
    assert await read(serving, use_async, "user", "u1") == "gold"
    assert serving.stats.cache_hits == 1
    assert serving.stats.backend_calls == 2


async def test_writes_made_elsewhere_need_invalidate_or_a_short_ttl(
    stores: tuple[RedisFeatureStore, RedisFeatureStore], use_async: bool
) -> None:
    mine, other = stores
    config = CacheConfig(ttl_seconds=3600, ttl_seconds_by_entity_type={"session": 10})
    clock = [0.0]
    serving = ServingClient(mine, cache=config, timeout_ms=5_000)
    serving.cache = VectorCache.from_config(config, clock=lambda: clock[0])
    assert await read(serving, use_async, "user", "u1") == "silver"
    assert await read(serving, use_async, "session", "s1") == "new"
    other.write_features("u1", "user", {"tier": "gold"})
    other.write_features("s1", "session", {"tier": "returning"})
    assert await read(serving, use_async, "user", "u1") == "silver"  # cached
    serving.invalidate("user", "u1")
    assert await read(serving, use_async, "user", "u1") == "gold"
    assert await read(serving, use_async, "session", "s1") == "new"
    clock[0] = 11.0  # past the session TTL, well within the user TTL
    assert await read(serving, use_async, "session", "s1") == "returning"
