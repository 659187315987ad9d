"""Write-back after each query of personalized_query_engine (and of any engine, through the
instrumentation event handler), on real Chroma with MockLLM: the next query's context
node shows what the last one wrote, through the serving cache."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import Response
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.query import QueryEndEvent
from llama_index.core.query_engine import RetrieverQueryEngine

from llamaindex_featurestore import (
    CONTEXT_KEY,
    FeatureContextPostprocessor,
    FeatureFilteredRetriever,
    FeatureQueryBundle,
    FeatureWriteBackHandler,
    WriteBackQueryEngine,
    personalized_query_engine,
    user_context,
    with_write_back,
)
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.serving import CacheConfig, ServingClient
from llm_featurestore.writeback import WriteBack
from tests.integration.test_llamaindex_support import RecordingLLM, chroma_index
from tests.integration.writeback_support import ENRICHER, FEATURES, TASK, WRITTEN, seed

pytestmark = pytest.mark.integration
__all__ = ["chroma_index"]  # the fixture, re-exported for pytest

SPEC = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="favorite_category")])
USERS = {
    "u1": {"favorite_category": "running", "tier": "gold"},
    "u2": {"favorite_category": "hiking", "tier": "silver"},
}


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    seed(s, USERS)
    return s


@pytest.fixture
def client(store: LocalFeatureStore) -> ServingClient:
    return ServingClient(store, cache=CacheConfig(ttl_seconds=300))


@pytest.fixture
def write_back(client: ServingClient) -> Iterator[WriteBack]:
    wb = WriteBack(client, **FEATURES)
    yield wb
    wb.close()


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def engine(
    index: VectorStoreIndex, client: ServingClient, llm: RecordingLLM, write_back: WriteBack
) -> Any:
    context = FeatureContextPostprocessor(FeatureEnricher(client, ENRICHER), task_type=TASK)
    return personalized_query_engine(
        index, client, llm=llm, filter_spec=SPEC, context=context, write_back=write_back
    )


def ask(query_engine: Any, query: Any, use_async: bool) -> Any:
    return asyncio.run(query_engine.aquery(query)) if use_async else query_engine.query(query)


def test_the_next_query_sees_what_the_last_one_wrote(
    chroma_index: VectorStoreIndex,
    client: ServingClient,
    store: LocalFeatureStore,
    write_back: WriteBack,
    use_async: bool,
) -> None:
    llm = RecordingLLM()
    query_engine = engine(chroma_index, client, llm, write_back)
    assert isinstance(query_engine, WriteBackQueryEngine)
    first = ask(query_engine, FeatureQueryBundle("gear for a marathon", user_id="u1"), use_async)
    assert write_back.flush(timeout=10)
    ask(query_engine, FeatureQueryBundle("and for rainy days?", user_id="u1"), use_async)
    assert write_back.flush(timeout=10)

    products = [n.node.node_id for n in first.source_nodes if not n.node.metadata.get(CONTEXT_KEY)]
    assert products
    assert all(p.startswith("running-") for p in products)
    written = store.get_features("u1", "user", WRITTEN).features
    assert written["turns"] == 2
    assert written["last_query"] == "and for rainy days?"
    assert "Last query" not in llm.prompts[0]
    second_prompt = llm.prompts[1]
    assert "Last query: gear for a marathon" in second_prompt
    assert f"Last shown: {', '.join(products)}" in second_prompt  # the context node is not one
    assert (
        written["memory"]
        .splitlines()[0]
        .startswith(f"User: gear for a marathon | Shown: {', '.join(products[:5])}")
    )
    assert client.stats.cache_hits == 0  # the write dropped the cached read
    assert write_back.stats.written == 2


def test_the_user_may_come_from_the_context_variable(
    chroma_index: VectorStoreIndex,
    client: ServingClient,
    store: LocalFeatureStore,
    write_back: WriteBack,
    use_async: bool,
) -> None:
    query_engine = engine(chroma_index, client, RecordingLLM(), write_back)
    with user_context("u2"):
        ask(query_engine, "boots for the alps", use_async)
    assert write_back.flush(timeout=10)
    written = store.get_features("u2", "user", WRITTEN).features
    assert written["last_query"] == "boots for the alps"
    assert all(p.startswith("hiking-") for p in written["last_shown"])
    assert store.get_features("u1", "user", ["turns"]).features["turns"] is None


def test_an_anonymous_query_writes_nothing(
    chroma_index: VectorStoreIndex, client: ServingClient, write_back: WriteBack
) -> None:
    ask(engine(chroma_index, client, RecordingLLM(), write_back), "anything", use_async=False)
    assert write_back.flush(timeout=10)
    assert write_back.stats.queued == 0


def test_with_write_back_wraps_any_retriever_query_engine(
    chroma_index: VectorStoreIndex,
    client: ServingClient,
    store: LocalFeatureStore,
    write_back: WriteBack,
) -> None:
    retriever = FeatureFilteredRetriever(chroma_index, client, SPEC, user_id="u2")
    plain = RetrieverQueryEngine.from_args(retriever, llm=RecordingLLM())
    wrapped = with_write_back(plain, write_back)
    response = wrapped.query("a tent")  # the retriever's default user
    assert write_back.flush(timeout=10)
    assert store.get_features("u2", "user", ["last_query"]).features["last_query"] == "a tent"
    assert response.source_nodes


def test_the_event_handler_writes_back_for_every_engine(
    chroma_index: VectorStoreIndex,
    client: ServingClient,
    store: LocalFeatureStore,
    write_back: WriteBack,
    use_async: bool,
) -> None:
    handler = FeatureWriteBackHandler(write_back, user_id="u1")
    dispatcher = get_dispatcher()
    retriever = FeatureFilteredRetriever(chroma_index, client, SPEC, user_id="u1")
    plain = RetrieverQueryEngine.from_args(retriever, llm=RecordingLLM())
    dispatcher.add_event_handler(handler)
    try:
        ask(plain, "light trainers", use_async)
        ask(plain, FeatureQueryBundle("a warm hat", user_id="u2"), use_async)
    finally:
        dispatcher.event_handlers.remove(handler)
    assert write_back.flush(timeout=10)
    assert (
        store.get_features("u1", "user", ["last_query"]).features["last_query"] == "light trainers"
    )
    assert store.get_features("u2", "user", ["last_query"]).features["last_query"] == "a warm hat"
    assert write_back.stats.written == 2
    assert handler.write_back is write_back


def test_a_turn_that_cannot_be_read_is_logged_once_never_raised(
    write_back: WriteBack, caplog: pytest.LogCaptureFixture
) -> None:
    handler = FeatureWriteBackHandler(write_back, user_id="u1")
    broken = Response(response="an answer", source_nodes=[object()])  # type: ignore[list-item]
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
        for _ in range(2):
            handler.handle(QueryEndEvent(query="a tent", response=broken))
    assert write_back.stats.queued == 0
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("Write-back could not read the query's turn (AttributeError: ")
    assert message.endswith("; nothing is written for it")
