"""``FeatureContextPostprocessor``: the user's features as a context node and/or node metadata."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from llamaindex_featurestore._events import emit_enrichment
from llamaindex_featurestore.context import FeatureQueryBundle, entities_for, query_vectors
from llamaindex_featurestore.reads import aread_query, read_query
from llamaindex_featurestore.rerank import CONTEXT_KEY, tag_node
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest

__all__ = ["FEATURES_KEY", "FeatureContextPostprocessor"]

FEATURES_KEY = "llmfs_features"
"""Node metadata key holding ``{"entity_type.feature": rendered value}`` (metadata mode)."""


class FeatureContextPostprocessor(BaseNodePostprocessor):
    """Add the user's features to the retrieved nodes, for the response synthesizer.

    Per query: read the features the enricher maps to ``task_type`` (one read of the
    core flow, gated by the enricher's monitor for that task; vectors the query already
    holds are reused) and render them with ``FeatureEnricher.enrich_from_vectors``
    (budget, staleness, sensitivity and injection safety live there). Then, by ``mode``:
    ``"node"`` puts a ``TextNode`` holding the context block first (metadata
    ``{"llmfs_context": True, ...}`` hidden from the LLM, a score no lower than any other
    node's); ``"metadata"`` copies every node with ``metadata["llmfs_features"] =
    {"entity_type.feature": rendered value}`` (hidden from the embedding, and from the
    LLM unless ``show_metadata_to_llm``); ``"both"`` does both. Nodes pass through
    unchanged when enrichment does not run (task disabled, no entity, monitor refused)
    or no feature is usable. Put this postprocessor last, so nothing drops its node.

    Args:
        enricher: Selects, renders and budgets the features; its monitor gates the read.
            Built from ``client`` (and ``config``) when omitted.
        client: Store for the reads; defaults to ``enricher.client``.
        config: Enricher settings when ``enricher`` is omitted.
        task_type: The enricher task whose features to use.
        mode: ``"node"``, ``"metadata"`` or ``"both"``.
        user_id: Default user id, used when the query names none.
        entities: Default ids of other entity types.
        fallback: Degrade store failures (logged once per cause); ``False`` raises.
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
    _reader: FeatureReader = PrivateAttr()

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
        self._reader = FeatureReader(
            client or enricher.client, monitor=enricher.monitor, fallback=fallback
        )

    @classmethod
    def class_name(cls) -> str:
        return "FeatureContextPostprocessor"

    @property
    def enricher(self) -> FeatureEnricher:
        """The enricher that renders the features (its monitor gates the reads)."""
        return self._enricher

    def required_features(self) -> dict[str, list[str]]:
        """Features this postprocessor reads, per entity type: pass it to a retriever's
        ``prefetch`` so one lookup per query serves both."""
        return self._enricher.required_features(self.task_type)

    def _request(self, query_bundle: QueryBundle | None) -> ReadRequest:
        needs = self.required_features()
        ids = entities_for(self.class_name(), query_bundle, needs, self.user_id, self.entities)
        inputs = query_bundle.inputs if isinstance(query_bundle, FeatureQueryBundle) else {}
        query = None if query_bundle is None else query_bundle.query_str
        plan = self._enricher.plan(
            task_type=self.task_type, context=ids, query=query, inputs=inputs
        )
        return replace(self._enricher.request(plan), known=query_vectors(query_bundle))

    def _apply(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None, vectors: FeatureVectors
    ) -> list[NodeWithScore]:
        prompt = query_bundle.query_str if query_bundle is not None else ""
        result = self._enricher.enrich_from_vectors(
            prompt, vectors, self.task_type, vectors.latency_ms
        )
        emit_enrichment(self.class_name(), result)
        if not result.features_available:
            return nodes
        out = list(nodes)
        if self.mode in ("metadata", "both"):
            features = dict(result.variables.get("features_by_name", {}))
            show = self.show_metadata_to_llm
            out = [tag_node(n, FEATURES_KEY, features, show=show) for n in out]
        if self.mode in ("node", "both"):
            used, task = list(result.features_used), result.task_type
            meta = {CONTEXT_KEY: True, "llmfs_features_used": used, "llmfs_task_type": task}
            node = TextNode(
                text=result.context_block,
                metadata=meta,
                excluded_llm_metadata_keys=list(meta),
                excluded_embed_metadata_keys=list(meta),
            )
            score = max([1.0, *(n.score for n in out if n.score is not None)])
            out.insert(0, NodeWithScore(node=node, score=score))
        return out

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._request(query_bundle)
        vectors = read_query(self._reader, query_bundle, request, self.class_name())
        return self._apply(nodes, query_bundle, vectors)

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        request = self._request(query_bundle)
        vectors = await aread_query(self._reader, query_bundle, request, self.class_name())
        return self._apply(nodes, query_bundle, vectors)
