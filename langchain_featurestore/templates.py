"""A stored prompt template version as a LangChain ``ChatPromptTemplate``.

::

    version = TemplateRegistry(client).choose("answer", user_id="u1")
    prompt = as_chat_prompt(version, then=[("human", "{question}")])
    chain = enricher_runnable | prompt | model        # feature_context fills the block

The version's text becomes one message (``role``, the system prompt by default) in
LangChain's f-string format, the syntax templates are written in; ``then`` appends more
messages. The prompt's ``metadata`` carries ``template_id``, ``template_version`` and
``content_hash``, so LangChain tracers record which version answered, and
:meth:`~llm_featurestore.monitor.FeatureMonitor.record_template_quality` can be given it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from langchain_core.prompts import ChatPromptTemplate

from llm_featurestore.templates import PromptTemplateVersion

__all__ = ["as_chat_prompt"]


def as_chat_prompt(
    version: PromptTemplateVersion,
    *,
    role: Literal["system", "human", "ai"] = "system",
    then: Sequence[tuple[str, str]] = (),
) -> ChatPromptTemplate:
    """``version`` as a ``ChatPromptTemplate`` whose first message is its text.

    Args:
        version: The template version (from :class:`~llm_featurestore.templates.
            TemplateRegistry`).
        role: The role of the version's message.
        then: More ``(role, text)`` messages after it, e.g. ``[("human", "{question}")]``.
    """
    prompt = ChatPromptTemplate.from_messages([(role, version.content), *then])
    prompt.metadata = {**(prompt.metadata or {}), **version.metadata}
    return prompt
