"""A LangChain 1.x agent that knows its user: FeatureContextMiddleware and the facts tool.

Run it with ``python examples/agent_middleware.py`` (no credentials, no servers; needs
``pip install 'llm-featurestore[agents]'``). A scripted fake chat model stands in for a
real one: it asks the facts tool once, then answers. Swap in ``ChatOpenAI(...)`` or any
tool-calling chat model; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult

from langchain_featurestore import FeatureContextMiddleware, feature_facts_tool
from llm_featurestore import EnricherConfig, FeatureEnricher, LocalFeatureStore


class ScriptedModel(GenericFakeChatModel):
    """Replays its messages and prints the system prompt it was given."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        print(f"--- system prompt of this model call ---\n{messages[0].text}\n")
        return super()._generate(messages, *args, **kwargs)


@dataclass
class Ctx:
    user_id: str  # set by the application per request; the model cannot change it


store = LocalFeatureStore()
store.write_features(
    "u1", "user", {"favorite_category": "running", "tier": "gold", "email": "jo@example.com"}
)
config = EnricherConfig(
    task_features={"shopping": {"user": ["favorite_category", "tier", "email"]}},
    enabled_task_types=["shopping"],
    sensitive_policy={"shopping": {"email": "mask"}},  # email is PII: shown masked here
)
enricher = FeatureEnricher(store, config)

model = ScriptedModel(
    messages=iter(
        [
            AIMessage("", tool_calls=[{"name": "user_facts", "args": {}, "id": "call1"}]),
            AIMessage("Gold members get free shipping on running gear this week."),
        ]
    )
)
agent = create_agent(
    model,
    tools=[feature_facts_tool(enricher, task_type="shopping")],
    system_prompt="You are a friendly shop assistant.",
    middleware=[FeatureContextMiddleware(enricher, task_type="shopping")],
    context_schema=Ctx,
)
out = agent.invoke({"messages": [{"role": "user", "content": "Any deals?"}]}, context=Ctx("u1"))
print(f"--- tool answer ---\n{out['messages'][2].content}\n")
print(f"--- agent answer ---\n{out['messages'][-1].content}")
