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
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis
import redis.asyncio

from bench._timing import percentiles
from llm_featurestore.clients.redis import RedisFeatureStore
from tests.fixtures.servers import free_port, redis_server_on

NAMES = ["favorite_category", "avg_order_value", "purchases_30d"]
ENTITIES = 1000
BATCH = 100


def _paired(
    raw: Callable[[], Any], ours: Callable[[], Any], n: int, warmup: int = 100
) -> tuple[list[int], list[int]]:
    for _ in range(warmup):
        raw()
        ours()
    raw_ns: list[int] = []
    ours_ns: list[int] = []
    clock = time.perf_counter_ns
    for i in range(n):
        order = ((raw, raw_ns), (ours, ours_ns)) if i % 2 else ((ours, ours_ns), (raw, raw_ns))
        for fn, samples in order:
            start = clock()
            fn()
            samples.append(clock() - start)
    return raw_ns, ours_ns


async def _apaired(
    raw: Callable[[], Awaitable[Any]],
    ours: Callable[[], Awaitable[Any]],
    n: int,
    warmup: int = 100,
) -> tuple[list[int], list[int]]:
    for _ in range(warmup):
        await raw()
        await ours()
    raw_ns: list[int] = []
    ours_ns: list[int] = []
    clock = time.perf_counter_ns
    for i in range(n):
        order = ((raw, raw_ns), (ours, ours_ns)) if i % 2 else ((ours, ours_ns), (raw, raw_ns))
        for fn, samples in order:
            start = clock()
            await fn()
            samples.append(clock() - start)
    return raw_ns, ours_ns


def _rows(case: str, raw_case: str, raw_ns: list[int], ours_ns: list[int]) -> list[dict[str, Any]]:
    raw_p50, raw_p99 = percentiles(raw_ns)
    p50, p99 = percentiles(ours_ns)
    return [
        {
            "case": raw_case,
            "p50_us": round(raw_p50, 1),
            "p99_us": round(raw_p99, 1),
            "ratio_vs_raw": 1.0,
        },
        {
            "case": case,
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "ratio_vs_raw": round(p50 / raw_p50, 2),
        },
    ]


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

    rows = _rows(
        "RedisFeatureStore.get_features, 1 entity",
        "raw redis-py HGETALL, 1 entity (baseline)",
        *_paired(lambda: raw.hgetall(key), lambda: store.get_features("7", "user", NAMES), n),
    )
    rows += _rows(
        f"RedisFeatureStore.get_batch_features, {BATCH} entities",
        f"raw redis-py pipeline of {BATCH} HGETALL (baseline)",
        *_paired(raw_batch, lambda: store.get_batch_features(ids, "user", NAMES), n),
    )

    async def async_pair() -> tuple[list[int], list[int]]:
        araw = redis.asyncio.Redis.from_url(url)
        try:
            return await _apaired(
                lambda: araw.hgetall(key), lambda: store.aget_features("7", "user", NAMES), n
            )
        finally:
            await araw.aclose()  # type: ignore[attr-defined]

    rows += _rows(
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
