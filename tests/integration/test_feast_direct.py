"""The direct read path gives what the Feast SDK path gives: value for value, status for status.

Every case is read twice at one frozen instant, by a ``FeastClient`` reading directly
and by one with ``direct_reads=False`` (the SDK path), on the same repo and online
store, and the vectors must be equal in full: values, statuses, event timestamps,
freshness, key order. The repos: the example repo (``tests/fixtures/feast_repo.py``:
an Int64 and a String join key, a stale row, a stored null, two views, a feature
service), ``feast init``'s (Float32, Int64, Map, Json and Struct features, two views),
and the types repo (every scalar and list type, nulls, a stale row). Each on SQLite
and on Redis; async too on Redis. Missing ids and duplicates are in every batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast.direct.reads import forget_logged
from llm_featurestore.models import FeatureStatus, FeatureVector
from tests.contract import harness as h
from tests.fixtures import feast_init_repo as fi
from tests.fixtures import feast_repo as fr
from tests.fixtures import feast_types_repo as ft

pytestmark = pytest.mark.integration

NOW = datetime.now(timezone.utc)
PRESENT = FeatureStatus.PRESENT
LOGGER = "llm_featurestore.clients.feast.direct"
Case = tuple[str, list[str], list[str]]

USER_IDS = ["1001", "1002", h.STALE_ID, h.MISSING_ID, fr.NULL_ID, "2005", "1001"]
EXAMPLE: list[Case] = [
    ("user", USER_IDS, fr.CONTRACT_REFS),
    ("user", ["1001"], fr.CONTRACT_REFS),
    ("user", [h.STALE_ID], fr.CONTRACT_REFS),
    ("user", [h.MISSING_ID], fr.CONTRACT_REFS),
    ("user", [fr.NULL_ID], ["favorite_category", "avg_order_value"]),
    (
        "user",
        USER_IDS,
        [
            "user_extra:last_viewed_brand",
            "favorite_category",
            "loyalty_tier",
            "user_stats:last_viewed_brand",
        ],
    ),
    ("user", USER_IDS, [fr.SERVICE]),
    ("user", ["1002", "1002"], ["purchases_30d", "user_stats:purchases_30d"]),
    ("product", ["sku-1", "no-such-sku", "sku-1"], ["title", "price"]),
    ("product", ["sku-1"], ["product_info:price"]),
]
DRIVER_IDS = [*fi.DRIVERS, fi.MISSING_DRIVER, fi.DRIVERS[0]]
STATS = "driver_hourly_stats"
FRESH_STATS = "driver_hourly_stats_fresh"
FEAST_INIT: list[Case] = [
    ("driver", DRIVER_IDS, [f"{STATS}:conv_rate", f"{STATS}:acc_rate", f"{STATS}:avg_daily_trips"]),
    ("driver", [fi.DRIVERS[1]], [f"{STATS}:conv_rate", f"{FRESH_STATS}:avg_daily_trips"]),
    ("driver", [fi.MISSING_DRIVER], [f"{STATS}:conv_rate"]),
    (
        "driver",
        DRIVER_IDS,
        [f"{STATS}:driver_metadata", f"{STATS}:driver_config", f"{STATS}:driver_profile"],
    ),
    ("driver", DRIVER_IDS, [f"{FRESH_STATS}:conv_rate", f"{STATS}:conv_rate"]),
]
ITEM_REFS = [f"{ft.ITEM_VIEW}:{name}" for name in ft.TYPES]
CODE_REFS = [f"{ft.CODE_VIEW}:{name}" for name in ft.TYPES]
ITEM_IDS = [*ft.ITEM_ROWS, ft.ITEM_NULLS, *ft.ITEM_STALE, *ft.ITEM_MISSING, "1"]
CODE_IDS = [*ft.CODE_ROWS, *ft.CODE_MISSING, "alpha"]
TYPES: list[Case] = [
    ("item", ITEM_IDS, ITEM_REFS),
    *(("item", [eid], ITEM_REFS) for eid in ITEM_IDS[:-1]),
    ("code", CODE_IDS, CODE_REFS),
    *(("code", [eid], CODE_REFS) for eid in CODE_IDS[:-1]),
]
REPOS: dict[str, tuple[str, str, list[Case]]] = {
    "example": ("feast_sqlite_repo", "feast_redis_repo", EXAMPLE),
    "feast_init": ("feast_init_repo", "feast_init_redis_repo", FEAST_INIT),
    "types": ("feast_types_sqlite_repo", "feast_types_redis_repo", TYPES),
}


@pytest.fixture(autouse=True)
def _frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both paths read at one instant, so freshness and ttl cut-offs compare exactly."""
    monkeypatch.setattr("llm_featurestore.clients.feast.client.utcnow", lambda: NOW)
    monkeypatch.setattr("llm_featurestore.clients.feast.direct.reads.utcnow", lambda: NOW)


