"""``feature_facts_tool``: a LangChain tool the model calls for facts about the current user.

::

    from langchain_featurestore.tools import feature_facts_tool

    facts = feature_facts_tool(enricher, task_type="customer_support")
    agent = create_agent(model, tools=[facts], context_schema=Ctx)
    agent.invoke({"messages": [...]}, context=Ctx(user_id="u1"))

    facts.invoke({}, config={"configurable": {"user_id": "u1"}})  # outside an agent

The tool's only argument is ``features`` (optional names to narrow the answer). The user
is never a tool argument: the ids come from the agent's runtime context, state or
``config["configurable"]`` (:mod:`langchain_featurestore._runtime`), or the tool's
``user_id``; anything else the model passes (``user_id="u2"``) is dropped by the schema
before the tool runs. The answer (:mod:`llm_featurestore.prompting.facts`) holds only the
features the enricher's policy allows for the task, rendered by the enricher (sensitive
ones dropped, masked or hashed, the token budget, sanitising) with their statuses; the
read goes through the core read flow (monitor gate, fallback). Each call reports an
``llm_featurestore.enrichment`` custom event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from langchain.tools import ToolRuntime
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config
from langchain_core.tools import StructuredTool
from pydantic import Field

from langchain_featurestore._events import ENRICHMENT_EVENT, aemit, emit
from langchain_featurestore._runtime import id_keys_for, runtime_ids
from langchain_featurestore.enrichment import enrichment_event
from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.prompting.facts import DEFAULT_TOOL_NAME, describe_tool, render_facts

__all__ = ["feature_facts_tool"]

Wanted = Annotated[
    list[str] | None,
    Field(description="Feature names to ask for (from the description); omit for all."),
]


def feature_facts_tool(
    enricher: FeatureEnricher,
    *,
    task_type: str = "general",
    name: str = DEFAULT_TOOL_NAME,
    description: str | None = None,
    id_keys: Mapping[str, str] | None = None,
    user_id: str | None = None,
) -> StructuredTool:
    """A tool answering with the policy-allowed facts about the current user.

    Args:
        enricher: The core enricher (client, config, catalog, monitor, fallback apply).
        task_type: Selects the features and the sensitivity policy.
        name: The tool name the model sees.
        description: The description the model sees; by default it lists the features
            the tool may return (:func:`~llm_featurestore.prompting.facts.describe_tool`).
        id_keys: ``{entity_type: key}`` where the ids are found; by default
            ``"<entity_type>_id"`` for each entity type the task reads.
        user_id: A fixed user id, used when the run names none (a tool per user).
    """
    keys = id_keys_for(enricher, task_type, id_keys)
    defaults = {"user": user_id} if user_id else {}

    def ids_and_config(runtime: ToolRuntime[Any, Any] | None) -> tuple[dict[str, str], Any]:
        if runtime is None:  # invoked directly, not by an agent's tool node
            config: RunnableConfig = ensure_config()
            return runtime_ids(keys, config=config, defaults=defaults), config
        state = runtime.state if isinstance(runtime.state, Mapping) else None
        ids = runtime_ids(
            keys, context=runtime.context, state=state, config=runtime.config, defaults=defaults
        )
        return ids, runtime.config

    def user_facts(features: Wanted = None, runtime: ToolRuntime[Any, Any] = None) -> str:  # type: ignore[assignment]
        ids, config = ids_and_config(runtime)
        result = enricher.enrich("", task_type=task_type, context=ids)
        emit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return render_facts(enricher, result, features)

    async def auser_facts(features: Wanted = None, runtime: ToolRuntime[Any, Any] = None) -> str:  # type: ignore[assignment]
        ids, config = ids_and_config(runtime)
        result = await enricher.aenrich("", task_type=task_type, context=ids)
        await aemit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return render_facts(enricher, result, features)

    return StructuredTool.from_function(
        func=user_facts,
        coroutine=auser_facts,
        name=name,
        description=description or describe_tool(enricher, task_type),
    )
