"""Reading features for a query, through the core read flow.

Every component reads with :func:`read_query`/:func:`aread_query`: one
:class:`~llm_featurestore.reading.FeatureReader` read (the monitor's gates, one backend
call per entity type, coalesced with concurrent queries by a ``ServingClient``, per-entity
degradation and the failure table all live there) whose ``known`` vectors are the query's
(:func:`~llamaindex_featurestore.context.query_vectors`). The result goes back into the
query's cache with the outcome of the read, so once the monitor refused a query's read,
later components of that query neither read nor ask the monitor again.
:func:`fetch_vectors` is the same read for code outside a query engine (a Workflow step).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import QueryBundle

from llamaindex_featurestore._events import emit_lookup
from llamaindex_featurestore.context import FeatureRequest, query_vectors
from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest

if TYPE_CHECKING:
    from llm_featurestore.clients.base import FeatureStoreClient
    from llm_featurestore.monitor import FeatureMonitor

__all__ = ["Lookup", "afetch_vectors", "aread_query", "covering", "fetch_vectors", "read_query"]

_READ_ATTR = "_llmfs_read"


def read_query(
    reader: FeatureReader,
    query_bundle: QueryBundle | None,
    request: ReadRequest,
    component: str = "llamaindex",
) -> FeatureVectors:
    """``reader.read(request)`` with the query's vectors and last read outcome as
    ``known`` (so a refusal or a report to the monitor carries over), kept on the query;
    reported as a :class:`~llamaindex_featurestore._events.FeatureLookupEvent` of
    ``component``."""
    got = reader.read(_with_known(query_bundle, request))
    emit_lookup(component, got)
    return _keep(query_bundle, got)


async def aread_query(
    reader: FeatureReader,
    query_bundle: QueryBundle | None,
    request: ReadRequest,
    component: str = "llamaindex",
) -> FeatureVectors:
    """Async twin of :func:`read_query`."""
    got = await reader.aread(_with_known(query_bundle, request))
    emit_lookup(component, got)
    return _keep(query_bundle, got)


def _with_known(query_bundle: QueryBundle | None, request: ReadRequest) -> ReadRequest:
    known = FeatureVectors(query_vectors(query_bundle))
    prior: FeatureVectors | None = getattr(query_bundle, _READ_ATTR, None)
    if prior is not None:
        known.skipped_reason, known.recorded = prior.skipped_reason, prior.recorded
    return replace(request, known=known)


def _keep(query_bundle: QueryBundle | None, got: FeatureVectors) -> FeatureVectors:
    if query_bundle is not None:
        query_vectors(query_bundle).update(got)
        setattr(query_bundle, _READ_ATTR, got)
    return got


@dataclass
class Lookup:
    """What :func:`fetch_vectors` returns.

    Attributes:
        vectors: One vector per requested entity type that has an id.
        latency_ms: Wall time of the store calls made (0.0: all served from the cache).
        fetched: True when the store was called.
        skipped_reason: ``"monitor_disabled"`` when the monitor refused the read.
    """

    vectors: dict[str, FeatureVector]
    latency_ms: float = 0.0
    fetched: bool = False
    skipped_reason: str | None = None


def fetch_vectors(
    client: FeatureStoreClient,
    needs: FeatureRequest,
    ids: Mapping[str, str],
    cache: dict[str, FeatureVector],
    *,
    fallback: bool = False,
    monitor: FeatureMonitor | None = None,
    task_type: str | None = None,
    request_data: Mapping[str, Mapping[str, Any]] | None = None,
) -> Lookup:
    """One read of the core flow for ``needs`` of the entities in ``ids``, reusing and
    filling ``cache`` (see :func:`query_vectors`; names it holds are not read again).

    Args:
        fallback: Degrade store failures to failed vectors (logged once per cause).
        monitor: Gates the read (``should_read(task_type)``) and receives its outcome.
        task_type: The task the read serves; ``None``: the store gate only.
        request_data: ``{entity_type: {request_field: value}}`` for on-demand features
            (e.g. from :func:`~llamaindex_featurestore.context.request_data_for`).

    Raises:
        FeatureConfigError: a feature name the store does not know.
        FeatureStoreError: the store failed and ``fallback`` is off.
    """
    reader = FeatureReader(client, monitor=monitor, fallback=fallback)
    request = ReadRequest(ids, needs, task_type, known=cache, request_data=request_data or {})
    return _lookup(cache, reader.read(request))


async def afetch_vectors(
    client: FeatureStoreClient,
    needs: FeatureRequest,
    ids: Mapping[str, str],
    cache: dict[str, FeatureVector],
    *,
    fallback: bool = False,
    monitor: FeatureMonitor | None = None,
    task_type: str | None = None,
    request_data: Mapping[str, Mapping[str, Any]] | None = None,
) -> Lookup:
    """Async twin of :func:`fetch_vectors`."""
    reader = FeatureReader(client, monitor=monitor, fallback=fallback)
    request = ReadRequest(ids, needs, task_type, known=cache, request_data=request_data or {})
    return _lookup(cache, await reader.aread(request))


def _lookup(cache: dict[str, FeatureVector], got: FeatureVectors) -> Lookup:
    cache.update(got)
    return Lookup(dict(got), got.latency_ms, got.fetched, got.skipped_reason)


def covering(
    vectors: Mapping[str, FeatureVector], entity_type: str, names: Sequence[str]
) -> FeatureVector | None:
    """``vectors[entity_type]`` when it holds every name in ``names``, else ``None``.

    A read the monitor refused leaves the query only the vectors it already had, which
    may lack some of the names a filter spec needs.
    """
    vector = vectors.get(entity_type)
    return vector if vector is not None and all(n in vector.statuses for n in names) else None
