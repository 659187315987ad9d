"""The core read flow (FeatureReader) on its own: grouping, known vectors, the monitor's
gate and its carry-over, degradation and errors, sync and async."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    InvalidEntityIdError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.reading import (
    MONITOR_DISABLED,
    FeatureReader,
    FeatureVectors,
    ReadRequest,
    entity_ids,
    warn_no_entity,
)
from llm_featurestore.serving.degrade import split_invalid
from tests.contract.wrappers import CountingClient, Wrapper


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    for i in range(5):
        s.write_features(f"u{i}", "user", {"tier": f"t{i}", "cat": f"c{i}"})
    s.write_features("o1", "org", {"plan": "pro"})
    return s


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def read_many(
    reader: FeatureReader, requests: Sequence[ReadRequest], use_async: bool
) -> list[FeatureVectors]:
    if use_async:
        return asyncio.run(reader.aread_many(requests))
    return reader.read_many(requests)


def test_n_requests_are_one_call_per_entity_type_each_id_once(
    store: LocalFeatureStore, use_async: bool
) -> None:
    counted = CountingClient(store)
    requests = [
        ReadRequest({"user": u, "org": "o1"}, {"user": ["tier"], "org": ["plan"]})
        for u in ("u1", "u2", "u1")
    ]
    read = read_many(FeatureReader(counted), requests, use_async)
    assert [r["user"].features["tier"] for r in read] == ["t1", "t2", "t1"]
    assert all(r["org"].features["plan"] == "pro" for r in read)
    assert sorted(counted.calls) == [(["o1"], "org", ["plan"]), (["u1", "u2"], "user", ["tier"])]
    assert all(r.fetched and r.latency_ms > 0 for r in read)


def test_known_names_are_not_fetched_again_and_vectors_merge(
    store: LocalFeatureStore, use_async: bool
) -> None:
    counted = CountingClient(store)
    known = {"user": store.get_features("u1", "user", ["tier"])}
    request = ReadRequest({"user": "u1"}, {"user": ["tier", "cat"]}, known=known)
    (read,) = read_many(FeatureReader(counted), [request], use_async)
    assert counted.calls == [(["u1"], "user", ["cat"])]
    assert read["user"].features == {"tier": "t1", "cat": "c1"}
    # Everything known: no call at all, and no question to the monitor.
    monitor = FeatureMonitor()
    again = ReadRequest({"user": "u1"}, {"user": ["tier"]}, known=known)
    (read,) = read_many(FeatureReader(counted, monitor=monitor), [again], use_async)
    assert (len(counted.calls), read.fetched, read.skipped_reason) == (1, False, None)


def open_gate(monitor: FeatureMonitor) -> None:
    for _ in range(monitor.disable_after_failures):
        monitor.record_read(False)


def test_a_refused_read_makes_no_call_and_carries_over(
    store: LocalFeatureStore, use_async: bool
) -> None:
    counted = CountingClient(store)
    monitor = FeatureMonitor()
    open_gate(monitor)
    reader = FeatureReader(counted, monitor=monitor)
    (refused,) = read_many(reader, [ReadRequest({"user": "u1"}, {"user": ["tier"]})], use_async)
    assert (dict(refused), refused.skipped_reason) == ({}, MONITOR_DISABLED)
    monitor.reset()  # the gate closes: a new request would read...
    later = ReadRequest({"user": "u1"}, {"user": ["tier"]}, known=refused)
    (again,) = read_many(reader, [later], use_async)  # ...but this one stays refused
    assert again.skipped_reason == MONITOR_DISABLED
    assert counted.calls == []


def test_each_read_reports_once_to_the_store_gate(store: LocalFeatureStore) -> None:
    monitor = FeatureMonitor(disable_after_failures=2)
    dead = Failing(store, FeatureStoreUnavailableError("down"))
    reader = FeatureReader(dead, monitor=monitor)
    first = reader.read(ReadRequest({"user": "u1"}, {"user": ["tier"]}))
    assert first.recorded
    assert first.store_available is False
    # The same request read again by another component (more names): not reported twice.
    second = reader.read(ReadRequest({"user": "u1"}, {"user": ["tier", "cat"]}, known=first))
    assert second.recorded
    assert monitor.should_read() is True  # 2 reads, but one reported failure so far
    reader.read(ReadRequest({"user": "u2"}, {"user": ["tier"]}))
    assert monitor.should_read() is False


class Failing(Wrapper):
    def __init__(self, inner: LocalFeatureStore, error: Exception) -> None:
        super().__init__(inner)
        self.error = error
        self.calls: list[list[str]] = []

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.calls.append(list(entity_ids))
        if isinstance(self.error, InvalidEntityIdError) and "bad" not in entity_ids:
            return self.inner.get_batch_features(entity_ids, entity_type, feature_names)
        raise self.error


def test_an_unnamed_invalid_id_is_isolated_by_reading_ids_one_by_one(
    store: LocalFeatureStore,
) -> None:
    error = InvalidEntityIdError("one id is bad", entity_type="user", entity_ids=None)
    backend = Failing(store, error)
    requests = [ReadRequest({"user": u}, {"user": ["tier"]}) for u in ("u1", "bad", "u2")]
    read = FeatureReader(backend).read_many(requests)
    assert [r["user"].statuses["tier"] for r in read] == [
        FeatureStatus.PRESENT,
        FeatureStatus.INVALID_ID,
        FeatureStatus.PRESENT,
    ]
    assert backend.calls[0] == ["u1", "bad", "u2"]
    assert sorted(backend.calls[1:]) == [["bad"], ["u1"], ["u2"]]  # concurrently, one each
    with pytest.raises(InvalidEntityIdError):
        FeatureReader(backend, fallback=False).read_many(requests)


def test_a_named_invalid_id_is_answered_and_the_rest_sent_again_once(
    store: LocalFeatureStore,
) -> None:
    error = InvalidEntityIdError("'bad' is bad", entity_type="user", entity_ids=["bad"])
    backend = Failing(store, error)
    requests = [ReadRequest({"user": u}, {"user": ["tier"]}) for u in ("u1", "bad", "u2")]
    read = FeatureReader(backend).read_many(requests)
    assert [r["user"].statuses["tier"].value for r in read] == [
        "present",
        "invalid_id",
        "present",
    ]
    assert backend.calls == [["u1", "bad", "u2"], ["u1", "u2"]]


def test_split_invalid_says_what_is_rejected_and_what_goes_again() -> None:
    named = InvalidEntityIdError("x", entity_type="user", entity_ids=["b", "elsewhere"])
    unnamed = InvalidEntityIdError("x", entity_type="user", entity_ids=None)
    assert split_invalid(["a", "b", "c"], named) == (["b"], [["a", "c"]])
    assert split_invalid(["b"], named) == (["b"], [])
    assert split_invalid(["a"], unnamed) == (["a"], [])
    assert split_invalid(["a", "c"], unnamed) == ([], [["a"], ["c"]])
    assert split_invalid(["a", "c"], named) == ([], [["a"], ["c"]])  # names none of these
    everyone = InvalidEntityIdError("x", entity_type="user", entity_ids=["a", "c"])
    assert split_invalid(["a", "c"], everyone) == (["a", "c"], [])


def test_store_errors_degrade_and_bugs_raise(
    store: LocalFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    request = ReadRequest({"user": "u1"}, {"user": ["tier"]})
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.reading"):
        read = FeatureReader(Failing(store, FeatureStoreUnavailableError("down"))).read(request)
    assert read["user"].statuses == {"tier": FeatureStatus.UNAVAILABLE}
    assert "Feature lookup for 1 user entities failed (unavailable)" in caplog.text
    with pytest.raises(RuntimeError, match="bug"):
        FeatureReader(Failing(store, RuntimeError("bug"))).read(request)
    with pytest.raises(FeatureStoreUnavailableError, match="down"):
        FeatureReader(Failing(store, FeatureStoreUnavailableError("down")), fallback=False).read(
            request
        )


def test_an_unknown_feature_says_who_asked_and_how_to_fix(store: LocalFeatureStore) -> None:
    request = ReadRequest({"user": "u1"}, {"user": ["nope"]}, "shop", fix="Fix the mapping.")
    with pytest.raises(FeatureConfigError) as info:
        FeatureReader(store).read(request)
    assert str(info.value).startswith(
        "Task 'shop' looks up nope for entity type 'user', which the store rejected: "
        "Unknown feature 'nope'. Available for entity 'user': cat, tier"
    )
    assert str(info.value).endswith("Fix the mapping.")


def test_entity_ids_read_the_first_source_holding_each_key() -> None:
    ids = entity_ids(
        [{"user_id": 7, "org_id": ""}, {"org_id": "o1", "driver_id": "d"}],
        {"user": "user_id", "org": "org_id", "driver": "driver_id", "x": "x_id"},
    )
    assert ids == {"user": "7", "driver": "d"}  # "" in the first source means no org
    with pytest.raises(FeatureConfigError, match=r"Entity id under 'user_id' must be a string"):
        entity_ids([{"user_id": 1.5}], {"user": "user_id"})


def test_warn_no_entity_names_the_expected_key_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.reading"):
        for _ in range(3):
            warn_no_entity("Thing", {"driver": "driver_id"})
    assert len(caplog.records) == 1
    assert "Thing: the request carries none of the expected entity ids 'driver_id'" in (caplog.text)
