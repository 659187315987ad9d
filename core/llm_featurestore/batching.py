"""How the read flow's requests become backend calls, and how those calls are run.

:func:`group_calls` makes one :class:`ReadCall` per entity type and feature set over the
unique ids of every request (an id asked for again with other request data goes into a
further call, so no call holds an id twice); :func:`run_threads` and :func:`run_tasks`
run a round of calls concurrently, with threads or on the event loop, and hand each
call's vectors or error back to :mod:`llm_featurestore.reading`'s flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from llm_featurestore.clients.request_data import freeze_request_data
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.plan import Item, rounds
from llm_featurestore.workers import shared_pool

if TYPE_CHECKING:
    from llm_featurestore.clients.base import FeatureStoreClient
    from llm_featurestore.reading import ReadRequest

__all__ = ["Answer", "ReadCall", "group_calls", "run_tasks", "run_threads"]


class ReadCall(NamedTuple):
    """One backend call: ``get_batch_features(ids, entity_type, names, request_data=data)``
    (``data``, aligned with ``ids``, is ``None`` for a call without request data)."""

    entity_type: str
    ids: tuple[str, ...]
    names: tuple[str, ...]
    data: tuple[Mapping[str, Any], ...] | None = None

    def frozen(self) -> list[tuple[Any, ...]]:
        """Each id's frozen request data, aligned with ``ids``."""
        return [freeze_request_data(d) for d in self.data or [{}] * len(self.ids)]

    def subset(self, ids: Sequence[str]) -> ReadCall:
        """The same call for some of its ids (a call never holds an id twice)."""
        if self.data is None:
            return self._replace(ids=tuple(ids))
        by_id = dict(zip(self.ids, self.data, strict=True))
        return self._replace(ids=tuple(ids), data=tuple(by_id[e] for e in ids))

    def kwargs(self) -> dict[str, Any]:
        """``request_data=`` when the call has some (older backends lack the keyword)."""
        return {} if self.data is None else {"request_data": list(self.data)}


Answer = list[FeatureVector] | Exception
"""What one call gave: its vectors, or the error it raised."""


def group_calls(
    requests: Sequence[ReadRequest], todos: Sequence[dict[str, list[str]] | None]
) -> list[ReadCall]:
    """One call per (entity type, names) over the unique ids of every admitted request,
    each with its request data; an id asked for again with other request data goes into
    a further call of the same group."""
    groups: dict[tuple[str, tuple[str, ...]], dict[Item, Mapping[str, Any]]] = {}
    for request, todo in zip(requests, todos, strict=True):
        for etype, wanted in (todo or {}).items():
            values = request.request_data.get(etype) or {}
            group = groups.setdefault((etype, tuple(wanted)), {})
            group.setdefault(request.item(etype), values)
    calls = []
    for (etype, names), items in groups.items():
        for round_ in rounds(list(items)):
            data = tuple(items[item] for item in round_)
            ids = tuple(eid for eid, _ in round_)
            calls.append(ReadCall(etype, ids, names, data if any(data) else None))
    return calls


def _call(client: FeatureStoreClient, call: ReadCall) -> Answer:
    try:
        return client.get_batch_features(
            list(call.ids), call.entity_type, list(call.names), **call.kwargs()
        )
    except Exception as exc:
        return exc


async def _acall(client: FeatureStoreClient, call: ReadCall) -> Answer:
    try:
        return await client.aget_batch_features(
            list(call.ids), call.entity_type, list(call.names), **call.kwargs()
        )
    except Exception as exc:
        return exc


def run_threads(client: FeatureStoreClient, calls: list[ReadCall]) -> list[Answer]:
    if len(calls) == 1:
        return [_call(client, calls[0])]
    pool = shared_pool()
    futures = [pool.submit(_call, client, c) for c in calls[1:]]
    first = _call(client, calls[0])
    return [first, *(f.result() for f in futures)]


async def run_tasks(client: FeatureStoreClient, calls: list[ReadCall]) -> list[Answer]:
    if len(calls) == 1:
        return [await _acall(client, calls[0])]
    return list(await asyncio.gather(*(_acall(client, c) for c in calls)))
