"""``FeatureContextPostprocessor``: the user's features as a context node and/or node metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from llamaindex_featurestore.context import (
    Lookup,
    afetch_vectors,
    fetch_vectors,
    query_vectors,
    resolve_entities,
)
from llamaindex_featurestore.rerank import CONTEXT_KEY
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.enricher import EnricherConfig, EnrichmentResult, FeatureEnricher, LookupPlan
from llm_featurestore.errors import FeatureConfigError

__all__ = ["FEATURES_KEY", "FeatureContextPostprocessor"]

FEATURES_KEY = "llmfs_features"
"""Node metadata key holding ``{"entity_type.feature": rendered value}`` (metadata mode)."""
_CONTEXT_META_KEYS = [CONTEXT_KEY, "llmfs_features_used", "llmfs_task_type"]


class FeatureContextPostprocessor(BaseNodePostprocessor):
    """Add the user's features to the retrieved nodes, for the response synthesizer.

    Per query: resolve the entity ids (see :mod:`llamaindex_featurestore.context`), let
    the enricher plan the lookup for ``task_type`` (which features, and whether its
    monitor allows enrichment), read the vectors (reusing any the retriever already
    fetched for the same query), and render them with
    ``FeatureEnricher.enrich_from_vectors`` (token budget, staleness, sensitivity and
    injection safety all live there). Then, by ``mode``:

    * ``"node"``: put a ``TextNode`` holding the enricher's context block first, with
      metadata ``{"llmfs_context": True, ...}`` (hidden from the LLM) and a score no
      lower than any other node's, so score cut-offs keep it.
    * ``"metadata"``: copy every node with ``metadata["llmfs_features"] =
      {"entity_type.feature": rendered value}`` (hidden from the LLM and the embedding
      unless ``show_metadata_to_llm``).
    * ``"both"``: both.

    Nodes pass through unchanged when enrichment does not run (task disabled, no
    entity, monitor off) or no feature is usable (cold start, stale values, store
    down). Put this postprocessor last: later rerankers could drop the context node.

    Args:
        enricher: Selects, renders and budgets the features; built from ``client`` (and
            ``config``) when omitted.
        client: Store for the lookups; defaults to ``enricher.client``.
        config: Enricher settings when ``enricher`` is omitted.
        task_type: The enricher task whose features to use.
        mode: ``"node"``, ``"metadata"`` or ``"both"``.
        user_id: Default user id, used when the query names none.
        entities: Default ids of other entity types.
        fallback: When the store fails, log a warning and continue without features;
            ``False`` raises ``FeatureStoreUnavailableError``.
        show_metadata_to_llm: In metadata mode, let the LLM see ``llmfs_features``.

    Raises:
        FeatureConfigError: neither ``enricher`` nor ``client`` is given, or both
            ``enricher`` and ``config``.
    """

    task_type: str = "general"
    mode: Literal["node", "metadata", "both"] = "node"
    user_id: str | None = None
    entities: dict[str, str] = Field(default_factory=dict)
    fallback: bool = True
    show_metadata_to_llm: bool = False
    _enricher: FeatureEnricher = PrivateAttr()
    _client: FeatureStoreClient = PrivateAttr()

    def __init__(
        self,
        enricher: FeatureEnricher | None = None,
        *,
        client: FeatureStoreClient | None = None,
        config: EnricherConfig | None = None,
        task_type: str = "general",
        mode: Literal["node", "metadata", "both"] = "node",
        user_id: str | None = None,
        entities: Mapping[str, str] | None = None,
        fallback: bool = True,
        show_metadata_to_llm: bool = False,
    ) -> None:
        if enricher is None and client is None:
            raise FeatureConfigError(
                "FeatureContextPostprocessor needs a FeatureEnricher or a client: pass "
                "enricher=FeatureEnricher(client, config) or client=<FeatureStoreClient>"
            )
        if enricher is not None and config is not None:
            raise FeatureConfigError(
                "Pass config only when the postprocessor builds its own enricher; with "
                "enricher= given, configure that enricher instead"
            )
        super().__init__(
            task_type=task_type,
            mode=mode,
            user_id=user_id,
            entities=dict(entities or {}),
            fallback=fallback,
            show_metadata_to_llm=show_metadata_to_llm,
        )
        if enricher is None:
            assert client is not None
            enricher = FeatureEnricher(client, config)
        self._enricher = enricher
        self._client = client if client is not None else enricher.client

    @classmethod
    def class_name(cls) -> str:
        return "FeatureContextPostprocessor"

    @property
    def enricher(self) -> FeatureEnricher:
        """The enricher that renders the features."""
        return self._enricher

    def required_features(self) -> dict[str, list[str]]:
        """Features this postprocessor reads, per entity type: pass it to a retriever's
        ``prefetch`` so one lookup per query serves both."""
        return self._enricher.required_features(self.task_type)

    def _plan(self, query_bundle: QueryBundle | None) -> LookupPlan:
        ids = resolve_entities(query_bundle, self.user_id, self.entities)
        return self._enricher.plan(task_type=self.task_type, context=ids)

    def _apply(
        self,
        nodes: list[NodeWithScore],
        query_bundle: QueryBundle | None,
        lookup: Lookup,
    ) -> list[NodeWithScore]:
        prompt = query_bundle.query_str if query_bundle is not None else ""
        result = self._enricher.enrich_from_vectors(
            prompt, lookup.vectors, self.task_type, lookup.latency_ms
        )
        if not result.features_available:
            return nodes
        out = list(nodes)
        if self.mode in ("metadata", "both"):
            out = [self._with_features(n, result) for n in out]
        if self.mode in ("node", "both"):
            out.insert(0, self._context_node(out, result))
        return out

    def _context_node(
        self, nodes: Sequence[NodeWithScore], result: EnrichmentResult
    ) -> NodeWithScore:
        node = TextNode(
            text=result.context_block,
            metadata={
                CONTEXT_KEY: True,
                "llmfs_features_used": list(result.features_used),
                "llmfs_task_type": result.task_type,
            },
            excluded_llm_metadata_keys=list(_CONTEXT_META_KEYS),
            excluded_embed_metadata_keys=list(_CONTEXT_META_KEYS),
        )
        score = max([1.0, *(n.score for n in nodes if n.score is not None)])
        return NodeWithScore(node=node, score=score)

    def _with_features(self, item: NodeWithScore, result: EnrichmentResult) -> NodeWithScore:
        features = dict(result.variables.get("features_by_name", {}))
        hidden_llm = [] if self.show_metadata_to_llm else [FEATURES_KEY]
        node = item.node.model_copy(
            update={
                "metadata": {**item.node.metadata, FEATURES_KEY: features},
                "excluded_llm_metadata_keys": [*item.node.excluded_llm_metadata_keys, *hidden_llm],
                "excluded_embed_metadata_keys": [
                    *item.node.excluded_embed_metadata_keys,
                    FEATURES_KEY,
                ],
            }
        )
        return NodeWithScore(node=node, score=item.score)

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        plan = self._plan(query_bundle)
        if plan.skipped_reason is not None:
            return nodes
        lookup = fetch_vectors(
            self._client,
            plan.features,
            plan.entities,
            query_vectors(query_bundle),
            fallback=self.fallback,
        )
        return self._apply(nodes, query_bundle, lookup)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        plan = self._plan(query_bundle)
        if plan.skipped_reason is not None:
            return nodes
        lookup = await afetch_vectors(
            self._client,
            plan.features,
            plan.entities,
            query_vectors(query_bundle),
            fallback=self.fallback,
        )
        return self._apply(nodes, query_bundle, lookup)
