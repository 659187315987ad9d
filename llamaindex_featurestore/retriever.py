"""``FeatureFilteredRetriever``: vector search restricted by the user's features."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.indices.base import BaseIndex
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from llamaindex_featurestore.context import (
    FeatureRequest,
    afetch_vectors,
    fetch_vectors,
    merge_needs,
    query_vectors,
    resolve_entities,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec, ResolvedCondition
from llm_featurestore.models import FeatureVector

__all__ = ["BACKFILL_KEY", "FeatureFilteredRetriever", "to_metadata_filters"]

BACKFILL_KEY = "llmfs_backfill"
"""Node metadata key set to ``True`` on nodes added by backfill (unfiltered results)."""

_OPERATORS: dict[str, FilterOperator] = {
    "eq": FilterOperator.EQ,
    "ne": FilterOperator.NE,
    "in": FilterOperator.IN,
    "nin": FilterOperator.NIN,
    "lt": FilterOperator.LT,
    "lte": FilterOperator.LTE,
    "gt": FilterOperator.GT,
    "gte": FilterOperator.GTE,
}


def to_metadata_filters(
    conditions: Sequence[ResolvedCondition], base: MetadataFilters | None = None
) -> MetadataFilters | None:
    """LlamaIndex ``MetadataFilters`` for resolved conditions, AND-ed with ``base``.

    Returns ``None`` when there is nothing to filter on. ``base`` is nested whole, so
    an ``OR`` base keeps its meaning.
    """
    # model_construct: the core already checked each value's shape for its operator,
    # and MetadataFilter's strict types would reject boolean values Chroma accepts.
    filters: list[MetadataFilter | MetadataFilters] = [
        MetadataFilter.model_construct(key=c.field, value=c.value, operator=_OPERATORS[c.op])
        for c in conditions
    ]
    if base is not None and base.filters:
        filters.insert(0, base)
    if not filters:
        return None
    if len(filters) == 1 and isinstance(filters[0], MetadataFilters):
        return filters[0]
    return MetadataFilters(filters=filters, condition=FilterCondition.AND)


class FeatureFilteredRetriever(BaseRetriever):
    """Retrieve from a vector index, keeping only nodes that fit the user's features.

    Per query: resolve the entity ids (see :mod:`llamaindex_featurestore.context`), read
    ``filter_spec.feature_names`` (plus ``prefetch``) in one lookup, turn the usable
    features into ``MetadataFilters`` with ``filter_spec.resolve`` and search
    ``index.as_retriever(similarity_top_k=..., filters=...)``. A feature with no usable
    value drops its rule; with no user, or when the store fails (with ``fallback``, or
    a ``ServingClient`` that falls back), the search is unfiltered.

    ``aretrieve`` is natively async: the lookup uses the client's async API, and the
    search awaits the vector store's ``aquery`` when it has one of its own; stores with
    only a sync query (Chroma) are searched in a worker thread, never on the event loop.

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
        fallback: When the store fails (``FeatureStoreUnavailableError``, timeouts
            included), log a warning and search unfiltered; ``False`` raises instead.
        prefetch: More features to read in the same lookup, ``{entity_type: [names]}``,
            for postprocessors of the same query (e.g. ``enricher.required_features``).
        retriever_kwargs: Extra arguments for ``index.as_retriever`` (e.g. an embed model).
        callback_manager: LlamaIndex callbacks.

    Raises:
        FeatureConfigError: ``similarity_top_k`` is below 1, or ``retriever_kwargs``
            sets an argument this class controls. At query time: a feature name or entity
            type the store does not know.
        FeatureStoreUnavailableError: at query time, the store failed and ``fallback``
            is off.
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
        prefetch: FeatureRequest | None = None,
        retriever_kwargs: Mapping[str, Any] | None = None,
        callback_manager: CallbackManager | None = None,
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
        self.fallback = fallback
        self.needs = merge_needs({filter_spec.entity_type: filter_spec.feature_names}, prefetch)
        self.retriever_kwargs = dict(retriever_kwargs or {})
        store = getattr(index, "vector_store", None)
        # Chroma and other sync-only stores inherit the base aquery, which blocks; search
        # those in a worker thread so the event loop never waits on them.
        self._native_async = not (
            isinstance(store, BasePydanticVectorStore)
            and type(store).aquery is BasePydanticVectorStore.aquery
        )

    def _conditions(self, vectors: Mapping[str, FeatureVector]) -> MetadataFilters | None:
        vector = vectors.get(self.filter_spec.entity_type)
        return to_metadata_filters(self.filter_spec.resolve(vector), self.filters)

    def _searcher(self, filters: MetadataFilters | None) -> BaseRetriever:
        return self.index.as_retriever(
            similarity_top_k=self.similarity_top_k, filters=filters, **self.retriever_kwargs
        )

    def _inner_bundle(self, query_bundle: QueryBundle) -> QueryBundle:
        return QueryBundle(
            query_str=query_bundle.query_str,
            image_path=query_bundle.image_path,
            custom_embedding_strs=query_bundle.custom_embedding_strs,
            embedding=query_bundle.embedding,
        )

    def _combine(
        self, matched: list[NodeWithScore], extra: list[NodeWithScore]
    ) -> list[NodeWithScore]:
        seen = {n.node.node_id for n in matched}
        out = list(matched)
        for item in extra:
            if len(out) >= self.similarity_top_k:
                break
            if item.node.node_id in seen:
                continue
            node = item.node.model_copy(
                update={
                    "metadata": {**item.node.metadata, BACKFILL_KEY: True},
                    "excluded_llm_metadata_keys": [
                        *item.node.excluded_llm_metadata_keys,
                        BACKFILL_KEY,
                    ],
                    "excluded_embed_metadata_keys": [
                        *item.node.excluded_embed_metadata_keys,
                        BACKFILL_KEY,
                    ],
                }
            )
            out.append(NodeWithScore(node=node, score=item.score))
        return out

    def _wants_backfill(self, filters: MetadataFilters | None, found: int) -> bool:
        return self.backfill and filters is not self.filters and found < self.similarity_top_k

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        ids = resolve_entities(query_bundle, self.user_id, self.entities)
        lookup = fetch_vectors(
            self.client, self.needs, ids, query_vectors(query_bundle), fallback=self.fallback
        )
        filters = self._conditions(lookup.vectors)
        inner = self._inner_bundle(query_bundle)
        nodes = self._searcher(filters).retrieve(inner)
        if self._wants_backfill(filters, len(nodes)):
            nodes = self._combine(nodes, self._searcher(self.filters).retrieve(inner))
        return nodes

    async def _search(
        self, filters: MetadataFilters | None, inner: QueryBundle
    ) -> list[NodeWithScore]:
        searcher = self._searcher(filters)
        if self._native_async:
            return await searcher.aretrieve(inner)
        return await asyncio.to_thread(searcher.retrieve, inner)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        ids = resolve_entities(query_bundle, self.user_id, self.entities)
        lookup = await afetch_vectors(
            self.client, self.needs, ids, query_vectors(query_bundle), fallback=self.fallback
        )
        filters = self._conditions(lookup.vectors)
        inner = self._inner_bundle(query_bundle)
        nodes = await self._search(filters, inner)
        if self._wants_backfill(filters, len(nodes)):
            nodes = self._combine(nodes, await self._search(self.filters, inner))
        return nodes
