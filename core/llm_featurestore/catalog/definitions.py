"""What the catalog holds: one :class:`FeatureDefinition` per feature, and its lineage."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.formatting import humanize
from llm_featurestore.settings import ConfigModel, PositiveSeconds

__all__ = ["SENSITIVITIES", "FeatureDefinition", "FeatureLineage", "Sensitivity", "label_of"]

Sensitivity = Literal["public", "internal", "confidential", "pii"]
SENSITIVITIES: tuple[str, ...] = get_args(Sensitivity)
_SENSITIVE = frozenset({"confidential", "pii"})


def label_of(name: str) -> str:
    """The label of a feature without one: its bare name through :func:`humanize`.

    ``"user_stats:avg_order_value"`` -> ``"Avg order value"`` (the view is dropped).
    """
    return humanize(name.rpartition(":")[2])


class FeatureDefinition(ConfigModel):
    """Metadata about one feature of one entity type.

    Frozen and strict: an unknown field or a bad value raises
    :class:`~llm_featurestore.errors.FeatureConfigError` naming the field.
    """

    config_name = "feature definition"

    name: str = Field(min_length=1, description='Feature name, e.g. "avg_order_value".')
    entity_type: str = Field(min_length=1, description='Entity type, e.g. "user".')
    dtype: str = Field("unknown", description='Value type, e.g. "Float64" (Feast) or "float".')
    description: str = ""
    label: str | None = Field(None, description="Human-readable label for prompts.")
    sensitivity: Sensitivity = "public"
    owner: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    version: int | str | None = None
    ttl_seconds: PositiveSeconds | None = Field(
        None, description="None: never expires (Feast's ttl of 0)."
    )
    source: str | None = Field(None, description="Name of the data source it is computed from.")
    source_path: str | None = Field(None, description="File path, URI or table of the source.")
    source_type: str | None = Field(None, description='E.g. "FileSource".')
    feature_view: str | None = None
    feature_services: list[str] = Field(
        default_factory=list, description="Feature services that include this feature."
    )
    request_sources: list[str] = Field(
        default_factory=list,
        description="For an on-demand feature: the request sources whose fields a read "
        "passes as request data.",
    )

    @property
    def display_label(self) -> str:
        """``label``, or the name humanised (``"avg_order_value"`` -> ``"Avg order value"``)."""
        return self.label or label_of(self.name)

    @property
    def is_sensitive(self) -> bool:
        """True for ``confidential`` and ``pii`` features."""
        return self.sensitivity in _SENSITIVE

    @property
    def ref(self) -> str:
        """``"feature_view:name"`` when there is a feature view, else ``name``."""
        return f"{self.feature_view}:{self.name}" if self.feature_view else self.name

    @property
    def qualified_name(self) -> str:
        """``"entity_type.name"``, the key used by the monitor and the enricher."""
        return f"{self.entity_type}.{self.name}"


class FeatureLineage(BaseModel):
    """Where a feature comes from and who used it."""

    model_config = ConfigDict(frozen=True)

    entity_type: str
    feature: str
    feature_view: str | None
    data_source: str | None
    source_type: str | None
    source_path: str | None
    feature_services: list[str]
    request_sources: list[str] = Field(
        default_factory=list, description="Request sources it is computed from (on-demand)."
    )
    task_types: list[str] = Field(description="Task types whose prompts used it (sorted).")
    owner: str | None
    definition: FeatureDefinition
