"""Connection plumbing shared by the network backends: per-loop async pools, one TLS context."""

from __future__ import annotations

import asyncio
import functools
import ssl
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["PerLoop", "shared_ssl_context"]

T = TypeVar("T")


class PerLoop(Generic[T]):
    """One async resource per running event loop, closed when that loop shuts down.

    Async drivers (redis.asyncio, httpx) bind their connections to the loop that
    opened them, while a client object often outlives a loop (``asyncio.run`` called
    twice, a test suite with a loop per test). The resource is created on first use in
    a loop; a parked async generator closes it during ``loop.shutdown_asyncgens()``
    (run by ``asyncio.run`` and ``asyncio.Runner``), while the loop can still run the
    driver's async close.
    """

    def __init__(self, factory: Callable[[], T], closer: Callable[[T], Awaitable[None]]) -> None:
        self._factory = factory
        self._closer = closer
        self._items: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[T, AsyncIterator[None]]
        ] = weakref.WeakKeyDictionary()

    def peek(self) -> T | None:
        """The running loop's resource if it exists (no await: the hot path)."""
        entry = self._items.get(asyncio.get_running_loop())
        return None if entry is None else entry[0]

    async def get(self) -> T:
        loop = asyncio.get_running_loop()
        entry = self._items.get(loop)
        if entry is not None:
            return entry[0]
        item = self._factory()
        guard = self._guard(loop, item)
        self._items[loop] = (item, guard)
        await guard.__anext__()
        return item

    async def _guard(self, loop: asyncio.AbstractEventLoop, item: T) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if self._items.get(loop, (None,))[0] is item:
                del self._items[loop]
            await self._closer(item)

    async def aclose(self) -> None:
        """Close the current loop's resource now (others close with their loops)."""
        loop = asyncio.get_running_loop()
        entry = self._items.pop(loop, None)
        if entry is not None:
            await self._closer(entry[0])


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once per process.

    Building one loads the CA bundle (tens of milliseconds); every ``httpx`` client,
    including one per event loop, reuses this one instead.
    """
    import httpx

    return httpx.create_ssl_context()
