"""``feature_facts_tool``: a LlamaIndex ``FunctionTool`` the agent calls for facts about
the current user.

::

    from llama_index.core.agent.workflow import FunctionAgent
    from llamaindex_featurestore import user_context
    from llamaindex_featurestore.tools import feature_facts_tool

    agent = FunctionAgent(tools=[feature_facts_tool(enricher, task_type="customer_support")],
                          llm=llm)
    with user_context("u1"):
        answer = await agent.run("What plan am I on?")

The tool's only argument is ``features`` (optional names to narrow the answer). The user
comes from the application, never from the model: :func:`~llamaindex_featurestore.
user_context` around the run, else the tool's ``user_id``/``entities``
(:func:`~llamaindex_featurestore.resolve_entities`). Any other argument the model sends
(``user_id="u2"``) is ignored. The answer is the LangChain tool's, from the core
(:mod:`llm_featurestore.prompting.facts`): only the features the enricher's policy allows for
the task, rendered by the enricher (sensitive ones dropped, masked or hashed, the token
budget, sanitising), with their statuses; the read is the enricher's (the core read
flow: monitor gate, fallback).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.tools import FunctionTool
from pydantic import BaseModel, Field

from llamaindex_featurestore.context import resolve_entities
from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.prompting.facts import DEFAULT_TOOL_NAME, describe_tool, render_facts

__all__ = ["FactsQuery", "feature_facts_tool"]


class FactsQuery(BaseModel):
    """What the model may send: which facts it wants, never whose."""

    features: list[str] | None = Field(
        None, description="Feature names to ask for (from the description); omit for all."
    )


def feature_facts_tool(
    enricher: FeatureEnricher,
    *,
    task_type: str = "general",
    name: str = DEFAULT_TOOL_NAME,
    description: str | None = None,
    user_id: str | None = None,
    entities: Mapping[str, str] | None = None,
) -> FunctionTool:
    """A ``FunctionTool`` answering with the policy-allowed facts about the current user.

    Args:
        enricher: The core enricher (client, config, catalog, monitor, fallback apply).
        task_type: Selects the features and the sensitivity policy.
        name: The tool name the model sees.
        description: The description the model sees; by default it lists the features
            the tool may return.
        user_id: The user when no :func:`user_context` is set (a tool per user).
        entities: Ids of other entity types, ``{entity_type: id}``.
    """

    def user_facts(features: list[str] | None = None, **model_args: Any) -> str:
        ids = resolve_entities(None, user_id, entities)
        result = enricher.enrich("", task_type=task_type, context=ids)
        return render_facts(enricher, result, features)

    async def auser_facts(features: list[str] | None = None, **model_args: Any) -> str:
        ids = resolve_entities(None, user_id, entities)
        result = await enricher.aenrich("", task_type=task_type, context=ids)
        return render_facts(enricher, result, features)

    return FunctionTool.from_defaults(
        fn=user_facts,
        async_fn=auser_facts,
        name=name,
        description=description or describe_tool(enricher, task_type),
        fn_schema=FactsQuery,
    )
