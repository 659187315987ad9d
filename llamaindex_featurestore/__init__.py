"""LlamaIndex adapter: feature-aware retrieval and node postprocessors (llama-index-core 0.14).

* :class:`FeatureFilteredRetriever` restricts vector search by the user's features, in
  the filter form each known vector store evaluates right (:func:`store_profile`).
* :class:`FeatureRerankPostprocessor` prefers nodes that fit them (soft filtering).
* :class:`FeatureContextPostprocessor` adds them as a context node and/or node metadata.

:func:`personalized_query_engine` wires them into a ``RetrieverQueryEngine``.

Say whose features to use with :class:`FeatureQueryBundle`, :func:`user_context` or the
components' ``user_id``; one lookup per query serves every component.

For agents (``FunctionAgent``/``AgentWorkflow``): :class:`FeatureMemoryBlock` puts the
user's feature context into a ``Memory``, and :func:`feature_facts_tool` is a
``FunctionTool`` the agent calls for the user's facts (imported on first use; it needs
``langchain-core`` too until its answer module moves into the core).

After each query, ``personalized_query_engine(..., write_back=WriteBack(...))`` (or
:class:`FeatureWriteBackHandler` for any engine) writes the turn's activity and
conversation memory back to the store, in the background.
"""

from typing import TYPE_CHECKING, Any

# Without the extra, say which pip line installs it (not a bare ModuleNotFoundError from
# deep inside the first submodule).
try:
    import llama_index.core  # noqa: F401
except ImportError as exc:
    from llm_featurestore.errors import MissingDependencyError

    raise MissingDependencyError(
        "llama-index-core", "llamaindex", needed_by="llamaindex_featurestore"
    ) from exc

from llamaindex_featurestore.context import (
    FeatureQueryBundle,
    current_entities,
    query_vectors,
    resolve_entities,
    user_context,
)
from llamaindex_featurestore.engine import personalized_query_engine
from llamaindex_featurestore.memory import FeatureMemoryBlock
from llamaindex_featurestore.postprocessor import FEATURES_KEY, FeatureContextPostprocessor
from llamaindex_featurestore.reads import Lookup, afetch_vectors, fetch_vectors
from llamaindex_featurestore.rerank import (
    CONTEXT_KEY,
    RERANK_KEY,
    FeatureRerankPostprocessor,
    rerank_nodes,
)
from llamaindex_featurestore.retriever import (
    BACKFILL_KEY,
    FeatureFilteredRetriever,
    to_metadata_filters,
)
from llamaindex_featurestore.store_filters import StoreProfile, store_profile
from llamaindex_featurestore.writeback import (
    FeatureWriteBackHandler,
    WriteBackQueryEngine,
    with_write_back,
)

if TYPE_CHECKING:
    from llamaindex_featurestore.tools import feature_facts_tool


def __getattr__(name: str) -> Any:
    if name != "feature_facts_tool":
        raise AttributeError(f"module 'llamaindex_featurestore' has no attribute {name!r}")
    from llamaindex_featurestore.tools import feature_facts_tool

    return feature_facts_tool


__all__ = [
    "BACKFILL_KEY",
    "CONTEXT_KEY",
    "FEATURES_KEY",
    "RERANK_KEY",
    "FeatureContextPostprocessor",
    "FeatureFilteredRetriever",
    "FeatureMemoryBlock",
    "FeatureQueryBundle",
    "FeatureRerankPostprocessor",
    "FeatureWriteBackHandler",
    "Lookup",
    "StoreProfile",
    "WriteBackQueryEngine",
    "afetch_vectors",
    "current_entities",
    "feature_facts_tool",
    "fetch_vectors",
    "personalized_query_engine",
    "query_vectors",
    "rerank_nodes",
    "resolve_entities",
    "store_profile",
    "to_metadata_filters",
    "user_context",
    "with_write_back",
]
