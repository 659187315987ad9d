"""Serving-layer costs: cache hits, the sync timeout guard, and coalescing on Feast + Redis.

Baselines are timed in the same run: the bare backend call for overhead ratios, and
100 concurrent uncoalesced lookups for the coalescing speed-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._timing import pair_rows, paired, row, time_async, time_sync
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.serving import CacheConfig, CoalesceConfig, ServingClient

NAMES = ["favorite_category", "avg_order_value", "purchases_30d"]


def _local_rows(n: int) -> list[dict[str, Any]]:
    store = LocalFeatureStore()
    for i in range(1000):
        store.write_features(
            str(i),
            "user",
            {"favorite_category": f"c{i}", "avg_order_value": i + 0.5, "purchases_30d": i},
        )
    raw = time_sync(lambda: store.get_features("7", "user", NAMES), n)
    inline = ServingClient(store)  # in-process store: read inline despite the timeout
    cached = ServingClient(store, cache=CacheConfig())
    return [
        row("local: bare backend read (baseline)", *raw),
        row(
            "local: ServingClient (timeout set, read inline)",
            *time_sync(lambda: inline.get_features("7", "user", NAMES), n),
            raw[0],
        ),
        row(
            "cache hit, sync (target p50 <= 20 us)",
            *time_sync(lambda: cached.get_features("7", "user", NAMES), n),
            raw[0],
        ),
        row(
            "cache hit, async",
            *time_async(lambda: cached.aget_features("7", "user", NAMES), n),
            raw[0],
        ),
    ]


def _feast_sqlite_rows(n: int) -> list[dict[str, Any]]:
    """The full stack ``load_client`` builds (ServingClient over FeastClient) vs raw Feast."""
    from llm_featurestore.clients.feast import FeastClient
    from tests.fixtures import feast_repo

    with tempfile.TemporaryDirectory() as tmp:
        repo = feast_repo.build_repo(
            Path(tmp) / "repo", feast_repo.sqlite_online_store(Path(tmp)), project="bench_stack"
        )
        client = FeastClient(repo)
        feast_repo.populate(client.store)
        rows = {"user_id": [1001]}

        def raw() -> Any:
            return client.store.get_online_features(
                features=feast_repo.CONTRACT_REFS, entity_rows=rows
            )

        guarded = ServingClient(client)  # default: 200 ms timeout on a worker thread
        inline = ServingClient(client, timeout_ms=None)
        refs = feast_repo.CONTRACT_REFS
        out = pair_rows(
            "feast sqlite: ServingClient(FeastClient), sync, timeout on a worker thread",
            "feast sqlite: raw get_online_features, 1 entity (baseline)",
            *paired(raw, lambda: guarded.get_features("1001", "user", refs), n),
        )
        out += pair_rows(
            "feast sqlite: ServingClient(FeastClient), sync, timeout_ms=None (inline)",
            "feast sqlite: raw get_online_features, 1 entity (baseline)",
            *paired(raw, lambda: inline.get_features("1001", "user", refs), n),
        )
        guarded.close()
    return out


@contextlib.contextmanager
def _feast_on_redis() -> Iterator[Any]:
    from llm_featurestore.clients.feast import FeastClient
    from tests.fixtures import feast_repo
    from tests.fixtures.servers import free_port, redis_server_on

    with (
        tempfile.TemporaryDirectory() as tmp,
        redis_server_on(free_port(), tmp) as url,
    ):
        repo = feast_repo.build_repo(
            Path(tmp) / "repo", feast_repo.redis_online_store(url, db=0), project="bench_serving"
        )
        client = FeastClient(repo)
        feast_repo.populate(client.store)
        yield client


def _coalescing_rows(rounds: int) -> list[dict[str, Any]]:
    from tests.contract import harness as h

    ids = sorted(h.BULK)[:100]
    with _feast_on_redis() as client:
        plain = ServingClient(client, timeout_ms=5_000)
        windowed = ServingClient(
            client, timeout_ms=5_000, coalesce=CoalesceConfig(window_ms=1.0, max_batch=128)
        )
        same_tick = ServingClient(
            client, timeout_ms=5_000, coalesce=CoalesceConfig(window_ms=0.0, max_batch=128)
        )

        async def burst(serving: ServingClient) -> float:
            start = time.perf_counter()
            vectors = await asyncio.gather(*(serving.aget_features(i, "user", NAMES) for i in ids))
            elapsed = time.perf_counter() - start
            assert [v.entity_id for v in vectors] == ids
            return elapsed

        async def measure(serving: ServingClient) -> list[float]:
            for _ in range(3):
                await burst(serving)
            return [await burst(serving) for _ in range(rounds)]

        plain_t = asyncio.run(measure(plain))
        windowed_t = asyncio.run(measure(windowed))
        tick_t = asyncio.run(measure(same_tick))
        enrich_plain_t, enrich_tick_t = _enrich_bursts(plain, same_tick, ids, rounds)
        for serving in (plain, windowed, same_tick):
            serving.close()

    def summary(case: str, times: list[float], baseline: list[float] = plain_t) -> dict[str, Any]:
        p50 = statistics.median(times)
        base = statistics.median(baseline)
        return {
            "case": case,
            "p50_us": round(p50 * 1e6, 1),
            "p99_us": round(sorted(times)[int(0.99 * (len(times) - 1))] * 1e6, 1),
            "ratio_vs_raw": round(p50 / base, 3),
            "lookups_per_s": round(100 / p50),
            "speedup": round(base / p50, 1),
        }

    return [
        summary("feast+redis: 100 concurrent async lookups, uncoalesced (baseline)", plain_t),
        summary("feast+redis: same, coalesced, window_ms=1", windowed_t),
        summary("feast+redis: same, coalesced, window_ms=0 (same loop tick)", tick_t),
        summary(
            "feast+redis: 100 concurrent aenrich(), uncoalesced (baseline)",
            enrich_plain_t,
            enrich_plain_t,
        ),
        summary(
            "feast+redis: same, coalesced, window_ms=0 (target >= 4x)",
            enrich_tick_t,
            enrich_plain_t,
        ),
    ]


def _enrich_bursts(
    plain: ServingClient, coalesced: ServingClient, ids: list[str], rounds: int
) -> tuple[list[float], list[float]]:
    """100 concurrent ``aenrich`` calls for distinct users, without and with coalescing."""
    from llm_featurestore.enricher import EnricherConfig, FeatureEnricher

    config = EnricherConfig(task_features={"shop": {"user": NAMES}})

    async def measure(serving: ServingClient) -> list[float]:
        enricher = FeatureEnricher(serving, config)

        async def burst() -> float:
            start = time.perf_counter()
            results = await asyncio.gather(
                *(enricher.aenrich("q", user_id=i, task_type="shop") for i in ids)
            )
            elapsed = time.perf_counter() - start
            assert all(r.store_available for r in results)
            return elapsed

        for _ in range(3):
            await burst()
        return [await burst() for _ in range(rounds)]

    return asyncio.run(measure(plain)), asyncio.run(measure(coalesced))


def run(n: int = 2000) -> list[dict[str, Any]]:
    return (
        _local_rows(n) + _feast_sqlite_rows(max(200, n // 4)) + _coalescing_rows(max(20, n // 20))
    )


if __name__ == "__main__":
    from bench.__main__ import render

    print(render("serving", run()))
