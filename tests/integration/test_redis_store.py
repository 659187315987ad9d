"""RedisFeatureStore against a real redis-server: encoding, TTL, pipelining, atomicity, errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis
import redis.asyncio

from llm_featurestore.clients.redis import TS_PREFIX, RedisFeatureStore
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
)
from llm_featurestore.models import FeatureStatus
from tests.fixtures.servers import free_port, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def close_every_store(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every store a test builds, even when the test fails half-way (an unclosed
    pool would surface as a ResourceWarning, an error, in some later test)."""
    made: list[RedisFeatureStore] = []

    def tracking(*args: Any, **kwargs: Any) -> RedisFeatureStore:
        made.append(RedisFeatureStore(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(sys.modules[__name__], "make_store", tracking)
    yield
    for store in made:
        store.close()


def make_store(*args: Any, **kwargs: Any) -> RedisFeatureStore:
    """Replaced in every test by the tracking factory of ``close_every_store``."""
    raise AssertionError("make_store is only usable inside a test")


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisFeatureStore]:
    s = make_store(redis_url, namespace=f"t-{uuid.uuid4().hex[:10]}")
    yield s
    s.close()


def command_calls(client: redis.Redis[bytes], command: str) -> int:
    stats = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


# --------------------------------------------------------------------------- encoding


VALUES: dict[str, Any] = {
    "flag": True,
    "off": False,
    "count": 3,
    "zero": 0,
    "big": 2**63 - 1,
    "negative": -42,
    "score": 0.25,
    "whole_float": 2.0,
    "tiny": 5e-324,
    "name": 'Zoë 🏃 "quoted" \\ back',
    "empty": "",
    "numeric_text": "123",
    "json_text": '{"not": "a dict"}',
    "nothing": None,
    "tags": ["a", 1, 2.5, None, True],
    "no_tags": [],
    "prefs": {"size": "M", "width": 2, "ratio": 0.5, "none": None},
    "no_prefs": {},
}


def test_every_value_type_round_trips_with_its_type(store: RedisFeatureStore) -> None:
    store.write_features("u1", "user", VALUES)
    vector = store.get_features("u1", "user", list(VALUES))
    for name, want in VALUES.items():
        if want is None:
            assert vector.statuses[name] is FeatureStatus.NULL_VALUE
            continue
        got = vector.features[name]
        assert got == want, name
        assert type(got) is type(want), (name, type(got))
        assert vector.statuses[name] is FeatureStatus.PRESENT, name
    # Lists inside keep element types too.
    assert [type(v) for v in vector.features["tags"]] == [str, int, float, type(None), bool]


def test_datetimes_tuples_and_naive_times_are_normalised(store: RedisFeatureStore) -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    store.write_features("u1", "user", {"when": naive, "pair": (1, "b")})
    vector = store.get_features("u1", "user", ["when", "pair"])
    assert vector.features["when"] == "2026-01-02T03:04:05+00:00"
    assert vector.features["pair"] == [1, "b"]


def test_values_are_stored_as_json_text_beside_their_timestamps(
    store: RedisFeatureStore,
) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=timezone.utc)
    store.write_features("u1", "user", {"count": 3, "score": 1.0, "name": "x"}, when)
    raw = store.client.hgetall(store.key("user", "u1"))
    micros = str(int(when.timestamp()) * 1_000_000 + 123456).encode()
    assert raw == {
        b"count": b"3",
        b"score": b"1.0",
        b"name": b'"x"',
        b"__ts__:count": micros,
        b"__ts__:score": micros,
        b"__ts__:name": micros,
    }
    vector = store.get_features("u1", "user", ["count"])
    assert vector.event_timestamps["count"] == when


def test_partial_writes_keep_a_timestamp_per_feature(redis_url: str) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    store = make_store(redis_url, namespace=namespace, max_age_seconds=3600)
    old = datetime.now(timezone.utc) - timedelta(days=2)
    store.write_features("u1", "user", {"a": 1, "b": 2}, old)
    store.write_features("u1", "user", {"b": 3})  # b refreshed, a untouched
    vector = store.get_features("u1", "user", ["a", "b"])
    assert vector.features == {"a": 1, "b": 3}
    assert vector.statuses == {"a": FeatureStatus.STALE, "b": FeatureStatus.PRESENT}
    assert vector.event_timestamps["a"] == old.replace(microsecond=old.microsecond)
    assert vector.usable == {"b": 3}
    # Freshness is the real age of the oldest value returned: the stale a, two days old.
    assert vector.freshness_seconds == pytest.approx(2 * 86400, abs=60)
    store.close()


