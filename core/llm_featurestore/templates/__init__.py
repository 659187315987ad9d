"""Prompt templates as versioned features: publish, activate, A/B split, render.

See :mod:`llm_featurestore.templates.registry` for the storage layout and
:mod:`llm_featurestore.templates.model` for the template syntax. The monitor records
answer quality per version (:meth:`~llm_featurestore.monitor.FeatureMonitor.
record_template_quality`); the adapters turn a version into a LangChain
``ChatPromptTemplate`` or a LlamaIndex ``PromptTemplate``.
"""

from llm_featurestore.templates.layout import TEMPLATE_ENTITY_TYPE, TemplateHead, split_bucket
from llm_featurestore.templates.model import (
    PromptTemplateVersion,
    content_hash,
    template_variables,
)
from llm_featurestore.templates.registry import TemplateRegistry

__all__ = [
    "TEMPLATE_ENTITY_TYPE",
    "PromptTemplateVersion",
    "TemplateHead",
    "TemplateRegistry",
    "content_hash",
    "split_bucket",
    "template_variables",
]
