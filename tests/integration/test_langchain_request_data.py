"""LangChain with request data, against the local Tecton-API server's on-demand features:
the cart total comes from the chain input, the question text from the query, declared
once in the filter spec and the task, and reaches Tecton's request_context_map."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from langchain_chroma import Chroma
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langchain_featurestore import (
    FeatureEnricherRunnable,
    FeatureFilteredRetriever,
    FeatureLookup,
    lookup_for,
    personalized_rag_chain,
)
from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.serving import CacheConfig, ServingClient
from tests import tecton_server as ts
from tests.fixtures.tecton import make_tecton_client
from tests.integration.test_langchain_chain import PROMPT, Recorder, system_text
from tests.integration.test_langchain_retriever import catalog_docs, new_store

pytestmark = pytest.mark.integration

FAV = "user_stats.favorite_category"
AOV = "user_stats.avg_order_value"
BUDGET = "user_request.budget"
WORDS = "user_request.query_words"
ON_DEMAND = {**ts.ON_DEMAND, BUDGET: ({"type": "float64"}, lambda row, ctx: ctx["cart_total"])}
ROWS = {"u1": {FAV: "shoes", AOV: 100.0}, "u2": {FAV: "books", AOV: 20.0}}

# The filter needs the cart total (a budget); the task needs the question (its words).
SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature=FAV),
        FilterRule(field="price", op="lte", feature=BUDGET),
    ],
    request_data={"user": {"cart_total": "input.cart_total"}},
)
CONFIG = EnricherConfig(
    task_features={"shop": {"user": [WORDS, FAV]}},
    request_data={"shop": {"user": {"query": "query"}}},
)


@pytest.fixture(scope="module")
def shop() -> Iterator[Chroma]:
    store = new_store(catalog_docs())
    yield store
    store.delete_collection()


@pytest.fixture
def server() -> Iterator[ts.TectonTestServer]:
    with ts.running_tecton_server(
        ROWS, request_context_keys=ts.REQUEST_CONTEXT_KEYS, on_demand=ON_DEMAND
    ) as srv:
        yield srv


@pytest.fixture
def tecton(server: ts.TectonTestServer) -> Iterator[TectonClient]:
    client = make_tecton_client(server.url)
    yield client
    client.close()


def contexts(server: ts.TectonTestServer) -> list[dict[str, Any]]:
    """Every row's request_context_map, in the order the server received them."""
    out: list[dict[str, Any]] = []
    for path, body in server.requests:
        params = body["params"]
        if path.endswith("/get-features"):
            out.append(params["request_context_map"])
        elif path.endswith("/get-features-batch"):
            out.extend(row["request_context_map"] for row in params["request_data"])
    return out


