"""Both adapters against Chroma's client/server deployment (`chroma run`), not only embedded.

The same feature-filtered searches as the embedded tests, through ``chromadb.HttpClient``:
the metadata filter built from the user's features must travel over HTTP unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import chromadb
import pytest
from langchain_chroma import Chroma
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.vector_stores.chroma import ChromaVectorStore

from langchain_featurestore import FeatureFilteredRetriever as LangChainRetriever
from llamaindex_featurestore import FeatureFilteredRetriever as LlamaIndexRetriever
from llamaindex_featurestore import FeatureQueryBundle
from llamaindex_featurestore.testing import HashingEmbedding
from llm_featurestore.clients.local import LocalFeatureStore
from tests.integration import test_langchain_retriever as lc
from tests.integration import test_llamaindex_support as li
from tests.unit.test_langchain_fakes import HashEmbeddings, shop_store

pytestmark = pytest.mark.integration


@pytest.fixture
def http_client(chroma_server: tuple[str, int]) -> chromadb.api.ClientAPI:
    host, port = chroma_server
    return chromadb.HttpClient(host=host, port=port)


@pytest.fixture
def langchain_store(http_client: chromadb.api.ClientAPI) -> Iterator[Chroma]:
    store = Chroma(
        collection_name=f"lc-{uuid.uuid4().hex[:12]}",
        embedding_function=HashEmbeddings(),
        client=http_client,
    )
    store.add_documents(lc.catalog_docs())
    yield store
    store.delete_collection()


@pytest.mark.parametrize("use_async", [False, True])
async def test_langchain_retriever_filters_by_the_users_features_over_http(
    langchain_store: Chroma, use_async: bool
) -> None:
    retriever = LangChainRetriever(
        vectorstore=langchain_store, filter_spec=lc.SPEC, client=shop_store(), k=4
    )
    query = "running shoes"
    if use_async:
        docs = await retriever.ainvoke(query, user_id="u1")
    else:
        docs = retriever.invoke(query, user_id="u1")
    # u1: shoes from acme or zeta, price <= 1.5 * 100.
    assert docs
    for doc in docs:
        assert doc.metadata["category"] == "shoes"
        assert doc.metadata["brand"] in {"acme", "zeta"}
        assert doc.metadata["price"] <= 150.0
    expected = {
        d.id
        for d in lc.catalog_docs()
        if d.metadata["category"] == "shoes"
        and d.metadata["brand"] in {"acme", "zeta"}
        and d.metadata["price"] <= 150.0
    }
    assert {d.id for d in docs} == expected
    # Without a user the search is unfiltered and other categories come back.
    plain = retriever.invoke(query)
    assert {d.metadata["category"] for d in plain} != {"shoes"}


@pytest.fixture
def llamaindex_index(http_client: chromadb.api.ClientAPI) -> Iterator[VectorStoreIndex]:
    name = f"li-{uuid.uuid4().hex[:12]}"
    collection = http_client.get_or_create_collection(name)
    index = VectorStoreIndex(
        li.product_nodes(),
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=HashingEmbedding(),
    )
    yield index
    http_client.delete_collection(name)


@pytest.mark.parametrize("use_async", [False, True])
async def test_llamaindex_retriever_filters_by_the_users_features_over_http(
    llamaindex_index: VectorStoreIndex, use_async: bool
) -> None:
    store: LocalFeatureStore = li.make_store()
    retriever = LlamaIndexRetriever(llamaindex_index, store, li.SPEC, similarity_top_k=10)
    bundle = FeatureQueryBundle("gear for training", user_id="u-run")
    nodes = await retriever.aretrieve(bundle) if use_async else retriever.retrieve(bundle)
    # running, price <= 150: exactly running-0..3 (see test_llamaindex_support.USERS).
    assert sorted(n.node.node_id for n in nodes) == [f"running-{i}" for i in range(4)]
