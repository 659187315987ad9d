"""The product catalogue in an embedded, persistent Chroma collection.

:func:`build_index` embeds every product description with the bundled
all-MiniLM-L6-v2 (:mod:`examples.shopping_assistant.embeddings`) and stores it with
its metadata (``product_id``, ``name``, ``category``, ``brand``, ``price``), showing a
progress bar. It is idempotent: a fingerprint of the catalogue is kept in the
collection's metadata, and a collection that already matches it is reused as is.

:func:`langchain_store` and :func:`llamaindex_index` open the same collection for
each framework, with the matching embedding wrapper for queries.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from examples.shopping_assistant.data import Product
from examples.shopping_assistant.embeddings import MiniLMChromaEmbedding, embed_texts
from llm_featurestore._deps import require

__all__ = [
    "COLLECTION",
    "IndexReport",
    "build_index",
    "catalogue_fingerprint",
    "chroma_client",
    "index_is_current",
    "langchain_store",
    "llamaindex_index",
]

COLLECTION = "products"
_BATCH = 64


@dataclass(frozen=True)
class IndexReport:
    """What :func:`build_index` did."""

    skipped: bool
    """True when the collection already held exactly this catalogue."""
    count: int
    seconds: float


def catalogue_fingerprint(products: Sequence[Product]) -> str:
    """A stable hash of every product's fields (changes when any product changes)."""
    digest = hashlib.sha256()
    for p in products:
        digest.update(json.dumps(asdict(p), sort_keys=True).encode())
    return digest.hexdigest()[:32]


def chroma_client(chroma_dir: Path) -> Any:
    """An embedded persistent Chroma client at ``chroma_dir``, telemetry off."""
    chromadb = require("chromadb", extra="chroma")
    from chromadb.config import Settings

    chroma_dir.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(
        path=str(chroma_dir), settings=Settings(anonymized_telemetry=False)
    )


def index_is_current(client: Any, products: Sequence[Product]) -> bool:
    """True when the collection already holds exactly ``products`` (nothing to embed)."""
    names = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    if COLLECTION not in names:
        return False
    collection = client.get_collection(COLLECTION, embedding_function=MiniLMChromaEmbedding())
    same = (collection.metadata or {}).get("fingerprint") == catalogue_fingerprint(products)
    return bool(same and collection.count() == len(products))


def build_index(
    client: Any,
    products: Sequence[Product],
    *,
    progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> IndexReport:
    """Index ``products`` into the ``products`` collection of ``client`` (idempotent).

    Args:
        client: A Chroma client (:func:`chroma_client`).
        products: The catalogue.
        progress: Called as ``progress(done, total)`` after each batch; the demo
            passes a rich progress bar's update.
        force: Rebuild even when the fingerprint matches.

    Returns:
        Whether work was skipped, how many products the collection holds, and the time.
    """
    started = time.perf_counter()
    fingerprint = catalogue_fingerprint(products)
    if not force and index_is_current(client, products):
        return IndexReport(True, len(products), time.perf_counter() - started)
    existing = {c.name if hasattr(c, "name") else str(c) for c in client.list_collections()}
    if COLLECTION in existing:
        client.delete_collection(COLLECTION)
    collection = client.create_collection(
        COLLECTION,
        embedding_function=MiniLMChromaEmbedding(),
        configuration={"hnsw": {"space": "cosine"}},
        metadata={"fingerprint": fingerprint, "model": "all-MiniLM-L6-v2"},
    )
    total = len(products)
    for start in range(0, total, _BATCH):
        batch = products[start : start + _BATCH]
        texts = [p.description for p in batch]
        collection.add(
            ids=[p.product_id for p in batch],
            documents=texts,
            metadatas=[p.metadata() for p in batch],
            embeddings=embed_texts(texts),
        )
        if progress is not None:
            progress(min(start + _BATCH, total), total)
    return IndexReport(False, collection.count(), time.perf_counter() - started)


def langchain_store(client: Any) -> Any:
    """The collection as a ``langchain_chroma.Chroma`` vector store (MiniLM query embeddings)."""
    from examples.shopping_assistant.embeddings import langchain_embeddings

    lc_chroma = require("langchain_chroma", extra="langchain", package="langchain-chroma")
    return lc_chroma.Chroma(
        client=client, collection_name=COLLECTION, embedding_function=langchain_embeddings()
    )


def llamaindex_index(client: Any) -> Any:
    """The collection as a LlamaIndex ``VectorStoreIndex`` (MiniLM query embeddings)."""
    from examples.shopping_assistant.embeddings import llamaindex_embedding

    li_chroma = require(
        "llama_index.vector_stores.chroma",
        extra="llamaindex",
        package="llama-index-vector-stores-chroma",
    )
    li_core = require("llama_index.core", extra="llamaindex", package="llama-index-core")
    collection = client.get_collection(COLLECTION, embedding_function=MiniLMChromaEmbedding())
    store = li_chroma.ChromaVectorStore(chroma_collection=collection)
    return li_core.VectorStoreIndex.from_vector_store(store, embed_model=llamaindex_embedding())
