"""FeastHttpClient writes (``/write-to-online-store``) and pushes (``/push``) against a real
``feast serve`` of the push repo (SQLite online store, file offline store), sync and async."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.base import EntityKey
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
    InvalidEntityIdError,
)
from llm_featurestore.models import FeatureStatus
from tests.fixtures import feast_push_repo as pr
from tests.fixtures.servers import free_port, silent_tcp_server

pytestmark = pytest.mark.integration

PROFILE = [f"{pr.PROFILE_VIEW}:{f}" for f in pr.PROFILE_FEATURES]
ACTIVITY = [f"{pr.ACTIVITY_VIEW}:{f}" for f in pr.ACTIVITY_FEATURES]
FULL: dict[str, Any] = {
    "user_profile:segment": "hiker",
    "user_profile:budget": 90.0,
    "user_profile:purchases": 2,
    "user_profile:recent_views": ["sku-3"],
}
_ids = itertools.count(40_000)


def new_id() -> str:
    return str(next(_ids))


def ago(**delta: float) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(**delta)


@pytest.fixture(scope="module")
def kwargs(feast_push_sqlite_repo: Path) -> dict[str, Any]:
    return pr.http_kwargs(feast_push_sqlite_repo)


@pytest.fixture
def client(feast_push_server_url: str, kwargs: dict[str, Any]) -> Iterator[FeastHttpClient]:
    c = FeastHttpClient(feast_push_server_url, **kwargs)
    yield c
    c.close()


@pytest.fixture
def bare(feast_push_server_url: str) -> Iterator[FeastHttpClient]:
    """No features mapping: partial writes cannot merge."""
    c = FeastHttpClient(feast_push_server_url)
    yield c
    c.close()


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def write(
    client: FeastHttpClient,
    use_async: bool,
    eid: str,
    features: dict[str, Any],
    when: datetime | None = None,
) -> None:
    if use_async:
        await client.awrite_features(eid, "user", features, when)
    else:
        client.write_features(eid, "user", features, when)


async def push(
    client: FeastHttpClient, use_async: bool, source: str, rows: Any, to: Any = "online"
) -> list[EntityKey]:
    if use_async:
        return await client.apush(source, rows, to=to)
    return client.push(source, rows, to=to)


def offline_rows(repo: Path, user_id: int) -> list[dict[str, Any]]:
    import pandas as pd

    frame = pd.read_parquet(repo / pr.ACTIVITY_FILE)
    return frame[frame["user_id"] == user_id].to_dict(orient="records")  # type: ignore[no-any-return]


# ----------------------------------------------------------------- /write-to-online-store


async def test_write_then_read_back_over_http(client: FeastHttpClient, use_async: bool) -> None:
    eid, when = new_id(), ago(minutes=4)
    await write(client, use_async, eid, FULL, when)
    vec = client.get_features(eid, "user", PROFILE)
    assert vec.features == FULL
    assert vec.event_timestamps == dict.fromkeys(PROFILE, when)


async def test_a_partial_write_merges_the_row_read_over_http(
    client: FeastHttpClient, use_async: bool, feast_push_sqlite_repo: Path
) -> None:
    eid, first, second = new_id(), ago(minutes=20), ago(minutes=2)
    await write(client, use_async, eid, FULL, first)
    await write(client, use_async, eid, {"budget": 10.0}, second)  # a bare name, via features
    vec = client.get_features(eid, "user", PROFILE)
    assert vec.features == {**FULL, "user_profile:budget": 10.0}
    assert vec.event_timestamps == dict.fromkeys(PROFILE, second)
    # The SDK sees the same row.
    sdk = FeastClient(feast_push_sqlite_repo).get_features(eid, "user", PROFILE)
    assert sdk.features == vec.features


async def test_a_partial_write_to_an_entity_without_a_row_nulls_the_rest(
    client: FeastHttpClient, use_async: bool
) -> None:
    eid = new_id()
    await write(client, use_async, eid, {"user_profile:purchases": 1})
    vec = client.get_features(eid, "user", PROFILE)
    assert vec.features == {**dict.fromkeys(PROFILE), "user_profile:purchases": 1}


def test_without_a_features_mapping_a_partial_write_says_what_to_pass(
    bare: FeastHttpClient,
) -> None:
    with pytest.raises(FeatureValidationError) as err:
        bare.write_features(new_id(), "user", {"user_profile:budget": 1.0})
    message = str(err.value)
    assert "refused a write to feature view 'user_profile'" in message
    assert "not in index" in message  # the server's words
    assert "Pass every feature of view 'user_profile'" in message
    assert "FeastHttpClient(features={'user': [...]})" in message
    with pytest.raises(FeatureConfigError, match="Cannot write the bare feature name 'budget'"):
        bare.write_features(new_id(), "user", {"budget": 1.0})


def sdk(repo: Path) -> FeastClient:
    """Checks after an error answer read through the SDK: Feast's server closes the
    connection after an error answer, and a read on it (this client's reads have
    ``retries=0``) could meet the closed connection."""
    return FeastClient(repo)


def test_a_value_of_the_wrong_type_is_refused_as_a_validation_error(
    client: FeastHttpClient, feast_push_sqlite_repo: Path
) -> None:
    eid = new_id()
    with pytest.raises(FeatureValidationError, match=r"invalid literal for int\(\).*'three'"):
        client.write_features(eid, "user", {**FULL, "user_profile:purchases": "three"})
    with pytest.raises(FeatureValidationError, match=r"is of type <class 'int'>"):
        client.write_features(eid, "user", {**FULL, "user_profile:recent_views": [1]})
    assert not sdk(feast_push_sqlite_repo).get_features(eid, "user", PROFILE).found


def test_an_id_the_join_key_cannot_take_is_an_invalid_id(bare: FeastHttpClient) -> None:
    with pytest.raises(InvalidEntityIdError, match=r"could not use the entity id of 'user'"):
        bare.write_features("guest-1", "user", FULL)


def test_wrong_timestamp_columns_name_the_setting(
    feast_push_server_url: str, kwargs: dict[str, Any]
) -> None:
    with (
        FeastHttpClient(
            feast_push_server_url, timestamp_columns={"user_profile": ["ts"]}, **kwargs
        ) as wrong,
        pytest.raises(FeatureValidationError) as err,
    ):
        wrong.write_features(new_id(), "user", FULL)
    assert 'Field "event_timestamp" does not exist in schema' in str(err.value)
    assert "FeastHttpClient(timestamp_columns={'user_profile': [" in str(err.value)


def test_an_unknown_view_is_a_config_error(bare: FeastHttpClient) -> None:
    with pytest.raises(FeatureConfigError, match="does not know the target of a write"):
        bare.write_features(new_id(), "user", {"user_prof:budget": 1.0})


def test_writes_keep_working_after_error_answers(
    client: FeastHttpClient, feast_push_sqlite_repo: Path
) -> None:
    # Feast's server closes the connection after an error answer; the next write on
    # the pooled connection must not fail for it.
    for _ in range(5):
        with pytest.raises(FeatureValidationError):
            client.write_features(new_id(), "user", {"user_profile:recent_views": [1]})
        eid = new_id()
        client.write_features(eid, "user", {"user_profile:budget": 2.0})
        pushed = new_id()
        client.push(pr.ACTIVITY_PUSH, [{"user_id": pushed, "last_query": "q", "turns": 1}])
        with pytest.raises(FeatureValidationError):
            client.push(pr.ACTIVITY_PUSH, [{"user_id": 1, "turns": 1}], to="offline")
        client.write_features(eid, "user", {"user_profile:purchases": 2})
        vec = sdk(feast_push_sqlite_repo).get_features(eid, "user", ["budget", "purchases"])
        assert vec.features == {"budget": 2.0, "purchases": 2}


# ----------------------------------------------------------------- /push


async def test_push_online_over_http(client: FeastHttpClient, use_async: bool) -> None:
    import pandas as pd

    a, b = new_id(), new_id()
    frame = pd.DataFrame({"user_id": [int(a), int(b)], "last_query": ["x", "y"], "turns": [1, 2]})
    assert await push(client, use_async, pr.ACTIVITY_PUSH, frame) == [
        EntityKey("user", a),
        EntityKey("user", b),
    ]
    got = client.get_batch_features([a, b], "user", ACTIVITY)
    assert [v.features for v in got] == [
        {ACTIVITY[0]: "x", ACTIVITY[1]: 1},
        {ACTIVITY[0]: "y", ACTIVITY[1]: 2},
    ]
    assert all(s is FeatureStatus.PRESENT for v in got for s in v.statuses.values())


async def test_push_offline_and_both_over_http(
    client: FeastHttpClient, use_async: bool, feast_push_sqlite_repo: Path
) -> None:
    off, both, when = new_id(), new_id(), ago(minutes=6)
    row = {"last_query": "q", "turns": 3, "event_timestamp": when}
    await push(client, use_async, pr.ACTIVITY_PUSH, [{"user_id": int(off), **row}], "offline")
    await push(
        client, use_async, pr.ACTIVITY_PUSH, [{"user_id": int(both), **row}], "online_and_offline"
    )
    (stored,) = offline_rows(feast_push_sqlite_repo, int(off))
    assert (stored["turns"], stored["event_timestamp"]) == (3, when)
    assert [r["turns"] for r in offline_rows(feast_push_sqlite_repo, int(both))] == [3]
    assert not client.get_features(off, "user", ACTIVITY).found
    assert client.get_features(both, "user", ACTIVITY).features == {
        ACTIVITY[0]: "q",
        ACTIVITY[1]: 3,
    }


def test_push_errors_over_http(client: FeastHttpClient) -> None:
    good = [{"user_id": 1, "last_query": "q", "turns": 1}]
    with pytest.raises(
        FeatureConfigError, match=r"does not know the target of a push to 'nope' \(online\)"
    ):
        client.push("nope", good)
    with pytest.raises(FeatureValidationError, match=r"refused a push.*\['last_query'\] not in"):
        client.push(pr.ACTIVITY_PUSH, [{"user_id": 1, "turns": 1}])
    with pytest.raises(
        FeatureValidationError, match=r"missing_expected_columns: \['last_query'\]"
    ) as err:
        client.push(pr.ACTIVITY_PUSH, [{"user_id": 1, "turns": 1}], to="offline")
    assert "exactly its batch source's columns" in str(err.value)
    with pytest.raises(
        FeatureStoreUnavailableError, match=r"failed serving a push to 'clicks_push' \(offline\)"
    ):
        client.push(pr.CLICKS_PUSH, [{"user_id": 1, "clicks": 1}], to="offline")


def test_push_rows_are_checked_before_anything_is_sent() -> None:
    # Nothing listens here: every error below is raised before a request.
    dead = FeastHttpClient(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    good = {"user_id": 1, "last_query": "q", "turns": 1}
    with pytest.raises(FeatureConfigError, match="Unknown push mode 'all': use one of online"):
        dead.push(pr.ACTIVITY_PUSH, [good], to="all")  # type: ignore[arg-type]
    with pytest.raises(
        FeatureValidationError,
        match=r"has no join key column \(columns: last_query\): name it '<entity type>_id' or "
        r"give FeastHttpClient\(join_keys=",
    ):
        dead.push(pr.ACTIVITY_PUSH, [{"last_query": "q"}])
    with pytest.raises(
        FeatureValidationError,
        match=r"Row 1 of the push to 'activity_push' has columns last_query, user_id but row 0 "
        r"has last_query, turns, user_id: every row needs the same columns",
    ):
        dead.push(pr.ACTIVITY_PUSH, [good, {"user_id": 2, "last_query": "q"}])
    with pytest.raises(
        FeatureValidationError,
        match=r"Row 0 of the push to 'activity_push': Feature 'turns': nan is not a finite",
    ):
        dead.push(pr.ACTIVITY_PUSH, [{**good, "turns": float("nan")}])
    with pytest.raises(
        FeatureValidationError,
        match=r"Row 0 of the push to 'activity_push': Entity id '7{40}'\.\.\. has 1,025 char",
    ):
        dead.push(pr.ACTIVITY_PUSH, [{**good, "user_id": "7" * 1025}])
    with pytest.raises(FeatureValidationError, match=r"join key 'user_id' .* got NoneType"):
        dead.push(pr.ACTIVITY_PUSH, [{**good, "user_id": None}])
    with pytest.raises(FeatureStoreUnavailableError, match="Cannot reach the Feast feature server"):
        dead.push(pr.ACTIVITY_PUSH, [good])
    dead.close()


def test_join_keys_name_the_entity_of_a_pushed_column(
    feast_push_server_url: str,
) -> None:
    eid = new_id()
    with FeastHttpClient(feast_push_server_url, join_keys={"shopper": "user_id"}) as c:
        rows = [{"user_id": eid, "last_query": "q", "turns": 1}]
        assert c.push(pr.ACTIVITY_PUSH, rows) == [EntityKey("shopper", eid)]


# ----------------------------------------------------------------- outages


async def test_a_server_that_is_down_or_silent_is_an_outage(use_async: bool) -> None:
    full = {"user_profile:budget": 1.0}
    row = [{"user_id": 1, "last_query": "q", "turns": 1}]
    down = FeastHttpClient(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    with silent_tcp_server() as port:
        slow = FeastHttpClient(f"http://127.0.0.1:{port}", timeout_s=0.2)
        for target, error, match in (
            (down, FeatureStoreUnavailableError, "Cannot reach the Feast feature server"),
            (slow, FeatureTimeoutError, r"did not answer a write to feature view 'user_profile'"),
        ):
            with pytest.raises(error, match=match):
                await write(target, use_async, "1", full)
            with pytest.raises(error):
                await push(target, use_async, pr.ACTIVITY_PUSH, row)
        await slow.aclose()
    await down.aclose()
