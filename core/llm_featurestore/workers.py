"""Every worker thread of the library: the one module that creates thread pools.

Blocking work that must run beside a request goes to a pool handed out here; nothing
else in the library (or its adapters) constructs a ``ThreadPoolExecutor``. Pools are
created on first use, copy the submitter's :mod:`contextvars` into the task (tracing,
LangChain callbacks, the LlamaIndex entity context), are shut down at interpreter exit
and by :func:`shutdown`, and are created again on the next use after a shutdown.

**Purposes, and why there is more than one pool.** A task may wait for work it
submitted itself. If that work queued behind tasks of the same kind in the same bounded
pool, a busy process could deadlock (every thread waiting for a task that no thread is
free to run). So each purpose has its own pool, and work on a pool only ever waits for
pools *below* it:

1. ``pool("tasks")``: an adapter's overlapping work (a LangChain chain's parallel
   branches, a retriever's lookup beside its vector search); twice ``workers`` threads.
2. ``pool("reads")`` (:func:`shared_pool`): the read flow's concurrent calls for
   several entity types (the first call runs in the caller's thread, and a read that
   makes a single backend call runs it in the caller's thread: no hand-off at all);
   ``workers`` threads.
3. a :class:`Lane` per :class:`~llm_featurestore.serving.ServingClient`: its
   timeout-bounded calls to a backend that may block; and ``pool("blocking")``
   (:func:`to_thread`): a blocking call awaited from async code, in place of
   ``asyncio.to_thread`` and the event loop's default executor.
4. ``pool("backend")``: a backend's own concurrent sub-requests (micro-batches);
   ``workers`` threads.
5. :func:`background_thread`: a long-lived daemon thread for one owner that drains its
   own bounded queue (a write-back writer). It waits for no pool above, so it cannot
   deadlock them; being a daemon, it never holds up interpreter exit: its owner flushes
   it from an ``atexit`` hook, with a timeout, while pools and lanes still run.

**Why a serving client does not share a pool with other stores.** A sync call bounded by
``timeout_ms`` runs on a worker so that the caller can stop waiting, but Python cannot
stop the thread: a hung backend keeps it past the timeout. On a shared pool, one hung
store would fill every thread and the calls of healthy stores would queue behind it and
time out too. Each serving client therefore gets its own bounded :class:`Lane`
(``serving_lane_workers`` threads): a hung store exhausts only its own lane, its further
calls time out in the queue, and its circuit breaker opens. Lanes are owned here (shut
down with every pool) and by their client (``ServingClient.close``).

**Sizes** come from :class:`WorkerConfig`: the environment (``LLM_FEATURESTORE_WORKERS``,
default 16) or :func:`configure_workers`, which also shuts the current pools down so
that the next use creates them at the new size.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import functools
import os
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from pydantic import Field

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.settings import ConfigModel, validate_config

__all__ = [
    "WORKERS_ENV",
    "Lane",
    "Purpose",
    "WorkerConfig",
    "background_thread",
    "configure_workers",
    "pool",
    "shared_pool",
    "shutdown",
    "to_thread",
    "worker_settings",
]

WORKERS_ENV = "LLM_FEATURESTORE_WORKERS"
Purpose = Literal["tasks", "reads", "blocking", "backend"]
_T = TypeVar("_T")


class WorkerConfig(ConfigModel):
    """How many threads the library's pools may use."""

    config_name = "workers"

    workers: int = Field(
        16,
        ge=1,
        description="Threads of the 'reads', 'blocking' and 'backend' pools (the 'tasks' "
        f"pool has twice as many). Also the environment variable {WORKERS_ENV}.",
    )
    serving_lane_workers: int = Field(
        8, ge=1, description="Threads of each serving client's lane for timeout-bounded calls."
    )


