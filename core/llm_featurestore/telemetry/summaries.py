"""What tracing tools are told about a read or an enrichment: one payload shape for every
adapter (LangChain custom events, LlamaIndex instrumentation events, the MCP server).

Payloads are JSON-safe dicts. They name features, statuses, entity ids, tokens and
timings, never feature values (they may be sensitive). OpenTelemetry spans are stricter
(no raw ids either; see :mod:`llm_featurestore.telemetry.otel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_featurestore.models import FeatureVector
from llm_featurestore.prompting.results import EnrichmentResult

__all__ = ["enrichment_summary", "vector_summary", "vectors_summary"]


def vector_summary(vector: FeatureVector) -> dict[str, Any]:
    """One vector: ``entity_id``, ``source``, ``statuses`` and ``freshness_seconds``."""
    return {
        "entity_id": vector.entity_id,
        "source": vector.source,
        "statuses": {name: status.value for name, status in vector.statuses.items()},
        "freshness_seconds": vector.freshness_seconds,
    }


def vectors_summary(vectors: Mapping[str, FeatureVector]) -> dict[str, Any]:
    """:func:`vector_summary` for each entity type."""
    return {etype: vector_summary(vector) for etype, vector in vectors.items()}


def enrichment_summary(result: EnrichmentResult) -> dict[str, Any]:
    """One enrichment: task, features used, statuses, drops, tokens, latency, skip reason."""
    return {
        "task_type": result.task_type,
        "features_used": list(result.features_used),
        "statuses": {f"{p.entity_type}.{p.feature}": p.status.value for p in result.provenance},
        "dropped": {
            f"{p.entity_type}.{p.feature}": p.drop_reason.value
            for p in result.provenance
            if p.drop_reason is not None
        },
        "feature_tokens_added": result.feature_tokens_added,
        "enrichment_latency_ms": result.enrichment_latency_ms,
        "store_available": result.store_available,
        "skipped_reason": result.skipped_reason,
    }
