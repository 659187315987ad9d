"""The parts of a filtered search that do not depend on the retriever's configuration:
candidates gathered beside the lookup, the selection of filtered and backfill documents,
and the adapter's shared thread pool."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_core.documents import Document
from langchain_core.runnables.config import ContextThreadPoolExecutor

from llm_featurestore.filters import ResolvedCondition
from llm_featurestore.models import FeatureVector

__all__ = ["BACKFILL_KEY", "SearchCandidates", "Selection", "both", "doc_key", "shared_executor"]

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
    """What one retrieval did; becomes the documents and the tracing event."""

    vector: FeatureVector | None
    conditions: list[ResolvedCondition]
    where: Any
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
            "where": self.where,
            "conditions": len(self.conditions),
            "filtered": len(docs) - backfilled,
            "backfilled": backfilled,
            "k": k,
        }
