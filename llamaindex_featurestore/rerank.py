"""``FeatureRerankPostprocessor``: re-score nodes by the user's features (soft filtering)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from llamaindex_featurestore.context import entities_for, query_vectors, request_data_for
from llamaindex_featurestore.reads import aread_query, covering, read_query
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec, ResolvedCondition
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest

__all__ = ["CONTEXT_KEY", "RERANK_KEY", "FeatureRerankPostprocessor", "rerank_nodes", "tag_node"]

RERANK_KEY = "llmfs_rerank_boost"
"""Node metadata key holding the sum of rule weights added to a node's score."""
CONTEXT_KEY = "llmfs_context"
"""Node metadata key marking a feature-context node (never re-scored or dropped here)."""


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
    weighted: Sequence[tuple[ResolvedCondition, float]],
    top_n: int | None = None,
) -> list[NodeWithScore]:
    """Re-score ``nodes`` by weighted conditions; pure, no I/O.

    ``new score = (score or 0.0) + sum(weight of every condition the node's metadata
    satisfies)``; nodes are sorted by new score, highest first, ties in input order. With
    no conditions they pass through in input order. Context nodes
    (``metadata["llmfs_context"]``) stay first, untouched, and do not count towards
    ``top_n``. Inputs are not modified: re-scored nodes are copies recording the boost
    under ``"llmfs_rerank_boost"``.
    """
    context = [n for n in nodes if n.node.metadata.get(CONTEXT_KEY)]
    others = [n for n in nodes if not n.node.metadata.get(CONTEXT_KEY)]
    if weighted:
        scored = []
        for item in others:
            boost = sum(w for cond, w in weighted if cond.matches(item.node.metadata))
            scored.append(tag_node(item, RERANK_KEY, boost, score=item.get_score() + boost))
        others = sorted(scored, key=NodeWithScore.get_score, reverse=True)  # stable
    return [*context, *(others if top_n is None else others[:top_n])]


class FeatureRerankPostprocessor(BaseNodePostprocessor):
    """Boost or demote nodes by rules on the user's features, instead of filtering them.

    The :class:`~llm_featurestore.filters.FeatureFilterSpec` that hard-filters in
    :class:`~llamaindex_featurestore.retriever.FeatureFilteredRetriever` works here as a
    soft preference: each rule's weight is added to the score of every node whose
    metadata satisfies it (:func:`rerank_nodes`). A positive weight boosts (``category eq
    favorite_category``: +0.5), a negative one demotes (``price gt avg_order_value`` with
    ``factor=1.5``: -0.5). Rules whose feature has no usable value are skipped; with no
    user, a degraded read or a read the monitor refused, the nodes keep their scores and
    order (``top_n`` still applies). Vectors the query already holds are reused.

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
        FeatureConfigError: ``weights`` does not have one number per rule, or ``top_n``
            is below 1.
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
        weights = [1.0] * len(spec.rules) if weights is None else [float(w) for w in weights]
        if len(weights) != len(spec.rules):
            raise FeatureConfigError(
                f"weights has {len(weights)} value(s) but the spec has {len(spec.rules)} "
                "rule(s); give one weight per rule, in rule order"
            )
        if top_n is not None and top_n < 1:
            raise FeatureConfigError(f"top_n must be at least 1 (or None for all), got {top_n}")
        super().__init__(
            spec=spec,
            weights=weights,
            top_n=top_n,
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
        data = request_data_for(self.spec.request_data, query_bundle, ids)
        return ReadRequest(ids, needs, known=query_vectors(query_bundle), request_data=data)

    def _rerank(self, nodes: list[NodeWithScore], vectors: FeatureVectors) -> list[NodeWithScore]:
        etype = self.spec.entity_type
        vector = covering(vectors, etype, self.spec.feature_names)
        weighted = [
            (cond, weight)
            for rule, weight in zip(self.spec.rules, self.weights, strict=True)
            for cond in FeatureFilterSpec(rules=[rule], entity_type=etype).resolve(vector)
        ]
        return rerank_nodes(nodes, weighted, self.top_n)

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        return self._rerank(
            nodes, read_query(self._reader, query_bundle, self._request(query_bundle))
        )

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        vectors = await aread_query(self._reader, query_bundle, self._request(query_bundle))
        return self._rerank(nodes, vectors)