def test_per_entity_type_max_age(redis_url: str) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    store = make_store(redis_url, namespace=namespace, max_age_seconds={"user": 60})
    old = datetime.now(timezone.utc) - timedelta(hours=1)
    store.write_features("u1", "user", {"a": 1}, old)
    store.write_features("i1", "item", {"a": 1}, old)
    assert store.get_features("u1", "user", ["a"]).statuses["a"] is FeatureStatus.STALE
    assert store.get_features("i1", "item", ["a"]).statuses["a"] is FeatureStatus.PRESENT
    store.close()


def test_non_json_value_is_returned_raw_with_a_warning(
    store: RedisFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.write_features("u1", "user", {"name": "x", "count": 1})
    key = store.key("user", "u1")
    store.client.hset(key, mapping={"name": "alice", TS_PREFIX + "count": "yesterday"})
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.clients.redis"):
        vector = store.get_features("u1", "user", ["name", "count"])
    assert vector.features == {"name": "alice", "count": 1}
    assert vector.statuses == {"name": FeatureStatus.PRESENT, "count": FeatureStatus.PRESENT}
    assert vector.event_timestamps["count"] is None
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "is not JSON" in messages
    assert "no valid timestamp" in messages


def test_field_without_timestamp_has_no_event_time(store: RedisFeatureStore) -> None:
    store.write_features("u1", "user", {"name": "x"})
    store.client.hdel(store.key("user", "u1"), TS_PREFIX + "name")
    vector = store.get_features("u1", "user", ["name"])
    assert vector.statuses["name"] is FeatureStatus.PRESENT
    assert vector.event_timestamps["name"] is None
    assert vector.freshness_seconds == 0.0


def test_odd_entity_ids_round_trip(store: RedisFeatureStore) -> None:
    ids = ["with space", "ünï©ødé", "a:b:c", "*", "9" * 200]
    for i, eid in enumerate(ids):
        store.write_features(eid, "user", {"n": i})
    vectors = store.get_batch_features(ids, "user", ["n"])
    assert [v.features["n"] for v in vectors] == list(range(len(ids)))


# --------------------------------------------------------------------------- names


def test_unknown_feature_and_entity_type_list_what_exists(store: RedisFeatureStore) -> None:
    store.write_features("u1", "user", {"a": 1, "b": 2})
    store.write_features("i1", "item", {"c": 3})
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown feature 'z'\. Available for entity "
        r"'user': a, b",
    ):
        store.get_features("u1", "user", ["a", "z"])
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown entity type 'usr'\. Available for "
        r"Redis namespace '.*': item, user",
    ):
        store.get_features("u1", "usr", ["a"])
    with pytest.raises(FeatureConfigError, match="Unknown entity type 'usr'"):
        store.list_features("usr")
    assert store.list_features("user") == ["a", "b"]
    assert store.list_entity_types() == ["item", "user"]


def test_names_written_by_another_client_are_found(redis_url: str) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    reader = make_store(redis_url, namespace=namespace)
    writer = make_store(redis_url, namespace=namespace)
    writer.write_features("u1", "user", {"a": 1})
    assert reader.get_features("u1", "user", ["a"]).features == {"a": 1}
    writer.write_features("u1", "user", {"b": 2})  # a name the reader has not seen yet
    assert reader.get_features("u1", "user", ["a", "b"]).features == {"a": 1, "b": 2}
    reader.close()
    writer.close()


def test_reserved_names_and_ids_are_rejected_on_write(store: RedisFeatureStore) -> None:
    with pytest.raises(FeatureValidationError, match="prefix '__ts__:' is reserved"):
        store.write_features("u1", "user", {"__ts__:a": 1})
    with pytest.raises(FeatureValidationError, match="may not contain ':'"):
        store.write_features("u1", "us:er", {"a": 1})
    with pytest.raises(FeatureValidationError, match="reserved for the feature registry"):
        store.write_features("__features__", "user", {"a": 1})
    store.write_features("u1", "user", {"a": 1})
    # The registry key is never read as an entity: reading that id is simply NOT_FOUND.
    vectors = store.get_batch_features(["__features__", "u1"], "user", ["a"])
    assert vectors[0].statuses == {"a": FeatureStatus.NOT_FOUND}
    assert vectors[1].features == {"a": 1}


# --------------------------------------------------------------------------- writes


def test_bad_value_writes_nothing(store: RedisFeatureStore) -> None:
    store.write_features("u1", "user", {"a": 1})
    exec_before = command_calls(store.client, "exec")
    with pytest.raises(FeatureValidationError, match=r"'b'.*not a finite number"):
        store.write_features("u1", "user", {"a": 2, "b": float("nan"), "c": 3})
    with pytest.raises(FeatureValidationError, match="unsupported type object"):
        store.write_features("u2", "user", {"a": object()})
    assert command_calls(store.client, "exec") == exec_before  # no command was sent
    assert store.client.exists(store.key("user", "u2")) == 0
    assert store.get_features("u1", "user", ["a"]).features == {"a": 1}
    assert store.list_features("user") == ["a"]


