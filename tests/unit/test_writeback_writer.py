"""The bounded background writer: order, a full queue, retries with backoff, flush and close.

Jobs here are plain callables (the writer knows nothing of stores); the store-facing
behaviour is tested against real stores in tests/integration/test_writeback_*.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

import pytest

from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
)
from llm_featurestore.writeback import BackgroundWriter, WriterConfig, WriterStats


class Gate:
    """A job that holds the worker until released, so the queue behind it fills up."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> None:
        self.entered.set()
        assert self.release.wait(10), "gate never released"


class Flaky:
    """Fails ``failures`` times with ``error``, then succeeds; counts its calls."""

    def __init__(self, failures: int, error: Exception, stage: str = "write") -> None:
        self.failures = failures
        self.error = error
        self.calls = 0
        self.stage = stage

    def __call__(self) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def writer(sleeps: list[float]) -> Iterator[BackgroundWriter]:
    w = BackgroundWriter(max_attempts=4, backoff_s=0.1, max_backoff_s=0.25, sleep=sleeps.append)
    yield w
    w.close(timeout=5)


def record(into: list[int], value: int) -> Callable[[], None]:
    return lambda: into.append(value)


def test_jobs_run_in_submission_order_off_the_callers_thread(writer: BackgroundWriter) -> None:
    seen: list[int] = []
    threads: set[str] = set()
    for i in range(50):
        writer.submit(record(seen, i))
    writer.submit(lambda: threads.add(threading.current_thread().name))
    assert writer.flush(timeout=10)
    assert seen == list(range(50))
    assert threads == {"llmfs-writeback"}
    stats = writer.stats
    assert (stats.queued, stats.written, stats.dropped, stats.failed) == (51, 51, 0, 0)
    assert stats.submit_ms >= 0.0
    assert writer.pending == 0


def test_a_full_queue_drops_the_oldest_job_and_counts_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[int] = []
    gate = Gate()
    with BackgroundWriter(max_queue=3) as writer:
        writer.submit(gate)
        assert gate.entered.wait(10)  # the worker holds the gate; the queue is empty
        with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
            accepted = [writer.submit(record(seen, i)) for i in range(5)]
        assert accepted == [True] * 5  # a drop is counted, never refused or raised
        assert writer.stats.dropped == 2
        assert writer.pending == 4  # the gate and the three newest
        gate.release.set()
        assert writer.flush(timeout=10)
    assert seen == [2, 3, 4]  # 0 and 1 were the oldest
    assert writer.stats.queued == 6
    full = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(full) == 1  # logged once for the cause, not once per drop
    assert "3 jobs" in full[0].getMessage()
    assert "dropped the oldest job" in full[0].getMessage()


@pytest.mark.parametrize(
    "error",
    [FeatureStoreUnavailableError("redis down"), FeatureTimeoutError("slow"), OSError("reset")],
    ids=["unavailable", "timeout", "driver"],
)
def test_an_outage_is_retried_with_exponential_backoff(
    writer: BackgroundWriter, sleeps: list[float], error: Exception
) -> None:
    job = Flaky(2, error)
    writer.submit(job)
    assert writer.flush(timeout=10)
    assert job.calls == 3
    assert sleeps == [0.1, 0.2]
    assert (writer.stats.written, writer.stats.retried, writer.stats.failed) == (1, 2, 0)


