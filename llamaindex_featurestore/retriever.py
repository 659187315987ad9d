"""``FeatureFilteredRetriever``: vector search restricted by the user's features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.indices.base import BaseIndex
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import MetadataFilters

from llamaindex_featurestore._events import emit_retrieval
from llamaindex_featurestore.context import (
    FeatureRequest,
    entities_for,
    merge_needs,
    query_vectors,
    request_data_for,
)
from llamaindex_featurestore.reads import aread_query, covering, read_query
from llamaindex_featurestore.rerank import tag_node
from llamaindex_featurestore.store_filters import (
    check_store_filters,
    check_sync_search,
    searches_async,
    store_profile,
    to_metadata_filters,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.models import FeatureVector
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest
from llm_featurestore.request_sources import RequestDataSpec, request_data_spec
from llm_featurestore.telemetry import hooks
from llm_featurestore.workers import to_thread

__all__ = ["BACKFILL_KEY", "FeatureFilteredRetriever", "to_metadata_filters"]

_NAME = "FeatureFilteredRetriever"

BACKFILL_KEY = "llmfs_backfill"
"""Node metadata key set to ``True`` on nodes added by backfill (unfiltered results)."""


def _plain(query_bundle: QueryBundle) -> QueryBundle:
    """The query without this adapter's state, for the index's own retriever."""
    return QueryBundle(**{f.name: getattr(query_bundle, f.name) for f in fields(QueryBundle)})


class FeatureFilteredRetriever(BaseRetriever):
    """Retrieve from a vector index, keeping only nodes that fit the user's features.

    Per query: resolve the entity ids (see :mod:`llamaindex_featurestore.context`), read
    ``filter_spec.feature_names`` (plus ``prefetch``) in one read of the core flow, turn
    the usable features into ``MetadataFilters`` (``filter_spec.resolve``) and search
    ``index.as_retriever(similarity_top_k=..., filters=...)``. A feature with no usable
    value drops its rule; with no user, a degraded read or a read the monitor refused,
    the search is unfiltered. ``aretrieve`` reads with the client's async API and awaits
    the vector store's own ``aquery``; sync-only stores (Chroma, ``SimpleVectorStore``, a
    Qdrant store without an async client) are searched in a worker thread, never on the
    event loop.

    The filters take the form the index's vector store evaluates with the core's
    semantics (:mod:`llamaindex_featurestore.store_filters`: ``SimpleVectorStore``,
    Chroma and Qdrant are proven for every operator); a store that cannot filter
    (FAISS) is refused here rather than at the first user with features.

    Args:
        index: The index to search, e.g. a ``VectorStoreIndex`` over Chroma.
        client: Where features come from.
        filter_spec: Rules from features to metadata conditions.
        similarity_top_k: How many nodes to return.
        user_id: Default user id, used when the query names none.
        entities: Default ids of other entity types.
        filters: Static filters always applied (also to backfill), e.g. a tenant.
        backfill: When fewer than ``similarity_top_k`` nodes match the feature filters,
            fill up with the best unfiltered nodes (static ``filters`` still apply),
            marked ``metadata["llmfs_backfill"] = True`` and placed after the matches.
        fallback: Degrade store failures (logged once per cause); ``False`` raises.
        monitor: Gates the read (``should_read(task_type)``) and receives its outcome;
            when it refuses, the query reads nothing, here or in its postprocessors.
        task_type: The enrichment task this read serves (its quality gate and hold-out
            apply); ``None``: the monitor's store gate only.
        prefetch: More features to read in the same lookup, ``{entity_type: [names]}``,
            for postprocessors of the same query (e.g. ``enricher.required_features``).
        retriever_kwargs: Extra arguments for ``index.as_retriever`` (e.g. an embed model).
        callback_manager: LlamaIndex callbacks.
        request_data: Where the read's request data comes from (on-demand features),
            ``{entity_type: {request_field: "query" | "input.<key>"}}``; by default the
            filter spec's ``request_data``. Resolved per query (:func:`request_data_for`).

    Raises:
        FeatureConfigError: ``similarity_top_k`` is below 1, ``retriever_kwargs`` sets
            an argument this class controls, or the index's vector store cannot apply
            the spec's operators or combine them with ``filters``
            (:func:`~llamaindex_featurestore.store_filters.check_store_filters`). At
            query time: a feature name the store does not know, or a sync ``retrieve``
            on a store built with only an async client.
        FeatureValidationError: at query time, a declared request data source is missing.
        FeatureStoreError: at query time, the store failed and ``fallback`` is off.
    """

    def __init__(
        self,
        index: BaseIndex[Any],
        client: FeatureStoreClient,
        filter_spec: FeatureFilterSpec,
        *,
        similarity_top_k: int = 4,
        user_id: str | None = None,
        entities: Mapping[str, str] | None = None,
        filters: MetadataFilters | None = None,
        backfill: bool = False,
        fallback: bool = True,
        monitor: FeatureMonitor | None = None,
        task_type: str | None = None,
        prefetch: FeatureRequest | None = None,
        retriever_kwargs: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
        request_data: RequestDataSpec | Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        if similarity_top_k < 1:
            raise FeatureConfigError(f"similarity_top_k must be at least 1, got {similarity_top_k}")
        clash = {"similarity_top_k", "filters"} & set(retriever_kwargs or {})
        if clash:
            raise FeatureConfigError(
                f"retriever_kwargs may not set {', '.join(sorted(clash))}; pass "
                "similarity_top_k= and filters= to FeatureFilteredRetriever itself"
            )
        super().__init__(callback_manager=callback_manager)
        self.index = index
        self.client = client
        self.filter_spec = filter_spec
        self.similarity_top_k = similarity_top_k
        self.user_id = user_id
        self.entities = dict(entities or {})
        self.filters = filters
        self.backfill = backfill
        self.task_type = task_type
        self.reader = FeatureReader(client, monitor=monitor, fallback=fallback)
        self.needs = merge_needs({filter_spec.entity_type: filter_spec.feature_names}, prefetch)
        self.retriever_kwargs = dict(retriever_kwargs or {})
        given = request_data_spec(request_data)
        self.request_data = given if request_data is not None else filter_spec.request_data
        self._store = getattr(index, "vector_store", None)
        profile = store_profile(self._store)
        if profile is not None:
            check_store_filters(profile, (rule.op for rule in filter_spec.rules), filters)
        # Sync-only stores (Chroma) inherit the base aquery, which blocks: use a thread.
        self._native_async = searches_async(self._store)

    @property
    def fallback(self) -> bool:
        """True when store failures degrade (see ``fallback`` above) instead of raising."""
        return self.reader.fallback

    def _request(self, query_bundle: QueryBundle) -> ReadRequest:
        name, needs = _NAME, self.needs
        ids = entities_for(name, query_bundle, needs, self.user_id, self.entities)
        data = request_data_for(self.request_data, query_bundle, ids)
        known = query_vectors(query_bundle)
        return ReadRequest(ids, needs, self.task_type, known=known, request_data=data)

    def _filters(self, vectors: FeatureVectors) -> tuple[MetadataFilters | None, _Report]:
        spec = self.filter_spec
        vector = covering(vectors, spec.entity_type, spec.feature_names)
        conditions = spec.resolve(vector)
        filters = to_metadata_filters(conditions, self.filters, vector_store=self._store)
        return filters, _Report(vector, len(conditions), self.similarity_top_k)

    def _searcher(self, filters: MetadataFilters | None) -> BaseRetriever:
        return self.index.as_retriever(
            similarity_top_k=self.similarity_top_k, filters=filters, **self.retriever_kwargs
        )

    def _backfill(self, filters: MetadataFilters | None, nodes: list[NodeWithScore]) -> bool:
        return self.backfill and filters is not self.filters and len(nodes) < self.similarity_top_k

    def _combine(
        self, matched: list[NodeWithScore], extra: list[NodeWithScore]
    ) -> list[NodeWithScore]:
        seen = {n.node.node_id for n in matched}
        fill = [tag_node(n, BACKFILL_KEY, True) for n in extra if n.node.node_id not in seen]
        return [*matched, *fill][: self.similarity_top_k]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        check_sync_search(self._store, "FeatureFilteredRetriever")
        with hooks.span("retrieval", framework="llamaindex") as span:
            request = self._request(query_bundle)
            vectors = read_query(self.reader, query_bundle, request, _NAME)
            filters, report = self._filters(vectors)
            inner = _plain(query_bundle)
            nodes = self._searcher(filters).retrieve(inner)
            if self._backfill(filters, nodes):
                nodes = self._combine(nodes, self._searcher(self.filters).retrieve(inner))
            return report.done(span, nodes)

    async def _search(
        self, filters: MetadataFilters | None, inner: QueryBundle
    ) -> list[NodeWithScore]:
        searcher = self._searcher(filters)
        if self._native_async:
            return await searcher.aretrieve(inner)
        return await to_thread(searcher.retrieve, inner)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        with hooks.span("retrieval", framework="llamaindex") as span:
            request = self._request(query_bundle)
            vectors = await aread_query(self.reader, query_bundle, request, _NAME)
            filters, report = self._filters(vectors)
            inner = _plain(query_bundle)
            nodes = await self._search(filters, inner)
            if self._backfill(filters, nodes):
                nodes = self._combine(nodes, await self._search(self.filters, inner))
            return report.done(span, nodes)


@dataclass(frozen=True)
class _Report:
    """What one retrieval tells tracing (a span and a ``FeatureRetrievalEvent``)."""

    vector: FeatureVector | None
    conditions: int
    k: int

    def done(self, span: Any, nodes: list[NodeWithScore]) -> list[NodeWithScore]:
        backfilled = sum(1 for n in nodes if n.node.metadata.get(BACKFILL_KEY))
        vector = self.vector
        payload = {
            "entity_id": None if vector is None else vector.entity_id,
            "statuses": {}
            if vector is None
            else {n: st.value for n, st in vector.statuses.items()},
            "conditions": self.conditions,
            "filtered": len(nodes) - backfilled,
            "backfilled": backfilled,
            "k": self.k,
        }
        emit_retrieval(_NAME, payload)
        span.set(k=self.k, conditions=self.conditions, filtered=payload["filtered"])
        span.set(backfilled=backfilled)
        span.vectors([] if vector is None else [vector])
        return nodes
