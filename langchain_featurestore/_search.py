"""The parts of a filtered search that do not depend on the retriever's configuration:
candidates gathered beside the lookup, the selection of filtered and backfill documents,
and the adapter's pool (the core's ``tasks`` pool)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Generator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda
from langchain_core.vectorstores import VectorStore

from langchain_featurestore.filtering import FilterTranslator, describe_filter
from langchain_featurestore.lookup import vector_for
from llm_featurestore import workers
from llm_featurestore.filters import FeatureFilterSpec, ResolvedCondition
from llm_featurestore.models import FeatureVector

__all__ = [
    "BACKFILL_KEY",
    "SearchCandidates",
    "Selection",
    "asearch",
    "both",
    "candidates_step",
    "doc_key",
    "plan_selection",
    "search",
    "selection_steps",
    "selector_step",
    "shared_executor",
]

BACKFILL_KEY = "llmfs_backfill"
"""Document metadata key: ``True`` when a document was added to fill up to ``k``."""


def shared_executor() -> ThreadPoolExecutor:
    """The adapter's long-lived pool for work that overlaps a request (lookups, embeddings).

    The core's ``workers.pool("tasks")`` (see :mod:`llm_featurestore.workers`): created
    once, sized by its configuration, shut down with the library's other pools. Tasks
    copy the caller's context (callbacks, tracing).
    """
    return workers.pool("tasks")


_A = TypeVar("_A")
_B = TypeVar("_B")


async def both(first: Awaitable[_A], second: Awaitable[_B]) -> tuple[_A, _B]:
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

    def at(
        self, k: int, filter_kwargs: Mapping[str, Any] | None
    ) -> tuple[str, list[float] | None, int, Mapping[str, Any] | None]:
        """The arguments of :func:`search` for ``k`` documents filtered by ``filter_kwargs``."""
        return self.query, self.embedding, k, filter_kwargs

    @property
    def exhaustive(self) -> bool:
        """True when every document in the store is among the candidates."""
        return self.fetch_k > 0 and len(self.documents) < self.fetch_k


def doc_key(doc: Document) -> Any:
    if doc.id is not None:
        return doc.id
    return (doc.page_content, tuple(sorted((k, repr(v)) for k, v in doc.metadata.items())))


def _mark(doc: Document, backfill: bool) -> Document:
    return Document(
        id=doc.id, page_content=doc.page_content, metadata={**doc.metadata, BACKFILL_KEY: backfill}
    )


@dataclass
class Selection:
    """What one retrieval did; becomes the documents and the tracing event.

    ``filter_kwargs`` are the search keyword arguments of the filter (``{"filter": ...}``,
    ``{"expr": ...}``), ``None`` when no condition applies.
    """

    vector: FeatureVector | None
    conditions: list[ResolvedCondition]
    filter_kwargs: dict[str, Any] | None
    primary: list[Document]
    rest: list[Document]

    def documents(self, k: int, backfill: bool) -> list[Document]:
        docs = [_mark(d, False) for d in self.primary[:k]]
        if backfill and len(docs) < k:
            seen = {doc_key(d) for d in docs}
            for doc in self.rest:
                if len(docs) >= k:
                    break
                if doc_key(doc) not in seen:
                    seen.add(doc_key(doc))
                    docs.append(_mark(doc, True))
        return docs

    def event(self, docs: Sequence[Document], k: int) -> dict[str, Any]:
        backfilled = sum(1 for d in docs if d.metadata.get(BACKFILL_KEY))
        return {
            "entity_id": None if self.vector is None else self.vector.entity_id,
            "statuses": {}
            if self.vector is None
            else {n: s.value for n, s in self.vector.statuses.items()},
            "where": describe_filter(self.filter_kwargs),
            "conditions": len(self.conditions),
            "filtered": len(docs) - backfilled,
            "backfilled": backfilled,
            "k": k,
        }

    def needs_backfill(self, candidates: SearchCandidates, k: int) -> bool:
        """True when the filter left fewer than ``k`` documents and the unfiltered
        candidates cannot fill up to ``k``."""
        if self.filter_kwargs is None or len(self.primary) >= k:
            return False
        keys = {doc_key(d) for d in self.primary}
        spare = sum(1 for d in self.rest if doc_key(d) not in keys)
        return spare < k - len(self.primary) and not candidates.exhaustive


def plan_selection(
    spec: FeatureFilterSpec,
    translator: FilterTranslator | None,
    candidates: SearchCandidates,
    vector: FeatureVector | None,
    k: int,
) -> tuple[Selection, bool]:
    """Use the candidates where they suffice; the flag says a search is still needed.

    The candidates are filtered in memory (the core's semantics) only when the translator
    says its store keeps the same documents (``in_memory_match``); otherwise a filtered
    search always runs and the candidates serve only as backfill.
    """
    conditions = spec.resolve(vector)
    found = translator.search_kwargs(conditions) if conditions and translator else {}
    docs = candidates.documents
    if not found:
        enough = len(docs) >= k or candidates.exhaustive
        return Selection(vector, conditions, None, docs[:k], []), not enough
    assert translator is not None
    if not translator.in_memory_match:
        return Selection(vector, conditions, found, [], list(docs)), True
    matching = [d for d in docs if all(c.matches(d.metadata) for c in conditions)]
    enough = len(matching) >= k or candidates.exhaustive
    return Selection(vector, conditions, found, matching[:k], list(docs)), not enough


def search(
    store: VectorStore,
    search_kwargs: Mapping[str, Any],
    query: str,
    embedding: list[float] | None,
    k: int,
    filter_kwargs: Mapping[str, Any] | None,
) -> list[Document]:
    """One search of ``store``: by vector when the embedding is known, filtered by
    ``filter_kwargs`` (a translator's :meth:`~FilterTranslator.search_kwargs`)."""
    kwargs = {**search_kwargs, **(filter_kwargs or {})}
    if embedding is not None:
        return store.similarity_search_by_vector(embedding, k, **kwargs)
    return store.similarity_search(query, k, **kwargs)


async def asearch(
    store: VectorStore,
    search_kwargs: Mapping[str, Any],
    query: str,
    embedding: list[float] | None,
    k: int,
    filter_kwargs: Mapping[str, Any] | None,
) -> list[Document]:
    """Async twin of :func:`search`."""
    kwargs = {**search_kwargs, **(filter_kwargs or {})}
    if embedding is not None:
        return await store.asimilarity_search_by_vector(embedding, k, **kwargs)
    return await store.asimilarity_search(query, k, **kwargs)


def selection_steps(
    retriever: Any, candidates: SearchCandidates, features: Any, k: int
) -> Generator[tuple[int, Any], list[Document], tuple[list[Document], dict[str, Any]]]:
    """A retriever's selection decisions: yields the searches still needed, ``(k,
    filter_kwargs)``, receives their documents; returns the documents and the tracing
    event."""
    vector = vector_for(features, retriever.filter_spec.entity_type)
    selection, needed = plan_selection(
        retriever.filter_spec, retriever.translator, candidates, vector, k
    )
    if needed:
        selection.primary = yield k, selection.filter_kwargs
    if retriever.backfill and selection.needs_backfill(candidates, k):
        selection.rest = yield k + len(selection.primary), None
    docs = selection.documents(k, retriever.backfill)
    return docs, selection.event(docs, k)


def candidates_step(retriever: Any, key: str) -> Runnable[Any, SearchCandidates]:
    """``retriever.as_candidates()``: input -> :class:`SearchCandidates`."""

    def query_of(input_: Any) -> str:
        if isinstance(input_, Mapping) and key in input_:
            input_ = input_[key]
        return str(retriever._request(input_, None, {}, with_data=False))

    def run(input_: Any) -> SearchCandidates:
        return retriever.search_candidates(query_of(input_))  # type: ignore[no-any-return]

    async def arun(input_: Any) -> SearchCandidates:
        return await retriever.asearch_candidates(query_of(input_))  # type: ignore[no-any-return]

    return RunnableLambda(run, afunc=arun, name="feature_candidate_search")


def selector_step(
    retriever: Any, request_key: str, candidates_key: str, features_key: str
) -> Runnable[dict[str, Any], dict[str, Any]]:
    """``retriever.as_selector()``: ``{request, candidates}`` -> request plus documents."""

    def run(input_: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        request = input_[request_key]
        docs = retriever.select(input_[candidates_key], request.get(features_key), config=config)
        return {**request, "documents": docs}

    async def arun(input_: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        request = input_[request_key]
        features = request.get(features_key)
        docs = await retriever.aselect(input_[candidates_key], features, config=config)
        return {**request, "documents": docs}

    return RunnableLambda(run, afunc=arun, name="feature_filter_select")
