"""Which translator a vector store gets: chosen from the store's class, by its MRO.

Each built-in store is named by the dotted path of its class, so choosing never imports
a store package that is not installed, and a subclass (``Zilliz`` of ``Milvus``, your own
``Chroma`` subclass) gets its base's translator. A store without one raises
:class:`~llm_featurestore.errors.FeatureConfigError` naming its class, the stores built
in and how to pass a translator (``FeatureFilteredRetriever(filter_translator=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_featurestore.filtering.base import FilterTranslator, as_translator
from llm_featurestore.errors import FeatureConfigError

__all__ = ["BUILT_IN", "BuiltInStore", "resolve_translator", "translator_for"]


@dataclass(frozen=True)
class BuiltInStore:
    """A vector store with a built-in translator.

    Attributes:
        path: The dotted path of the store's class (module and qualified name).
        extra: The ``llm-featurestore`` extra that installs its package.
        make: Builds the translator for one store instance (some read its settings).
    """

    path: str
    extra: str
    make: Callable[[Any], FilterTranslator]

    @property
    def name(self) -> str:
        return self.path.rsplit(".", 1)[1]


def _chroma(store: Any) -> FilterTranslator:
    from langchain_featurestore.filtering.chroma import ChromaWhereVisitor

    return FilterTranslator(ChromaWhereVisitor(), in_memory_match=True, name="Chroma")


def _in_memory(store: Any) -> FilterTranslator:
    from langchain_featurestore.filtering.predicates import DocumentPredicateVisitor

    visitor = DocumentPredicateVisitor()
    return FilterTranslator(visitor, in_memory_match=True, name="InMemoryVectorStore")


def _faiss(store: Any) -> FilterTranslator:
    from langchain_featurestore.filtering.predicates import MetadataPredicateVisitor

    return FilterTranslator(MetadataPredicateVisitor(), in_memory_match=True, name="FAISS")


def _qdrant(store: Any) -> FilterTranslator:
    from langchain_featurestore.filtering.qdrant import QdrantFilterVisitor

    visitor = QdrantFilterVisitor(getattr(store, "metadata_payload_key", "metadata"))
    return FilterTranslator(visitor, in_memory_match=True, name="QdrantVectorStore")


def _milvus(store: Any) -> FilterTranslator:
    from langchain_featurestore.filtering.milvus import MilvusExprVisitor

    dynamic = bool(getattr(store, "enable_dynamic_field", False))
    json_field = None if dynamic else getattr(store, "_metadata_field", None)
    visitor = MilvusExprVisitor(dynamic_fields=dynamic, json_field=json_field)
    return FilterTranslator(visitor, in_memory_match=False, name="Milvus")


BUILT_IN: tuple[BuiltInStore, ...] = (
    BuiltInStore("langchain_chroma.vectorstores.Chroma", "chroma", _chroma),
    BuiltInStore(
        "langchain_core.vectorstores.in_memory.InMemoryVectorStore", "langchain", _in_memory
    ),
    BuiltInStore("langchain_qdrant.qdrant.QdrantVectorStore", "qdrant", _qdrant),
    BuiltInStore("langchain_community.vectorstores.faiss.FAISS", "faiss", _faiss),
    BuiltInStore("langchain_milvus.vectorstores.milvus.Milvus", "milvus", _milvus),
)
"""The stores with a built-in translator, each tested against the real store."""

_BY_PATH = {store.path: store for store in BUILT_IN}


def translator_for(store: Any) -> FilterTranslator:
    """The built-in translator for ``store``, found by the first class of its MRO that
    has one.

    Raises:
        FeatureConfigError: no class of the store's MRO has a built-in translator; the
            message names the store's class, the built-in stores and how to pass one.
    """
    for cls in type(store).__mro__:
        found = _BY_PATH.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found.make(store)
    cls = type(store)
    built_in = ", ".join(f"{s.name} ({s.path.split('.', 1)[0]}, [{s.extra}])" for s in BUILT_IN)
    raise FeatureConfigError(
        f"No built-in metadata filter for vector store {cls.__name__} "
        f"({cls.__module__}.{cls.__qualname__}). Built in: {built_in}. For another store "
        "pass filter_translator=: a langchain_core.structured_query Visitor whose "
        "visit_structured_query returns (query, {keyword: filter}) as LangChain's "
        "self-query translators do, or a function of the resolved conditions returning "
        "the value of filter= (see langchain_featurestore.filtering)"
    )


def resolve_translator(given: Any, store: Any, *, needed: bool) -> FilterTranslator | None:
    """The translator a retriever uses: ``given`` (see :func:`as_translator`), else the
    built-in one of ``store`` when filters are ``needed`` (a spec with rules), else
    ``None``.

    Raises:
        FeatureConfigError: ``given`` is of no accepted kind, or ``store`` has no
            built-in translator (see :func:`translator_for`).
    """
    if given is not None:
        return as_translator(given)
    return translator_for(store) if needed else None
