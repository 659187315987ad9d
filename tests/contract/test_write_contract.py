"""What every writable backend must do, sync and async: one suite over real stores.

Local (a JSON file), Redis (the session's redis-server), Feast (a SQLite online store
of its own) and Feast's feature server (``feast serve`` of the push repo, written and
read over HTTP): a write reads back as written, with its event time; a partial write
keeps the rest; a bad value or id writes nothing; staleness follows the time.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.base import (
    MAX_ENTITY_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_STRING_LENGTH,
    MAX_VALUE_BYTES,
)
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus, FeatureVector
from tests.contract import write_harness as w
from tests.fixtures import feast_push_repo, feast_repo

pytestmark = pytest.mark.integration

BACKENDS = ["local", "redis", "feast", "feast_http"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def write_local(tmp_path: Path) -> w.WriteHarness:
    store = LocalFeatureStore(tmp_path / "features.json", max_age_seconds=w.MAX_AGE_SECONDS)
    return w.plain_harness(store)


@pytest.fixture
def write_redis(redis_url: str) -> Iterator[w.WriteHarness]:
    from llm_featurestore.clients.redis import RedisFeatureStore

    namespace = f"write-{uuid.uuid4().hex[:8]}"
    store = RedisFeatureStore(redis_url, namespace=namespace, max_age_seconds=w.MAX_AGE_SECONDS)
    yield w.plain_harness(store)
    store.close()


@pytest.fixture(scope="session")
def write_feast_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty Feast repo (the test repo's views) with a SQLite online store."""
    directory = tmp_path_factory.mktemp("feast_write")
    return feast_repo.build_repo(directory, feast_repo.sqlite_online_store(directory))


@pytest.fixture
def write_feast(write_feast_repo: Path) -> Iterator[w.WriteHarness]:
    from llm_featurestore.clients.feast import FeastClient

    store = FeastClient(write_feast_repo)
    yield w.feast_harness(store)
    store.close()


@pytest.fixture
def write_feast_http(
    feast_push_server_url: str, feast_push_sqlite_repo: Path
) -> Iterator[w.WriteHarness]:
    from llm_featurestore.clients.feast_http import FeastHttpClient

    kwargs = feast_push_repo.http_kwargs(feast_push_sqlite_repo)
    store = FeastHttpClient(feast_push_server_url, **kwargs)
    yield w.feast_harness(store)
    store.close()


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> w.WriteHarness:
    return request.getfixturevalue(f"write_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


# --------------------------------------------------------------------------- helpers


async def write(
    harness: w.WriteHarness,
    use_async: bool,
    eid: str,
    features: dict[str, Any],
    when: datetime | None = None,
    entity_type: str = w.ENTITY_TYPE,
) -> None:
    if use_async:
        await harness.store.awrite_features(eid, entity_type, features, when)
    else:
        harness.store.write_features(eid, entity_type, features, when)


async def read(harness: w.WriteHarness, use_async: bool, eid: str) -> FeatureVector:
    if use_async:
        return await harness.store.aget_features(eid, w.ENTITY_TYPE, harness.names)
    return harness.store.get_features(eid, w.ENTITY_TYPE, harness.names)


def assert_values(harness: w.WriteHarness, vector: FeatureVector, want: dict[str, Any]) -> None:
    assert list(vector.features) == harness.names
    for name in harness.names:
        got = vector.features[name]
        if isinstance(want[name], float):
            assert math.isclose(got, want[name], rel_tol=harness.float_tolerance), (name, got)
        else:
            assert got == want[name], (name, got)
        assert type(got) is type(want[name]), (name, type(got))


def recent(minutes: int) -> datetime:
    """An aware UTC time ``minutes`` ago, in whole seconds (every store keeps those)."""
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=minutes)


# --------------------------------------------------------------------------- the contract


async def test_write_then_read_returns_the_values_with_their_time(
    harness: w.WriteHarness, use_async: bool
) -> None:
    eid, when = w.next_id(), recent(10)
    await write(harness, use_async, eid, harness.values, when)
    vector = await read(harness, use_async, eid)
    assert_values(harness, vector, harness.values)
    assert set(vector.statuses.values()) == {FeatureStatus.PRESENT}
    assert vector.event_timestamps == dict.fromkeys(harness.names, when)
    # Freshness is measured from the event time given, not from the write.
    expected = (vector.retrieved_at - when).total_seconds()
    assert vector.freshness_seconds == pytest.approx(expected, abs=1e-3)


async def test_a_second_write_of_part_keeps_the_others(
    harness: w.WriteHarness, use_async: bool
) -> None:
    eid, first, second = w.next_id(), recent(20), recent(5)
    await write(harness, use_async, eid, harness.values, first)
    await write(harness, use_async, eid, harness.update, second)
    vector = await read(harness, use_async, eid)
    assert_values(harness, vector, {**harness.values, **harness.update})
    for name in harness.names:
        assert vector.event_timestamps[name] == (second if name in harness.update else first)
        assert vector.statuses[name] is FeatureStatus.PRESENT


