"""The enricher's old home: every name moved into :mod:`llm_featurestore.prompting`.

:class:`~llm_featurestore.prompting.enricher.FeatureEnricher` (the facade, with its
guarantees), :class:`~llm_featurestore.prompting.config.EnricherConfig` and the
default tasks, the result models (:mod:`llm_featurestore.prompting.results`) and
:class:`~llm_featurestore.prompting.plan.LookupPlan` are re-exported here, so
``from llm_featurestore.enricher import FeatureEnricher`` keeps working.
"""

from llm_featurestore.prompting.config import (
    DEFAULT_ENABLED_TASK_TYPES,
    DEFAULT_FOOTER,
    DEFAULT_HEADER,
    EnricherConfig,
    default_task_features,
)
from llm_featurestore.prompting.config import HASH_SALT_ENV as HASH_SALT_ENV
from llm_featurestore.prompting.enricher import FeatureEnricher
from llm_featurestore.prompting.plan import LookupPlan
from llm_featurestore.prompting.policy import SupportsCatalog as SupportsCatalog
from llm_featurestore.prompting.results import DropReason, EnrichmentResult, FeatureProvenance

__all__ = [
    "DEFAULT_ENABLED_TASK_TYPES",
    "DEFAULT_FOOTER",
    "DEFAULT_HEADER",
    "DropReason",
    "EnricherConfig",
    "EnrichmentResult",
    "FeatureEnricher",
    "FeatureProvenance",
    "LookupPlan",
    "default_task_features",
]
