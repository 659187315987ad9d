"""A bounded background writer: one queue, one daemon thread, retries with backoff.

:meth:`BackgroundWriter.submit` is the only thing a request does: it appends a job to
a bounded queue and returns (no I/O, no waiting, never an exception). One worker
thread runs the jobs in submission order, so the jobs of one user are processed in
order. What can go wrong, and what is counted in :attr:`BackgroundWriter.stats`:

=========================================  ============================================
The queue is full                          the oldest job is dropped (``dropped``)
A job fails with an outage or timeout      retried after ``backoff_s``, doubling up to
                                           ``max_backoff_s`` (``retried``), at most
                                           ``max_attempts`` times, then ``failed``
A job fails with a usage error (unknown    ``failed`` at once: retrying cannot help
feature, invalid value)
The writer is closed, or exit came first   queued jobs are ``dropped``
=========================================  ============================================

Each failure cause is logged once (then at most once a minute, with a count), never
once per job. :meth:`~BackgroundWriter.flush` waits for the queue to empty;
:meth:`~BackgroundWriter.close` flushes then stops; at interpreter exit every open
writer is flushed (up to its ``exit_timeout_s``) and closed.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import Field

from llm_featurestore.models import FeatureStatus
from llm_featurestore.serving.degrade import CauseLog, degraded_status
from llm_featurestore.settings import ConfigModel, PositiveSeconds, settings_from
from llm_featurestore.workers import background_thread

__all__ = ["BackgroundWriter", "Job", "WriterConfig", "WriterStats", "flush_all_writers"]

logger = logging.getLogger("llm_featurestore.writeback")
_RETRYABLE = (FeatureStatus.UNAVAILABLE, FeatureStatus.TIMED_OUT)


class WriterConfig(ConfigModel):
    """The background writer's queue, retries and exit behaviour."""

    config_name = "writer"

    max_queue: int = Field(
        1000, ge=1, description="Jobs held at most; a full queue drops the oldest."
    )
    max_attempts: int = Field(5, ge=1, description="Tries per job before it counts as failed.")
    backoff_s: PositiveSeconds = Field(
        0.1, description="Wait before the first retry (then doubled)."
    )
    max_backoff_s: PositiveSeconds = Field(5.0, description="Longest wait between two tries.")
    exit_timeout_s: float = Field(
        5.0,
        ge=0,
        allow_inf_nan=False,
        description="How long interpreter exit waits for the queue to be written; 0: no wait.",
    )


class Job(Protocol):
    """One unit of background work: called until it returns without raising.

    A job that is retried is called again, so it must keep what it already computed
    (see :class:`~llm_featurestore.writeback.flow.TurnJob`). Its optional ``stage``
    attribute names what it was doing when it failed, for the log.
    """

    def __call__(self) -> None: ...


@dataclass(frozen=True)
class WriterStats:
    """Counters of one writer (a snapshot)."""

    queued: int = 0
    """Jobs accepted by :meth:`BackgroundWriter.submit`."""
    written: int = 0
    """Jobs that completed."""
    dropped: int = 0
    """Jobs never run: the oldest of a full queue, or still queued at close or exit."""
    retried: int = 0
    """Retries (a job that succeeded on its third try counts 2)."""
    failed: int = 0
    """Jobs given up: out of attempts, or a usage error."""
    submit_ms: float = 0.0
    """Time callers spent in :meth:`BackgroundWriter.submit` (the request-path cost)."""
    busy_ms: float = 0.0
    """Time the worker spent running jobs, retries and backoff excluded."""


_WRITERS: weakref.WeakSet[BackgroundWriter] = weakref.WeakSet()


