"""Prompt rules: what goes into a prompt, how it is labelled, protected and fitted.

``results`` holds the models an enrichment produces (also read by the monitor).
"""

from llm_featurestore.prompting.results import DropReason, EnrichmentResult, FeatureProvenance

__all__ = ["DropReason", "EnrichmentResult", "FeatureProvenance"]
