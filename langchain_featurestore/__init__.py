"""LangChain adapter for llm-featurestore: feature lookups, enrichment and filtered retrieval.

- :class:`FeatureLookup`: adds a user's (or any entity's) feature vectors to a chain's input.
- :class:`FeatureEnricherRunnable`: the core ``FeatureEnricher`` as a Runnable.
- :class:`FeatureFilteredRetriever`: vector search filtered by the user's features.
- :func:`personalized_rag_chain` / :func:`personalized_retrieval`: lookup and retrieval in
  parallel, one lookup per request.
"""

from langchain_featurestore.chains import (
    format_documents,
    lookup_for,
    personalized_rag_chain,
    personalized_retrieval,
)
from langchain_featurestore.enrichment import FeatureEnricherRunnable
from langchain_featurestore.lookup import FeatureLookup
from langchain_featurestore.retrievers import (
    BACKFILL_KEY,
    FeatureFilteredRetriever,
    SearchCandidates,
)

__all__ = [
    "BACKFILL_KEY",
    "FeatureEnricherRunnable",
    "FeatureFilteredRetriever",
    "FeatureLookup",
    "SearchCandidates",
    "format_documents",
    "lookup_for",
    "personalized_rag_chain",
    "personalized_retrieval",
]
