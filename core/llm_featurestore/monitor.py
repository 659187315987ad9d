"""The monitor; moved to the :mod:`llm_featurestore.monitoring` package.

This module re-exports its public names so that ``from llm_featurestore.monitor import
FeatureMonitor`` keeps working.

``EnrichmentLike`` and ``ProvenanceLike`` are **deprecated** aliases of
:class:`~llm_featurestore.prompting.results.EnrichmentResult` and
:class:`~llm_featurestore.prompting.results.FeatureProvenance`: the monitor now reads
those models directly (they import neither the enricher nor the monitor). Use the real
classes in new code; the aliases stay so that existing imports and annotations work.
"""

from llm_featurestore.monitoring import (
    FeatureMonitor,
    FeatureRate,
    MonitorConfig,
    MonitorStats,
    TaskStats,
)
from llm_featurestore.prompting.results import EnrichmentResult, FeatureProvenance

__all__ = [
    "EnrichmentLike",
    "FeatureMonitor",
    "FeatureRate",
    "MonitorConfig",
    "MonitorStats",
    "ProvenanceLike",
    "TaskStats",
]

EnrichmentLike = EnrichmentResult
"""Deprecated alias of :class:`~llm_featurestore.prompting.results.EnrichmentResult`."""
ProvenanceLike = FeatureProvenance
"""Deprecated alias of :class:`~llm_featurestore.prompting.results.FeatureProvenance`."""
