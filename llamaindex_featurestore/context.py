"""Whose features a query uses, and one feature lookup per query shared by every component.

A query names its entities in one of three ways; for each entity type the first that
names it wins:

1. the query bundle: ``FeatureQueryBundle("running shoes", user_id="u1")``;
2. the context variable, set around the call: ``with user_context("u1"): engine.query(q)``
   (it follows ``asyncio`` tasks and ``asyncio.to_thread``, so concurrent requests stay
   apart);
3. the component's constructor (``user_id=`` / ``entities=``), a per-instance default.

``user_id`` is shorthand for the entity type ``"user"``; other entity types (for example
``"organization"``) go in ``entities``.

Vectors fetched while answering a query are kept on its query bundle (a
:class:`FeatureQueryBundle`'s ``vectors``, or a private attribute of a plain
``QueryBundle``). A query engine hands the same bundle to its retriever and to its node
postprocessors, so the retriever's lookup also serves the postprocessors: one store
round trip per query when the retriever is told to prefetch what they need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

from llama_index.core.schema import QueryBundle

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureStoreUnavailableError, FeatureTimeoutError
from llm_featurestore.models import FeatureStatus, FeatureVector

__all__ = [
    "USER_ENTITY",
    "FeatureQueryBundle",
    "FeatureRequest",
    "Lookup",
    "afetch_vectors",
    "current_entities",
    "fetch_vectors",
    "merge_needs",
    "query_vectors",
    "resolve_entities",
    "user_context",
]

USER_ENTITY = "user"
"""The entity type that ``user_id`` arguments refer to."""

logger = logging.getLogger(__name__)

_ENTITIES: ContextVar[Mapping[str, str] | None] = ContextVar("llmfs_entities", default=None)
_CACHE_ATTR = "_llmfs_vectors"

FeatureRequest = Mapping[str, Sequence[str]]
"""Features to read, per entity type: ``{"user": ["favorite_category", ...]}``."""


@dataclass
class FeatureQueryBundle(QueryBundle):
    """A ``QueryBundle`` that carries whose features to use, and the vectors fetched for it.

    Args:
        user_id: The user's id (entity type ``"user"``); ``None`` leaves it to the
            context variable or the component's default.
        entities: Ids of other entity types, ``{entity_type: entity_id}``; an explicit
            ``"user"`` key here wins over ``user_id``.
        vectors: Vectors already fetched for this query, by entity type. Components
            read from and add to it; pass vectors fetched elsewhere (for example by a
            concurrent Workflow step) to avoid a second lookup.
    """

    user_id: str | None = None
    entities: dict[str, str] = field(default_factory=dict)
    vectors: dict[str, FeatureVector] = field(default_factory=dict)

    def entity_ids(self) -> dict[str, str]:
        """``entities`` with ``user_id`` filled in under ``"user"``."""
        ids = {USER_ENTITY: self.user_id} if self.user_id else {}
        ids.update(self.entities)
        return ids


@contextlib.contextmanager
def user_context(user_id: str | None = None, **entities: str) -> Iterator[None]:
    """Use these entities for every query started inside the ``with`` block.

    ``with user_context("u1", organization="acme"): engine.query("...")``. Blocks nest:
    an inner block adds to (and overrides) the outer one's entities.
    """
    ids = dict(_ENTITIES.get() or {})
    if user_id is not None:
        ids[USER_ENTITY] = user_id
    ids.update(entities)
    token = _ENTITIES.set(ids)
    try:
        yield
    finally:
        _ENTITIES.reset(token)


def current_entities() -> dict[str, str]:
    """The entities set by the innermost :func:`user_context` (empty outside one)."""
    return dict(_ENTITIES.get() or {})


def resolve_entities(
    query_bundle: QueryBundle | None,
    user_id: str | None = None,
    entities: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Entity ids for one query: the bundle's, then the context variable's, then defaults.

    Args:
        query_bundle: The query; a :class:`FeatureQueryBundle` contributes its ids.
        user_id: The component's default user id.
        entities: The component's default ids of other entity types.

    Returns:
        ``{entity_type: entity_id}``; empty when nobody named an entity (no personalisation).
    """
    ids: dict[str, str] = dict(entities or {})
    if user_id:
        ids[USER_ENTITY] = user_id
    ids.update(current_entities())
    if isinstance(query_bundle, FeatureQueryBundle):
        ids.update(query_bundle.entity_ids())
    return {etype: eid for etype, eid in ids.items() if eid}


