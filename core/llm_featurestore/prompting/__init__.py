"""Prompt rules: what goes into a prompt, how it is labelled, protected and fitted.

One module per rule:

* ``config``: :class:`EnricherConfig` (task mapping, budget, policies) and the default
  tasks shipped in ``data/default_tasks.yaml``;
* ``results``: the models an enrichment produces (also read by the monitor);
* ``plan``: which entities one enrichment reads (:class:`LookupPlan`);
* ``policy``: drop, sensitivity and label decisions (:class:`PromptPolicy`);
* ``formatting``: values to short text, and :func:`humanize`, the one label rule;
* ``sanitize``: untrusted text to one safe line, masking and hashing;
* ``confusables`` and ``markers``: look-alike spellings folded, marker phrases found in
  any of them (the table is ``data/confusables.tsv``);
* ``pii`` and ``pii_checks``: personal data found inside values (emails, phones, cards,
  IBANs, SSNs, IPs) and the detector interface;
* ``injection``: values that address the model (the documented rule set);
* ``screen``: both scans applied to each rendered piece under the task's policies;
* ``tokens``: exact offline token counting;
* ``render``: lines, the token budget and the block (pure functions);
* ``enricher``: :class:`FeatureEnricher`, the facade over the read flow;
* ``facts``: what an agent's feature tool answers (the policy-allowed facts).

Names are imported on first use, so the monitor can import ``results`` without
loading the tokenizer or YAML.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.prompting.config import EnricherConfig, default_task_features
    from llm_featurestore.prompting.enricher import FeatureEnricher
    from llm_featurestore.prompting.formatting import humanize
    from llm_featurestore.prompting.plan import LookupPlan
    from llm_featurestore.prompting.policy import PromptPolicy
    from llm_featurestore.prompting.results import (
        DropReason,
        EnrichmentResult,
        FeatureProvenance,
    )

_EXPORTS: dict[str, str] = {
    "DropReason": "llm_featurestore.prompting.results",
    "EnrichmentResult": "llm_featurestore.prompting.results",
    "FeatureProvenance": "llm_featurestore.prompting.results",
    "EnricherConfig": "llm_featurestore.prompting.config",
    "default_task_features": "llm_featurestore.prompting.config",
    "FeatureEnricher": "llm_featurestore.prompting.enricher",
    "LookupPlan": "llm_featurestore.prompting.plan",
    "PromptPolicy": "llm_featurestore.prompting.policy",
    "humanize": "llm_featurestore.prompting.formatting",
}

__all__ = [
    "DropReason",
    "EnricherConfig",
    "EnrichmentResult",
    "FeatureEnricher",
    "FeatureProvenance",
    "LookupPlan",
    "PromptPolicy",
    "default_task_features",
    "humanize",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