def test_write_is_one_multi_exec_block(store: RedisFeatureStore) -> None:
    multi, exec_ = command_calls(store.client, "multi"), command_calls(store.client, "exec")
    store.write_features("u1", "user", {"a": 1, "b": 2}, ttl_seconds=30)
    assert command_calls(store.client, "multi") == multi + 1
    assert command_calls(store.client, "exec") == exec_ + 1


def test_ttl_sets_a_key_expiry(store: RedisFeatureStore) -> None:
    key = store.key("user", "u1")
    store.write_features("u1", "user", {"a": 1}, ttl_seconds=60)
    pttl = store.client.pttl(key)
    assert 0 < pttl <= 60_000
    # Without ttl_seconds an existing expiry is left as it is...
    store.write_features("u1", "user", {"b": 2})
    assert 0 < store.client.pttl(key) <= 60_000
    # ...and a key written without a TTL never expires.
    store.write_features("u2", "user", {"a": 1})
    assert store.client.pttl(store.key("user", "u2")) == -1


def test_ttl_really_expires(store: RedisFeatureStore) -> None:
    store.write_features("u1", "user", {"a": 1}, ttl_seconds=0.05)
    wait_until(lambda: store.client.exists(store.key("user", "u1")) == 0, timeout=5, what="expiry")
    vector = store.get_features("u1", "user", ["a"])
    assert vector.statuses == {"a": FeatureStatus.NOT_FOUND}
    assert store.list_features("user") == ["a"]  # names stay registered


@pytest.mark.parametrize("ttl", [0, -1, float("inf"), float("nan")])
def test_invalid_ttl_is_rejected_before_writing(store: RedisFeatureStore, ttl: float) -> None:
    with pytest.raises(FeatureValidationError, match="ttl_seconds must be a positive number"):
        store.write_features("u1", "user", {"a": 1}, ttl_seconds=ttl)
    assert store.client.exists(store.key("user", "u1")) == 0


# --------------------------------------------------------------------------- round trips


