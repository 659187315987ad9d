"""``FeatureRerankPostprocessor``: re-score nodes by the user's features (soft filtering)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from llamaindex_featurestore._events import emit_rerank
from llamaindex_featurestore.context import entities_for, query_inputs, query_vectors
from llamaindex_featurestore.reads import aread_query, read_query
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest
from llm_featurestore.reranking import (
    CONTEXT_KEY,
    RERANK_KEY,
    FeatureReranker,
    Rescored,
    WeightedCondition,
    rescore,
)

__all__ = ["CONTEXT_KEY", "RERANK_KEY", "FeatureRerankPostprocessor", "rerank_nodes", "tag_node"]


def tag_node(
    item: NodeWithScore, key: str, value: Any, *, score: float | None = None, show: bool = False
) -> NodeWithScore:
    """A copy of ``item`` with ``metadata[key] = value``, hidden from the embedding and,
    unless ``show``, from the LLM; ``score`` replaces its score when given."""
    node = item.node
    copy = node.model_copy(
        update={
            "metadata": {**node.metadata, key: value},
            "excluded_llm_metadata_keys": [
                *node.excluded_llm_metadata_keys,
                *([] if show else [key]),
            ],
            "excluded_embed_metadata_keys": [*node.excluded_embed_metadata_keys, key],
        }
    )
    return NodeWithScore(node=copy, score=item.score if score is None else score)


def rerank_nodes(
    nodes: Sequence[NodeWithScore],
    weighted: Sequence[WeightedCondition],
    top_n: int | None = None,
) -> list[NodeWithScore]:
    """Re-score ``nodes`` by weighted conditions; pure, no I/O.

    The decision is :func:`llm_featurestore.reranking.rescore`: ``new score = (score or
    0.0) + sum(weight of every condition the node's metadata satisfies)``; nodes are
    sorted by new score, highest first, ties in input order. With no conditions they
    pass through in input order. Context nodes (``metadata["llmfs_context"]``) stay
    first, untouched, and do not count towards ``top_n``. Inputs are not modified:
    re-scored nodes are copies recording the boost under ``"llmfs_rerank_boost"``.
    """
    return _nodes(rescore(nodes, weighted, metadata=_metadata, score=_score, top_n=top_n))


def _metadata(item: NodeWithScore) -> Mapping[str, Any]:
    return item.node.metadata


def _score(item: NodeWithScore) -> float:
    return item.get_score()


def _nodes(ranked: Sequence[Rescored[NodeWithScore]]) -> list[NodeWithScore]:
    """Nodes as they came when not re-scored, else copies with their boost and new score."""
    return [
        r.item if r.boost is None else tag_node(r.item, RERANK_KEY, r.boost, score=r.score)
        for r in ranked
    ]


class FeatureRerankPostprocessor(BaseNodePostprocessor):
    """Boost or demote nodes by rules on the user's features, instead of filtering them.

    The :class:`~llm_featurestore.filters.FeatureFilterSpec` that hard-filters in
    :class:`~llamaindex_featurestore.retriever.FeatureFilteredRetriever` works here as a
    soft preference: each rule's weight is added to the score of every node whose
    metadata satisfies it (:func:`rerank_nodes`). A positive weight boosts (``category eq
    favorite_category``: +0.5), a negative one demotes (``price gt avg_order_value`` with
    ``factor=1.5``: -0.5). Rules whose feature has no usable value are skipped; with no
    user, a degraded read or a read the monitor refused, the nodes keep their scores and
    order (``top_n`` still applies). Vectors the query already holds are reused. The
    decision is :class:`llm_featurestore.reranking.FeatureReranker`'s, which LangChain's
    :class:`~langchain_featurestore.rerank.FeatureRerankCompressor` shares.

    Args:
        client: Where features come from.
        spec: The rules, over one entity type.
        weights: One weight per rule, in rule order; default 1.0 for every rule.
        top_n: Keep at most this many nodes (context nodes excepted); ``None`` keeps all.
        user_id: Default user id, used when the query names none.
        entities: Default ids of other entity types.
        fallback: Degrade store failures (logged once per cause); ``False`` raises.
        monitor: Gates the read (its store gate) and receives its outcome.

    Raises:
        FeatureConfigError: ``weights`` does not have one finite number per rule, or
            ``top_n`` is not an integer of at least 1.
    """

    spec: FeatureFilterSpec
    weights: list[float]
    top_n: int | None = None
    user_id: str | None = None
    entities: dict[str, str] = Field(default_factory=dict)
    fallback: bool = True
    _reader: FeatureReader = PrivateAttr()

    def __init__(
        self,
        client: FeatureStoreClient,
        spec: FeatureFilterSpec,
        *,
        weights: Sequence[float] | None = None,
        top_n: int | None = None,
        user_id: str | None = None,
        entities: Mapping[str, str] | None = None,
        fallback: bool = True,
        monitor: FeatureMonitor | None = None,
    ) -> None:
        reranker = FeatureReranker(spec, weights=weights, top_n=top_n)  # validates
        super().__init__(
            spec=spec,
            weights=list(reranker.weights),
            top_n=reranker.top_n,
            user_id=user_id,
            entities=dict(entities or {}),
            fallback=fallback,
        )
        self._reader = FeatureReader(client, monitor=monitor, fallback=fallback)

    @classmethod
    def class_name(cls) -> str:
        return "FeatureRerankPostprocessor"

    def required_features(self) -> dict[str, list[str]]:
        """Features this postprocessor reads, per entity type (for a retriever's ``prefetch``)."""
        return {self.spec.entity_type: self.spec.feature_names}

    def _request(self, query_bundle: QueryBundle | None) -> ReadRequest:
        needs = self.required_features()
        ids = entities_for(self.class_name(), query_bundle, needs, self.user_id, self.entities)
        reranker = FeatureReranker(self.spec, weights=self.weights, top_n=self.top_n)
        query = None if query_bundle is None else query_bundle.query_str
        return reranker.request(
            ids, query_vectors(query_bundle), query=query, inputs=query_inputs(query_bundle)
        )

    def _rerank(self, nodes: list[NodeWithScore], vectors: FeatureVectors) -> list[NodeWithScore]:
        start = time.perf_counter()
        reranker = FeatureReranker(self.spec, weights=self.weights, top_n=self.top_n)
        vector = reranker.vector(vectors)
        out = _nodes(reranker.rerank(nodes, vector, metadata=_metadata, score=_score))
        emit_rerank(
            self.class_name(),
            {
                "nodes_in": len(nodes),
                "nodes_out": len(out),
                "features": self.spec.feature_names,
                "statuses": {}
                if vector is None
                else {n: s.value for n, s in vector.statuses.items()},
                "rerank_ms": (time.perf_counter() - start) * 1000.0,
            },
        )
        return out

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._request(query_bundle)
        return self._rerank(
            nodes, read_query(self._reader, query_bundle, request, self.class_name())
        )

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._request(query_bundle)
        vectors = await aread_query(self._reader, query_bundle, request, self.class_name())
        return self._rerank(nodes, vectors)
