"""One connection per reading thread, released when the thread ends or on ``close``.

A direct read is sequential on its thread, so a connection of its own needs no lock
and no pool round trip (a Redis pool's get and release cost more than the rest of a
one-entity read; SQLite connections are not meant to be shared between threads). A
thread's connection lives in a ``threading.local``; when the thread ends, its locals
go and so does the connection (closed when it is collected), so threads that come and
go leave no sockets or files behind. :meth:`PerThread.close` closes every live one,
and each thread opens a new one on its next read.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerThread"]

T = TypeVar("T")


class _Held(Generic[T]):
    """A thread's connection, and the generation of :class:`PerThread` it belongs to."""

    __slots__ = ("__weakref__", "generation", "item")

    def __init__(self, item: T, generation: int) -> None:
        self.item = item
        self.generation = generation


class PerThread(Generic[T]):
    """Each thread's own ``factory()`` result, closed by ``closer`` on :meth:`close`.

    Args:
        factory: Opens a connection (called on a thread's first use, and after close).
        closer: Closes one (from any thread).
    """

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], None]) -> None:
        self._factory = factory
        self._closer = closer
        self._local = threading.local()
        self._lock = threading.Lock()
        self._live: weakref.WeakSet[_Held[T]] = weakref.WeakSet()
        self._generation = 0

    def get(self) -> T:
        """The calling thread's connection, opened on first use."""
        held: _Held[T] | None = getattr(self._local, "held", None)
        if held is not None and held.generation == self._generation:
            return held.item
        held = _Held(self._factory(), self._generation)
        with self._lock:
            self._live.add(held)
            self._local.held = held
        return held.item

    def live(self) -> int:
        """How many threads hold a connection now."""
        return len(self._live)

    def close(self) -> None:
        """Close every thread's connection; each thread opens a new one when it next reads."""
        with self._lock:
            live, self._live = list(self._live), weakref.WeakSet()
            self._generation += 1
        for held in live:
            self._closer(held.item)
