"""A stored prompt template version as a LlamaIndex ``PromptTemplate``.

::

    version = TemplateRegistry(client).choose("answer", user_id="u1")
    engine = index.as_query_engine(text_qa_template=as_prompt_template(version))

The text is used as written (LlamaIndex formats ``{name}`` fields the same way), and the
prompt's ``metadata`` carries ``template_id``, ``template_version``, ``content_hash``
and ``model_family``.
"""

from __future__ import annotations

from llama_index.core.prompts import PromptTemplate

from llm_featurestore.templates import PromptTemplateVersion

__all__ = ["as_prompt_template"]


def as_prompt_template(version: PromptTemplateVersion) -> PromptTemplate:
    """``version`` as a LlamaIndex ``PromptTemplate`` with the version in its metadata."""
    return PromptTemplate(
        version.content,
        metadata=dict(version.metadata),
    )
