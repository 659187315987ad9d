"""Custom callback events that carry feature metadata to tracing tools.

LangChain tracers (LangSmith, Langfuse, ``astream_events``) record custom events on
the run that dispatched them, so every adapter reports what it did with features
through the three events below. Payloads are JSON-safe dicts.

- ``llm_featurestore.lookup``: ``{"lookup_ms": float, "entities": {entity_type:
  {"entity_id", "source", "statuses": {feature: status}, "freshness_seconds"}}}``
- ``llm_featurestore.retrieval``: ``{"entity_id", "where", "conditions", "filtered",
  "backfilled", "k", "statuses"}``
- ``llm_featurestore.enrichment``: ``{"task_type", "features_used", "statuses",
  "feature_tokens_added", "enrichment_latency_ms", "store_available", "skipped_reason"}``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    CallbackManager,
    adispatch_custom_event,
    dispatch_custom_event,
)
from langchain_core.runnables import RunnableConfig

from llm_featurestore.telemetry.summaries import vector_summary as vector_summary
from llm_featurestore.telemetry.summaries import vectors_summary as vectors_summary

LOOKUP_EVENT = "llm_featurestore.lookup"
RETRIEVAL_EVENT = "llm_featurestore.retrieval"
ENRICHMENT_EVENT = "llm_featurestore.enrichment"


def _has_parent(callbacks: Any) -> bool:
    return (
        isinstance(callbacks, (CallbackManager, AsyncCallbackManager))
        and callbacks.parent_run_id is not None
    )


def emit(name: str, data: Mapping[str, Any], config: RunnableConfig | None) -> None:
    """Dispatch a custom event on the current run; a no-op outside a traced run."""
    if config is None or not _has_parent(config.get("callbacks")):
        return
    dispatch_custom_event(name, dict(data), config=config)


async def aemit(name: str, data: Mapping[str, Any], config: RunnableConfig | None) -> None:
    """Async twin of :func:`emit`."""
    if config is None or not _has_parent(config.get("callbacks")):
        return
    await adispatch_custom_event(name, dict(data), config=config)
