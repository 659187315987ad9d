"""The failure table of the serving layer: per-id outcomes in coalesced batches, lost and
cancelled breaker probes, auth failures, unknown entity types, logging once per cause."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence

import pytest

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    InvalidEntityIdError,
    UnknownEntityTypeError,
    unknown_entity_type,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import (
    BreakerState,
    CircuitBreaker,
    CircuitBreakerConfig,
    CoalesceConfig,
    ServingClient,
)
from llm_featurestore.serving.degrade import CauseLog, degraded_status
from tests.contract.wrappers import CountingClient, Wrapper
from tests.unit.test_monitor_enricher import FakeClock


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    for i in range(20):
        s.write_features(f"{1000 + i}", "user", {"cat": f"c{i}"})
    return s


class DigitIds(Wrapper):
    """Takes only digit ids, as an Int64 join key does; names the bad ids, or not."""

    def __init__(self, inner: LocalFeatureStore, *, names_ids: bool = True) -> None:
        super().__init__(inner)
        self.names_ids = names_ids

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        bad = [e for e in entity_ids if not e.isdigit()]
        if bad:
            raise InvalidEntityIdError(
                f"{bad} are not Int64",
                entity_type=entity_type,
                entity_ids=bad if self.names_ids else None,
            )
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return self.get_batch_features(entity_ids, entity_type, feature_names)


class Raising(Wrapper):
    """Raises ``error`` on every read."""

    def __init__(self, inner: LocalFeatureStore, error: Exception) -> None:
        super().__init__(inner)
        self.error = error

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        raise self.error

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        raise self.error


IDS = ["1001", "1002", "abc", "1003", "1004"]


async def test_single_entity_batch_reads_coalesce(store: LocalFeatureStore) -> None:
    backend = CountingClient(store)
    serving = ServingClient(backend, coalesce=CoalesceConfig(window_ms=20))
    ids = [f"{1000 + i}" for i in range(20)]
    vectors = await asyncio.gather(
        *(serving.aget_batch_features([i], "user", ["cat"]) for i in ids)
    )
    assert [v[0].entity_id for v in vectors] == ids
    assert [v[0].features["cat"] for v in vectors] == [f"c{i}" for i in range(20)]
    assert len(backend.calls) == 1


@pytest.mark.parametrize("names_ids", [True, False], ids=["named", "unnamed"])
async def test_a_bad_id_degrades_only_itself_in_a_coalesced_batch(
    store: LocalFeatureStore, names_ids: bool
) -> None:
    backend = CountingClient(DigitIds(store, names_ids=names_ids))
    serving = ServingClient(backend, coalesce=CoalesceConfig(window_ms=20))
    got = await asyncio.gather(*(serving.aget_features(i, "user", ["cat"]) for i in IDS))
    assert [v.statuses["cat"] for v in got] == [
        FeatureStatus.PRESENT,
        FeatureStatus.PRESENT,
        FeatureStatus.INVALID_ID,
        FeatureStatus.PRESENT,
        FeatureStatus.PRESENT,
    ]
    assert [v.features["cat"] for v in got] == ["c1", "c2", None, "c3", "c4"]
    assert serving.stats.rejected == 1
    assert serving.stats.failures == 0
    assert serving.breaker is not None
    assert serving.breaker.state is BreakerState.CLOSED
    # Named: the rest is sent again once; unnamed: one by one.
    assert len(backend.calls) == (2 if names_ids else 1 + len(IDS))


async def test_without_fallback_a_bad_id_fails_only_its_own_request(
    store: LocalFeatureStore,
) -> None:
    serving = ServingClient(
        DigitIds(store), coalesce=CoalesceConfig(window_ms=20), fallback_on_timeout=False
    )
    got = await asyncio.gather(
        *(serving.aget_features(i, "user", ["cat"]) for i in IDS), return_exceptions=True
    )
    assert isinstance(got[2], InvalidEntityIdError)
    assert "not Int64" in str(got[2])
    assert [v.features["cat"] for v in got if isinstance(v, FeatureVector)] == [
        "c1",
        "c2",
        "c3",
        "c4",
    ]
    # A direct batch call fails as a whole, as before.
    with pytest.raises(InvalidEntityIdError, match="abc"):
        serving.get_batch_features(IDS, "user", ["cat"])


def test_thread_coalesced_bad_id_degrades_only_itself(store: LocalFeatureStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    serving = ServingClient(DigitIds(store), coalesce=CoalesceConfig(window_ms=50))
    with ThreadPoolExecutor(len(IDS)) as pool:
        got = list(pool.map(lambda i: serving.get_features(i, "user", ["cat"]), IDS))
    assert [v.statuses["cat"].value for v in got] == [
        "present",
        "present",
        "invalid_id",
        "present",
        "present",
    ]


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (FeatureAuthError("key revoked (401)"), FeatureStatus.UNAVAILABLE),
        (unknown_entity_type("driver", ["user"]), FeatureStatus.UNKNOWN_ENTITY_TYPE),
    ],
    ids=["auth", "unknown-entity-type"],
)
async def test_auth_failures_and_unknown_entity_types_degrade_or_raise(
    store: LocalFeatureStore, error: Exception, status: FeatureStatus
) -> None:
    lenient = ServingClient(Raising(store, error))
    for vector in (
        lenient.get_features("1001", "user", ["cat"]),
        await lenient.aget_features("1001", "user", ["cat"]),
    ):
        assert vector.statuses == {"cat": status}
    assert lenient.stats.fallbacks == 2
    strict = ServingClient(Raising(store, error), fallback_on_timeout=False)
    with pytest.raises(type(error), match=re.escape(str(error)[:20])):
        strict.get_features("1001", "user", ["cat"])
    with pytest.raises(type(error)):
        await strict.aget_features("1001", "user", ["cat"])


def test_auth_failures_count_and_open_the_breaker(store: LocalFeatureStore) -> None:
    serving = ServingClient(
        Raising(store, FeatureAuthError("401")),
        circuit_breaker=CircuitBreakerConfig(failure_threshold=2),
    )
    for _ in range(3):
        serving.get_features("1001", "user", ["cat"])
    assert serving.stats.auth_failures == 2
    assert serving.stats.short_circuited == 1


def test_unknown_entity_types_never_trip_the_breaker(store: LocalFeatureStore) -> None:
    serving = ServingClient(store, circuit_breaker=CircuitBreakerConfig(failure_threshold=1))
    for _ in range(3):
        vector = serving.get_features("1001", "driver", ["cat"])
        assert vector.statuses == {"cat": FeatureStatus.UNKNOWN_ENTITY_TYPE}
    assert serving.breaker is not None
    assert serving.breaker.state is BreakerState.CLOSED
    assert serving.stats.rejected == 3
    with pytest.raises(
        UnknownEntityTypeError, match=r"Unknown entity type 'driver'\. Available: user"
    ):
        ServingClient(store, fallback_on_timeout=False).get_features("1", "driver", ["cat"])


def test_unknown_features_always_raise(store: LocalFeatureStore) -> None:
    with pytest.raises(FeatureConfigError, match="Unknown feature 'nope'"):
        ServingClient(store).get_features("1001", "user", ["nope"])


def test_degraded_status_is_the_failure_table() -> None:
    assert degraded_status(TimeoutError()) is FeatureStatus.TIMED_OUT
    assert degraded_status(FeatureAuthError("x")) is FeatureStatus.UNAVAILABLE
    assert degraded_status(ConnectionError("x")) is FeatureStatus.UNAVAILABLE
    assert degraded_status(ConnectionError("x"), driver_errors=False) is None
    assert degraded_status(FeatureConfigError("x")) is None
    assert degraded_status(asyncio.CancelledError()) is None
    bad = InvalidEntityIdError("x", entity_type="user", entity_ids=["a"])
    assert degraded_status(bad) is FeatureStatus.INVALID_ID


# ------------------------------------------------------------------ breaker probes


def test_a_cancelled_probe_frees_the_probe_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5.0, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.allow() is True  # the probe
    assert breaker.allow() is False
    breaker.record_cancelled()
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow() is True  # at once: a new probe, no second cool-down
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_a_lost_probe_is_replaced_after_the_probe_timeout() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 5.0, probe_timeout_seconds=2.0, clock=clock)
    breaker.record_failure()
    clock.now = 5.0
    assert breaker.allow() is True  # a probe that never reports back
    clock.now = 6.9
    assert breaker.allow() is False
    clock.now = 7.0
    assert breaker.peek() == (True, True)
    assert breaker.allow() is True
    breaker.record_failure()  # the new probe fails: another cool-down
    assert breaker.state is BreakerState.OPEN
    assert breaker.reason == "2 consecutive failures"


def test_trip_opens_with_a_reason_and_reset_closes() -> None:
    breaker = CircuitBreaker(100, 5.0, clock=FakeClock())
    breaker.trip("quality too low")
    assert (breaker.state, breaker.reason, breaker.allow()) == (
        BreakerState.OPEN,
        "quality too low",
        False,
    )
    breaker.reset()
    assert breaker.closed
    assert breaker.reason is None


class Slow(Wrapper):
    """Sleeps ``delay`` seconds in every async read while ``slow`` is set."""

    def __init__(self, inner: LocalFeatureStore) -> None:
        super().__init__(inner)
        self.slow = True
        self.fail = True

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        if self.fail:
            raise ConnectionError("down")
        if self.slow:
            await asyncio.sleep(10)
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)


async def test_a_cancelled_half_open_probe_does_not_wedge_the_breaker(
    store: LocalFeatureStore,
) -> None:
    backend = Slow(store)
    reset = 0.1
    serving = ServingClient(
        backend,
        timeout_ms=None,
        circuit_breaker=CircuitBreakerConfig(failure_threshold=1, reset_timeout_seconds=reset),
    )
    assert (await serving.aget_features("1001", "user", ["cat"])).failed  # opens
    backend.fail = False  # the store answers again, slowly
    await asyncio.sleep(reset)
    with pytest.raises(asyncio.TimeoutError):  # the probe is cancelled by its caller
        await asyncio.wait_for(serving.aget_features("1001", "user", ["cat"]), 0.05)
    backend.slow = False  # the store has healed
    vector = await serving.aget_features("1001", "user", ["cat"])  # the next call probes
    assert vector.statuses == {"cat": FeatureStatus.PRESENT}
    assert serving.breaker is not None
    assert serving.breaker.state is BreakerState.CLOSED


# ------------------------------------------------------------------ logging


def test_cause_log_logs_once_per_cause_then_says_how_many_it_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    log = CauseLog(logging.getLogger("llmfs-test"), interval_s=60, clock=clock)
    with caplog.at_level(logging.WARNING, logger="llmfs-test"):
        assert log.warn("a", "store down") is True
        assert log.warn("a", "store down") is False
        assert log.warn("b", "other cause") is True
        clock.now = 61
        assert log.warn("a", "store down") is True
    assert caplog.messages == [
        "store down",
        "other cause",
        "store down (1 more like this in the last 60s)",
    ]


def test_a_dead_store_is_logged_once_not_once_per_request(
    store: LocalFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    serving = ServingClient(Raising(store, ConnectionError("refused")), circuit_breaker=None)
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.serving"):
        for _ in range(50):
            serving.get_features("1001", "user", ["cat"])
    assert len(caplog.records) == 1
    assert "ConnectionError: refused" in caplog.text
    assert serving.stats.fallbacks == 50


def test_rejected_ids_and_entity_types_are_logged_once_naming_the_cause(
    store: LocalFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    serving = ServingClient(DigitIds(store))
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.serving"):
        for _ in range(3):
            serving.get_features("abc", "user", ["cat"])
            serving.get_features("1001", "driver", ["cat"])
    assert caplog.messages == [
        "The local feature store cannot take 1 user id(s) (['abc'] are not Int64); "
        "answering them with invalid_id",
        "Unknown entity type 'driver'. Available: user; answering with unknown_entity_type",
    ]