def query_vectors(query_bundle: QueryBundle | None) -> dict[str, FeatureVector]:
    """The per-query vector cache of ``query_bundle`` (a fresh, unshared dict for ``None``)."""
    if query_bundle is None:
        return {}
    if isinstance(query_bundle, FeatureQueryBundle):
        return query_bundle.vectors
    cache: dict[str, FeatureVector] | None = getattr(query_bundle, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(query_bundle, _CACHE_ATTR, cache)
    return cache


def merge_needs(*requests: FeatureRequest | None) -> dict[str, list[str]]:
    """Union of feature requests, per entity type, first-seen order, no duplicates."""
    out: dict[str, list[str]] = {}
    for request in requests:
        for etype, names in (request or {}).items():
            bucket = out.setdefault(etype, [])
            bucket.extend(n for n in names if n not in bucket)
    return out


def _plan(
    cache: Mapping[str, FeatureVector], needs: FeatureRequest, ids: Mapping[str, str]
) -> list[tuple[str, str, list[str]]]:
    """(entity_type, entity_id, names) still to fetch; a cached vector covers its names."""
    todo: list[tuple[str, str, list[str]]] = []
    for etype, names in needs.items():
        eid = ids.get(etype)
        if eid is None or not names:
            continue
        have = cache.get(etype)
        known = have.statuses if have is not None and have.entity_id == eid else {}
        missing = [n for n in dict.fromkeys(names) if n not in known]
        if missing:
            todo.append((etype, eid, missing))
    return todo


def _merge(old: FeatureVector | None, new: FeatureVector) -> FeatureVector:
    """``new`` plus the features of ``old`` it lacks (same entity only)."""
    if old is None or old.entity_id != new.entity_id or old.entity_type != new.entity_type:
        return new
    names = [*old.statuses, *(n for n in new.statuses if n not in old.statuses)]
    return FeatureVector.build(
        entity_id=new.entity_id,
        entity_type=new.entity_type,
        feature_names=names,
        values={**old.features, **new.features},
        statuses={**old.statuses, **new.statuses},
        event_timestamps={**old.event_timestamps, **new.event_timestamps},
        source=new.source,
        retrieved_at=min(old.retrieved_at, new.retrieved_at),
    )


def _select(
    cache: Mapping[str, FeatureVector], needs: FeatureRequest, ids: Mapping[str, str]
) -> dict[str, FeatureVector]:
    return {
        etype: cache[etype]
        for etype in needs
        if etype in cache and cache[etype].entity_id == ids.get(etype)
    }


@dataclass
class Lookup:
    """What :func:`fetch_vectors` returns: the vectors and the time spent fetching."""

    vectors: dict[str, FeatureVector]
    """One vector per requested entity type that has an id, by entity type."""
    latency_ms: float = 0.0
    """Wall time of the store calls made for this request; 0.0 when all were cached."""
    fetched: bool = False
    """True when at least one store call was made (False: served from the query's cache)."""


def _failed(
    client: FeatureStoreClient,
    etype: str,
    eid: str,
    names: Sequence[str],
    exc: FeatureStoreUnavailableError,
) -> FeatureVector:
    timed_out = isinstance(exc, FeatureTimeoutError)
    status = FeatureStatus.TIMED_OUT if timed_out else FeatureStatus.UNAVAILABLE
    logger.warning(
        "Feature lookup for %s '%s' failed (%s); continuing without it: %s",
        etype,
        eid,
        status.value,
        exc,
    )
    return FeatureVector.unavailable(eid, etype, names, status=status, source=client.source)


def _read(
    client: FeatureStoreClient, etype: str, eid: str, names: list[str], fallback: bool
) -> FeatureVector:
    try:
        return client.get_features(eid, etype, names)
    except FeatureStoreUnavailableError as exc:
        if not fallback:
            raise
        return _failed(client, etype, eid, names, exc)


async def _aread(
    client: FeatureStoreClient, etype: str, eid: str, names: list[str], fallback: bool
) -> FeatureVector:
    try:
        return await client.aget_features(eid, etype, names)
    except FeatureStoreUnavailableError as exc:
        if not fallback:
            raise
        return _failed(client, etype, eid, names, exc)


def fetch_vectors(
    client: FeatureStoreClient,
    needs: FeatureRequest,
    ids: Mapping[str, str],
    cache: dict[str, FeatureVector],
    *,
    fallback: bool = False,
) -> Lookup:
    """Read ``needs`` for the entities in ``ids``, reusing and filling ``cache``.

    Entity types without an id are skipped. Names already in the cached vector of the
    same entity are not fetched again; that includes a failed read, so one query never
    waits twice on a dead store.

    Args:
        client: The store.
        needs: Features per entity type.
        ids: Entity id per entity type.
        cache: The query's vectors (see :func:`query_vectors`); updated in place.
        fallback: On :class:`FeatureStoreUnavailableError` (timeouts included) use a vector
            marked TIMED_OUT/UNAVAILABLE and log a warning, as the enricher does. When
            False the error propagates (wrap the client in ``ServingClient`` to choose).
    """
    todo = _plan(cache, needs, ids)
    start = time.perf_counter()
    for etype, eid, names in todo:
        cache[etype] = _merge(cache.get(etype), _read(client, etype, eid, names, fallback))
    latency = (time.perf_counter() - start) * 1000 if todo else 0.0
    return Lookup(_select(cache, needs, ids), latency, bool(todo))


async def afetch_vectors(
    client: FeatureStoreClient,
    needs: FeatureRequest,
    ids: Mapping[str, str],
    cache: dict[str, FeatureVector],
    *,
    fallback: bool = False,
) -> Lookup:
    """Async :func:`fetch_vectors`: the entity types are read concurrently."""
    todo = _plan(cache, needs, ids)
    start = time.perf_counter()
    got = await asyncio.gather(
        *(_aread(client, etype, eid, names, fallback) for etype, eid, names in todo)
    )
    for (etype, _, _), vector in zip(todo, got, strict=True):
        cache[etype] = _merge(cache.get(etype), vector)
    latency = (time.perf_counter() - start) * 1000 if todo else 0.0
    return Lookup(_select(cache, needs, ids), latency, bool(todo))