BAD_VALUES = {
    "nan": ("float_name", float("nan"), "not a finite number"),
    "too_long": ("text_name", "a" * (MAX_STRING_LENGTH + 1), "exceeds the limit"),
    "nul": ("text_name", "bad\x00value", "NUL"),
    "nested_dict": ("text_name", {"a": {"b": 1}}, "unsupported type dict"),
    "int_overflow": ("int_name", 2**63, "overflows int64"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
async def test_a_bad_value_names_the_feature_and_writes_nothing(
    harness: w.WriteHarness, use_async: bool, case: str
) -> None:
    attr, bad, reason = BAD_VALUES[case]
    name = getattr(harness, attr)
    eid, fresh_id = w.next_id(), w.next_id()
    await write(harness, use_async, eid, harness.values, recent(10))
    changed = {**harness.update, **{n: v for n, v in harness.values.items() if n != name}}
    for target in (eid, fresh_id):
        with pytest.raises(FeatureValidationError, match=reason) as err:
            await write(harness, use_async, target, {**changed, name: bad})
        assert f"'{name}'" in str(err.value)
    assert_values(harness, await read(harness, use_async, eid), harness.values)
    untouched = await read(harness, use_async, fresh_id)
    assert set(untouched.statuses.values()) == {FeatureStatus.NOT_FOUND}


@pytest.mark.parametrize(
    ("entity_id", "entity_type", "match"),
    [
        ("", w.ENTITY_TYPE, "entity ids must be non-empty strings"),
        (42, w.ENTITY_TYPE, "entity ids must be non-empty strings"),
        ("801", "", "entity_type must be a non-empty string"),
    ],
)
async def test_a_bad_id_or_entity_type_is_a_config_error(
    harness: w.WriteHarness, use_async: bool, entity_id: Any, entity_type: str, match: str
) -> None:
    with pytest.raises(FeatureConfigError, match=match):
        await write(harness, use_async, entity_id, harness.values, entity_type=entity_type)


OVER_BOUND = {
    "id": r"^Entity id '7{40}'\.\.\. has 1,025 characters, more than the limit of 1,024 ",
    "entity_type": r"^Entity type 'u{40}'\.\.\. has 257 characters, more than the limit of 256 ",
    "name": r"^Feature name 'f{40}'\.\.\. has 257 characters, more than the limit of 256 ",
    "value": r"^Feature '.+': value of 1,2\d\d,\d{3} bytes \(as JSON\) exceeds the limit of "
    r"1,048,576 \(llm_featurestore\.clients\.values\.MAX_VALUE_BYTES\)$",
}


@pytest.mark.parametrize("case", list(OVER_BOUND))
async def test_an_id_name_or_value_over_its_bound_writes_nothing(
    harness: w.WriteHarness, use_async: bool, case: str
) -> None:
    await write(harness, use_async, w.next_id(), harness.values)  # the entity type exists
    eid, entity_type, values = w.next_id(), w.ENTITY_TYPE, dict(harness.values)
    if case == "id":
        eid = "7" * (MAX_ENTITY_ID_LENGTH + 1)
    elif case == "entity_type":
        entity_type = "u" * (MAX_NAME_LENGTH + 1)
    elif case == "name":
        values["f" * (MAX_NAME_LENGTH + 1)] = 1
    else:  # 20 strings of 60,000 characters: within every other bound, 1.2 MB of JSON
        values[harness.text_name] = ["x" * 60_000] * 20
        assert len(json.dumps(values[harness.text_name])) > MAX_VALUE_BYTES
    with pytest.raises(FeatureValidationError, match=OVER_BOUND[case]):
        await write(harness, use_async, eid, values, entity_type=entity_type)
    if case != "id":
        untouched = await read(harness, use_async, eid)
        assert set(untouched.statuses.values()) == {FeatureStatus.NOT_FOUND}


async def test_naive_timestamps_are_utc(harness: w.WriteHarness, use_async: bool) -> None:
    eid, aware = w.next_id(), recent(15)
    await write(harness, use_async, eid, harness.values, aware.replace(tzinfo=None))
    vector = await read(harness, use_async, eid)
    assert vector.event_timestamps == dict.fromkeys(harness.names, aware)
    assert set(vector.statuses.values()) == {FeatureStatus.PRESENT}


async def test_an_old_event_time_reads_stale_where_a_max_age_applies(
    harness: w.WriteHarness, use_async: bool
) -> None:
    eid, old = w.next_id(), recent(60 * 24 * 30)
    await write(harness, use_async, eid, harness.values, old)
    vector = await read(harness, use_async, eid)
    assert_values(harness, vector, harness.values)  # STALE keeps its value
    for name in harness.names:
        want = FeatureStatus.STALE if name in harness.aged else FeatureStatus.PRESENT
        assert vector.statuses[name] is want, name
        assert vector.event_timestamps[name] == old
    assert vector.freshness_seconds == pytest.approx(
        (vector.retrieved_at - old).total_seconds(), abs=1e-3
    )
