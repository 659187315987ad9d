"""What each feature means, how sensitive it is, and where it comes from.

A :class:`FeatureCatalog` holds one :class:`FeatureDefinition` per feature of an entity
type. Build it by hand, from YAML (:meth:`FeatureCatalog.from_yaml`), or from a real
Feast registry (:meth:`FeatureCatalog.from_feast`). The enricher reads labels and
sensitivity from it; operators use :meth:`~FeatureCatalog.search` for discovery and
:meth:`~FeatureCatalog.lineage` to see which feature view and data source a feature
comes from and which task types used it (from a
:class:`~llm_featurestore.monitor.FeatureMonitor`).

Next to features, the catalog lists where they come from besides stored views:
on-demand views, request sources and push sources (:mod:`.sources`).

The package: :mod:`.definitions` (the feature models), :mod:`.sources` (the source
models), :mod:`.collection` (the catalog, its names, search and lineage),
:mod:`.loaders` (YAML, and Feast's registry) and :mod:`.feast_sources` (Feast's
on-demand views, request and push sources).
"""

from llm_featurestore.catalog.collection import FeatureCatalog
from llm_featurestore.catalog.definitions import FeatureDefinition, FeatureLineage, Sensitivity
from llm_featurestore.catalog.sources import (
    OnDemandViewDefinition,
    PushSourceDefinition,
    RequestSourceDefinition,
)

__all__ = [
    "FeatureCatalog",
    "FeatureDefinition",
    "FeatureLineage",
    "OnDemandViewDefinition",
    "PushSourceDefinition",
    "RequestSourceDefinition",
    "Sensitivity",
]
