"""FeastClient writes and pushes against real Feast repos (SQLite and Redis online stores).

The push repo (``tests/fixtures/feast_push_repo.py``) has a view whose source declares
a ``created_timestamp_column`` and push sources with a real parquet batch file (file
offline store); the example repo is built the way ``setup_store.py`` builds it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.base import EntityKey
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureValidationError,
)
from llm_featurestore.models import FeatureStatus
from tests.fixtures import feast_push_repo as pr
from tests.fixtures import feast_repo

pytestmark = pytest.mark.integration

PROFILE = [f"{pr.PROFILE_VIEW}:{f}" for f in pr.PROFILE_FEATURES]
ACTIVITY = [f"{pr.ACTIVITY_VIEW}:{f}" for f in pr.ACTIVITY_FEATURES]
FULL_PROFILE: dict[str, Any] = {
    "segment": "runner",
    "budget": 150.0,
    "purchases": 3,
    "recent_views": ["sku-1", "sku-2"],
}
_ids = itertools.count(20_000)


def new_id() -> str:
    """A fresh user id (the repos are shared by the session)."""
    return str(next(_ids))


def ago(**delta: float) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(**delta)


@pytest.fixture(params=["sqlite", "redis"])
def client(request: pytest.FixtureRequest) -> Iterator[FeastClient]:
    """Each test runs on both online stores."""
    with FeastClient(request.getfixturevalue(f"feast_push_{request.param}_repo")) as c:
        yield c  # type: ignore[misc]


@pytest.fixture
def sqlite_client(feast_push_sqlite_repo: Path) -> Iterator[FeastClient]:
    with FeastClient(feast_push_sqlite_repo) as c:
        yield c  # type: ignore[misc]


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def write(
    client: FeastClient,
    use_async: bool,
    eid: str,
    features: dict[str, Any],
    when: datetime | None = None,
) -> None:
    if use_async:
        await client.awrite_features(eid, "user", features, when)
    else:
        client.write_features(eid, "user", features, when)


async def push(client: FeastClient, use_async: bool, source: str, rows: Any, to: Any) -> Any:
    if use_async:
        return await client.apush(source, rows, to=to)
    return client.push(source, rows, to=to)


# ----------------------------------------------------------------- writes


async def test_a_view_with_a_created_timestamp_column_takes_writes(
    client: FeastClient, use_async: bool
) -> None:
    eid, when = new_id(), ago(minutes=5)
    await write(client, use_async, eid, FULL_PROFILE, when)
    vec = client.get_features(eid, "user", list(FULL_PROFILE))
    assert vec.features == FULL_PROFILE
    assert vec.event_timestamps == dict.fromkeys(FULL_PROFILE, when)
    assert set(vec.statuses.values()) == {FeatureStatus.PRESENT}


async def test_a_partial_write_merges_with_the_current_row(
    client: FeastClient, use_async: bool
) -> None:
    eid, first, second = new_id(), ago(minutes=30), ago(minutes=1)
    await write(client, use_async, eid, FULL_PROFILE, first)
    await write(client, use_async, eid, {"budget": 80.0, "recent_views": ["sku-9"]}, second)
    vec = client.get_features(eid, "user", list(FULL_PROFILE))
    assert vec.features == {**FULL_PROFILE, "budget": 80.0, "recent_views": ["sku-9"]}
    # The merged row gets the new event time, the values kept from the old row too.
    assert vec.event_timestamps == dict.fromkeys(FULL_PROFILE, second)


async def test_a_partial_write_to_an_entity_without_a_row_nulls_the_rest(
    client: FeastClient, use_async: bool
) -> None:
    eid = new_id()
    await write(client, use_async, eid, {"purchases": 7})
    vec = client.get_features(eid, "user", list(FULL_PROFILE))
    assert vec.features == {"segment": None, "budget": None, "purchases": 7, "recent_views": None}
    assert vec.statuses["purchases"] is FeatureStatus.PRESENT
    assert vec.statuses["segment"] is FeatureStatus.NULL_VALUE


def test_the_merge_keeps_values_past_the_views_ttl(client: FeastClient) -> None:
    eid = new_id()
    client.write_features(eid, "user", FULL_PROFILE, ago(days=3))  # ttl is one day
    assert set(client.get_features(eid, "user", PROFILE).statuses.values()) == {FeatureStatus.STALE}
    client.write_features(eid, "user", {"purchases": 4})
    vec = client.get_features(eid, "user", list(FULL_PROFILE))
    assert vec.features == {**FULL_PROFILE, "purchases": 4}
    assert set(vec.statuses.values()) == {FeatureStatus.PRESENT}


def test_a_write_of_only_nulls_to_an_entity_without_a_row_is_rejected(
    client: FeastClient,
) -> None:
    eid = new_id()
    with pytest.raises(
        FeatureValidationError,
        match=r"Every value written to feature view 'user_profile' is None; Feast would skip",
    ):
        client.write_features(eid, "user", {"budget": None})
    # With a row to merge, a null is a value like any other.
    client.write_features(eid, "user", {"budget": 5.0, "segment": "x"})
    client.write_features(eid, "user", {"budget": None})
    assert client.get_features(eid, "user", ["budget", "segment"]).features == {
        "budget": None,
        "segment": "x",
    }


def test_a_value_feast_refuses_is_a_validation_error_naming_the_view(
    client: FeastClient,
) -> None:
    eid = new_id()
    with pytest.raises(FeatureValidationError) as err:
        client.write_features(eid, "user", {**FULL_PROFILE, "recent_views": [1, 2]})
    message = str(err.value)
    assert "Feast write to feature view 'user_profile' was refused by Feast" in message
    assert "recent_views Array(String)" in message  # what to pass
    assert not isinstance(err.value, FeatureStoreUnavailableError)
    assert not client.get_features(eid, "user", PROFILE).found


def test_a_dead_online_store_is_an_outage_for_merges_and_pushes(
    tmp_path: Path, feast_push_sqlite_repo: Path
) -> None:
    dead = feast_repo.write_config(
        tmp_path,
        {"type": "sqlite", "path": str(tmp_path / "missing-dir" / "online.db")},
        project=pr.PROJECT,
        registry=feast_push_sqlite_repo / "registry.db",
    )
    client = FeastClient(dead)
    with pytest.raises(
        FeatureStoreUnavailableError,
        match=r"Feast write to feature view 'user_profile' \(reading the current row to merge\) "
        r"failed: OperationalError",
    ):
        client.write_features("1", "user", {"budget": 1.0})
    with pytest.raises(
        FeatureStoreUnavailableError, match=r"Feast push to 'activity_push' \(online\) failed"
    ):
        client.push(pr.ACTIVITY_PUSH, [{"user_id": 1, "last_query": "q", "turns": 1}])


# ----------------------------------------------------------------- pushes


async def test_push_online_returns_the_entities_and_reads_back(
    client: FeastClient, use_async: bool
) -> None:
    a, b = new_id(), new_id()
    rows = [
        {"user_id": int(a), "last_query": "old", "turns": 1, "event_timestamp": ago(minutes=9)},
        {"user_id": b, "last_query": "tents", "turns": 2},  # a string id, coerced to Int64
        {"user_id": int(a), "last_query": "boots", "turns": 3, "event_timestamp": ago(minutes=1)},
    ]
    keys = await push(client, use_async, pr.ACTIVITY_PUSH, rows, "online")
    assert keys == [EntityKey("user", a), EntityKey("user", b)]
    got = client.get_batch_features([a, b], "user", list(pr.ACTIVITY_FEATURES))
    assert [v.features for v in got] == [
        {"last_query": "boots", "turns": 3},
        {"last_query": "tents", "turns": 2},
    ]
    assert got[0].event_timestamps["turns"] == rows[2]["event_timestamp"]


def test_push_takes_a_dataframe_and_its_nan_is_a_null(client: FeastClient) -> None:
    import pandas as pd

    a, b = new_id(), new_id()
    frame = pd.DataFrame(
        {"user_id": [int(a), int(b)], "last_query": ["q", None], "turns": [1.0, float("nan")]}
    )
    frame["turns"] = frame["turns"].astype("Int64")
    assert client.push(pr.ACTIVITY_PUSH, frame) == [EntityKey("user", a), EntityKey("user", b)]
    got = client.get_batch_features([a, b], "user", ACTIVITY)
    assert [v.features for v in got] == [
        {ACTIVITY[0]: "q", ACTIVITY[1]: 1},
        {ACTIVITY[0]: None, ACTIVITY[1]: None},
    ]


def _offline_rows(repo: Path, user_id: int) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_parquet(repo / pr.ACTIVITY_FILE)
    return frame[frame["user_id"] == user_id].to_dict(orient="records")  # type: ignore[no-any-return]


async def test_push_offline_appends_to_the_batch_source_only(
    sqlite_client: FeastClient, feast_push_sqlite_repo: Path, use_async: bool
) -> None:
    import pandas as pd

    eid, when = new_id(), ago(minutes=3)
    rows = [{"user_id": int(eid), "last_query": "offline", "turns": 5, "event_timestamp": when}]
    await push(sqlite_client, use_async, pr.ACTIVITY_PUSH, rows, "offline")
    (stored,) = _offline_rows(feast_push_sqlite_repo, int(eid))
    assert (stored["last_query"], stored["turns"], stored["event_timestamp"]) == (
        "offline",
        5,
        when,
    )
    assert stored["created"] >= when  # the created column was filled with now
    assert not sqlite_client.get_features(eid, "user", ACTIVITY).found
    # Feast's own offline read sees it.
    entity_df = pd.DataFrame({"user_id": [int(eid)], "event_timestamp": [when + timedelta(1)]})
    history = sqlite_client.store.get_historical_features(
        entity_df=entity_df, features=ACTIVITY
    ).to_df()
    assert history[["last_query", "turns"]].to_dict(orient="records") == [
        {"last_query": "offline", "turns": 5}
    ]


def test_push_online_and_offline_writes_both(
    sqlite_client: FeastClient, feast_push_sqlite_repo: Path
) -> None:
    eid = new_id()
    rows = [{"user_id": int(eid), "last_query": "both", "turns": 8}]
    assert sqlite_client.push(pr.ACTIVITY_PUSH, rows, to="online_and_offline") == [
        EntityKey("user", eid)
    ]
    assert sqlite_client.get_features(eid, "user", ["turns"]).features == {"turns": 8}
    assert [r["turns"] for r in _offline_rows(feast_push_sqlite_repo, int(eid))] == [8]


def test_an_offline_push_without_its_batch_file_is_a_config_error(
    sqlite_client: FeastClient,
) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"Offline push to 'clicks_push' needs its batch source 'clicks_source' to exist: "
        r".*clicks\.parquet.*create it with the source's columns",
    ):
        sqlite_client.push(pr.CLICKS_PUSH, [{"user_id": 1, "clicks": 2}], to="offline")
    # Online, the same push source works.
    eid = new_id()
    sqlite_client.push(pr.CLICKS_PUSH, [{"user_id": int(eid), "clicks": 2}])
    assert sqlite_client.get_features(eid, "user", ["clicks"]).features == {"clicks": 2}


def test_an_offline_push_needs_exactly_the_batch_sources_columns(
    sqlite_client: FeastClient,
) -> None:
    from llm_featurestore.clients.feast.push import find_target, plan_push

    target = find_target(sqlite_client.store, pr.ACTIVITY_PUSH)
    row = {"user_id": 1, "last_query": "q", "turns": 1}
    now = ago(seconds=0)
    without_turns = ["user_id", "last_query", "event_timestamp", "created"]
    with pytest.raises(
        FeatureConfigError,
        match=r"Offline push to 'activity_push': its batch source 'activity_source' has no "
        r"column\(s\) turns \(its columns: user_id, last_query, event_timestamp, created\)",
    ):
        plan_push(target, [row], now, without_turns)
    with_region = [*target.columns(), "region"]
    with pytest.raises(
        FeatureValidationError,
        match=r"Row 0 of the offline push to 'activity_push' lacks column\(s\) region of its "
        r"batch source 'activity_source'",
    ):
        plan_push(target, [row], now, with_region)
    plan = plan_push(target, [{**row, "region": "eu"}], now, with_region)
    assert plan.frame["region"].tolist() == ["eu"]
    assert plan.keys == [EntityKey("user", "1")]


def test_unknown_push_sources_and_modes_list_the_valid_ones(client: FeastClient) -> None:
    row = [{"user_id": 1, "last_query": "q", "turns": 1}]
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown push source 'activity'\. Available for Feast project 'llmfs_push': "
        r"activity_push, clicks_push, idle_push",
    ):
        client.push("activity", row)
    with pytest.raises(
        FeatureConfigError,
        match=r"Push source 'idle_push' feeds no feature view in Feast project 'llmfs_push'",
    ):
        client.push(pr.IDLE_PUSH, row)
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown push mode 'both': use one of online, offline, online_and_offline",
    ):
        client.push(pr.ACTIVITY_PUSH, row, to="both")  # type: ignore[arg-type]


GOOD = {"user_id": 1, "last_query": "q", "turns": 1}
BAD_ROWS: dict[str, tuple[Any, str]] = {
    "not_rows": (GOOD, r"takes a list of row dicts or a pandas DataFrame, got dict; wrap one"),
    "no_rows": ([], r"The push to 'activity_push' has no rows: nothing to push"),
    "not_a_dict": ([GOOD, ["x"]], r"Row 1 of the push to 'activity_push' is a list, not a dict"),
    "non_string_column": ([{**GOOD, 3: "x"}], r"Row 0 .* column name that is not a string: 3"),
    "no_join_key": (
        [{"last_query": "q", "turns": 1}],
        r"Row 0 of the push to 'activity_push' lacks the join key 'user_id' of entity 'user'",
    ),
    "bad_id": (
        [{**GOOD, "user_id": "guest-1"}],
        r"Row 0 of the push to 'activity_push': Entity id 'guest-1' is not a valid Int64 "
        r"for join key 'user_id'",
    ),
    "long_id": (
        [{**GOOD, "user_id": "7" * 1025}],
        r"Row 0 of the push to 'activity_push': Entity id '7{40}'\.\.\. has 1,025 characters, "
        r"more than the limit of 1,024",
    ),
    "bool_id": (
        [{**GOOD, "user_id": True}],
        r"join key 'user_id' of entity 'user' must be an id \(a string or a number\), got bool",
    ),
    "unknown_column": (
        [{**GOOD, "lst_query": "q"}],
        r"Row 0 of the push to 'activity_push' has column\(s\) lst_query that its feature "
        r"views \(user_activity\) do not take\. Columns: created, event_timestamp, last_query",
    ),
    "missing_feature": (
        [GOOD, {"user_id": 2, "turns": 1}],
        r"Row 1 of the push to 'activity_push' lacks feature column\(s\) last_query of its "
        r"feature views \(user_activity\): a push writes whole rows",
    ),
    "bad_value": (
        [{**GOOD, "last_query": "a\x00b"}],
        r"Row 0 of the push to 'activity_push': Feature 'last_query': strings may not contain NUL",
    ),
    "wrong_type": (
        [{**GOOD, "turns": "two"}],
        r"Row 0 of the push to 'activity_push': Feature 'turns' is INT64 in Feast: expected an "
        r"integer, got str 'two'",
    ),
    "bad_timestamp": (
        [{**GOOD, "event_timestamp": "yesterday"}],
        r"timestamp column 'event_timestamp' must be a datetime \(or left out for now\), got str",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_bad_rows_are_validation_errors_and_nothing_is_pushed(
    sqlite_client: FeastClient, feast_push_sqlite_repo: Path, case: str
) -> None:
    rows, match = BAD_ROWS[case]
    before = len(_offline_rows(feast_push_sqlite_repo, 1))
    with pytest.raises(FeatureValidationError, match=match):
        sqlite_client.push(pr.ACTIVITY_PUSH, rows, to="online_and_offline")
    assert len(_offline_rows(feast_push_sqlite_repo, 1)) == before
    assert not sqlite_client.get_features("1", "user", ACTIVITY).found


def test_refresh_forgets_push_sources(tmp_path: Path) -> None:
    from feast import FeatureView, Field, PushSource
    from feast.types import Int64

    repo = pr.build_push_repo(tmp_path, feast_repo.sqlite_online_store(tmp_path))
    client = FeastClient(repo)
    with pytest.raises(FeatureConfigError, match="feeds no feature view"):
        client.push(pr.IDLE_PUSH, [{"user_id": 1, "n": 1}])
    idle = client.store.get_data_source(pr.IDLE_PUSH)
    assert isinstance(idle, PushSource)
    view = FeatureView(
        name="user_idle",
        entities=[client.store.get_entity("user")],
        schema=[Field(name="n", dtype=Int64)],
        source=idle,
    )
    client.store.apply([view])
    client.refresh()
    assert client.push(pr.IDLE_PUSH, [{"user_id": 1, "n": 1, "ts": ago(seconds=1)}]) == [
        EntityKey("user", "1")
    ]
    assert client.get_features("1", "user", ["n"]).features == {"n": 1}


# ----------------------------------------------------------------- the example repo


@pytest.fixture(scope="module")
def example_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from examples.shopping_assistant.setup_store import Workspace, setup_feature_store

    workspace = Workspace.create(tmp_path_factory.mktemp("example_writes"))
    setup_feature_store(workspace, n_users=20, n_products=10, log=lambda _: None)
    return workspace.feature_repo


def test_the_example_repo_takes_whole_and_partial_writes(example_repo: Path) -> None:
    client = FeastClient(example_repo)
    before = client.get_features("1001", "user", ["budget_limit", "email", "favorite_category"])
    client.write_features("1001", "user", {"favorite_category": "climbing"})
    after = client.get_features("1001", "user", ["budget_limit", "email", "favorite_category"])
    assert after.features == {**before.features, "favorite_category": "climbing"}
    client.write_features(
        "1004",
        "user",
        {
            "avg_order_value": 12.5,
            "purchases_30d": 2,
            "last_viewed_brand": "acme",
            "recent_purchases": ["p-1"],
            "recent_views": [],
        },
    )
    vec = client.get_features("1004", "user", ["recent_purchases", "purchases_30d"])
    assert vec.features == {"recent_purchases": ["p-1"], "purchases_30d": 2}
