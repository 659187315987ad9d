"""What one read of the serving layer asks for, what the cache already holds of it, and
how the rest becomes backend calls in which no id repeats.

A vector computed from request data is only valid for that request data, so each
position of a read is an :data:`Item`, the entity id with its frozen request data
(:func:`~llm_featurestore.clients.base.freeze_request_data`), and the cache and the
calls work on items: a vector is never served for other request data. One backend call
takes each id once; an id asked for with different request data in the same read goes
into a further call (:func:`rounds`). Reads with request data are not coalesced:
concurrent requests rarely carry the same request data, so keying the coalescer's
groups by it would make nearly every group a group of one, at the cost of its window.
A backend without ``accepts_request_data`` never sees request data: the read is refused
first, naming it (:func:`checked_request_data`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llm_featurestore.clients.base import (
    FeatureStoreClient,
    RequestData,
    check_request_data,
    freeze_request_data,
    request_data_refused,
)
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.cache import VectorCache, cache_key
from llm_featurestore.serving.coalescer import Outcome
from llm_featurestore.serving.failures import ServingStats

__all__ = [
    "Item",
    "ReadPlan",
    "checked_request_data",
    "from_cache",
    "raise_first",
    "remember",
    "rounds",
]

Item = tuple[str, tuple[Hashable, ...]]
"""One position of a read: the entity id and its frozen request data (``()``: none)."""


@dataclass
class ReadPlan:
    """One read: its items in request order, and the request data of each unique item.

    Attributes:
        items: One per requested id, duplicates included.
        data: Request data per unique item; empty when the read carries none.
    """

    items: list[Item]
    data: dict[Item, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def of(
        cls, entity_ids: Sequence[str], request_data: Sequence[Mapping[str, Any]] | None
    ) -> ReadPlan:
        """The plan of ``entity_ids`` with their (already validated) request data."""
        if request_data is None:
            return cls([(eid, ()) for eid in entity_ids])
        items = [
            (eid, freeze_request_data(d)) for eid, d in zip(entity_ids, request_data, strict=True)
        ]
        return cls(items, dict(zip(items, request_data, strict=True)))

    @property
    def has_data(self) -> bool:
        return bool(self.data)

    def unique(self) -> list[Item]:
        """The distinct items, in first-seen order."""
        return list(dict.fromkeys(self.items))

    def request_data(self, call: Sequence[Item]) -> list[Mapping[str, Any]] | None:
        """The ``request_data=`` of one call over ``call`` (``None`` when the read has none)."""
        return [self.data[item] for item in call] if self.data else None

    def answer(self, found: Mapping[Item, FeatureVector]) -> list[FeatureVector]:
        """One vector per position, from the vectors found per item."""
        return [found[item] for item in self.items]


def rounds(items: Sequence[Item]) -> list[list[Item]]:
    """Split distinct items into calls in which no id repeats: the n-th request data of
    an id goes into the n-th call (one call when every id is asked for once)."""
    calls: list[list[Item]] = []
    seen: dict[str, int] = {}
    for item in items:
        n = seen.get(item[0], 0)
        seen[item[0]] = n + 1
        if n == len(calls):
            calls.append([])
        calls[n].append(item)
    return calls


def checked_request_data(
    backend: FeatureStoreClient,
    entity_ids: Sequence[str],
    request_data: Sequence[RequestData] | None,
) -> list[dict[str, Any]] | None:
    """A read's validated request data (``None``: none), refused naming ``backend``
    when it takes none (:func:`~llm_featurestore.clients.base.request_data_refused`)."""
    data = check_request_data(entity_ids, request_data)
    if data is not None and not backend.accepts_request_data:
        raise request_data_refused(backend, data)
    return data


def from_cache(
    cache: VectorCache | None,
    stats: ServingStats,
    plan: ReadPlan,
    entity_type: str,
    names: tuple[str, ...],
) -> tuple[dict[Item, FeatureVector], list[Item]]:
    """Split a read into cached vectors and the unique items still to fetch (counted)."""
    stats.requests += len(plan.items)
    unique = plan.unique()
    if cache is None:
        return {}, unique
    found: dict[Item, FeatureVector] = {}
    misses: list[Item] = []
    for item in unique:
        hit = cache.get(cache_key(entity_type, item[0], names, item[1]))
        if hit is None:
            misses.append(item)
        else:
            found[item] = hit
    stats.cache_hits += len(found)
    stats.cache_misses += len(misses)
    return found, misses


def remember(
    cache: VectorCache | None,
    entity_type: str,
    names: tuple[str, ...],
    vectors: Sequence[FeatureVector],
    request_data: Mapping[str, RequestData] | None,
) -> None:
    """Cache the vectors of one successful call, each under its id's request data."""
    if cache is None:
        return
    for vector in vectors:
        data = None if request_data is None else request_data.get(vector.entity_id)
        key = cache_key(entity_type, vector.entity_id, names, freeze_request_data(data))
        cache.put(key, vector)


def raise_first(outcomes: list[Outcome]) -> list[FeatureVector]:
    """The vectors of a batch read, or the first per-id error (a direct batch call fails
    as a whole; only coalesced requests fail one by one)."""
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return outcomes  # type: ignore[return-value]
