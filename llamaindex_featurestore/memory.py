"""``FeatureMemoryBlock``: the user's feature context as a block of a LlamaIndex
``Memory``, for ``FunctionAgent``/``AgentWorkflow``.

::

    from llama_index.core.agent.workflow import FunctionAgent
    from llama_index.core.memory import Memory
    from llamaindex_featurestore import user_context
    from llamaindex_featurestore.memory import FeatureMemoryBlock

    memory = Memory.from_defaults(
        session_id="s1",
        memory_blocks=[FeatureMemoryBlock(enricher=enricher, task_type="customer_support")],
    )
    agent = FunctionAgent(tools=[...], llm=llm)
    with user_context("u1"):
        answer = await agent.run("Where is my order?", memory=memory)

The block's content is the core enricher's block (``FeatureEnricher.aenrich``: the core
read flow with the monitor's gate and fallback, the token budget, sanitising and the
sensitivity policy), which ``Memory`` puts into the system message (its
``memory_blocks_template``). Whose features: :func:`~llamaindex_featurestore.user_context`
around the run, else the block's ``user_id``/``entities``. Nothing usable (store down,
monitor off, no id) gives an empty block, which ``Memory`` leaves out.

An agent asks its memory for messages before every LLM call; the block reads the store
once per user turn and serves the later calls of the same turn from what it read (keyed
by the session, the ids and the text of the latest user message; a new turn, a new user
or a different message reads again). ``priority`` is 0 (never truncated by ``Memory``):
the enricher already keeps the block inside ``max_feature_tokens``.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage, TextBlock
from llama_index.core.memory.memory import BaseMemoryBlock
from pydantic import ConfigDict, Field, PrivateAttr

from llamaindex_featurestore.context import resolve_entities
from llm_featurestore.enricher import FeatureEnricher

__all__ = ["FeatureMemoryBlock"]

_TurnKey = tuple[Any, tuple[tuple[str, str], ...], str | None]


def _last_user_text(messages: list[ChatMessage] | None) -> str | None:
    for message in reversed(messages or []):
        if message.role == "user":
            return "\n".join(b.text for b in message.blocks if isinstance(b, TextBlock))
    return None


class FeatureMemoryBlock(BaseMemoryBlock[str]):
    """A memory block holding the enricher's feature block for the current user."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = Field("user_features", description="The block's name in the memory template.")
    enricher: FeatureEnricher = Field(
        exclude=True, description="The core enricher (client, config, policies, monitor)."
    )
    task_type: str = Field("general", description="Selects the features and policies.")
    user_id: str | None = Field(None, description="The user when no user_context is set.")
    entities: dict[str, str] = Field(
        default_factory=dict, description="Ids of other entity types, {entity_type: id}."
    )
    accept_short_term_memory: bool = Field(
        False, description="Messages leaving short-term memory are not kept here."
    )
    _turn: tuple[_TurnKey, str] | None = PrivateAttr(None)

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        ids = resolve_entities(None, self.user_id, self.entities)
        key: _TurnKey = (
            block_kwargs.get("session_id"),
            tuple(sorted(ids.items())),
            _last_user_text(messages),
        )
        if self._turn is not None and self._turn[0] == key:
            return self._turn[1]
        result = await self.enricher.aenrich("", task_type=self.task_type, context=ids)
        self._turn = (key, result.context_block)
        return result.context_block

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Nothing to store: the features live in the feature store."""