def chain_for(vs: Chroma, client: Any) -> Any:
    retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client, k=3)
    llm = FakeListChatModel(responses=["answer"] * 10)
    return personalized_rag_chain(
        retriever, FeatureEnricher(client, CONFIG), PROMPT, llm, task_type="shop"
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_the_chain_sends_the_input_and_the_question_as_request_data(
    shop: Chroma, server: ts.TectonTestServer, tecton: TectonClient, use_async: bool
) -> None:
    chain, rec = chain_for(shop, ServingClient(tecton, timeout_ms=5_000)), Recorder()
    request = {"question": "trail running shoes", "user_id": "u1", "cart_total": 100.0}
    config: Any = {"callbacks": [rec]}
    await chain.ainvoke(request, config) if use_async else chain.invoke(request, config)
    assert contexts(server) == [{"cart_total": 100.0, "query": "trail running shoes"}]
    text = system_text(rec)
    assert "red running shoes" in text  # shoes at most 100.0
    assert "budget canvas shoes" in text
    assert "trail running shoes with grip" not in text  # 140.0: over the cart total
    assert "query words: 3" in text  # the on-demand feature of the question


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_batch_is_one_call_with_each_inputs_request_data(
    shop: Chroma, server: ts.TectonTestServer, tecton: TectonClient, use_async: bool
) -> None:
    lookup = lookup_for(
        FeatureFilteredRetriever(vectorstore=shop, filter_spec=SPEC, client=tecton),
        FeatureEnricher(tecton, CONFIG),
        task_type="shop",
    )
    inputs = [
        {"question": "shoes", "user_id": "u1", "cart_total": 50.0},
        {"question": "a good novel", "user_id": "u2", "cart_total": 15.0},
    ]
    out = await lookup.abatch(inputs) if use_async else lookup.batch(inputs)
    assert [o["features"]["user"].features[BUDGET] for o in out] == [50.0, 15.0]
    assert [o["features"]["user"].features[WORDS] for o in out] == [1, 3]
    assert [p for p, _ in server.requests if "get-features" in p] == [
        "/api/v1/feature-service/get-features-batch"
    ]
    assert contexts(server) == [
        {"cart_total": 50.0, "query": "shoes"},
        {"cart_total": 15.0, "query": "a good novel"},
    ]


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_missing_input_key_is_named_with_the_keys_present(
    shop: Chroma, server: ts.TectonTestServer, tecton: TectonClient, use_async: bool
) -> None:
    chain = chain_for(shop, tecton)
    request = {"question": "shoes", "user_id": "u1"}
    with pytest.raises(FeatureValidationError) as caught:
        await chain.ainvoke(request) if use_async else chain.invoke(request)
    message = str(caught.value)
    assert "Request field 'cart_total' of entity type 'user' comes from input key" in message
    assert "keys present: question, user_id" in message
    assert not [p for p, _ in server.requests if "get-features" in p]


def test_request_data_from_configurable_and_a_cache_per_request_data(
    server: ts.TectonTestServer, tecton: TectonClient
) -> None:
    serving = ServingClient(tecton, cache=CacheConfig(), timeout_ms=5_000)
    lookup = FeatureLookup(
        serving,
        feature_names=[BUDGET, WORDS],
        request_data={"user": {"cart_total": "input.cart_total", "query": "query"}},
    )
    for total in (10.0, 20.0, 10.0):
        config: Any = {"configurable": {"user_id": "u1", "cart_total": total}}
        out = lookup.invoke({"question": "two words"}, config)
        assert out["features"].features[BUDGET] == total
    assert contexts(server) == [
        {"cart_total": 10.0, "query": "two words"},
        {"cart_total": 20.0, "query": "two words"},
    ]  # the third read was the cache's: same request data


@pytest.mark.parametrize("use_async", [False, True])
async def test_the_retriever_resolves_its_filter_specs_request_data(
    shop: Chroma, server: ts.TectonTestServer, tecton: TectonClient, use_async: bool
) -> None:
    spec = SPEC.model_copy(
        update={"request_data": SPEC.request_data.merged(CONFIG.request_data["shop"])}
    )
    retriever = FeatureFilteredRetriever(vectorstore=shop, filter_spec=spec, client=tecton, k=5)
    request = {"question": "shoes", "user_id": "u1", "cart_total": 35.0}
    docs = await retriever.ainvoke(request) if use_async else retriever.invoke(request)
    assert [d.page_content for d in docs] == ["budget canvas shoes"]
    assert contexts(server) == [{"cart_total": 35.0, "query": "shoes"}]
    # configurable is searched after the input.
    config: Any = {"configurable": {"user_id": "u1", "cart_total": 100.0}}
    kwargs_docs = retriever.invoke("shoes", config)
    assert {d.page_content for d in kwargs_docs} == {
        "red running shoes for road races",
        "budget canvas shoes",
    }


@pytest.mark.parametrize("use_async", [False, True])
async def test_the_enricher_runnable_reads_its_tasks_request_data(
    server: ts.TectonTestServer, tecton: TectonClient, use_async: bool
) -> None:
    config = CONFIG.model_copy(
        update={
            "request_data": {
                "shop": CONFIG.request_data["shop"].merged(SPEC.request_data),
            }
        }
    )
    enrich = FeatureEnricherRunnable(FeatureEnricher(tecton, config), task_type="shop")
    request = {"question": "four words right here", "user_id": "u1", "cart_total": 1.0}
    prompt = await enrich.ainvoke(request) if use_async else enrich.invoke(request)
    assert "query words: 4" in prompt
    assert contexts(server) == [{"query": "four words right here", "cart_total": 1.0}]


def test_two_sources_for_one_field_in_filter_and_task_is_a_config_error(
    shop: Chroma, tecton: TectonClient
) -> None:
    config = EnricherConfig(
        task_features={"shop": {"user": [WORDS]}},
        request_data={"shop": {"user": {"cart_total": "input.total"}}},
    )
    retriever = FeatureFilteredRetriever(vectorstore=shop, filter_spec=SPEC, client=tecton)
    with pytest.raises(FeatureConfigError, match="'cart_total' of entity type 'user' is declared"):
        lookup_for(retriever, FeatureEnricher(tecton, config), task_type="shop")
