"""LangChain adapter for llm-featurestore: feature lookups, enrichment and filtered retrieval.

- :class:`FeatureLookup`: adds a user's (or any entity's) feature vectors to a chain's input.
- :class:`FeatureEnricherRunnable`: the core ``FeatureEnricher`` as a Runnable.
- :class:`FeatureFilteredRetriever`: vector search filtered by the user's features, on
  Chroma, ``InMemoryVectorStore``, Qdrant, FAISS and Milvus, or any store through a
  :class:`FilterTranslator` (:mod:`langchain_featurestore.filtering`).
- :func:`personalized_rag_chain` / :func:`personalized_retrieval`: lookup and retrieval in
  parallel, one lookup per request.
- :class:`FeatureRerankCompressor` (a ``BaseDocumentCompressor``) and
  :class:`FeatureRerankRetriever`: boost and demote retrieved documents by the user's
  features, as LlamaIndex's ``FeatureRerankPostprocessor`` does nodes (imported on
  first use).
- :class:`FeatureContextMiddleware` (``langchain.agents.create_agent``) and
  :func:`feature_facts_tool`: the user's features in LangChain 1.x agents
  (``pip install 'llm-featurestore[agents]'``; imported on first use, so the rest of the
  adapter needs only ``langchain-core``).
- :func:`with_write_back` (:class:`WriteBackRunnable`) / :class:`WriteBackCallbackHandler`:
  after each call, the turn's activity and conversation memory written back to the
  store, in the background.
"""

from typing import TYPE_CHECKING, Any

# Without the extra, say which pip line installs it (not a bare ModuleNotFoundError from
# deep inside the first submodule).
try:
    import langchain_core  # noqa: F401
except ImportError as exc:
    from llm_featurestore.errors import MissingDependencyError

    raise MissingDependencyError(
        "langchain-core", "langchain", needed_by="langchain_featurestore"
    ) from exc

from langchain_featurestore.chains import (
    format_documents,
    lookup_for,
    personalized_rag_chain,
    personalized_retrieval,
)
from langchain_featurestore.enrichment import FeatureEnricherRunnable
from langchain_featurestore.filtering import FilterTranslator
from langchain_featurestore.lookup import FeatureLookup
from langchain_featurestore.retrievers import (
    BACKFILL_KEY,
    FeatureFilteredRetriever,
    SearchCandidates,
)

if TYPE_CHECKING:
    from langchain_featurestore.agents import FeatureContextMiddleware
    from langchain_featurestore.rerank import (
        RERANK_KEY,
        FeatureRerankCompressor,
        FeatureRerankRetriever,
    )
    from langchain_featurestore.tools import feature_facts_tool
    from langchain_featurestore.writeback import (
        WriteBackCallbackHandler,
        WriteBackRunnable,
        with_write_back,
    )

_LAZY = {
    "FeatureContextMiddleware": "langchain_featurestore.agents",
    "FeatureRerankCompressor": "langchain_featurestore.rerank",
    "FeatureRerankRetriever": "langchain_featurestore.rerank",
    "RERANK_KEY": "langchain_featurestore.rerank",
    "WriteBackCallbackHandler": "langchain_featurestore.writeback",
    "WriteBackRunnable": "langchain_featurestore.writeback",
    "feature_facts_tool": "langchain_featurestore.tools",
    "with_write_back": "langchain_featurestore.writeback",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'langchain_featurestore' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "BACKFILL_KEY",
    "RERANK_KEY",
    "FeatureContextMiddleware",
    "FeatureEnricherRunnable",
    "FeatureFilteredRetriever",
    "FeatureLookup",
    "FeatureRerankCompressor",
    "FeatureRerankRetriever",
    "FilterTranslator",
    "SearchCandidates",
    "WriteBackCallbackHandler",
    "WriteBackRunnable",
    "feature_facts_tool",
    "format_documents",
    "lookup_for",
    "personalized_rag_chain",
    "personalized_retrieval",
    "with_write_back",
]
