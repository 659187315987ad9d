"""What each command reports, as plain data: printed as JSON by ``--json``, drawn as text
by :mod:`llm_featurestore.cli.show`, so the two always say the same thing.

Every report is a dict of JSON values (str, int, float, bool, None, lists, dicts).
A sensitive feature's value is never in a report: its ``value`` is None and ``hidden``
says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition
    from llm_featurestore.enricher import EnrichmentResult
    from llm_featurestore.models import FeatureVector

__all__ = ["catalog_report", "inspect_report", "jsonable", "vector_report"]


def jsonable(value: Any) -> Any:
    """``value`` as JSON values: datetimes as ISO text, non-finite floats and anything
    else unknown as text, mappings and sequences item by item."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    return str(value)


def vector_report(vector: FeatureVector, result: EnrichmentResult) -> dict[str, Any]:
    """One entity: its features in store order, each with its status, age, value and
    whether it reached the prompt.

    Returns:
        ``{"entity_type", "entity_id", "source", "features": [...]}``, each feature
        ``{"name", "label", "status", "age_seconds", "value", "hidden", "requested",
        "in_prompt", "drop_reason", "protection", "shortened"}``; ``requested`` is False
        for a feature the task does not read, ``drop_reason`` is set for one it read but
        left out.
    """
    provenance = {p.feature: p for p in result.provenance if p.entity_type == vector.entity_type}
    features = []
    for name, status in vector.statuses.items():
        prov = provenance.get(name)
        ts = vector.event_timestamps.get(name)
        age = (vector.retrieved_at - ts).total_seconds() if ts is not None else None
        if prov is not None and prov.age_seconds is not None:
            age = prov.age_seconds
        reason = None
        if prov is not None and not prov.used:
            reason = prov.drop_reason.value if prov.drop_reason else "dropped"
        hidden = "sensitive" if reason == "sensitive" else None
        features.append(
            {
                "name": name,
                "label": prov.label if prov else None,
                "status": status.value,
                "age_seconds": age,
                "value": None if hidden else jsonable(vector.features.get(name)),
                "hidden": hidden,
                "requested": prov is not None,
                "in_prompt": bool(prov is not None and prov.used),
                "drop_reason": reason,
                "protection": prov.protection if prov else None,
                "shortened": bool(prov is not None and prov.shortened),
            }
        )
    return {
        "entity_type": vector.entity_type,
        "entity_id": vector.entity_id,
        "source": vector.source,
        "features": features,
    }


def inspect_report(
    task: str,
    vectors: Sequence[tuple[FeatureVector, bool]],
    result: EnrichmentResult,
    *,
    budget: int,
    ignored: Sequence[str],
    prompt: str | None,
) -> dict[str, Any]:
    """What ``inspect`` shows.

    Args:
        task: The task type.
        vectors: Each entity read, with whether the store knows it (False: a cold start).
        result: The enrichment of ``prompt`` (or of the empty prompt).
        budget: The enricher's ``max_feature_tokens``.
        ignored: ``"type:id"`` of the entities given that the task reads nothing of.
        prompt: The ``--prompt`` text, or None when none was given.

    Returns:
        ``{"task", "entities": [vector_report + "known"], "ignored_entities",
        "dropped": [{"entity_type", "feature", "reason", "status"}], "skipped_reason",
        "context_block", "tokens", "budget", "features_used", "latency_ms",
        "store_available", "prompt", "final_prompt"}``; ``final_prompt`` is None
        without a prompt.
    """
    return {
        "task": task,
        "entities": [{**vector_report(v, result), "known": known} for v, known in vectors],
        "ignored_entities": list(ignored),
        "dropped": [
            {
                "entity_type": p.entity_type,
                "feature": p.feature,
                "reason": p.drop_reason.value if p.drop_reason else "dropped",
                "status": p.status.value,
            }
            for p in result.dropped
        ],
        "skipped_reason": result.skipped_reason,
        "context_block": result.context_block,
        "tokens": result.feature_tokens_added,
        "budget": budget,
        "features_used": list(result.features_used),
        "latency_ms": result.enrichment_latency_ms,
        "store_available": result.store_available,
        "prompt": prompt,
        "final_prompt": result.enriched_prompt if prompt is not None else None,
    }


def _definition(d: FeatureDefinition) -> dict[str, Any]:
    return {
        "key": f"{d.entity_type}.{d.name}",
        **d.model_dump(mode="json"),
        "display_label": d.display_label,
        "is_sensitive": d.is_sensitive,
    }


def catalog_report(
    catalog: FeatureCatalog,
    definitions: Sequence[FeatureDefinition],
    *,
    query: str | None,
    origin: str,
) -> dict[str, Any]:
    """What ``catalog`` shows: the definitions listed or found, and, when listing, the
    catalog's on-demand views, request sources and push sources.

    Returns:
        ``{"query", "origin", "searched", "count", "features": [definition fields +
        "key", "display_label", "is_sensitive"]}``, plus ``"on_demand_views"``,
        ``"request_sources"`` and ``"push_sources"`` (their definitions' fields) when
        ``query`` is None. ``searched`` is how many features the catalog holds.
    """
    report: dict[str, Any] = {
        "query": query,
        "origin": origin,
        "searched": len(catalog.list()),
        "count": len(definitions),
        "features": [_definition(d) for d in definitions],
    }
    if query is None:
        report["on_demand_views"] = [v.model_dump(mode="json") for v in catalog.on_demand_views()]
        report["request_sources"] = [r.model_dump(mode="json") for r in catalog.request_sources()]
        report["push_sources"] = [p.model_dump(mode="json") for p in catalog.push_sources()]
    return report
