"""What a write-back writes after each turn (the ``write_back`` section of a configuration).

Every feature is optional and named by the user: a name set here is the feature that
receives that value, ``None`` (the default) writes nothing for it. At least one must be
named. On Feast, name every feature of the view the write-back fills (Feast writes a
view's row whole) and give them these types: last query ``String``, shown ids
``Array(String)``, turn count ``Int64``, time of the last turn ``UnixTimestamp``,
memory ``String``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from llm_featurestore.clients.base import validate_feature_values
from llm_featurestore.errors import FeatureValidationError
from llm_featurestore.prompting.tokens import DEFAULT_ENCODING
from llm_featurestore.settings import ConfigModel
from llm_featurestore.writeback.writer import WriterConfig

__all__ = ["FEATURE_FIELDS", "WriteBackConfig"]

FEATURE_FIELDS = ("last_query", "shown_ids", "turn_count", "last_turn_at", "memory")
"""The settings that name a feature to write, in the order they are computed."""


class WriteBackConfig(ConfigModel):
    """Which features a turn writes, for which entity, and the memory's budget."""

    config_name = "write_back"

    entity_type: str = Field(
        "user", min_length=1, description="The entity whose features the turn writes."
    )
    last_query: str | None = Field(None, description="Feature receiving the turn's query text.")
    shown_ids: str | None = Field(
        None, description="Feature receiving the ids of the documents or products shown."
    )
    turn_count: str | None = Field(
        None, description="Feature counting the entity's turns (previous value + 1)."
    )
    last_turn_at: str | None = Field(
        None,
        description="Feature receiving when the turn happened (a datetime; local and Redis "
        "store it as ISO-8601 text).",
    )
    memory: str | None = Field(
        None,
        description="Feature receiving the conversation memory: a rolling summary of the "
        "last turns within memory_max_tokens.",
    )
    shown_id_key: str | None = Field(
        None,
        description="Metadata key holding a shown document's id (e.g. 'product_id'); None "
        "uses the document's own id (LangChain Document.id, LlamaIndex node id).",
    )
    max_shown: int = Field(20, ge=1, le=10_000, description="Shown ids kept per turn, in order.")
    max_query_chars: int = Field(
        2000, ge=1, le=65_536, description="Longer queries are cut to this many characters."
    )
    memory_max_tokens: int = Field(
        200, ge=1, description="Token budget of the memory feature (counted with tiktoken)."
    )
    memory_turns: int = Field(10, ge=1, description="Turns the extractive memory keeps at most.")
    memory_encoding: str = Field(DEFAULT_ENCODING, description="tiktoken encoding for the budget.")
    writer: WriterConfig = Field(
        default_factory=WriterConfig, description="The background writer's queue and retries."
    )

    @model_validator(mode="after")
    def _names(self) -> WriteBackConfig:
        named = self.feature_names()
        if not named:
            raise ValueError(
                f"no feature to write: name at least one of {', '.join(FEATURE_FIELDS)}"
            )
        seen: dict[str, str] = {}
        for setting, name in named.items():
            if name in seen:
                raise ValueError(
                    f"{seen[name]} and {setting} both name the feature {name!r}; "
                    "give each value its own feature"
                )
            seen[name] = setting
            try:
                validate_feature_values({name: None})
            except FeatureValidationError as exc:
                raise ValueError(f"{setting}: {exc}") from None
        return self

    def feature_names(self) -> dict[str, str]:
        """``{setting: feature name}`` for every feature this configuration writes."""
        values: dict[str, Any] = {f: getattr(self, f) for f in FEATURE_FIELDS}
        return {setting: name for setting, name in values.items() if name is not None}
