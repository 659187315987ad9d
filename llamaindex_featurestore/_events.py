"""LlamaIndex instrumentation events carrying what the components did with features.

Each event goes through ``llama_index.core.instrumentation``'s dispatcher, so it is
attached to the span of the component that emitted it (a retriever's ``retrieve``, a
postprocessor's ``postprocess_nodes``) and reaches every registered event handler
(Arize Phoenix, Langfuse, a ``BaseEventHandler`` of your own). ``payload`` has the same
JSON-safe shape as the LangChain adapter's custom event of the same kind
(:mod:`llm_featurestore.telemetry.summaries`): features, statuses, tokens and latencies,
never feature values.

- :class:`FeatureLookupEvent`: one read for a query (``lookup_ms``, ``fetched``,
  ``skipped_reason``, ``entities``: per entity type its id, source, statuses, freshness);
- :class:`FeatureEnrichmentEvent`: one rendering of the context block;
- :class:`FeatureRerankEvent`: one feature rerank (``nodes_in``, ``nodes_out``,
  ``features``, ``statuses``, ``rerank_ms``);
- :class:`FeatureRetrievalEvent`: one filtered retrieval (``conditions``, ``filtered``,
  ``backfilled``, ``k``, ``statuses``).
"""

from __future__ import annotations

from typing import Any

from llama_index.core.instrumentation.events import BaseEvent
from llama_index_instrumentation import get_dispatcher

from llm_featurestore.prompting.results import EnrichmentResult
from llm_featurestore.reading import FeatureVectors
from llm_featurestore.telemetry.summaries import enrichment_summary, vectors_summary

__all__ = [
    "FeatureEnrichmentEvent",
    "FeatureLookupEvent",
    "FeatureRerankEvent",
    "FeatureRetrievalEvent",
    "emit_enrichment",
    "emit_lookup",
    "emit_rerank",
    "emit_retrieval",
]

_dispatcher = get_dispatcher(__name__)


class _FeatureEvent(BaseEvent):
    component: str
    """The component that emitted it, e.g. ``"FeatureRerankPostprocessor"``."""
    payload: dict[str, Any]
    """What it did (see the module docstring); JSON-safe, no feature values."""


class FeatureLookupEvent(_FeatureEvent):
    """One read of features for a query."""

    @classmethod
    def class_name(cls) -> str:
        return "FeatureLookupEvent"


class FeatureEnrichmentEvent(_FeatureEvent):
    """One rendering of the user's context block."""

    @classmethod
    def class_name(cls) -> str:
        return "FeatureEnrichmentEvent"


class FeatureRerankEvent(_FeatureEvent):
    """One rerank of nodes by the user's features."""

    @classmethod
    def class_name(cls) -> str:
        return "FeatureRerankEvent"


class FeatureRetrievalEvent(_FeatureEvent):
    """One retrieval filtered by the user's features."""

    @classmethod
    def class_name(cls) -> str:
        return "FeatureRetrievalEvent"


def emit_lookup(component: str, vectors: FeatureVectors) -> None:
    """Report one read (its vectors and how it went)."""
    payload = {
        "lookup_ms": vectors.latency_ms,
        "fetched": vectors.fetched,
        "skipped_reason": vectors.skipped_reason,
        "entities": vectors_summary(vectors),
    }
    _dispatcher.event(FeatureLookupEvent(component=component, payload=payload))


def emit_enrichment(component: str, result: EnrichmentResult) -> None:
    """Report one enrichment."""
    payload = enrichment_summary(result)
    _dispatcher.event(FeatureEnrichmentEvent(component=component, payload=payload))


def emit_rerank(component: str, payload: dict[str, Any]) -> None:
    """Report one rerank."""
    _dispatcher.event(FeatureRerankEvent(component=component, payload=payload))


def emit_retrieval(component: str, payload: dict[str, Any]) -> None:
    """Report one filtered retrieval."""
    _dispatcher.event(FeatureRetrievalEvent(component=component, payload=payload))
