"""What each feature means, how sensitive it is, and where it comes from.

A :class:`FeatureCatalog` holds one :class:`FeatureDefinition` per feature of an entity
type. Build it by hand, from YAML (:meth:`FeatureCatalog.from_yaml`), or from a real
Feast registry (:meth:`FeatureCatalog.from_feast`). The enricher reads labels and
sensitivity from it; operators use :meth:`~FeatureCatalog.search` for discovery and
:meth:`~FeatureCatalog.lineage` to see which feature view and data source a feature
comes from and which task types used it (from a
:class:`~llm_featurestore.monitor.FeatureMonitor`).

The package: :mod:`.definitions` (the models), :mod:`.collection` (the catalog, its
names, search and lineage) and :mod:`.loaders` (YAML, and Feast's registry).
"""

from llm_featurestore.catalog.collection import FeatureCatalog
from llm_featurestore.catalog.definitions import FeatureDefinition, FeatureLineage, Sensitivity

__all__ = ["FeatureCatalog", "FeatureDefinition", "FeatureLineage", "Sensitivity"]
