"""The public API of langchain_featurestore is declared and pinned."""

from __future__ import annotations

import langchain_featurestore

EXPECTED = [
    "BACKFILL_KEY",
    "FeatureContextMiddleware",
    "FeatureEnricherRunnable",
    "FeatureFilteredRetriever",
    "FeatureLookup",
    "FeatureRerankCompressor",
    "FeatureRerankRetriever",
    "FilterTranslator",
    "RERANK_KEY",
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


def test_all_is_pinned() -> None:
    assert sorted(langchain_featurestore.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    for name in langchain_featurestore.__all__:
        assert getattr(langchain_featurestore, name) is not None
