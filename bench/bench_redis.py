"""RedisFeatureStore against the raw redis-py calls it wraps, on a real local redis-server.

Cases (3 features per entity, the same hashes for both sides):

* single entity: ``get_features`` vs raw ``HGETALL``;
* 100 entities: ``get_batch_features`` vs a raw non-transactional pipeline of ``HGETALL``;
* async single entity: ``aget_features`` vs raw ``redis.asyncio`` ``HGETALL``.

Each pair is timed interleaved (raw, ours, raw, ours, ... alternating which goes first)
in the same run, so ``ratio_vs_raw`` (our p50 over the raw p50) is not skewed by drift.
The raw side only fetches bytes; ours also decodes JSON, checks freshness and builds
validated :class:`FeatureVector` objects. Target: ratio_vs_raw <= 1.2.
"""

from __future__ import annotations

import asyncio
import tempfile
from typing import Any

import redis
import redis.asyncio

from bench._timing import apaired, pair_rows, paired
from llm_featurestore.clients.redis import RedisFeatureStore
from tests.fixtures.servers import free_port, redis_server_on

NAMES = ["favorite_category", "avg_order_value", "purchases_30d"]
ENTITIES = 1000
BATCH = 100


def _measure(url: str, n: int) -> list[dict[str, Any]]:
    store = RedisFeatureStore(url, namespace="bench")
    for i in range(ENTITIES):
        store.write_features(
            str(i),
            "user",
            {"favorite_category": f"cat-{i}", "avg_order_value": i + 0.5, "purchases_30d": i % 7},
        )
    raw = redis.Redis.from_url(url)
    key = store.key("user", "7")
    ids = [str(i) for i in range(BATCH)]
    keys = [store.key("user", eid) for eid in ids]

    def raw_batch() -> list[Any]:
        pipe = raw.pipeline(transaction=False)
        for k in keys:
            pipe.hgetall(k)
        return pipe.execute()  # type: ignore[no-any-return]

    rows = pair_rows(
        "RedisFeatureStore.get_features, 1 entity",
        "raw redis-py HGETALL, 1 entity (baseline)",
        *paired(lambda: raw.hgetall(key), lambda: store.get_features("7", "user", NAMES), n),
    )
    rows += pair_rows(
        f"RedisFeatureStore.get_batch_features, {BATCH} entities",
        f"raw redis-py pipeline of {BATCH} HGETALL (baseline)",
        *paired(raw_batch, lambda: store.get_batch_features(ids, "user", NAMES), n),
    )

    async def async_pair() -> tuple[list[int], list[int]]:
        araw = redis.asyncio.Redis.from_url(url)
        try:
            return await apaired(
                lambda: araw.hgetall(key), lambda: store.aget_features("7", "user", NAMES), n
            )
        finally:
            await araw.aclose()  # type: ignore[attr-defined]

    rows += pair_rows(
        "RedisFeatureStore.aget_features, 1 entity",
        "raw redis.asyncio HGETALL, 1 entity (baseline)",
        *asyncio.run(async_pair()),
    )
    raw.close()
    store.close()
    return rows


def run(n: int = 500) -> list[dict[str, Any]]:
    """Start a redis-server on a free loopback port, measure, stop it; one row per case."""
    with tempfile.TemporaryDirectory() as tmp, redis_server_on(free_port(), tmp) as url:
        return _measure(url, n)


if __name__ == "__main__":  # pragma: no cover
    for r in run():
        print(r)
