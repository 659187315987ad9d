"""``FeatureContextMiddleware``: the user's feature context in a LangChain 1.x agent's
system prompt, read once per agent run.

::

    from dataclasses import dataclass
    from langchain.agents import create_agent
    from langchain_featurestore.agents import FeatureContextMiddleware

    @dataclass
    class Ctx:
        user_id: str

    agent = create_agent(
        model,
        tools=[...],
        system_prompt="You are a shopping assistant.",
        middleware=[FeatureContextMiddleware(enricher, task_type="product_recommendation")],
        context_schema=Ctx,
    )
    agent.invoke({"messages": [{"role": "user", "content": "Any ideas?"}]}, context=Ctx("u1"))

How it works (``pip install 'llm-featurestore[agents]'``):

- ``before_agent`` (once per run, however many times the loop calls the model) reads
  the entity ids (``id_keys``, by default ``"<entity_type>_id"`` for each entity type the
  task reads) from the runtime context, the state or ``config["configurable"]`` (see
  :mod:`langchain_featurestore._runtime`) and asks the core enricher for the task's
  block: ``FeatureEnricher.enrich``/``aenrich``, so the read goes through the core read
  flow (monitor gate, one batch call per entity type, fallback on store failures) and
  the block has the enricher's budget, sanitising and sensitivity policy. The block is
  kept in the agent state (a private key, not part of the agent's input or output).
- ``wrap_model_call`` appends the block to the system prompt of every model call, after
  the agent's own instructions (so the instructions stay a stable, cacheable prefix).
  No block (store down, monitor off, no id, nothing usable): the prompt is unchanged.
- The run reports an ``llm_featurestore.enrichment`` custom event (features used, their
  statuses, tokens, latency; no values), as :class:`~langchain_featurestore.
  FeatureEnricherRunnable` does, so LangSmith/Langfuse/``astream_events`` show it.

With ``fallback=True`` (the enricher's default) a dead store never breaks the agent;
with ``fallback=False`` its errors propagate out of the run. Use one instance per agent:
the block lives under one state key (:data:`CONTEXT_STATE_KEY`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain.agents.middleware.types import PrivateStateAttr
from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import Runtime
from typing_extensions import NotRequired

from langchain_featurestore._events import ENRICHMENT_EVENT, aemit, emit
from langchain_featurestore._runtime import id_keys_for, runtime_ids
from langchain_featurestore.enrichment import enrichment_event
from llm_featurestore.enricher import EnrichmentResult, FeatureEnricher
from llm_featurestore.reading import warn_no_entity

__all__ = ["CONTEXT_STATE_KEY", "FeatureContextMiddleware", "FeatureContextState", "with_block"]

CONTEXT_STATE_KEY = "feature_context"
"""State key holding this run's block ("" when there is none)."""


class FeatureContextState(AgentState[Any]):
    """The agent state plus this run's feature block (private to the middleware)."""

    feature_context: NotRequired[Annotated[str, PrivateStateAttr]]


def with_block(system: SystemMessage | None, block: str) -> SystemMessage | None:
    """``system`` with ``block`` appended after a blank line (``system`` itself when
    ``block`` is empty; a new system message when there is none)."""
    if not block:
        return system
    if system is None:
        return SystemMessage(content=block)
    if isinstance(system.content, str):
        text = f"{system.content}\n\n{block}" if system.content else block
        return system.model_copy(update={"content": text})
    return system.model_copy(update={"content": [*system.content, {"type": "text", "text": block}]})


def _current_config() -> RunnableConfig | None:
    try:
        return get_config()
    except RuntimeError:  # called outside a graph run: nothing to report to
        return None


class FeatureContextMiddleware(AgentMiddleware[FeatureContextState, Any]):
    """Agent middleware that puts the enricher's block into the system prompt.

    Args:
        enricher: The core enricher (client, config, catalog, monitor, fallback apply).
        task_type: Selects the features and policies.
        id_keys: ``{entity_type: key}`` where the ids are found; by default
            ``"<entity_type>_id"`` for each entity type the task reads.
        user_id: A fixed user id, used when the run names none (an agent per user).
    """

    state_schema = FeatureContextState

    def __init__(
        self,
        enricher: FeatureEnricher,
        *,
        task_type: str = "general",
        id_keys: Mapping[str, str] | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__()
        self.enricher = enricher
        self.task_type = task_type
        self.id_keys = id_keys_for(enricher, task_type, id_keys)
        self.defaults = {"user": user_id} if user_id else {}
        self.tools = []

    def _ids(
        self, state: Mapping[str, Any], runtime: Runtime[Any], config: RunnableConfig | None
    ) -> dict[str, str]:
        return runtime_ids(
            self.id_keys,
            context=runtime.context,
            state=state,
            config=config,
            defaults=self.defaults,
        )

    def _update(self, result: EnrichmentResult) -> dict[str, Any]:
        if result.skipped_reason == "no_entities":
            warn_no_entity(self.name, self.id_keys)
        return {CONTEXT_STATE_KEY: result.context_block}

    def before_agent(
        self, state: FeatureContextState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Read the features once for this run; keep the block in the state."""
        config = _current_config()
        ids = self._ids(state, runtime, config)
        result = self.enricher.enrich("", task_type=self.task_type, context=ids)
        emit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return self._update(result)

    async def abefore_agent(
        self, state: FeatureContextState, runtime: Runtime[Any]
    ) -> dict[str, Any] | None:
        """Async twin of :meth:`before_agent`."""
        config = _current_config()
        ids = self._ids(state, runtime, config)
        result = await self.enricher.aenrich("", task_type=self.task_type, context=ids)
        await aemit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return self._update(result)

    @staticmethod
    def _request(request: ModelRequest[Any]) -> ModelRequest[Any]:
        block = request.state.get(CONTEXT_STATE_KEY)
        if not isinstance(block, str) or not block:
            return request
        return request.override(system_message=with_block(request.system_message, block))

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Call the model with this run's block in the system prompt."""
        return handler(self._request(request))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async twin of :meth:`wrap_model_call`."""
        return await handler(self._request(request))
