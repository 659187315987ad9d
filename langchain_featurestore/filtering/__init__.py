"""Metadata filters for any LangChain vector store.

The filter spec's resolved conditions become one ``langchain_core.structured_query``
directive (:func:`structured_filter`), which a ``Visitor`` per store renders into that
store's filter, under the search keyword the store takes (:class:`FilterTranslator`).
:func:`translator_for` picks the built-in translator from the store's class:

- ``langchain_chroma.Chroma``: a ``where`` dict under ``filter=`` (extra ``[chroma]``);
- ``InMemoryVectorStore``: a ``Document -> bool`` function under ``filter=``;
- ``langchain_qdrant.QdrantVectorStore``: a ``qdrant_client.models.Filter`` under
  ``filter=`` (``[qdrant]``);
- langchain-community's ``FAISS``: a ``metadata -> bool`` function under ``filter=``
  (``[faiss]``; FAISS filters only the ``fetch_k`` nearest documents, 20 by default,
  so set the retriever's ``search_kwargs={"fetch_k": ...}``);
- ``langchain_milvus.Milvus``: a boolean expression string under ``expr=`` (``[milvus]``).

Every built-in store keeps the documents the core's semantics keep
(:meth:`~llm_featurestore.filters.ResolvedCondition.matches`, Chroma's), pinned by a
parity test against the real store, except where Milvus compares booleans with numbers
(see :mod:`~langchain_featurestore.filtering.milvus`).

The store-specific visitors are imported on first use
(``langchain_featurestore.filtering.qdrant`` needs ``qdrant-client``).
"""

from langchain_featurestore.filtering.base import (
    ConditionsFunction,
    FilterTranslator,
    TranslatorLike,
    as_translator,
    describe_filter,
    structured_filter,
)
from langchain_featurestore.filtering.stores import (
    BUILT_IN,
    BuiltInStore,
    resolve_translator,
    translator_for,
)

__all__ = [
    "BUILT_IN",
    "BuiltInStore",
    "ConditionsFunction",
    "FilterTranslator",
    "TranslatorLike",
    "as_translator",
    "describe_filter",
    "resolve_translator",
    "structured_filter",
    "translator_for",
]
