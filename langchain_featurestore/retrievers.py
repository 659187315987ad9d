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
cannot start before the lookup ends. What can run beside the lookup is the rest of
retrieval's work: embedding the query, usually its most expensive part (a model call).
So when the retriever looks features up itself (and in
:func:`~langchain_featurestore.chains.personalized_rag_chain`), the lookup and the query
embedding run concurrently, then one filtered search runs by vector. That costs
max(lookup, embedding) + search, against lookup + embedding + search in sequence.

With ``fetch_k > 0`` the branch also runs a *speculative* unfiltered search for the best
``fetch_k`` documents while the lookup is still out; the filter is then applied to those
candidates in memory (:meth:`~llm_featurestore.filters.ResolvedCondition.matches` has
Chroma's semantics), and the filtered search runs only when fewer than ``k`` of them
match. This pays off when the lookup is slower than embedding plus search and the
filter is not very selective; otherwise it adds a search to the critical path, which is
why it is off by default (``bench/bench_langchain.py`` measures both).

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
def shared_executor() -> ContextThreadPoolExecutor:
    """The adapter's long-lived pool for work that overlaps a request (lookups, embeddings).

    Starting threads per request costs about as much as a fast lookup; this pool is
    created once. Tasks copy the caller's context (callbacks, tracing).
    """
    return ContextThreadPoolExecutor(max_workers=32, thread_name_prefix="llmfs")


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
    """The part of a search that can run before the features are known.

    Attributes:
        query: The query text.
        embedding: The query embedding, or ``None`` when the vector store exposes no
            embeddings (searches then embed the query themselves).
        documents: With ``fetch_k > 0``, the best ``fetch_k`` documents, unfiltered,
            best first; empty otherwise.
        fetch_k: How many unfiltered documents were asked for (0: none).
    """

    query: str
    embedding: list[float] | None
    documents: list[Document]
    fetch_k: int

    @property
    def exhaustive(self) -> bool:
        """True when every document in the store is among the candidates."""
        return self.fetch_k > 0 and len(self.documents) < self.fetch_k


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
        fetch_k: Unfiltered candidates fetched speculatively beside the lookup; 0 (the
            default) only embeds the query beside it (see the module docstring).
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
    fetch_k: int = Field(0, ge=0)
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

    def search_candidates(self, query: str, fetch_k: int | None = None) -> SearchCandidates:
        """Embed ``query`` and, when ``fetch_k`` (default: the field) > 0, fetch that many
        best documents unfiltered."""
        fetch_k = self.fetch_k if fetch_k is None else fetch_k
        embeddings = self._embedding_fn()
        embedding = None if embeddings is None else embeddings.embed_query(query)
        docs: list[Document] = []
        if fetch_k > 0:
            docs = self._search(query, embedding, fetch_k, None)
        return SearchCandidates(query, embedding, docs, fetch_k)

    async def asearch_candidates(self, query: str, fetch_k: int | None = None) -> SearchCandidates:
        """Async twin of :meth:`search_candidates`."""
        fetch_k = self.fetch_k if fetch_k is None else fetch_k
        embeddings = self._embedding_fn()
        embedding = None if embeddings is None else await embeddings.aembed_query(query)
        docs: list[Document] = []
        if fetch_k > 0:
            docs = await self._asearch(query, embedding, fetch_k, None)
        return SearchCandidates(query, embedding, docs, fetch_k)

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
        """Use the candidates where they suffice; the flag says a search is still needed."""
        conditions = self.filter_spec.resolve(vector)
        where = self.filter_translator(conditions) if conditions else None
        docs = candidates.documents
        if where is None:
            enough = len(docs) >= k or candidates.exhaustive
            return _Selection(vector, conditions, None, docs[:k], []), not enough
        matching = [d for d in docs if all(c.matches(d.metadata) for c in conditions)]
        enough = len(matching) >= k or candidates.exhaustive
        return _Selection(vector, conditions, where, matching[:k], list(docs)), not enough

    def _needs_backfill(self, selection: _Selection, candidates: SearchCandidates, k: int) -> bool:
        """True when backfill is on and the unfiltered candidates cannot fill up to ``k``."""
        if not self.backfill or selection.where is None or len(selection.primary) >= k:
            return False
        keys = {_doc_key(d) for d in selection.primary}
        spare = sum(1 for d in selection.rest if _doc_key(d) not in keys)
        return spare < k - len(selection.primary) and not candidates.exhaustive

    def select(
        self,
        candidates: SearchCandidates,
        features: Any,
        k: int | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> list[Document]:
        """Finish a search once the features are known.

        Runs at most one filtered search (none when the candidates already hold ``k``
        matches) and, with ``backfill``, at most one unfiltered search.

        Args:
            candidates: From :meth:`search_candidates`.
            features: A :class:`FeatureVector`, ``{entity_type: FeatureVector}`` or ``None``.
            k: Documents to return; the retriever's ``k`` when omitted.
            config: Run config; the ``llm_featurestore.retrieval`` event is sent on it.
        """
        k = self._resolve_k(k)
        vector = vector_for(features, self.filter_spec.entity_type)
        selection, search = self._plan(candidates, vector, k)
        if search:
            selection.primary = self._search(
                candidates.query, candidates.embedding, k, selection.where
            )
        if self._needs_backfill(selection, candidates, k):
            selection.rest = self._search(
                candidates.query, candidates.embedding, k + len(selection.primary), None
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
        vector = vector_for(features, self.filter_spec.entity_type)
        selection, search = self._plan(candidates, vector, k)
        if search:
            selection.primary = await self._asearch(
                candidates.query, candidates.embedding, k, selection.where
            )
        if self._needs_backfill(selection, candidates, k):
            selection.rest = await self._asearch(
                candidates.query, candidates.embedding, k + len(selection.primary), None
            )
        docs = selection.documents(k, self.backfill)
        await aemit(RETRIEVAL_EVENT, selection.event(docs, k), config)
        return docs

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

        Put it beside a :class:`FeatureLookup` in a ``RunnableParallel`` so the query
        embedding (and, with ``fetch_k > 0``, the speculative search) overlaps the
        lookup, then finish with :meth:`as_selector`.
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
        -> the lookup output plus ``"documents"`` (the filtered top ``k``, see :meth:`select`).

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
            pending = shared_executor().submit(self._lookup, entity_id)
            candidates = self.search_candidates(query)
            features = pending.result()
        else:
            # Features known (or not needed): nothing to overlap, so nothing speculative.
            candidates = self.search_candidates(query, fetch_k=0)
        return self.select(candidates, features, k, config=config)

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
            features, candidates = await _both(
                self._alookup(entity_id), self.asearch_candidates(query)
            )
        else:
            candidates = await self.asearch_candidates(query, fetch_k=0)
        return await self.aselect(candidates, features, k, config=config)
