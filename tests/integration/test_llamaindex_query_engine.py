"""A RetrieverQueryEngine with the feature retriever and postprocessors, on real Chroma,
answered by a MockLLM that records its prompts."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import Response
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, QueryBundle

from llamaindex_featurestore import (
    CONTEXT_KEY,
    FeatureContextPostprocessor,
    FeatureFilteredRetriever,
    FeatureQueryBundle,
    FeatureRerankPostprocessor,
    personalized_query_engine,
    user_context,
)
from llamaindex_featurestore.context import merge_needs
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.serving import CoalesceConfig, ServingClient
from tests.contract.wrappers import CountingClient
from tests.fixtures.redis import dead_redis_client
from tests.integration.test_llamaindex_support import (
    CATEGORIES,
    SPEC,
    RecordingLLM,
    chroma_index,
    many_users,
    store,
)
from tests.unit.test_llamaindex_context import gated_monitor

pytestmark = pytest.mark.integration
__all__ = ["chroma_index", "store"]  # fixtures re-exported for pytest

TASK = "shopping"
CONFIG = EnricherConfig(
    task_features={TASK: {"user": ["favorite_category", "avg_order_value", "tier"]}}
)
QUESTION = "which gear item for training?"


def engine_for(
    index: VectorStoreIndex, client: FeatureStoreClient, llm: RecordingLLM, top_k: int = 4
) -> RetrieverQueryEngine:
    context = FeatureContextPostprocessor(FeatureEnricher(client, CONFIG), task_type=TASK)
    rerank = FeatureRerankPostprocessor(client, SPEC, weights=[0.0, 0.3, -0.3])
    retriever = FeatureFilteredRetriever(
        index,
        client,
        SPEC,
        similarity_top_k=top_k,
        prefetch=merge_needs(context.required_features(), {"user": SPEC.feature_names}),
    )
    return RetrieverQueryEngine.from_args(retriever, llm=llm, node_postprocessors=[rerank, context])


def ask(engine: RetrieverQueryEngine, query: Any, use_async: bool) -> Response:
    result = asyncio.run(engine.aquery(query)) if use_async else engine.query(query)
    assert isinstance(result, Response)
    return result


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def expected_block(store: LocalFeatureStore, user_id: str) -> str:
    names = CONFIG.task_features[TASK]["user"]
    vector = store.get_features(user_id, "user", names)
    block = FeatureEnricher(store, CONFIG).enrich_from_vectors("q", {"user": vector}, TASK)
    assert block.context_block  # guard: the expectation itself is not empty
    return block.context_block


def test_final_prompt_contains_the_context_block_first(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    llm = RecordingLLM()
    client = CountingClient(store)
    engine = engine_for(chroma_index, client, llm)
    response = ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)

    (prompt,) = llm.prompts
    block = expected_block(store, "u-run")
    assert block in prompt
    assert "- Favorite category: running" in block
    # The block comes before every retrieved product, and the products are the user's.
    assert prompt.index(block) < prompt.index("running gear item")
    assert "hiking" not in prompt
    assert QUESTION in prompt
    assert response.source_nodes[0].node.metadata[CONTEXT_KEY] is True
    products = response.source_nodes[1:]
    assert len(products) == 4
    assert {n.node.metadata["category"] for n in products} == {"running"}
    assert all(n.node.metadata["price"] <= 150 for n in products)
    # One store round trip served the filter, the reranker and the context block.
    assert len(client.calls) == 1


def test_user_from_context_variable(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    llm = RecordingLLM()
    engine = engine_for(chroma_index, store, llm)
    with user_context("u-hike"):
        response = ask(engine, QUESTION, use_async)
    assert "- Favorite category: hiking" in llm.prompts[-1]
    assert [n.node.node_id for n in response.source_nodes[1:]] in (
        ["hiking-0", "hiking-3"],
        ["hiking-3", "hiking-0"],
    )


def test_anonymous_query_passes_through(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    llm = RecordingLLM()
    client = CountingClient(store)
    response = ask(engine_for(chroma_index, client, llm), QUESTION, use_async)
    assert "[Context from user profile]" not in llm.prompts[-1]
    assert all(CONTEXT_KEY not in n.node.metadata for n in response.source_nodes)
    assert len(response.source_nodes) == 4
    assert client.calls == []  # nobody to look up


async def test_100_concurrent_queries_each_see_only_their_own_features(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    users = many_users(100)
    client = CountingClient(store)
    engine = engine_for(chroma_index, client, RecordingLLM(), top_k=3)

    async def one(uid: str) -> Response:
        with user_context(uid):
            result = await engine.aquery(QUESTION)
        assert isinstance(result, Response)
        return result

    responses = await asyncio.gather(*(one(uid) for uid in users))
    for uid, response in zip(users, responses, strict=True):
        category = users[uid]
        # MockLLM answers with its prompt: the prompt holds this user's profile only.
        assert f"- Favorite category: {category}" in str(response), uid
        others = [c for c in CATEGORIES if c != category]
        assert not any(f"Favorite category: {c}" in str(response) for c in others), uid
        products = [n for n in response.source_nodes if CONTEXT_KEY not in n.node.metadata]
        assert len(products) == 3, uid
        assert {n.node.metadata["category"] for n in products} == {category}, uid
    assert len(client.calls) == 100  # one lookup per query
    assert {tuple(ids) for ids, _, _ in client.calls} == {(uid,) for uid in users}


def test_dead_store_behind_serving_client_still_answers(
    chroma_index: VectorStoreIndex, use_async: bool
) -> None:
    llm = RecordingLLM()
    client = ServingClient(dead_redis_client(), timeout_ms=2000, circuit_breaker=None)
    engine = engine_for(chroma_index, client, llm, top_k=10)
    response = ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)
    # Retriever unfiltered, reranker and context postprocessor pass the nodes through.
    assert "[Context from user profile]" not in llm.prompts[-1]
    assert len(response.source_nodes) == 10
    assert len({n.node.metadata["category"] for n in response.source_nodes}) > 1
    assert all(CONTEXT_KEY not in n.node.metadata for n in response.source_nodes)
    assert client.stats.fallbacks == 1  # and the failed lookup was not retried per component


def test_example_query_engine_runs_offline(capsys: pytest.CaptureFixture[str]) -> None:
    from examples import llamaindex_query_engine as example

    example.main()
    out = capsys.readouterr().out
    assert out.count("[End context]") == 2  # in the prompts of ana and ben, not the new user
    assert "- Favorite category: running" in out
    assert "- Favorite category: hiking" in out
    assert "store calls: 3 for 3 queries" in out


def test_personalized_query_engine_wires_one_lookup(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    llm = RecordingLLM()
    client = CountingClient(store)
    seen: list[list[str]] = []

    class Spy(BaseNodePostprocessor):
        def _postprocess_nodes(
            self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
        ) -> list[NodeWithScore]:
            seen.append([n.node.node_id for n in nodes])
            return nodes

    engine = personalized_query_engine(
        chroma_index,
        client,
        llm=llm,
        filter_spec=SPEC,
        rerank=FeatureRerankPostprocessor(client, SPEC, weights=[0.0, 0.0, 0.0], top_n=2),
        context=FeatureContextPostprocessor(FeatureEnricher(client, CONFIG), task_type=TASK),
        postprocessors=[Spy()],
        similarity_top_k=4,
    )
    response = ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)
    assert len(client.calls) == 1
    # Order: rerank (top_n=2) -> spy -> context (first node).
    assert len(seen) == 1
    assert len(seen[0]) == 2
    assert [n.node.node_id for n in response.source_nodes[1:]] == seen[0]
    assert response.source_nodes[0].node.metadata[CONTEXT_KEY] is True
    assert "- Favorite category: running" in llm.prompts[-1]


def test_personalized_query_engine_without_spec_searches_unfiltered(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    llm = RecordingLLM()
    client = CountingClient(store)
    context = FeatureContextPostprocessor(FeatureEnricher(client, CONFIG), task_type=TASK)
    engine = personalized_query_engine(
        chroma_index, client, llm=llm, context=context, similarity_top_k=30
    )
    response = ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async=False)
    products = response.source_nodes[1:]
    assert {n.node.metadata["category"] for n in products} == set(CATEGORIES)
    assert "- Favorite category: running" in llm.prompts[-1]
    assert client.calls == [(["u-run"], "user", list(CONFIG.task_features[TASK]["user"]))]


def monitored_engine(
    index: VectorStoreIndex, client: FeatureStoreClient, llm: RecordingLLM, monitor: FeatureMonitor
) -> RetrieverQueryEngine:
    enricher = FeatureEnricher(client, CONFIG, monitor=monitor)
    return personalized_query_engine(
        index,
        client,
        llm=llm,
        filter_spec=SPEC,
        rerank=FeatureRerankPostprocessor(client, SPEC, weights=[0.0, 0.3, -0.3]),
        context=FeatureContextPostprocessor(enricher, task_type=TASK),
        similarity_top_k=10,
    )


@pytest.mark.parametrize(
    "monitor",
    [gated_monitor, lambda: FeatureMonitor(holdout_fraction=1.0, seed=3)],
    ids=["store-gate-open", "task-held-out"],
)
def test_a_query_the_monitor_refuses_makes_no_store_call(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool, monitor: Any
) -> None:
    llm = RecordingLLM()
    client = CountingClient(store)
    engine = monitored_engine(chroma_index, client, llm, monitor())
    response = ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)
    assert client.calls == []
    assert "[Context from user profile]" not in llm.prompts[-1]
    assert len(response.source_nodes) == 10
    assert len({n.node.metadata["category"] for n in response.source_nodes}) > 1  # unfiltered


def test_a_monitored_query_reads_once_and_reports_once(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    llm = RecordingLLM()
    client = CountingClient(store)
    monitor = FeatureMonitor()
    engine = monitored_engine(chroma_index, client, llm, monitor)
    ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)
    assert len(client.calls) == 1
    assert "- Favorite category: running" in llm.prompts[-1]
    stats = monitor.get_stats()
    assert stats.total_enrichments == 1
    assert stats.successful_enrichments == 1


def test_a_failed_read_counts_once_at_the_store_gate(
    chroma_index: VectorStoreIndex, use_async: bool
) -> None:
    monitor = FeatureMonitor(disable_after_failures=2)
    engine = monitored_engine(chroma_index, dead_redis_client(), RecordingLLM(), monitor)
    ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)
    # The retriever's read reported the failure; the enrichment did not report it again.
    assert monitor.get_stats().consecutive_store_failures == 1
    assert monitor.get_stats().store_enabled
    ask(engine, FeatureQueryBundle(QUESTION, user_id="u-run"), use_async)
    assert not monitor.get_stats().store_enabled  # two queries, two failures: gate open


async def test_50_concurrent_queries_coalesce_into_few_backend_calls(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    users = many_users(50)
    backend = CountingClient(store)
    coalesce = CoalesceConfig(window_ms=5)
    client = ServingClient(backend, coalesce=coalesce)
    engine = monitored_engine(chroma_index, client, RecordingLLM(), FeatureMonitor())

    async def one(uid: str) -> Response:
        result = await engine.aquery(FeatureQueryBundle(QUESTION, user_id=uid))
        assert isinstance(result, Response)
        return result

    responses = await asyncio.gather(*(one(uid) for uid in users))
    for uid, response in zip(users, responses, strict=True):
        assert f"- Favorite category: {users[uid]}" in str(response), uid
        products = [n for n in response.source_nodes if CONTEXT_KEY not in n.node.metadata]
        assert {n.node.metadata["category"] for n in products} == {users[uid]}, uid
    assert len(backend.calls) <= math.ceil(len(users) / coalesce.max_batch) + 1
    assert sorted(uid for ids, _, _ in backend.calls for uid in ids) == sorted(users)
