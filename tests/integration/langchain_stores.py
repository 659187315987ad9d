"""Real LangChain vector stores for the filter tests, one builder per built-in store.

Every store runs here with no network: Chroma embedded, ``InMemoryVectorStore``, Qdrant
in local mode (``location=":memory:"``), FAISS and Milvus Lite (one file under a tmp
directory; its server starts once per file, in about 3 s, so tests share one
:class:`Stores`). Each document's metadata carries its id as ``doc_id``, because the
stores return ids differently (Qdrant's point ids are UUIDs, Milvus returns its primary
key in the metadata).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import chromadb
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, Embeddings
from langchain_core.vectorstores import InMemoryVectorStore, VectorStore

__all__ = ["ID_KEY", "STORES", "Stores", "doc_id", "documents", "search_kwargs"]

STORES = ("chroma", "memory", "qdrant", "faiss", "milvus")
"""The built-in stores, by the short names the tests are parametrised with."""

ID_KEY = "doc_id"


def documents(items: Sequence[tuple[str, str, dict[str, Any]]]) -> list[Document]:
    """``(id, text, metadata)`` items as Documents whose metadata also holds the id."""
    return [
        Document(id=i, page_content=text, metadata={**meta, ID_KEY: i}) for i, text, meta in items
    ]


def doc_id(doc: Document) -> str:
    """The test id of a document any of the stores returned."""
    return str(doc.metadata[ID_KEY])


class Stores:
    """Builds stores of every kind; Milvus collections share one Milvus Lite file."""

    def __init__(self, tmp: Path, embeddings: Embeddings | None = None) -> None:
        self.milvus_uri = str(tmp / "milvus.db")
        self.embeddings = embeddings or DeterministicFakeEmbedding(size=16)
        self._chroma = chromadb.EphemeralClient()

    def build(self, kind: str, docs: list[Document], *, dynamic: bool = False) -> VectorStore:
        """A new store (collection) of ``kind`` holding ``docs``; ``dynamic`` makes a
        Milvus collection with dynamic fields (documents may lack fields)."""
        name = f"t{uuid.uuid4().hex[:12]}"
        ids = [str(d.id) for d in docs]
        if kind == "chroma":
            chroma = Chroma(name, embedding_function=self.embeddings, client=self._chroma)
            chroma.add_documents(docs, ids=ids)
            return chroma
        if kind == "memory":
            memory = InMemoryVectorStore(self.embeddings)
            memory.add_documents(docs, ids=ids)
            return memory
        if kind == "qdrant":
            from langchain_qdrant import QdrantVectorStore

            points = [str(uuid.uuid5(uuid.NAMESPACE_URL, i)) for i in ids]  # ids must be UUIDs
            return QdrantVectorStore.from_documents(
                docs, self.embeddings, location=":memory:", collection_name=name, ids=points
            )
        if kind == "faiss":
            from langchain_community.vectorstores import FAISS

            return FAISS.from_documents(docs, self.embeddings, ids=ids)
        if kind == "milvus":
            from langchain_milvus import Milvus

            milvus = Milvus(
                self.embeddings,
                connection_args={"uri": self.milvus_uri},
                collection_name=name,
                auto_id=False,
                enable_dynamic_field=dynamic,
            )
            milvus.add_documents(docs, ids=ids)
            return milvus
        raise ValueError(f"unknown store kind {kind!r}; choose from {', '.join(STORES)}")

    def reopen(self, store: VectorStore) -> VectorStore:
        """A new client on a Milvus store's collection; any other store as it is."""
        from langchain_milvus import Milvus

        if not isinstance(store, Milvus):
            return store
        return Milvus(
            self.embeddings,
            connection_args={"uri": self.milvus_uri},
            collection_name=store.collection_name,
            auto_id=False,
            enable_dynamic_field=store.enable_dynamic_field,
        )


def search_kwargs(kind: str, corpus_size: int) -> dict[str, Any]:
    """Extra search kwargs a store needs to search the whole corpus: FAISS filters only
    its ``fetch_k`` nearest documents (20 by default)."""
    return {"fetch_k": corpus_size + 10} if kind == "faiss" else {}
