"""Whose features a query uses, and one read per query shared by every component.

A query names its entities in one of three ways; for each entity type the first wins:
the query bundle (``FeatureQueryBundle("shoes", user_id="u1")``), the context variable
set around the call (``with user_context("u1"): engine.query(q)``, which follows asyncio
tasks and ``asyncio.to_thread``), then the component's ``user_id=``/``entities=``.

A query's request data for on-demand features comes from the sources a filter spec or
a task declares (:class:`~llm_featurestore.request_sources.RequestDataSpec`): ``"query"``
is the query string, ``"input.<key>"`` a key of ``FeatureQueryBundle(inputs=...)``, the
query's chain input (:func:`request_data_for`).

The vectors read for a query (see :mod:`llamaindex_featurestore.reads`) are kept on its
bundle: a :class:`FeatureQueryBundle`'s ``vectors``, or a private attribute of a plain
``QueryBundle``. A query engine hands one bundle to its retriever and postprocessors, so
they share what was read.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from llama_index.core.schema import QueryBundle

from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import warn_no_entity
from llm_featurestore.request_sources import RequestDataSpec

__all__ = [
    "USER_ENTITY",
    "FeatureQueryBundle",
    "FeatureRequest",
    "current_entities",
    "entities_for",
    "merge_needs",
    "query_inputs",
    "query_vectors",
    "request_data_for",
    "resolve_entities",
    "user_context",
]

USER_ENTITY = "user"
"""The entity type that ``user_id`` arguments refer to."""

_ENTITIES: ContextVar[Mapping[str, str] | None] = ContextVar("llmfs_entities", default=None)
_CACHE_ATTR = "_llmfs_vectors"

FeatureRequest = Mapping[str, Sequence[str]]
"""Features to read, per entity type: ``{"user": ["favorite_category", ...]}``."""


@dataclass
class FeatureQueryBundle(QueryBundle):
    """A ``QueryBundle`` that carries whose features to use, and the vectors read for it.

    Args:
        user_id: The user's id (entity type ``"user"``); ``None`` leaves it to the
            context variable or the component's default.
        entities: Ids of other entity types; an explicit ``"user"`` key wins over ``user_id``.
        vectors: Vectors this query already holds, by entity type; components read from
            and add to it (pass vectors read elsewhere, e.g. by a Workflow step).
        inputs: The query's chain input (a cart total, a page), read by request data
            sources ``"input.<key>"``.
    """

    user_id: str | None = None
    entities: dict[str, str] = field(default_factory=dict)
    vectors: dict[str, FeatureVector] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)

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
    """``{entity_type: entity_id}`` for one query: the bundle's ids, then the context
    variable's, then the component's defaults ``user_id`` and ``entities``; empty when
    nobody named an entity (no personalisation)."""
    ids: dict[str, str] = dict(entities or {})
    if user_id:
        ids[USER_ENTITY] = user_id
    ids.update(current_entities())
    if isinstance(query_bundle, FeatureQueryBundle):
        ids.update(query_bundle.entity_ids())
    return {etype: eid for etype, eid in ids.items() if eid}


def entities_for(
    component: str,
    query_bundle: QueryBundle | None,
    needs: FeatureRequest,
    user_id: str | None = None,
    entities: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """:func:`resolve_entities`, warning once (per component) when ``needs`` wants entity
    types the query names no id for: that query is not personalised."""
    ids = resolve_entities(query_bundle, user_id, entities)
    wanted = [etype for etype, names in needs.items() if names]
    if wanted and not any(etype in ids for etype in wanted):
        warn_no_entity(component, {etype: _how_to_name(etype) for etype in wanted})
    return ids


def _how_to_name(etype: str) -> str:
    return "user_id" if etype == USER_ENTITY else f"FeatureQueryBundle(entities={{'{etype}': ...}})"


def request_data_for(
    spec: RequestDataSpec | None, query_bundle: QueryBundle | None, entity_types: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """The request data ``spec`` declares, for one query: ``"query"`` is its query string,
    ``"input.<key>"`` a key of its ``inputs`` (a :class:`FeatureQueryBundle`'s).

    Raises:
        FeatureValidationError: a declared source is missing (named, with the keys present).
    """
    if not spec:
        return {}
    query = None if query_bundle is None else query_bundle.query_str
    return spec.resolve(query=query, inputs=query_inputs(query_bundle), entity_types=entity_types)


def query_inputs(query_bundle: QueryBundle | None) -> list[Mapping[str, Any]]:
    """The input mappings request data may come from: a :class:`FeatureQueryBundle`'s
    ``inputs``, else none."""
    return [query_bundle.inputs] if isinstance(query_bundle, FeatureQueryBundle) else []


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