class _ContextPool(ThreadPoolExecutor):
    """A pool whose tasks run in a copy of the submitter's context."""

    def submit(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> Future[_T]:
        ctx = contextvars.copy_context()
        return super().submit(functools.partial(ctx.run, fn, *args, **kwargs))


class Lane:
    """A bounded pool for one owner (a serving client), created on first use.

    Args:
        name: Thread name prefix.
        max_workers: Threads; ``None`` uses :class:`WorkerConfig`'s
            ``serving_lane_workers`` at the time the pool is created.
    """

    def __init__(self, name: str, max_workers: int | None = None) -> None:
        self.name = name
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        with _lock:
            _lanes.add(self)

    @property
    def running(self) -> bool:
        """True once the lane's pool exists (it is created by the first call)."""
        return self._executor is not None

    def executor(self) -> ThreadPoolExecutor:
        """The lane's pool (created now if it does not exist or was shut down)."""
        executor = self._executor
        if executor is None:
            with self._lock:
                executor = self._executor
                if executor is None:
                    size = self.max_workers or worker_settings().serving_lane_workers
                    executor = self._executor = _create(size, self.name)
        return executor

    def submit(self, fn: Callable[..., _T], /, *args: Any) -> Future[_T]:
        return self.executor().submit(fn, *args)

    def shutdown(self) -> None:
        """Stop the lane's threads (queued work is cancelled); the next use starts anew."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


_lock = threading.Lock()
_config: WorkerConfig | None = None
_pools: dict[str, ThreadPoolExecutor] = {}
_lanes: weakref.WeakSet[Lane] = weakref.WeakSet()
_SIZE_FACTOR: dict[str, int] = {"tasks": 2, "reads": 1, "blocking": 1, "backend": 1}


def worker_settings() -> WorkerConfig:
    """The sizes in force: those of :func:`configure_workers`, else the environment's.

    Raises:
        FeatureConfigError: ``LLM_FEATURESTORE_WORKERS`` is not a positive integer.
    """
    if _config is not None:
        return _config
    raw = os.environ.get(WORKERS_ENV, "").strip()
    if not raw:
        return WorkerConfig()
    if not raw.lstrip("+").isdigit():
        raise FeatureConfigError(f"{WORKERS_ENV} must be a positive integer, got {raw!r}")
    return validate_config(WorkerConfig, {"workers": int(raw)}, origin=f"${WORKERS_ENV}")


def configure_workers(
    workers: int | None = None, *, serving_lane_workers: int | None = None
) -> WorkerConfig:
    """Set the pools' sizes from code (over the environment), and return them.

    Pools already running are shut down (their queued work cancelled) and created at
    the new size on their next use. ``configure_workers()`` with no argument goes back
    to the environment's sizes.

    Raises:
        FeatureConfigError: a size below 1 or not an integer (the message names it).
    """
    global _config
    fields = {"workers": workers, "serving_lane_workers": serving_lane_workers}
    given = {k: v for k, v in fields.items() if v is not None}
    config = validate_config(WorkerConfig, given) if given else None
    shutdown()
    with _lock:
        _config = config
    return worker_settings()


def pool(purpose: Purpose = "reads") -> ThreadPoolExecutor:
    """The pool of ``purpose`` (see the module docstring), created on first use."""
    found = _pools.get(purpose)
    if found is not None:
        return found
    if purpose not in _SIZE_FACTOR:
        raise FeatureConfigError(
            f"Unknown worker pool {purpose!r}; valid: {', '.join(_SIZE_FACTOR)}"
        )
    size = worker_settings().workers * _SIZE_FACTOR[purpose]
    with _lock:
        found = _pools.get(purpose)
        if found is None:
            found = _pools[purpose] = _create(size, f"llmfs-{purpose}")
    return found


def shared_pool() -> ThreadPoolExecutor:
    """The read flow's pool, ``pool("reads")``."""
    return pool("reads")


async def to_thread(fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
    """``await`` a blocking call run on ``pool("blocking")`` (``asyncio.to_thread`` on the
    library's own, bounded pool; the context is copied the same way)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(pool("blocking"), functools.partial(fn, *args, **kwargs))


def background_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread running ``target`` (purpose 5 of the module docstring).

    The thread starts in an empty context (not the caller's): a long-lived worker must
    not keep one request's tracing or callbacks alive.
    """
    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    return thread


def shutdown(*, wait: bool = False) -> None:
    """Shut every pool and lane down (queued work is cancelled, running work finishes).

    Safe to call more than once; any pool is created again on its next use.
    """
    with _lock:
        executors = list(_pools.values())
        _pools.clear()
        lanes = list(_lanes)
    for executor in executors:
        executor.shutdown(wait=wait, cancel_futures=True)
    for lane in lanes:
        lane.shutdown()


def _create(size: int, name: str) -> ThreadPoolExecutor:
    return _ContextPool(max_workers=size, thread_name_prefix=name)


atexit.register(shutdown)