class BackgroundWriter:
    """Run jobs off the request path, in order, with a bounded queue and bounded retries.

    Args:
        config: The settings (:class:`WriterConfig`); or pass its fields as keywords.
        name: The worker thread's name.
        sleep: Waits between retries, given seconds (tests pass a recorder). The default
            waits on the writer's stop signal, so :meth:`close` cuts a backoff short.
        clock: Monotonic seconds, for ``submit_ms``/``busy_ms`` and the cause log.
        **fields: The fields of :class:`WriterConfig`.
    """

    def __init__(
        self,
        config: WriterConfig | None = None,
        *,
        name: str = "llmfs-writeback",
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        **fields: Any,
    ) -> None:
        self.config = settings_from(WriterConfig, config, fields)
        self.name = name
        self._sleep = sleep
        self._clock = clock
        self._queue: collections.deque[Job] = collections.deque()
        lock = threading.Lock()  # guards everything below
        self._cond = threading.Condition(lock)  # flush waits here for the queue to drain
        self._wake = threading.Condition(lock)  # the worker waits here for jobs
        self._stop = threading.Event()
        self._running = False  # a job is in the worker's hands
        self._closed = False
        self._totals = dict.fromkeys((f.name for f in dataclasses.fields(WriterStats)), 0.0)
        self._causes = CauseLog(logger, clock=clock)
        _WRITERS.add(self)
        # Started now, not on the first submit: starting a thread is not free, and
        # submit runs on the request path.
        self._thread = background_thread(self._work, name)

    @property
    def stats(self) -> WriterStats:
        """A snapshot of the counters."""
        with self._cond:
            totals = dict(self._totals)
        return WriterStats(
            **{k: v if k.endswith("_ms") else int(v) for k, v in totals.items()}  # type: ignore[arg-type]
        )

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        with self._cond:
            return len(self._queue) + int(self._running)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._closed

    def submit(self, job: Job) -> bool:
        """Queue ``job``; never blocks on I/O and never raises.

        Returns:
            False when the writer is closed (the job is dropped and counted).
        """
        started = self._clock()
        dropped_oldest = False
        with self._cond:
            totals = self._totals
            if self._closed:
                totals["dropped"] += 1
                accepted = False
            else:
                if len(self._queue) >= self.config.max_queue:
                    self._queue.popleft()
                    dropped_oldest = True
                    totals["dropped"] += 1
                self._queue.append(job)
                self._wake.notify()
                totals["queued"] += 1
                accepted = True
            totals["submit_ms"] += (self._clock() - started) * 1000.0
        if not accepted:
            self._causes.warn("closed", f"Write-back writer {self.name!r} is closed: job dropped")
        elif dropped_oldest:
            self._causes.warn(
                "queue_full",
                f"Write-back queue {self.name!r} is full ({self.config.max_queue} jobs): "
                "dropped the oldest job; raise writer.max_queue or check the store",
            )
        return accepted

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued job has run (or given up).

        Returns:
            True when the queue is empty and no job is running; False on timeout.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._running:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush (up to ``timeout`` seconds), then stop the worker. Safe to call twice.

        Jobs still queued after the timeout are dropped and counted; a job in a backoff
        wait is given up (dropped). Later :meth:`submit` calls drop their job.

        Returns:
            True when everything was flushed.
        """
        flushed = self.flush(timeout)
        with self._cond:
            self._closed = True
            left = len(self._queue)
            self._queue.clear()
            self._count(dropped=left)
            self._stop.set()
            self._wake.notify()
            self._cond.notify_all()
            thread = self._thread
        if left:
            logger.warning(
                "Write-back writer %r closed with %d job(s) unwritten (dropped)", self.name, left
            )
        if thread is not threading.current_thread():
            thread.join(timeout=0.5)
        return flushed

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -------------------------------------------------------------- the worker

    def _count(self, **deltas: float) -> None:
        """Add ``deltas`` to the counters (the caller holds the lock)."""
        totals = self._totals
        for key, value in deltas.items():
            totals[key] += value

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._wake.wait()
                if not self._queue:
                    return
                job = self._queue.popleft()
                self._running = True
            try:
                outcome = self._run(job)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
            if outcome == "stopped":
                return

    def _run(self, job: Job) -> str:
        """Try ``job`` up to ``max_attempts`` times; counts the outcome and returns it."""
        attempts = self.config.max_attempts
        for attempt in range(1, attempts + 1):
            started = self._clock()
            try:
                job()
            except Exception as exc:
                busy = (self._clock() - started) * 1000.0
                if degraded_status(exc) not in _RETRYABLE or attempt == attempts:
                    with self._cond:
                        self._count(busy_ms=busy, failed=1)
                    self._give_up(job, exc, attempt)
                    return "failed"
                with self._cond:
                    self._count(busy_ms=busy)
                if not self._wait(self._backoff(attempt)):
                    with self._cond:  # stopped during the backoff: given up unwritten
                        self._count(dropped=1)
                    return "stopped"
                with self._cond:
                    self._count(retried=1)
                continue
            with self._cond:
                self._count(written=1, busy_ms=(self._clock() - started) * 1000.0)
            return "written"
        return "failed"  # pragma: no cover - the loop always returns

    def _backoff(self, attempt: int) -> float:
        return min(self.config.max_backoff_s, self.config.backoff_s * 2.0 ** (attempt - 1))

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` before a retry; False when the writer was stopped meanwhile."""
        if self._sleep is None:
            return not self._stop.wait(seconds)
        self._sleep(seconds)
        return not self._stop.is_set()

    def _give_up(self, job: Job, exc: Exception, attempts: int) -> None:
        stage = str(getattr(job, "stage", "job"))
        retryable = degraded_status(exc) in _RETRYABLE
        why = f"after {attempts} attempt(s)" if retryable else "(not retried: a usage error)"
        self._causes.warn(
            ("failed", stage, type(exc).__name__),
            f"Write-back {stage} failed {why}: {type(exc).__name__}: {exc}",
        )


def flush_all_writers(timeout: float | None = None) -> None:
    """Flush and close every open writer (each up to ``timeout``, else its own
    ``exit_timeout_s``). Registered with :mod:`atexit`; safe to call any time."""
    for writer in list(_WRITERS):
        if not writer.closed:
            writer.close(writer.config.exit_timeout_s if timeout is None else timeout)


atexit.register(flush_all_writers)
