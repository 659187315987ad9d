"""What one enrichment produced: the prompt, and what happened to every requested feature.

These are the result and provenance models of :class:`~llm_featurestore.FeatureEnricher`.
They import nothing of the enricher or the monitor, so both (and any adapter) can use
them directly.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.models import FeatureStatus
from llm_featurestore.prompting.sanitize import InstructionPolicy, SensitiveStrategy

__all__ = ["DropReason", "EnrichmentResult", "FeatureProvenance"]


class DropReason(str, Enum):
    """Why a requested feature is not in the prompt."""

    STALE = "stale"
    """The store marked it STALE, or it is older than ``freshness_threshold_seconds``."""
    DEFAULTED = "defaulted"
    """A cold-start default, kept out of the prompt (the task is not in
    ``defaults_in_prompt``)."""
    OVER_BUDGET = "over_budget"
    """Did not fit in ``max_feature_tokens`` (lower priority than what was kept)."""
    SENSITIVE = "sensitive"
    """Sensitive, and the task's policy does not allow it; or the value holds personal
    data (``pii_found`` says which kinds) that the policy does not allow."""
    MISSING = "missing"
    """Not found, null, or empty; or the store cannot serve this id or entity type
    (status INVALID_ID or UNKNOWN_ENTITY_TYPE)."""
    UNAVAILABLE = "unavailable"
    """The store timed out or failed."""
    INSTRUCTION = "instruction"
    """The value reads as an instruction to the model (``instructions_found`` says which
    rules), and the task's ``instruction_policy`` drops such values."""


class FeatureProvenance(BaseModel):
    """Where one requested feature came from and what happened to it."""

    model_config = ConfigDict(frozen=True)

    feature: str
    entity_type: str
    entity_id: str
    source: str
    status: FeatureStatus
    age_seconds: float | None = Field(description="Age of the value at enrichment time, if known.")
    used: bool
    drop_reason: DropReason | None = None
    label: str = Field(description="The label shown (or that would have been shown).")
    protection: SensitiveStrategy | None = Field(
        None, description="How a sensitive value was shown: mask, hash or allow."
    )
    shortened: bool = Field(False, description="The value was cut to fit the budget.")
    pii_found: list[str] = Field(
        default_factory=list,
        description="Kinds of personal data found inside the value (email, phone, "
        "payment_card, ...); never the data itself.",
    )
    pii_action: SensitiveStrategy | None = Field(
        None, description="What was done with them: drop, mask, hash or allow."
    )
    instructions_found: list[str] = Field(
        default_factory=list,
        description="The rules of prompting.injection the value broke (override, "
        "role_marker, ...).",
    )
    instruction_action: InstructionPolicy | None = Field(
        None, description="What was done with it: drop, quote or allow."
    )

    @property
    def qualified_name(self) -> str:
        """``"entity_type.feature"``."""
        return f"{self.entity_type}.{self.feature}"


class EnrichmentResult(BaseModel):
    """The outcome of one enrichment (or pass-through)."""

    model_config = ConfigDict(frozen=True)

    original_prompt: str
    enriched_prompt: str
    task_type: str
    features_used: list[str] = Field(description='"entity_type.feature", in block order.')
    feature_tokens_added: int
    enrichment_latency_ms: float
    features_available: bool = Field(description="At least one feature was added.")
    provenance: list[FeatureProvenance] = Field(default_factory=list)
    context_block: str = Field("", description="Header to footer; empty when nothing was added.")
    variables: dict[str, Any] = Field(
        default_factory=dict,
        description='For chat prompt templates: "feature_context" (the block or ""), '
        '"features" ({label: value}), "features_by_name" ({"entity.feature": value}).',
    )
    store_available: bool = Field(True, description="False when every lookup failed.")
    skipped_reason: str | None = Field(
        None,
        description='Why enrichment did not run: "task_disabled", "no_features_mapped", '
        '"no_entities" or "monitor_disabled"; None when it ran.',
    )

    @property
    def dropped(self) -> list[FeatureProvenance]:
        """Provenance of the features that were requested but not used."""
        return [p for p in self.provenance if not p.used]
