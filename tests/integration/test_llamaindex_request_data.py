"""LlamaIndex with request data, on real embedded Chroma: the cart total comes from the
query's chain input (``FeatureQueryBundle(inputs=...)``), the question text from the
query string, declared once in the filter spec and the task; a backend that computes
features from request data (tests/request_store.py, and the local Tecton-API server)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import Response
from llama_index.core.schema import NodeWithScore, QueryBundle

from llamaindex_featurestore import (
    CONTEXT_KEY,
    FeatureContextPostprocessor,
    FeatureFilteredRetriever,
    FeatureQueryBundle,
    FeatureRerankPostprocessor,
    fetch_vectors,
    personalized_query_engine,
)
from llamaindex_featurestore.context import request_data_for
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureValidationError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.request_sources import RequestDataSpec
from tests import tecton_server as ts
from tests.fixtures.tecton import make_tecton_client
from tests.integration.test_llamaindex_support import RecordingLLM, chroma_index
from tests.request_store import RequestDataStore

pytestmark = pytest.mark.integration
__all__ = ["chroma_index"]  # fixture re-exported for pytest

QUESTION = "which gear item for training?"
SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="price", op="lte", feature="budget"),
    ],
    request_data={"user": {"cart_total": "input.cart_total"}},
)
TASK = "shopping"
CONFIG = EnricherConfig(
    task_features={TASK: {"user": ["favorite_category", "query_words"]}},
    request_data={TASK: {"user": {"query": "query"}}},
)


@pytest.fixture
def store() -> RequestDataStore:
    s = RequestDataStore()
    s.write_features("u-run", "user", {"favorite_category": "running", "tier": "gold"})
    return s


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def bundle(total: float | None = 60.0, **inputs: Any) -> FeatureQueryBundle:
    if total is not None:
        inputs["cart_total"] = total
    return FeatureQueryBundle(QUESTION, user_id="u-run", inputs=inputs)


def retrieve(r: FeatureFilteredRetriever, q: QueryBundle, use_async: bool) -> list[NodeWithScore]:
    return asyncio.run(r.aretrieve(q)) if use_async else r.retrieve(q)


def test_the_retriever_filters_by_a_feature_of_the_querys_input(
    chroma_index: VectorStoreIndex, store: RequestDataStore, use_async: bool
) -> None:
    retriever = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=10)
    nodes = retrieve(retriever, bundle(60.0), use_async)
    assert sorted(n.node.node_id for n in nodes) == ["running-0", "running-1"]  # 20, 60
    assert store.calls == [(["u-run"], [{"cart_total": 60.0}])]
    wider = retrieve(retriever, bundle(140.0), use_async)
    assert len(wider) == 4


def test_a_missing_input_key_is_named_with_the_keys_present(
    chroma_index: VectorStoreIndex, store: RequestDataStore, use_async: bool
) -> None:
    retriever = FeatureFilteredRetriever(chroma_index, store, SPEC)
    with pytest.raises(FeatureValidationError) as caught:
        retrieve(retriever, bundle(None, page=2), use_async)
    assert "comes from input key 'cart_total'" in str(caught.value)
    assert "keys present: page" in str(caught.value)
    assert store.calls == []


def test_the_engine_reads_once_with_the_filter_specs_and_the_tasks_request_data(
    chroma_index: VectorStoreIndex, store: RequestDataStore, use_async: bool
) -> None:
    llm = RecordingLLM()
    context = FeatureContextPostprocessor(FeatureEnricher(store, CONFIG), task_type=TASK)
    engine = personalized_query_engine(
        chroma_index, store, llm=llm, filter_spec=SPEC, context=context, similarity_top_k=10
    )
    query = bundle(100.0)
    result = asyncio.run(engine.aquery(query)) if use_async else engine.query(query)
    assert isinstance(result, Response)
    assert store.calls == [(["u-run"], [{"cart_total": 100.0, "query": QUESTION}])]
    (prompt,) = llm.prompts
    assert "- Query words: 5" in prompt
    products = [n for n in result.source_nodes if CONTEXT_KEY not in n.node.metadata]
    assert sorted(n.node.node_id for n in products) == ["running-0", "running-1", "running-2"]


def test_postprocessors_alone_resolve_their_own_request_data(
    store: RequestDataStore, use_async: bool
) -> None:
    nodes = [NodeWithScore(node=_node("a", 10.0), score=0.5)]
    context = FeatureContextPostprocessor(FeatureEnricher(store, CONFIG), task_type=TASK)
    rerank = FeatureRerankPostprocessor(store, SPEC)
    for pp in (context, rerank):
        query = bundle(25.0)
        if use_async:
            asyncio.run(pp.apostprocess_nodes(nodes, query_bundle=query))
        else:
            pp.postprocess_nodes(nodes, query_bundle=query)
    assert store.calls == [
        (["u-run"], [{"query": QUESTION}]),
        (["u-run"], [{"cart_total": 25.0}]),
    ]


def _node(nid: str, price: float) -> Any:
    from llama_index.core.schema import TextNode

    return TextNode(id_=nid, text=nid, metadata={"category": "running", "price": price})


def test_fetch_vectors_takes_request_data_resolved_for_a_query(store: RequestDataStore) -> None:
    spec = RequestDataSpec.of({"user": {"cart_total": "input.cart_total", "query": "query"}})
    data = request_data_for(spec, bundle(30.0), ["user"])
    assert data == {"user": {"cart_total": 30.0, "query": QUESTION}}
    got = fetch_vectors(
        store, {"user": ["budget", "query_words"]}, {"user": "u-run"}, {}, request_data=data
    )
    assert got.vectors["user"].features == {"budget": 30.0, "query_words": 5}
    assert request_data_for(spec, QueryBundle("plain"), []) == {}


@pytest.fixture
def tecton_server() -> Iterator[ts.TectonTestServer]:
    rows = {
        "u-run": {"user_stats.favorite_category": "running", "user_stats.avg_order_value": 40.0}
    }
    with ts.running_tecton_server(
        rows, request_context_keys=ts.REQUEST_CONTEXT_KEYS, on_demand=ts.ON_DEMAND
    ) as srv:
        yield srv


def test_tecton_gets_the_querys_request_data_as_its_request_context_map(
    chroma_index: VectorStoreIndex, tecton_server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_tecton_client(tecton_server.url)
    spec = FeatureFilterSpec(
        rules=[FilterRule(field="category", op="eq", feature="user_stats.favorite_category")],
        request_data={"user": {"cart_total": "input.cart_total", "query": "query"}},
    )
    retriever = FeatureFilteredRetriever(
        chroma_index,
        client,
        spec,
        similarity_top_k=3,
        prefetch={"user": ["user_request.cart_vs_aov", "user_request.query_words"]},
    )
    try:
        query = bundle(80.0)
        nodes = retrieve(retriever, query, use_async)
    finally:
        client.close()
    assert {n.node.metadata["category"] for n in nodes} == {"running"}
    reads = [body for path, body in tecton_server.requests if path.endswith("/get-features")]
    assert reads[0]["params"]["request_context_map"] == {"cart_total": 80.0, "query": QUESTION}
    assert query.vectors["user"].features["user_request.cart_vs_aov"] == 2.0
    assert query.vectors["user"].features["user_request.query_words"] == 5
