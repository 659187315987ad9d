"""``personalized_query_engine``: feature components wired for one read per query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llama_index.core.indices.base import BaseIndex
from llama_index.core.llms import LLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine

from llamaindex_featurestore.context import merge_needs
from llamaindex_featurestore.postprocessor import FeatureContextPostprocessor
from llamaindex_featurestore.rerank import FeatureRerankPostprocessor
from llamaindex_featurestore.retriever import FeatureFilteredRetriever
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.request_sources import RequestDataSpec

if TYPE_CHECKING:
    from llm_featurestore.writeback import WriteBack

__all__ = ["personalized_query_engine"]


def _request_data(
    spec: FeatureFilterSpec | None, context: FeatureContextPostprocessor | None
) -> RequestDataSpec:
    """The filter's request data and that of the context's task, for the one read."""
    own = spec.request_data if spec is not None else RequestDataSpec()
    if context is None:
        return own
    return own.merged(context.enricher.config.request_data.get(context.task_type))


def personalized_query_engine(
    index: BaseIndex[Any],
    client: FeatureStoreClient,
    *,
    llm: LLM | None = None,
    filter_spec: FeatureFilterSpec | None = None,
    rerank: FeatureRerankPostprocessor | None = None,
    context: FeatureContextPostprocessor | None = None,
    postprocessors: Sequence[BaseNodePostprocessor] = (),
    similarity_top_k: int = 4,
    backfill: bool = False,
    fallback: bool = True,
    monitor: FeatureMonitor | None = None,
    write_back: WriteBack | None = None,
    **engine_kwargs: Any,
) -> RetrieverQueryEngine:
    """A ``RetrieverQueryEngine`` whose feature components share one read per query.

    The :class:`FeatureFilteredRetriever` reads what ``rerank`` and ``context`` need too,
    for ``context``'s task and through its enricher's monitor, so a query makes one gate
    decision and at most one store read: the postprocessors find the vectors (or the
    monitor's refusal) on the query bundle. Postprocessors run in the order ``rerank``,
    ``postprocessors``, ``context`` (the context node goes last so nothing drops it).
    Users and request data are given per query (``FeatureQueryBundle``, ``user_context``).

    Args:
        index: The index to search (e.g. a ``VectorStoreIndex`` over Chroma).
        client: The feature store (e.g. a ``ServingClient``).
        llm: Writes the answer; LlamaIndex's ``Settings.llm`` when omitted.
        filter_spec: Hard filters; ``None`` searches unfiltered (features are still
            read once, for the postprocessors).
        rerank: Soft preferences, optional.
        context: The user's profile as a context node and/or metadata, optional.
        postprocessors: Other node postprocessors, run between the two.
        similarity_top_k: Nodes to retrieve.
        backfill, fallback: See :class:`FeatureFilteredRetriever`.
        monitor: Gates the query's read; defaults to ``context.enricher.monitor``.
        write_back: After each answered query, submit the turn to this
            :class:`~llm_featurestore.writeback.WriteBack` (written in the background;
            see :mod:`llamaindex_featurestore.writeback`).
        **engine_kwargs: Passed to ``RetrieverQueryEngine.from_args`` (``response_mode``,
            ``streaming``, templates, ...).
    """
    if monitor is None and context is not None:
        monitor = context.enricher.monitor
    retriever = FeatureFilteredRetriever(
        index,
        client,
        filter_spec or FeatureFilterSpec(rules=[]),
        similarity_top_k=similarity_top_k,
        backfill=backfill,
        fallback=fallback,
        monitor=monitor,
        task_type=context.task_type if context is not None else None,
        prefetch=merge_needs(
            rerank.required_features() if rerank is not None else None,
            context.required_features() if context is not None else None,
        ),
        request_data=_request_data(filter_spec, context),
    )
    chain = [*([rerank] if rerank else []), *postprocessors, *([context] if context else [])]
    engine = RetrieverQueryEngine.from_args(
        retriever, llm=llm, node_postprocessors=chain, **engine_kwargs
    )
    if write_back is None:
        return engine
    from llamaindex_featurestore.writeback import with_write_back

    return with_write_back(engine, write_back)
