"""Cold-start defaults: a value for a feature the store does not hold for an entity."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving.failures import ServingStats

__all__ = ["apply_defaults", "defaulted"]


def apply_defaults(vector: FeatureVector, defaults: Mapping[str, Any]) -> FeatureVector | None:
    """``vector`` with each NOT_FOUND feature that has a default set to it (status
    DEFAULTED), or ``None`` when no default applies."""
    missing = [
        name
        for name, status in vector.statuses.items()
        if status is FeatureStatus.NOT_FOUND and name in defaults
    ]
    if not missing:
        return None
    features = dict(vector.features)
    statuses = dict(vector.statuses)
    for name in missing:
        features[name] = defaults[name]
        statuses[name] = FeatureStatus.DEFAULTED
    return vector.model_copy(update={"features": features, "statuses": statuses})


def defaulted(
    vectors: list[FeatureVector], defaults: Mapping[str, Any], stats: ServingStats
) -> list[FeatureVector]:
    """``vectors`` with :func:`apply_defaults` applied, counting those that got a default."""
    out = []
    for vector in vectors:
        filled = apply_defaults(vector, defaults)
        if filled is not None:
            stats.defaulted += 1
        out.append(vector if filled is None else filled)
    return out
