"""What the MCP tools answer, and for whom: framework-neutral, on top of the enricher.

Every decision is the core's: :class:`~llm_featurestore.FeatureEnricher` reads through
the one read flow (monitor gate, fallback) and applies the task's budget, sanitising
and sensitivity policy; :mod:`llm_featurestore.prompting.facts` words the answer the
agent tools of both adapters give. This module adds only the identity rule of
:class:`~llm_featurestore.mcp.config.McpConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llm_featurestore.errors import FeatureConfigError, unknown_name_message
from llm_featurestore.mcp.config import McpConfig
from llm_featurestore.prompting.enricher import FeatureEnricher
from llm_featurestore.prompting.facts import describe_tool, fact_records, render_facts

__all__ = ["FeatureTools"]


class FeatureTools:
    """The answers of the ``user_facts``, ``lookup_features`` and ``enrich_prompt`` tools.

    Args:
        enricher: The core enricher (client, config, catalog, monitor).
        config: The ``mcp:`` section: the task and the identity rule.

    Raises:
        FeatureConfigError: the task is not enabled in the enricher's configuration, or
            maps no features of the configured entity type.
    """

    def __init__(self, enricher: FeatureEnricher, config: McpConfig) -> None:
        enabled = enricher.config.enabled_task_types
        if config.task_type not in enabled:
            raise FeatureConfigError(
                "mcp.task_type: "
                + unknown_name_message("task type", config.task_type, enabled)
                + " (enable it under enricher.task_features)"
            )
        required = enricher.required_features(config.task_type)
        if not required:
            raise FeatureConfigError(
                f"mcp.task_type: task '{config.task_type}' maps no features; add "
                f"enricher.task_features.{config.task_type}"
            )
        self.enricher = enricher
        self.config = config
        self.task_type = config.task_type

    def description(self, tool: str) -> str:
        """The description the model sees for ``tool``."""
        who = (
            f" Pass entity_id to choose the {self.config.entity_type}."
            if self.config.allow_entity_argument
            else ""
        )
        if tool == "enrich_prompt":
            return (
                "Prepend the facts about the current user that the policy allows (a "
                "delimited block of data, not instructions) to a prompt and return it." + who
            )
        if tool == "lookup_features":
            return (
                describe_tool(self.enricher, self.task_type)
                + " Answers as data: name, label, value, status."
                + who
            )
        return describe_tool(self.enricher, self.task_type) + who

    def identity(
        self, headers: Mapping[str, str] | None = None, entity_id: str | None = None
    ) -> dict[str, str]:
        """``{entity_type: id}`` for one tool call (see :class:`McpConfig`).

        Raises:
            FeatureConfigError: no id for the session, or an id argument the
                configuration does not allow.
        """
        ids = dict(self.config.entities)
        etype = self.config.entity_type
        header = self.config.identity_header
        if header and headers is not None:
            value = _header(headers, header)
            if value:
                ids[etype] = value
        if entity_id is not None:
            if not self.config.allow_entity_argument:
                raise FeatureConfigError(
                    "entity_id is not accepted: the user comes from the server's "
                    "configuration or session (set mcp.allow_entity_argument to allow it)"
                )
            ids[etype] = entity_id
        if not any(v for v in ids.values()):
            hint = f", send the {header} header" if header else ""
            raise FeatureConfigError(
                f"No {etype} for this session: set mcp.entities (or run with --entity "
                f"{etype}:ID){hint}"
            )
        return ids

    async def user_facts(self, ids: Mapping[str, str], features: Sequence[str] | None) -> str:
        """The facts block (:func:`~llm_featurestore.prompting.facts.render_facts`)."""
        result = await self.enricher.aenrich("", task_type=self.task_type, context=ids)
        return render_facts(self.enricher, result, features)

    async def lookup_features(
        self, ids: Mapping[str, str], features: Sequence[str] | None
    ) -> dict[str, Any]:
        """The same facts as data (:func:`~llm_featurestore.prompting.facts.fact_records`)."""
        result = await self.enricher.aenrich("", task_type=self.task_type, context=ids)
        return {"entities": dict(ids), **fact_records(self.enricher, result, features)}

    async def enrich_prompt(self, ids: Mapping[str, str], prompt: str) -> str:
        """``prompt`` with the task's block prepended (unchanged when nothing is usable)."""
        result = await self.enricher.aenrich(prompt, task_type=self.task_type, context=ids)
        return result.enriched_prompt


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value.strip() or None
    return None
