"""A sync read bounded by ``timeout_ms`` without a worker thread, where the driver bounds it.

A store that never answers (a TCP server that accepts and stays silent) or a SQLite
database a writer keeps locked must still degrade to TIMED_OUT, and the read must
have run on the caller's own thread: each read records ``threading.get_ident()``
through a wrapper, and the serving client's lane (its worker threads) never starts.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast.direct import DirectReads
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.errors import FeatureTimeoutError
from llm_featurestore.models import FeatureStatus
from llm_featurestore.serving import ServingClient
from tests.fixtures import feast_init_repo as fi
from tests.fixtures import feast_repo as fr
from tests.fixtures.servers import silent_tcp_server

pytestmark = pytest.mark.integration

REFS = fr.CONTRACT_REFS


def record_threads(monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> list[int]:
    """Wrap ``owner.name`` so that every call records the thread it ran on."""
    threads: list[int] = []
    original: Callable[..., Any] = getattr(owner, name)

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, recorded)
    return threads


@contextlib.contextmanager
def silent_feast_repo(directory: Path, live_repo: Path) -> Iterator[Path]:
    """A repo with ``live_repo``'s registry whose Redis online store never answers."""
    with silent_tcp_server() as port:
        yield fr.write_config(
            directory,
            {"type": "redis", "connection_string": f"127.0.0.1:{port},db=0"},
            registry=live_repo / "registry.db",
        )


def test_feast_on_a_silent_redis_times_out_on_the_calling_thread(
    feast_redis_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = record_threads(monkeypatch, DirectReads, "read")
    with silent_feast_repo(tmp_path, feast_redis_repo) as repo:
        client = FeastClient(repo)
        client.request_fields("user", REFS)  # resolve the names (a registry read, no store I/O)
        serving = ServingClient(client, timeout_ms=100)
        vec = serving.get_features("1001", "user", REFS)
        assert set(vec.statuses.values()) == {FeatureStatus.TIMED_OUT}
        assert threads == [threading.get_ident()]
        assert serving._lane.running is False
        strict = ServingClient(client, timeout_ms=100, fallback_on_timeout=False)
        with pytest.raises(FeatureTimeoutError, match="did not answer within 100 ms") as err:
            strict.get_features("1001", "user", REFS)
        assert "Feast online read for entity 'user'" in str(err.value.__cause__)
        assert "timed out" in str(err.value.__cause__)
        assert strict._lane.running is False
        serving.close()
        strict.close()


def test_feast_on_a_locked_sqlite_times_out_on_the_calling_thread(
    feast_sqlite_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = record_threads(monkeypatch, DirectReads, "read")
    client = FeastClient(feast_sqlite_repo)
    serving = ServingClient(client, timeout_ms=50)
    client.request_fields("user", REFS)
    writer = sqlite3.connect(feast_sqlite_repo / "online.db")
    try:
        writer.execute("BEGIN EXCLUSIVE")  # readers now wait for the busy timeout
        vec = serving.get_features("1001", "user", REFS)
        assert set(vec.statuses.values()) == {FeatureStatus.TIMED_OUT}
    finally:
        writer.rollback()
        writer.close()
    assert serving.get_features("1001", "user", REFS).found
    assert threads == [threading.get_ident()] * 2
    assert serving._lane.running is False
    serving.close()


def test_the_locked_sqlite_error_names_the_busy_timeout(feast_sqlite_repo: Path) -> None:
    client = FeastClient(feast_sqlite_repo)
    read = client.bounded_reader(0.05)
    assert read is not None
    client.request_fields("user", REFS)
    writer = sqlite3.connect(feast_sqlite_repo / "online.db")
    try:
        writer.execute("BEGIN EXCLUSIVE")
        with pytest.raises(FeatureTimeoutError) as err:
            read(["1001"], "user", REFS, None)
    finally:
        writer.rollback()
        writer.close()
    assert "timed out" in str(err.value)
    assert "locked by a writer for the busy timeout of 0.05s" in str(err.value)
    client.close()


def test_redis_store_on_a_silent_server_times_out_on_the_calling_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads = record_threads(monkeypatch, RedisFeatureStore, "get_batch_features")
    with silent_tcp_server() as port:
        # Its own socket timeout (1 s, one retry) is longer than the serving budget.
        store = RedisFeatureStore(f"redis://127.0.0.1:{port}/0", namespace="silent")
        serving = ServingClient(store, timeout_ms=100)
        vec = serving.get_features("u1", "user", ["a", "b"])
        assert set(vec.statuses.values()) == {FeatureStatus.TIMED_OUT}
        assert threads == [threading.get_ident()]
        assert serving._lane.running is False
        serving.close()


def test_redis_store_bounds_reads_with_its_own_pool_only_when_its_timeout_is_longer(
    redis_url: str,
) -> None:
    store = RedisFeatureStore(redis_url, namespace="bounded", socket_timeout_s=1.0, retries=1)
    store.write_features("u1", "user", {"a": 1})
    read = store.bounded_reader(0.2)
    assert read is not None
    assert read(["u1"], "user", ["a"], None)[0].features == {"a": 1}
    assert list(store._bounded) == [0.2]
    assert store._bounded[0.2].socket_timeout_s == pytest.approx(0.1)  # two tries in 0.2 s
    fits = RedisFeatureStore(redis_url, namespace="bounded", socket_timeout_s=0.05, retries=1)
    fits_read = fits.bounded_reader(0.2)
    assert fits_read is not None
    assert fits_read(["u1"], "user", ["a"], None)[0].features == {"a": 1}
    assert fits._bounded == {}
    store.close()
    fits.close()


def test_a_caller_owned_redis_client_is_bounded_by_a_worker_thread(redis_url: str) -> None:
    import redis

    own = redis.Redis.from_url(redis_url)
    store = RedisFeatureStore(client=own, namespace="owned")
    assert store.bounded_reader(0.2) is None
    own.close()


def test_sdk_reads_stay_bounded_by_a_worker_thread(
    feast_init_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request only the SDK can read (an on-demand view) is bounded by the lane."""
    threads = record_threads(monkeypatch, FeastClient, "get_batch_features")
    serving = ServingClient(FeastClient(feast_init_repo), timeout_ms=5_000)
    names = [f"{fi.PANDAS_VIEW}:conv_rate_plus_val1"]
    data = {"val_to_add": 1, "val_to_add_2": 2}
    for _ in range(2):  # the first read of any names also resolves them on the lane
        vec = serving.get_features(fi.DRIVERS[0], "driver", names, request_data=data)
        assert vec.found
    assert serving._lane.running is True
    assert threading.get_ident() not in threads
    serving.close()


def test_direct_reads_off_means_a_worker_thread(feast_sqlite_repo: Path) -> None:
    client = FeastClient(feast_sqlite_repo, direct_reads=False)
    assert client.bounded_reader(0.2) is None
    serving = ServingClient(client, timeout_ms=5_000)
    assert serving.get_features("1001", "user", REFS).found
    assert serving._lane.running is True
    serving.close()