def test_backoff_is_capped_and_attempts_are_bounded_then_the_job_counts_as_failed(
    writer: BackgroundWriter, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    jobs = [Flaky(99, FeatureStoreUnavailableError("connection refused")) for _ in range(3)]
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
        for job in jobs:
            writer.submit(job)
        assert writer.flush(timeout=10)
    assert [j.calls for j in jobs] == [4, 4, 4]
    assert sleeps[:3] == [0.1, 0.2, 0.25]  # doubled, then capped at max_backoff_s
    assert writer.stats == WriterStats(
        queued=3,
        written=0,
        dropped=0,
        retried=9,
        failed=3,
        submit_ms=writer.stats.submit_ms,
        busy_ms=writer.stats.busy_ms,
    )
    failures = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failures == [
        "Write-back write failed after 4 attempt(s): FeatureStoreUnavailableError: "
        "connection refused"
    ]  # three jobs, one cause: logged once


@pytest.mark.parametrize(
    "error",
    [FeatureValidationError("bad value"), FeatureConfigError("Unknown feature 'x'")],
    ids=["validation", "config"],
)
def test_a_usage_error_is_not_retried(
    writer: BackgroundWriter,
    sleeps: list[float],
    error: Exception,
    caplog: pytest.LogCaptureFixture,
) -> None:
    job = Flaky(99, error, stage="read")
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
        writer.submit(job)
        assert writer.flush(timeout=10)
    assert job.calls == 1
    assert sleeps == []
    assert (writer.stats.failed, writer.stats.retried) == (1, 0)
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("Write-back read failed (not retried: a usage error)")
    assert str(error) in message


def test_any_other_exception_is_a_driver_error_retried_then_failed_never_raised(
    writer: BackgroundWriter,
) -> None:
    def broken() -> None:
        raise KeyError("driver bug")

    writer.submit(broken)
    writer.submit(lambda: None)
    assert writer.flush(timeout=10)
    # As in the serving layer's failure table: an unknown exception counts as an outage.
    assert (writer.stats.retried, writer.stats.failed, writer.stats.written) == (3, 1, 1)


def test_flush_times_out_while_a_job_runs_and_succeeds_after() -> None:
    gate = Gate()
    with BackgroundWriter() as writer:
        writer.submit(gate)
        assert gate.entered.wait(10)
        assert writer.flush(timeout=0.05) is False
        gate.release.set()
        assert writer.flush(timeout=10) is True


def test_close_flushes_what_is_queued() -> None:
    seen: list[int] = []
    writer = BackgroundWriter()
    gate = Gate()
    writer.submit(gate)
    for i in range(5):
        writer.submit(record(seen, i))
    threading.Timer(0.05, gate.release.set).start()
    assert writer.close(timeout=10) is True
    assert seen == [0, 1, 2, 3, 4]
    assert writer.stats.written == 6


def test_close_after_its_timeout_drops_what_is_left_and_later_submits_are_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = BackgroundWriter()
    gate = Gate()
    writer.submit(gate)
    assert gate.entered.wait(10)
    writer.submit(lambda: None)
    writer.submit(lambda: None)
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
        assert writer.close(timeout=0.05) is False
        gate.release.set()
        assert writer.submit(lambda: None) is False
        assert writer.submit(lambda: None) is False
    assert writer.stats.dropped == 4
    assert writer.closed
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "Write-back writer 'llmfs-writeback' closed with 2 job(s) unwritten (dropped)" in messages
    )
    assert messages.count("Write-back writer 'llmfs-writeback' is closed: job dropped") == 1
    writer.close()  # twice is fine


def test_close_cuts_a_backoff_short_with_the_default_sleep() -> None:
    writer = BackgroundWriter(backoff_s=60.0, max_backoff_s=60.0)
    job = Flaky(1, FeatureStoreUnavailableError("down"))
    writer.submit(job)
    # The job failed once and now waits 60 s; close stops the wait and drops the job.
    assert not writer.flush(timeout=0.2)
    writer.close(timeout=0.0)
    writer._thread.join(timeout=5)
    assert not writer._thread.is_alive()
    assert job.calls == 1
    assert (writer.stats.dropped, writer.stats.written, writer.stats.retried) == (1, 0, 0)


def test_the_worker_is_a_daemon_started_with_the_writer_and_stopped_by_close() -> None:
    writer = BackgroundWriter(name="llmfs-writeback-test")
    assert writer._thread.is_alive()  # started now, not on the request path of a submit
    assert writer._thread.daemon  # never holds up interpreter exit
    assert writer._thread.name == "llmfs-writeback-test"
    writer.close()
    writer._thread.join(timeout=5)
    assert not writer._thread.is_alive()


def test_writer_settings_are_validated() -> None:
    with pytest.raises(
        FeatureConfigError, match=r"writer:\n  max_queue: .*greater than or equal to 1"
    ):
        BackgroundWriter(max_queue=0)
    with pytest.raises(FeatureConfigError) as err:
        BackgroundWriter(queue_size=10)
    assert "queue_size: unknown key" in str(err.value)
    assert "max_queue" in str(err.value)
    with pytest.raises(FeatureConfigError, match="Pass a WriterConfig or its fields, not both"):
        BackgroundWriter(WriterConfig(), max_queue=3)
