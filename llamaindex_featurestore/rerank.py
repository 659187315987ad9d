"""``FeatureRerankPostprocessor``: re-score nodes by the user's features (soft filtering)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from llamaindex_featurestore.context import (
    afetch_vectors,
    fetch_vectors,
    query_vectors,
    resolve_entities,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec, ResolvedCondition
from llm_featurestore.models import FeatureVector

__all__ = ["CONTEXT_KEY", "RERANK_KEY", "FeatureRerankPostprocessor", "rerank_nodes"]

RERANK_KEY = "llmfs_rerank_boost"
"""Node metadata key holding the sum of rule weights added to a node's score."""
CONTEXT_KEY = "llmfs_context"
"""Node metadata key marking a feature-context node (never re-scored or dropped here)."""


def rerank_nodes(
    nodes: Sequence[NodeWithScore],
    weighted: Sequence[tuple[ResolvedCondition, float]],
    top_n: int | None = None,
) -> list[NodeWithScore]:
    """Re-score ``nodes`` by weighted conditions; pure, no I/O.

    ``new score = (score or 0.0) + sum(weight of every condition the node's metadata
    satisfies)``. With no conditions the nodes pass through unchanged, in input
    order. Otherwise nodes are sorted by new score, highest first; ties keep their input
    order. Context nodes (``metadata["llmfs_context"]``) stay first, untouched, and do
    not count towards ``top_n``. Input nodes are not modified: re-scored nodes are
    copies whose metadata records the boost under ``"llmfs_rerank_boost"``.
    """
    context = [n for n in nodes if n.node.metadata.get(CONTEXT_KEY)]
    others = [n for n in nodes if not n.node.metadata.get(CONTEXT_KEY)]
    if not weighted:  # nothing to prefer: pass through in input order
        return [*context, *(others if top_n is None else others[:top_n])]
    scored: list[tuple[float, NodeWithScore]] = []
    for item in others:
        boost = sum(w for cond, w in weighted if cond.matches(item.node.metadata))
        node = item.node.model_copy(
            update={
                "metadata": {**item.node.metadata, RERANK_KEY: boost},
                "excluded_llm_metadata_keys": [*item.node.excluded_llm_metadata_keys, RERANK_KEY],
                "excluded_embed_metadata_keys": [
                    *item.node.excluded_embed_metadata_keys,
                    RERANK_KEY,
                ],
            }
        )
        new = item.get_score() + boost
        scored.append((new, NodeWithScore(node=node, score=new)))
    scored.sort(key=lambda pair: pair[0], reverse=True)  # stable: ties keep input order
    ranked = [item for _, item in scored]
    if top_n is not None:
        ranked = ranked[:top_n]
    return [*context, *ranked]


class FeatureRerankPostprocessor(BaseNodePostprocessor):
    """Boost or demote nodes by rules on the user's features, instead of filtering them.

    The same :class:`~llm_featurestore.filters.FeatureFilterSpec` that hard-filters in
    :class:`~llamaindex_featurestore.retriever.FeatureFilteredRetriever` works here as a
    soft preference: each rule has a weight, added to the score of every node whose
    metadata satisfies it (see :func:`rerank_nodes`). Use a positive weight to boost
    (``category eq favorite_category``: +0.5) and a negative one to demote
    (``price gt avg_order_value`` with ``factor=1.5``: -0.5 pushes items over budget
    down). Rules whose feature has no usable value are skipped; with no user or a
    failed lookup the nodes keep their scores and order (``top_n`` still applies).

    Vectors already fetched for the same query (by a retriever with ``prefetch``, or
    passed in a ``FeatureQueryBundle``) are reused, so no second lookup is made.

    Args:
        client: Where features come from.
        spec: The rules, over one entity type.
        weights: One weight per rule, in rule order; default 1.0 for every rule.
        top_n: Keep at most this many nodes (context nodes excepted); ``None`` keeps all.
        user_id: Default user id, used when the query names none.
        entities: Default ids of other entity types.
        fallback: When the store fails, log a warning and pass the nodes through;
            ``False`` raises ``FeatureStoreUnavailableError`` instead.

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
    _client: FeatureStoreClient = PrivateAttr()

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
        self._client = client

    @classmethod
    def class_name(cls) -> str:
        return "FeatureRerankPostprocessor"

    def _weighted(
        self, vectors: Mapping[str, FeatureVector]
    ) -> list[tuple[ResolvedCondition, float]]:
        vector = vectors.get(self.spec.entity_type)
        out: list[tuple[ResolvedCondition, float]] = []
        for rule, weight in zip(self.spec.rules, self.weights, strict=True):
            single = FeatureFilterSpec(rules=[rule], entity_type=self.spec.entity_type)
            out.extend((cond, weight) for cond in single.resolve(vector))
        return out

    def required_features(self) -> dict[str, list[str]]:
        """Features this postprocessor reads, per entity type (for a retriever's ``prefetch``)."""
        return {self.spec.entity_type: self.spec.feature_names}

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        ids = resolve_entities(query_bundle, self.user_id, self.entities)
        lookup = fetch_vectors(
            self._client,
            self.required_features(),
            ids,
            query_vectors(query_bundle),
            fallback=self.fallback,
        )
        return rerank_nodes(nodes, self._weighted(lookup.vectors), self.top_n)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        ids = resolve_entities(query_bundle, self.user_id, self.entities)
        lookup = await afetch_vectors(
            self._client,
            self.required_features(),
            ids,
            query_vectors(query_bundle),
            fallback=self.fallback,
        )
        return rerank_nodes(nodes, self._weighted(lookup.vectors), self.top_n)
