"""Distribution drift of feature values; moved to :mod:`llm_featurestore.monitoring.drift`.

This module re-exports its public names so that ``from llm_featurestore.drift import ...``
keeps working.
"""

from llm_featurestore.monitoring.drift import (
    DEFAULT_EPSILON,
    MODERATE_NULL_RATE_CHANGE,
    MODERATE_PSI,
    NON_NUMERIC_BUCKET,
    OTHER_BUCKET,
    SIGNIFICANT_NULL_RATE_CHANGE,
    SIGNIFICANT_PSI,
    DistributionProfile,
    DriftReport,
    DriftSeverity,
    build_profile,
    compare_to_profile,
    compute_drift,
    drift_severity,
    is_null,
    population_stability_index,
    quantile_edges,
)

__all__ = [
    "DEFAULT_EPSILON",
    "MODERATE_NULL_RATE_CHANGE",
    "MODERATE_PSI",
    "NON_NUMERIC_BUCKET",
    "OTHER_BUCKET",
    "SIGNIFICANT_NULL_RATE_CHANGE",
    "SIGNIFICANT_PSI",
    "DistributionProfile",
    "DriftReport",
    "DriftSeverity",
    "build_profile",
    "compare_to_profile",
    "compute_drift",
    "drift_severity",
    "is_null",
    "population_stability_index",
    "quantile_edges",
]
