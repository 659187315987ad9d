"""``FeatureFilteredRetriever``: vector search filtered by the user's features.

The retriever turns a :class:`~llm_featurestore.filters.FeatureFilterSpec` and one
entity's :class:`~llm_featurestore.models.FeatureVector` into a metadata filter
(Chroma's ``where`` by default) for any LangChain ``VectorStore``::

    retriever = FeatureFilteredRetriever(vectorstore=chroma, filter_spec=spec, client=client)
    retriever.invoke("running shoes", user_id="u1")
    retriever.invoke("running shoes", config={"configurable": {"user_id": "u1"}})
    retriever.invoke({"question": "running shoes", "user_id": "u1"})
    retriever.invoke("running shoes", features=vector)  # prefetched: no lookup

How the lookup overlaps the search. The filter needs the features, so a filtered search
cannot start before the lookup ends. When the retriever looks features up itself, it
therefore runs the lookup concurrently with an *unfiltered candidate search*: the query
is embedded and the best ``fetch_k`` documents fetched while the store answers. The
filter is then applied to the candidates in memory
(:meth:`~llm_featurestore.filters.ResolvedCondition.matches` has Chroma's semantics).
Only when fewer than ``k`` candidates match, and the candidates did not already cover
the whole collection, does it run one filtered search, reusing the query embedding.
The candidates that did not match are the backfill. With exact search the result is
the same as a filtered search; the common case costs max(lookup, embed + search).

Every returned document carries ``metadata["llmfs_backfill"]``: ``False`` for results
that satisfy the filter (or of an unfiltered search), ``True`` for backfill.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.runnables.config import ContextThreadPoolExecutor, ensure_config
from langchain_core.vectorstores import VectorStore
from pydantic import Field

from langchain_featurestore._events import RETRIEVAL_EVENT, aemit, emit
from langchain_featurestore.lookup import aread_vectors, entity_id_from, read_vectors, vector_for
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec, ResolvedCondition, chroma_where
from llm_featurestore.models import FeatureVector

__all__ = ["BACKFILL_KEY", "FeatureFilteredRetriever", "SearchCandidates"]

BACKFILL_KEY = "llmfs_backfill"
"""Document metadata key: ``True`` when a document was added to fill up to ``k``."""


@functools.cache
def _lookup_executor() -> ContextThreadPoolExecutor:
    # Lookups wait on I/O; a shared pool avoids starting a thread per request.
    return ContextThreadPoolExecutor(max_workers=32, thread_name_prefix="llmfs-lookup")


_A = TypeVar("_A")
_B = TypeVar("_B")


async def _both(first: Awaitable[_A], second: Awaitable[_B]) -> tuple[_A, _B]:
    """Run two awaitables concurrently; if one fails, cancel the other and re-raise."""
    task_a = asyncio.ensure_future(first)
    task_b = asyncio.ensure_future(second)
    try:
        return await task_a, await task_b
    except BaseException:
        for task in (task_a, task_b):
            task.cancel()
        await asyncio.gather(task_a, task_b, return_exceptions=True)
        raise


@dataclass(frozen=True)
class SearchCandidates:
    """An unfiltered search, run before the features are known.

    Attributes:
        query: The query text.
        embedding: The query embedding, or ``None`` when the vector store exposes no
            embeddings (a later filtered search then embeds the query again).
        documents: The best ``fetch_k`` documents, best first, unfiltered.
        fetch_k: How many were asked for; fewer means the collection is exhausted.
    """

    query: str
    embedding: list[float] | None
    documents: list[Document]
    fetch_k: int

    @property
    def exhaustive(self) -> bool:
        """True when every document in the store is among the candidates."""
        return len(self.documents) < self.fetch_k


def _doc_key(doc: Document) -> Any:
    if doc.id is not None:
        return doc.id
    return (doc.page_content, tuple(sorted((k, repr(v)) for k, v in doc.metadata.items())))


def _mark(doc: Document, backfill: bool) -> Document:
    return Document(
        id=doc.id, page_content=doc.page_content, metadata={**doc.metadata, BACKFILL_KEY: backfill}
    )


@dataclass
class _Selection:
    """What one retrieval did; becomes the documents and the tracing event."""

    vector: FeatureVector | None
    conditions: list[ResolvedCondition]
    where: Any
    primary: list[Document]
    rest: list[Document]

    def documents(self, k: int, backfill: bool) -> list[Document]:
        docs = [_mark(d, False) for d in self.primary[:k]]
        if backfill and len(docs) < k:
            seen = {_doc_key(d) for d in docs}
            for doc in self.rest:
                if len(docs) >= k:
                    break
                if _doc_key(doc) not in seen:
                    seen.add(_doc_key(doc))
                    docs.append(_mark(doc, True))
        return docs

    def event(self, docs: Sequence[Document], k: int) -> dict[str, Any]:
        backfilled = sum(1 for d in docs if d.metadata.get(BACKFILL_KEY))
        return {
            "entity_id": None if self.vector is None else self.vector.entity_id,
            "statuses": {}
            if self.vector is None
            else {n: s.value for n, s in self.vector.statuses.items()},
            "where": self.where,
            "conditions": len(self.conditions),
            "filtered": len(docs) - backfilled,
            "backfilled": backfilled,
            "k": k,
        }


class FeatureFilteredRetriever(BaseRetriever):
    """Retrieve from ``vectorstore`` with a metadata filter built from a user's features.

    The user id comes, first found first used, from the ``user_id=`` invoke kwarg (named
    by ``id_key``), a dict input's ``id_key`` entry, or ``config["configurable"][id_key]``.
    Prefetched features (a :class:`FeatureVector` or ``{entity_type: FeatureVector}``,
    as :class:`~langchain_featurestore.lookup.FeatureLookup` outputs) may be passed as
    the ``features=`` kwarg or a dict input's ``features_key`` entry; then no lookup is
    made. With neither, the search is unfiltered. Features without a usable value drop
    their rule (see :class:`FeatureFilterSpec`); with ``fallback`` (the default) a store
    failure gives UNAVAILABLE features, so a dead store means an unfiltered search,
    never an error.

    Attributes:
        vectorstore: Any LangChain vector store whose searches take ``filter=``.
        filter_spec: Rules mapping features to metadata conditions.
        client: Where features are looked up when not prefetched.
        k: Documents to return (also an invoke kwarg).
        backfill: Fill up to ``k`` with unfiltered results (marked ``llmfs_backfill``).
        id_key: Name of the entity id in kwargs, dict inputs and ``configurable``.
        fetch_k: Candidates fetched in parallel with the lookup.
        query_key: Key of the query in a dict input (``"query"`` is accepted too).
        features_key: Key of prefetched features in a dict input.
        filter_translator: Turns resolved conditions into the store's ``filter`` value
            (``None`` for no filter); Chroma's ``where`` by default.
        search_kwargs: Extra keyword arguments for every vector store search.
        fallback: Search unfiltered (logging a warning) when the store fails, instead of
            raising :class:`~llm_featurestore.errors.FeatureStoreUnavailableError`.
    """

    vectorstore: VectorStore
    filter_spec: FeatureFilterSpec
    client: FeatureStoreClient
    k: int = Field(4, gt=0)
    backfill: bool = False
    id_key: str = "user_id"
    fetch_k: int = Field(20, gt=0)
    query_key: str = "question"
    features_key: str = "features"
    filter_translator: Callable[[Sequence[ResolvedCondition]], Any] = chroma_where
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    fallback: bool = True

    # -- invoke: accept dict inputs and configurable ids --------------------

    def _request(
        self, input: str | Mapping[str, Any], config: RunnableConfig | None, kwargs: dict[str, Any]
    ) -> str:
        """Resolve the query and move ids/features from input and config into ``kwargs``."""
        if isinstance(input, Mapping):
            query = input.get(self.query_key, input.get("query"))
            if self.id_key in input:
                kwargs.setdefault(self.id_key, input[self.id_key])
            if self.features_key in input:
                kwargs.setdefault("features", input[self.features_key])
        else:
            query = input
        if not isinstance(query, str):
            raise FeatureConfigError(
                f"FeatureFilteredRetriever needs a query string, or a dict with the query "
                f"under '{self.query_key}' or 'query'; got {type(query).__name__}"
            )
        configurable = ensure_config(config).get("configurable") or {}
        if self.id_key not in kwargs and self.id_key in configurable:
            kwargs[self.id_key] = configurable[self.id_key]
        if self.id_key != "user_id" and self.id_key in kwargs:
            kwargs["user_id"] = kwargs.pop(self.id_key)
        return query

    def invoke(
        self, input: str | Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Retrieve for a query string or a dict input; see the class docstring."""
        query = self._request(input, config, kwargs)
        return super().invoke(query, config, **kwargs)

    async def ainvoke(
        self, input: str | Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`invoke`."""
        query = self._request(input, config, kwargs)
        return await super().ainvoke(query, config, **kwargs)

    # -- building blocks, also used by the parallel chain -------------------

    def _resolve_k(self, k: Any) -> int:
        if k is None:
            return self.k
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise FeatureConfigError(f"k must be a positive integer, got {k!r}")
        return k

    def _embedding_fn(self) -> Any:
        return self.vectorstore.embeddings

    def search_candidates(self, query: str) -> SearchCandidates:
        """Embed ``query`` and fetch the best ``fetch_k`` documents, unfiltered."""
        embeddings = self._embedding_fn()
        if embeddings is None:
            docs = self.vectorstore.similarity_search(query, self.fetch_k, **self.search_kwargs)
            return SearchCandidates(query, None, docs, self.fetch_k)
        embedding = embeddings.embed_query(query)
        docs = self.vectorstore.similarity_search_by_vector(
            embedding, self.fetch_k, **self.search_kwargs
        )
        return SearchCandidates(query, embedding, docs, self.fetch_k)

    async def asearch_candidates(self, query: str) -> SearchCandidates:
        """Async twin of :meth:`search_candidates`."""
        embeddings = self._embedding_fn()
        if embeddings is None:
            docs = await self.vectorstore.asimilarity_search(
                query, self.fetch_k, **self.search_kwargs
            )
            return SearchCandidates(query, None, docs, self.fetch_k)
        embedding = await embeddings.aembed_query(query)
        docs = await self.vectorstore.asimilarity_search_by_vector(
            embedding, self.fetch_k, **self.search_kwargs
        )
        return SearchCandidates(query, embedding, docs, self.fetch_k)

    def _search(
        self, query: str, embedding: list[float] | None, k: int, where: Any
    ) -> list[Document]:
        kwargs = dict(self.search_kwargs)
        if where is not None:
            kwargs["filter"] = where
        if embedding is not None:
            return self.vectorstore.similarity_search_by_vector(embedding, k, **kwargs)
        return self.vectorstore.similarity_search(query, k, **kwargs)

    async def _asearch(
        self, query: str, embedding: list[float] | None, k: int, where: Any
    ) -> list[Document]:
        kwargs = dict(self.search_kwargs)
        if where is not None:
            kwargs["filter"] = where
        if embedding is not None:
            return await self.vectorstore.asimilarity_search_by_vector(embedding, k, **kwargs)
        return await self.vectorstore.asimilarity_search(query, k, **kwargs)

    def _plan(
        self, candidates: SearchCandidates, vector: FeatureVector | None, k: int
    ) -> tuple[_Selection, bool]:
        """Filter candidates in memory; the flag says a filtered search is still needed."""
        conditions = self.filter_spec.resolve(vector)
        where = self.filter_translator(conditions) if conditions else None
        docs = candidates.documents
        if where is None:
            return _Selection(vector, conditions, None, docs[:k], docs[k:]), False
        matching = [d for d in docs if all(c.matches(d.metadata) for c in conditions)]
        keys = {_doc_key(d) for d in matching[:k]}
        rest = [d for d in docs if _doc_key(d) not in keys]
        enough = len(matching) >= k or candidates.exhaustive
        return _Selection(vector, conditions, where, matching[:k], rest), not enough

    def select(
        self,
        candidates: SearchCandidates,
        features: Any,
        k: int | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> list[Document]:
        """Apply the features' filter to ``candidates``; search again only if too few match.

        Args:
            candidates: From :meth:`search_candidates`.
            features: A :class:`FeatureVector`, ``{entity_type: FeatureVector}`` or ``None``.
            k: Documents to return; the retriever's ``k`` when omitted.
            config: Run config; the ``llm_featurestore.retrieval`` event is sent on it.
        """
        k = self._resolve_k(k)
        selection, search = self._plan(
            candidates, vector_for(features, self.filter_spec.entity_type), k
        )
        if search:
            selection.primary = self._search(
                candidates.query, candidates.embedding, k, selection.where
            )
        docs = selection.documents(k, self.backfill)
        emit(RETRIEVAL_EVENT, selection.event(docs, k), config)
        return docs

    async def aselect(
        self,
        candidates: SearchCandidates,
        features: Any,
        k: int | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> list[Document]:
        """Async twin of :meth:`select`."""
        k = self._resolve_k(k)
        selection, search = self._plan(
            candidates, vector_for(features, self.filter_spec.entity_type), k
        )
        if search:
            selection.primary = await self._asearch(
                candidates.query, candidates.embedding, k, selection.where
            )
        docs = selection.documents(k, self.backfill)
        await aemit(RETRIEVAL_EVENT, selection.event(docs, k), config)
        return docs

    def _prefetched_plan(self, vector: FeatureVector | None) -> _Selection:
        conditions = self.filter_spec.resolve(vector)
        where = self.filter_translator(conditions) if conditions else None
        return _Selection(vector, conditions, where, [], [])

    def _lookup(self, user_id: str) -> FeatureVector:
        spec = self.filter_spec
        return read_vectors(
            self.client, [user_id], spec.entity_type, spec.feature_names, fallback=self.fallback
        )[0]

    async def _alookup(self, user_id: str) -> FeatureVector:
        spec = self.filter_spec
        vectors = await aread_vectors(
            self.client, [user_id], spec.entity_type, spec.feature_names, fallback=self.fallback
        )
        return vectors[0]

    def as_candidates(self, *, query_key: str | None = None) -> Runnable[Any, SearchCandidates]:
        """A Runnable: a str, or a dict with the query under ``query_key`` (the
        retriever's by default) -> :class:`SearchCandidates`.

        Put it beside a :class:`FeatureLookup` in a ``RunnableParallel`` so the
        embedding and search overlap the lookup, then finish with :meth:`as_selector`.
        """
        key = query_key or self.query_key

        def query_of(input_: Any) -> str:
            if isinstance(input_, Mapping) and key in input_:
                input_ = input_[key]
            return self._request(input_, None, {})

        def run(input_: Any) -> SearchCandidates:
            return self.search_candidates(query_of(input_))

        async def arun(input_: Any) -> SearchCandidates:
            return await self.asearch_candidates(query_of(input_))

        return RunnableLambda(run, afunc=arun, name="feature_candidate_search")

    def as_selector(
        self,
        *,
        request_key: str = "request",
        candidates_key: str = "candidates",
        features_key: str | None = None,
    ) -> Runnable[dict[str, Any], dict[str, Any]]:
        """A Runnable: ``{request_key: lookup output, candidates_key: SearchCandidates}``
        -> the lookup output plus ``"documents"`` (the filtered top ``k``).

        The features are read from the lookup output under ``features_key`` (the
        retriever's ``features_key`` by default).
        """
        key = features_key or self.features_key

        def features_of(input_: Mapping[str, Any]) -> Any:
            return input_[request_key].get(key)

        def run(input_: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
            docs = self.select(input_[candidates_key], features_of(input_), config=config)
            return {**input_[request_key], "documents": docs}

        async def arun(input_: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
            docs = await self.aselect(input_[candidates_key], features_of(input_), config=config)
            return {**input_[request_key], "documents": docs}

        return RunnableLambda(run, afunc=arun, name="feature_filter_select")

    # -- BaseRetriever ------------------------------------------------------

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        user_id: Any = None,
        features: Any = None,
    ) -> list[Document]:
        k = self._resolve_k(k)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        entity_id = entity_id_from(user_id, self.id_key)
        if features is None and entity_id is not None and self.filter_spec.rules:
            pending = _lookup_executor().submit(self._lookup, entity_id)
            candidates = self.search_candidates(query)
            vector = pending.result()
            return self.select(candidates, vector, k, config=config)
        selection = self._prefetched_plan(vector_for(features, self.filter_spec.entity_type))
        selection.primary = self._search(query, None, k, selection.where)
        if self.backfill and selection.where is not None and len(selection.primary) < k:
            selection.rest = self._search(query, None, k + len(selection.primary), None)
        docs = selection.documents(k, self.backfill)
        emit(RETRIEVAL_EVENT, selection.event(docs, k), config)
        return docs

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        user_id: Any = None,
        features: Any = None,
    ) -> list[Document]:
        k = self._resolve_k(k)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        entity_id = entity_id_from(user_id, self.id_key)
        if features is None and entity_id is not None and self.filter_spec.rules:
            vector, candidates = await _both(
                self._alookup(entity_id), self.asearch_candidates(query)
            )
            return await self.aselect(candidates, vector, k, config=config)
        selection = self._prefetched_plan(vector_for(features, self.filter_spec.entity_type))
        selection.primary = await self._asearch(query, None, k, selection.where)
        if self.backfill and selection.where is not None and len(selection.primary) < k:
            selection.rest = await self._asearch(query, None, k + len(selection.primary), None)
        docs = selection.documents(k, self.backfill)
        await aemit(RETRIEVAL_EVENT, selection.event(docs, k), config)
        return docs
