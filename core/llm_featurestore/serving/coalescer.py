"""Request coalescing: concurrent single-entity lookups (async tasks or threads) become one
batch call."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from llm_featurestore.models import FeatureVector

__all__ = ["AsyncCoalescer", "Outcome", "ThreadCoalescer"]

Outcome = FeatureVector | Exception
"""One id's answer in a batch: its vector, or the error that only its request gets."""
BatchFetch = Callable[[list[str], str, tuple[str, ...]], Awaitable[list[Outcome]]]


@dataclass
class _Group:
    loop: asyncio.AbstractEventLoop
    waiters: list[tuple[str, asyncio.Future[FeatureVector]]] = field(default_factory=list)
    handle: asyncio.Handle | None = None


class AsyncCoalescer:
    """Collects lookups of the same entity type and feature set for ``window_s`` seconds
    (or until ``max_batch`` have arrived) and answers them with one call to ``fetch``.

    Every waiter receives the vector whose position in the batch matches its own
    entity id, so no caller can receive another entity's values. Duplicate ids in a
    window are fetched once. ``fetch`` answers each id with its vector or its own error
    (a malformed id fails only the requests for that id); an error raised by ``fetch``
    itself is raised to every waiter.
    Groups are kept per event loop, so clients shared across threads with their own
    loops never mix futures.
    """

    def __init__(self, fetch: BatchFetch, *, window_s: float, max_batch: int) -> None:
        self._fetch = fetch
        self.window_s = window_s
        self.max_batch = max_batch
        self._groups: dict[tuple[int, str, tuple[str, ...]], _Group] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.batches_sent = 0
        self.requests_coalesced = 0

    async def get(
        self, entity_id: str, entity_type: str, feature_names: tuple[str, ...]
    ) -> FeatureVector:
        loop = asyncio.get_running_loop()
        key = (id(loop), entity_type, feature_names)
        group = self._groups.get(key)
        if group is None:
            group = _Group(loop)
            self._groups[key] = group
            if self.window_s > 0:
                group.handle = loop.call_later(self.window_s, self._flush, key, group)
            else:
                # A zero window batches what arrives in the same loop iteration
                # (e.g. one asyncio.gather) without waiting for a timer.
                group.handle = loop.call_soon(self._flush, key, group)
        future: asyncio.Future[FeatureVector] = loop.create_future()
        group.waiters.append((entity_id, future))
        if len(group.waiters) >= self.max_batch:
            self._flush(key, group)
        return await future

    def _flush(self, key: tuple[int, str, tuple[str, ...]], group: _Group) -> None:
        if self._groups.get(key) is group:
            del self._groups[key]
        if group.handle is not None:
            group.handle.cancel()
        task = group.loop.create_task(self._run(group, key[1], key[2]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, group: _Group, entity_type: str, feature_names: tuple[str, ...]) -> None:
        ids = list(dict.fromkeys(eid for eid, _ in group.waiters))
        self.batches_sent += 1
        self.requests_coalesced += len(group.waiters)
        try:
            vectors = await self._fetch(ids, entity_type, feature_names)
        except BaseException as exc:
            for _, future in group.waiters:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        _answer(ids, vectors, group.waiters)


def _answer(
    ids: list[str],
    outcomes: list[Outcome],
    waiters: list[tuple[str, asyncio.Future[FeatureVector]]]
    | list[tuple[str, concurrent.futures.Future[FeatureVector]]],
) -> None:
    """Give each waiter the outcome of its own id."""
    by_id = dict(zip(ids, outcomes, strict=True))
    for eid, future in waiters:
        if future.done():
            continue  # a cancelled waiter
        outcome = by_id[eid]
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


SyncBatchFetch = Callable[[list[str], str, tuple[str, ...]], list[Outcome]]


@dataclass
class _ThreadGroup:
    waiters: list[tuple[str, concurrent.futures.Future[FeatureVector]]] = field(
        default_factory=list
    )
    full: threading.Event = field(default_factory=threading.Event)


class ThreadCoalescer:
    """The thread twin of :class:`AsyncCoalescer`, for sync apps serving requests on threads.

    The first thread to ask for an (entity type, feature set) becomes the leader: it
    waits up to ``window_s`` (less if ``max_batch`` requests arrive), takes the group
    and makes one batch call on behalf of every thread that joined; the others block
    on their own future. Each caller receives its own entity's vector.
    """

    def __init__(self, fetch: SyncBatchFetch, *, window_s: float, max_batch: int) -> None:
        self._fetch = fetch
        self.window_s = window_s
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._groups: dict[tuple[str, tuple[str, ...]], _ThreadGroup] = {}
        self.batches_sent = 0
        self.requests_coalesced = 0

    def get(
        self, entity_id: str, entity_type: str, feature_names: tuple[str, ...]
    ) -> FeatureVector:
        key = (entity_type, feature_names)
        future: concurrent.futures.Future[FeatureVector] = concurrent.futures.Future()
        with self._lock:
            group = self._groups.get(key)
            leader = group is None
            if group is None:
                group = self._groups[key] = _ThreadGroup()
            group.waiters.append((entity_id, future))
            if len(group.waiters) >= self.max_batch:
                del self._groups[key]
                group.full.set()
        if leader:
            group.full.wait(self.window_s)
            with self._lock:
                if self._groups.get(key) is group:
                    del self._groups[key]
            self._run(group, entity_type, feature_names)
        return future.result()

    def _run(self, group: _ThreadGroup, entity_type: str, feature_names: tuple[str, ...]) -> None:
        ids = list(dict.fromkeys(eid for eid, _ in group.waiters))
        with self._lock:
            self.batches_sent += 1
            self.requests_coalesced += len(group.waiters)
        try:
            vectors = self._fetch(ids, entity_type, feature_names)
        except BaseException as exc:
            for _, future in group.waiters:
                future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        _answer(ids, vectors, group.waiters)
