"""Run blocking calls concurrently on the library's one worker pool, without deadlock.

The caller may itself be a worker of :func:`~llm_featurestore.workers.shared_pool`
(the read flow runs entity types there), so waiting on queued work could starve the
pool. :func:`map_beside` runs the first item in the calling thread, hands the rest to
the pool, and takes back (runs itself) any item no worker has started yet: the caller
only ever waits on work that is already running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from typing import TypeVar

from llm_featurestore.workers import shared_pool

__all__ = ["map_beside"]

T = TypeVar("T")
R = TypeVar("R")


def map_beside(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``[fn(item) for item in items]``, the items after the first run on the shared pool.

    The first exception (in item order) propagates, after every started call ended.
    """
    if len(items) <= 1:
        return [fn(item) for item in items]
    pool = shared_pool()
    futures: list[Future[R]] = [pool.submit(fn, item) for item in items[1:]]
    results: list[R] = []
    error: BaseException | None = None
    try:
        results.append(fn(items[0]))
    except BaseException as exc:
        error = exc
    for item, future in zip(items[1:], futures, strict=True):
        taken = future.cancel()  # not started: this thread runs it (or skips it)
        if error is not None:
            if not taken:
                wait([future])  # no call outlives this one
            continue
        try:
            results.append(fn(item) if taken else future.result())
        except BaseException as exc:
            error = exc
    if error is not None:
        raise error
    return results