class Pair:
    """A direct client and an SDK client of one repo, counting the SDK's reads."""

    def __init__(self, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.direct = FeastClient(repo)
        self.sdk = FeastClient(repo, direct_reads=False)
        self.sdk_reads = 0
        store = self.direct.store
        assert store is self.sdk.store
        sync, native = store.get_online_features, store.get_online_features_async

        def count(*args: Any, **kwargs: Any) -> Any:
            self.sdk_reads += 1
            return sync(*args, **kwargs)

        async def acount(*args: Any, **kwargs: Any) -> Any:
            self.sdk_reads += 1
            return await native(*args, **kwargs)

        monkeypatch.setattr(store, "get_online_features", count)
        monkeypatch.setattr(store, "get_online_features_async", acount)

    def close(self) -> None:
        self.direct.close()
        self.sdk.close()


def assert_same(direct: list[FeatureVector], sdk: list[FeatureVector]) -> None:
    assert [v.model_dump() for v in direct] == [v.model_dump() for v in sdk]
    assert [list(v.features) for v in direct] == [list(v.features) for v in sdk]


def _pair(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    repo_name, store_kind = request.param
    sqlite_fixture, redis_fixture, _ = REPOS[repo_name]
    repo = request.getfixturevalue(sqlite_fixture if store_kind == "sqlite" else redis_fixture)
    pair = Pair(repo, monkeypatch)
    yield pair
    pair.close()


@pytest.fixture(params=[(r, s) for r in REPOS for s in ("sqlite", "redis")], ids="-".join)
def pair(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    yield from _pair(request, monkeypatch)


@pytest.fixture(params=[(r, "redis") for r in REPOS], ids="-".join)
def redis_pair(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    yield from _pair(request, monkeypatch)


def cases_of(request: pytest.FixtureRequest) -> list[Case]:
    return REPOS[request.node.callspec.params[_param_name(request)][0]][2]


def _param_name(request: pytest.FixtureRequest) -> str:
    return "pair" if "pair" in request.node.callspec.params else "redis_pair"


SEEN: dict[str, set[FeatureStatus]] = {
    "example": {PRESENT, FeatureStatus.STALE, FeatureStatus.NOT_FOUND, FeatureStatus.NULL_VALUE},
    "feast_init": {PRESENT, FeatureStatus.NOT_FOUND},
    "types": {PRESENT, FeatureStatus.STALE, FeatureStatus.NOT_FOUND, FeatureStatus.NULL_VALUE},
}
"""The statuses each repo's cases must produce, so that parity covers each of them."""


def test_direct_reads_equal_sdk_reads(pair: Pair, request: pytest.FixtureRequest) -> None:
    seen: set[FeatureStatus] = set()
    for entity_type, ids, names in cases_of(request):
        before = pair.sdk_reads
        direct = pair.direct.get_batch_features(ids, entity_type, names)
        assert pair.sdk_reads == before, f"{names} went through the SDK"
        sdk = pair.sdk.get_batch_features(ids, entity_type, names)
        assert pair.sdk_reads == before + 1
        assert_same(direct, sdk)
        seen.update(status for vector in direct for status in vector.statuses.values())
    assert seen == SEEN[request.node.callspec.params["pair"][0]]


async def test_async_direct_reads_equal_sdk_reads(
    redis_pair: Pair, request: pytest.FixtureRequest
) -> None:
    for entity_type, ids, names in cases_of(request):
        before = redis_pair.sdk_reads
        direct = await redis_pair.direct.aget_batch_features(ids, entity_type, names)
        assert redis_pair.sdk_reads == before, f"{names} went through the SDK"
        sdk = await redis_pair.sdk.aget_batch_features(ids, entity_type, names)
        assert_same(direct, sdk)
        assert_same(direct, redis_pair.direct.get_batch_features(ids, entity_type, names))


def test_a_batch_of_one_view_costs_one_query_per_view_on_sqlite(
    feast_sqlite_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    client = FeastClient(feast_sqlite_repo)
    names = ["favorite_category", "loyalty_tier"]  # two views
    client.get_batch_features(USER_IDS, "user", names)
    statements: list[str] = []
    reader = client._direct.reader(None)
    conn: sqlite3.Connection = reader._connection()  # type: ignore[attr-defined]
    conn.set_trace_callback(statements.append)
    client.get_batch_features(USER_IDS, "user", names)
    conn.set_trace_callback(None)
    assert len(statements) == 2
    assert all("WHERE entity_key IN (" in sql for sql in statements)
    client.close()


def test_redis_reads_match_the_drivers_own_packing(
    feast_redis_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader packs its HMGETs itself once it has seen redis-py pack them alike;
    with its own packing off (as when they differ), it reads the same."""
    client = FeastClient(feast_redis_repo)
    packed = client.get_batch_features(USER_IDS, "user", fr.CONTRACT_REFS)
    reader = client._direct.reader(None)
    assert reader._own_packing is True  # type: ignore[attr-defined]
    reader._own_packing = False  # type: ignore[attr-defined]
    assert_same(client.get_batch_features(USER_IDS, "user", fr.CONTRACT_REFS), packed)
    client.close()


def test_on_demand_features_go_through_the_sdk_and_the_log_says_why_once(
    feast_init_repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    forget_logged()
    pair = Pair(feast_init_repo, monkeypatch)
    names = [f"{fi.PANDAS_VIEW}:conv_rate_plus_val1", f"{STATS}:conv_rate"]
    data = [{"val_to_add": 1, "val_to_add_2": 2}] * 2
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(2):
            direct = pair.direct.get_batch_features(
                fi.DRIVERS[:2], "driver", names, request_data=data
            )
    assert pair.sdk_reads == 2
    assert_same(
        direct, pair.sdk.get_batch_features(fi.DRIVERS[:2], "driver", names, request_data=data)
    )
    reasons = [r.getMessage() for r in caplog.records if "use the Feast SDK" in r.getMessage()]
    assert reasons == [
        f"Feast reads of project '{fi.PROJECT}' use the Feast SDK when on-demand feature view "
        f"'{fi.PANDAS_VIEW}' is computed by Feast"
    ]
    # The same client reads other names directly.
    before = pair.sdk_reads
    pair.direct.get_batch_features(fi.DRIVERS[:2], "driver", [f"{STATS}:conv_rate"])
    assert pair.sdk_reads == before
    pair.close()


def test_direct_reads_off_reads_through_the_sdk_and_says_so(
    feast_sqlite_repo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from llm_featurestore.config import load_client

    forget_logged()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        serving = load_client(
            {
                "provider": "feast",
                "feast": {"repo_path": str(feast_sqlite_repo), "direct_reads": False},
            }
        )
        backend = serving.backend
        assert isinstance(backend, FeastClient)
        assert backend.config.direct_reads is False
        pair = Pair(feast_sqlite_repo, monkeypatch)
        before = pair.sdk_reads
        backend.get_batch_features(["1001"], "user", fr.CONTRACT_REFS)
        assert pair.sdk_reads == before + 1
    assert [r.getMessage() for r in caplog.records] == [
        f"Feast reads of project '{fr.PROJECT}' use the Feast SDK: direct_reads: off"
    ]
    pair.close()
    serving.close()


def test_the_direct_reader_in_use_is_logged_once(
    feast_redis_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forget_logged()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(2):
            client = FeastClient(feast_redis_repo)
            client.get_features("1001", "user", fr.CONTRACT_REFS)
            client.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"Feast reads of project '{fr.PROJECT}' read the redis online store directly when they can"
    ]


def test_a_redis_connection_the_server_closed_is_replaced_at_once(
    feast_redis_repo: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each reading thread keeps a connection; when the server has closed it, the next
    read reconnects without waiting for the retry policy's backoff."""
    import redis
    import redis.retry

    client = FeastClient(feast_redis_repo)
    first = client.get_batch_features(USER_IDS, "user", fr.CONTRACT_REFS)
    admin = redis.Redis.from_url(redis_url)
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1

    def no_backoff(seconds: float) -> None:
        raise AssertionError(f"backed off {seconds}s")

    monkeypatch.setattr(redis.retry, "sleep", no_backoff)
    assert_same(client.get_batch_features(USER_IDS, "user", fr.CONTRACT_REFS), first)
    admin.close()
    client.close()