class SendSpy:
    """Counts packets a redis connection class sends (one per round trip)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, cls: Any) -> None:
        self.count = 0
        original = cls.send_packed_command

        if asyncio.iscoroutinefunction(original):

            async def spy(conn: Any, *args: Any, **kwargs: Any) -> Any:
                self.count += 1
                return await original(conn, *args, **kwargs)

        else:

            def spy(conn: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                self.count += 1
                return original(conn, *args, **kwargs)

        monkeypatch.setattr(cls, "send_packed_command", spy)


def _populate(store: RedisFeatureStore, n: int) -> list[str]:
    ids = [f"e{i}" for i in range(n)]
    for i, eid in enumerate(ids):
        store.write_features(eid, "user", {"a": i, "b": f"v{i}"})
    return ids


def test_batch_read_is_one_round_trip(
    store: RedisFeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _populate(store, 50)
    store.get_features("e0", "user", ["a", "b"])  # warm the name cache and the pool
    hmget_before = command_calls(store.client, "hmget")
    spy = SendSpy(monkeypatch, redis.connection.Connection)
    vectors = store.get_batch_features([*ids, "missing"], "user", ["a", "b"])
    assert spy.count == 1
    monkeypatch.undo()
    assert [v.features["a"] for v in vectors[:-1]] == list(range(50))
    assert vectors[-1].statuses == {"a": FeatureStatus.NOT_FOUND, "b": FeatureStatus.NOT_FOUND}
    # +1 for the INFO call itself is not an HMGET: exactly 51 HMGETs reached the server.
    assert command_calls(store.client, "hmget") == hmget_before + 51


async def test_async_batch_read_is_one_round_trip(
    store: RedisFeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _populate(store, 20)
    await store.aget_features("e0", "user", ["a"])  # warm the name cache and the pool
    spy = SendSpy(monkeypatch, redis.asyncio.connection.Connection)
    vectors = await store.aget_batch_features(ids, "user", ["a", "b"])
    assert spy.count == 1
    assert [v.features["b"] for v in vectors] == [f"v{i}" for i in range(20)]


def test_single_read_is_one_command(
    store: RedisFeatureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    _populate(store, 1)
    store.get_features("e0", "user", ["a"])
    spy = SendSpy(monkeypatch, redis.connection.Connection)
    assert store.get_features("e0", "user", ["a", "b"]).features == {"a": 0, "b": "v0"}
    assert spy.count == 1


# --------------------------------------------------------------------------- async


async def test_async_write_read_and_health(store: RedisFeatureStore) -> None:
    await store.awrite_features("u1", "user", {"a": 1.5, "b": [1]}, ttl_seconds=30)
    vector = await store.aget_features("u1", "user", ["a", "b"])
    assert vector.features == {"a": 1.5, "b": [1]}
    assert 0 < store.client.pttl(store.key("user", "u1")) <= 30_000
    assert await store.ahealth_check()
    with pytest.raises(FeatureValidationError):
        await store.awrite_features("u2", "user", {"a": float("inf")})
    with pytest.raises(FeatureConfigError, match="Unknown feature 'zz'"):
        await store.aget_features("u1", "user", ["zz"])
    await store.aclose()


def test_one_client_serves_several_event_loops_without_leaks(redis_url: str) -> None:
    store = make_store(redis_url, namespace=f"t-{uuid.uuid4().hex[:10]}")
    store.write_features("u1", "user", {"a": 1})

    async def read() -> Any:
        return (await store.aget_features("u1", "user", ["a"])).features

    # Each asyncio.run makes a new loop; the pool of the previous one was closed at its
    # shutdown (an unclosed connection would raise ResourceWarning, an error here).
    for _ in range(3):
        assert asyncio.run(read()) == {"a": 1}
    store.close()


# --------------------------------------------------------------------------- failures


def test_dead_server_raises_unavailable_with_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(f"redis://:s3cret@127.0.0.1:{free_port()}/0", retries=0)
    with pytest.raises(FeatureStoreUnavailableError) as err:
        store.get_features("u1", "user", ["a"])
    assert not isinstance(err.value, FeatureTimeoutError)
    message = str(err.value)
    assert "Cannot reach Redis at redis://:***@127.0.0.1" in message
    assert "Check that redis-server is running" in message
    assert "s3cret" not in message
    assert isinstance(err.value.__cause__, redis.ConnectionError)
    with pytest.raises(FeatureStoreUnavailableError, match="Cannot reach Redis"):
        store.write_features("u1", "user", {"a": 1})
    assert store.health_check() is False
    assert "s3cret" not in repr(store)


async def test_dead_server_async(monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(f"redis://127.0.0.1:{free_port()}/0", retries=0)
    with pytest.raises(FeatureStoreUnavailableError, match="Cannot reach Redis"):
        await store.aget_batch_features(["u1", "u2"], "user", ["a"])
    with pytest.raises(FeatureStoreUnavailableError, match="Cannot reach Redis"):
        await store.awrite_features("u1", "user", {"a": 1})
    assert await store.ahealth_check() is False
    await store.aclose()


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        yield int(srv.getsockname()[1])


def test_silent_server_times_out() -> None:
    with silent_server() as port:
        store = make_store(f"redis://127.0.0.1:{port}/0", socket_timeout_s=0.2, retries=0)
        with pytest.raises(FeatureTimeoutError) as err:
            store.get_features("u1", "user", ["a"])
        assert "did not answer within 0.2s" in str(err.value)
        assert "raise socket_timeout_s" in str(err.value)
        assert isinstance(err.value.__cause__, redis.TimeoutError)
        assert store.health_check() is False
        store.close()


async def test_silent_server_times_out_async() -> None:
    with silent_server() as port:
        store = make_store(f"redis://127.0.0.1:{port}/0", socket_timeout_s=0.2, retries=0)
        with pytest.raises(FeatureTimeoutError, match=r"did not answer within 0\.2s"):
            await store.aget_features("u1", "user", ["a"])
        await store.aclose()


def test_wrong_password_is_reported(redis_url: str) -> None:
    # The test server has no password: AUTH with one fails with a clear server error.
    url = redis_url.replace("redis://", "redis://:wrong-pw@")
    store = make_store(url, retries=0)
    with pytest.raises(FeatureStoreUnavailableError) as err:
        store.list_features("user")
    assert "wrong-pw" not in str(err.value)
    assert "***" in str(err.value)
    store.close()


def test_closed_store_says_so(redis_url: str) -> None:
    store = make_store(redis_url, namespace="closed")
    store.close()
    store.close()  # idempotent
    with pytest.raises(FeatureStoreUnavailableError, match="closed"):
        store.get_features("u1", "user", ["a"])
    assert store.health_check() is False


def test_caller_owned_clients_are_left_open(redis_url: str) -> None:
    own = redis.Redis.from_url(redis_url)
    store = make_store(namespace=f"t-{uuid.uuid4().hex[:10]}", client=own)
    store.write_features("u1", "user", {"a": 1})
    store.close()
    assert own.ping() is True
    own.close()


async def test_caller_owned_async_client_is_used(redis_url: str) -> None:
    own = redis.asyncio.Redis.from_url(redis_url)
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    store = make_store(redis_url, namespace=namespace, async_client=own)
    await store.awrite_features("u1", "user", {"a": 1})
    assert await own.hget(f"{namespace}:user:u1", "a") == b"1"
    await store.aclose()
    assert await own.ping() is True
    await own.aclose()  # type: ignore[attr-defined]
    store.close()
