"""The example Workflow: lookup and retrieval are concurrent steps (shown by structure, not
by timing), one lookup per run, and a dead store degrades to a plain answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from typing import cast

import chromadb
import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.base.response.schema import Response

from examples import llamaindex_workflow as example
from examples.llamaindex_query_engine import build_index, build_store
from llamaindex_featurestore import CONTEXT_KEY
from llamaindex_featurestore.testing import HashingEmbedding
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.client import ServingClient
from tests.contract.wrappers import CountingClient
from tests.fixtures.redis import dead_redis_client
from tests.integration.test_llamaindex_support import RecordingLLM

pytestmark = pytest.mark.integration

QUESTION = "Recommend shoes or gear for my next workout"
# A deadlock guard only: a sequential workflow breaks the barrier; nothing asserts timing.
BARRIER_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def demo_index() -> Iterator[VectorStoreIndex]:
    chroma = chromadb.EphemeralClient()
    index = build_index(chroma)
    yield index
    chroma.delete_collection(index.vector_store.client.name)  # the store's collection


class Trace:
    """Thread-safe record of step boundaries, plus the barrier both steps must reach."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(2, timeout=BARRIER_TIMEOUT_S)

    def mark(self, what: str) -> None:
        with self.lock:
            self.events.append(what)


class BarrierClient(CountingClient):
    """A feature lookup that cannot finish until the retrieval has started."""

    def __init__(self, inner: FeatureStoreClient, trace: Trace) -> None:
        super().__init__(inner)
        self.trace = trace

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.trace.mark("lookup:start")
        await asyncio.to_thread(self.trace.barrier.wait)
        result = await super().aget_batch_features(entity_ids, entity_type, feature_names)
        self.trace.mark("lookup:end")
        return result


class BarrierEmbedding(HashingEmbedding):
    """A query embedding (the retrieval step) that cannot finish until the lookup started."""

    def __init__(self, trace: Trace) -> None:
        super().__init__()
        self._trace = trace

    def _get_query_embedding(self, query: str) -> list[float]:
        self._trace.mark("retrieve:start")
        self._trace.barrier.wait()
        vector = super()._get_query_embedding(query)
        self._trace.mark("retrieve:end")
        return vector


async def test_lookup_and_retrieval_steps_overlap(demo_index: VectorStoreIndex) -> None:
    trace = Trace()
    client = BarrierClient(build_store(), trace)
    retriever = demo_index.as_retriever(similarity_top_k=6, embed_model=BarrierEmbedding(trace))
    workflow = example.build_workflow(client, retriever, RecordingLLM())

    response = cast(Response, await workflow.run(query=QUESTION, user_id="ana"))

    # Each step waited at the barrier for the other: both started before either ended.
    assert not trace.barrier.broken
    assert set(trace.events[:2]) == {"lookup:start", "retrieve:start"}
    assert set(trace.events[2:]) == {"lookup:end", "retrieve:end"}
    assert response.source_nodes[0].node.metadata[CONTEXT_KEY] is True


async def test_workflow_answer_uses_one_lookup_and_the_users_preferences(
    demo_index: VectorStoreIndex,
) -> None:
    llm = RecordingLLM()
    client = CountingClient(build_store())
    workflow = example.build_workflow(client, demo_index.as_retriever(similarity_top_k=6), llm)

    response = cast(Response, await workflow.run(query=QUESTION, user_id="ben"))

    (prompt,) = llm.prompts
    assert prompt.index("[Context from user profile]") < prompt.index("[End context]")
    assert "- Favorite category: hiking" in prompt
    products = response.source_nodes[1:]
    assert len(products) == 3  # rerank top_n
    # Soft preferences put ben's favourite category (+0.5) and brand (+0.3) first.
    assert products[0].node.node_id == "p5"  # hiking boots by initech
    assert products[0].node.metadata["llmfs_rerank_boost"] == pytest.approx(0.8)
    assert len(client.calls) == 1  # the lookup step's vectors served rerank and context


async def test_workflow_with_dead_store_answers_without_features(
    demo_index: VectorStoreIndex,
) -> None:
    llm = RecordingLLM()
    client = ServingClient(dead_redis_client(), timeout_ms=2000, circuit_breaker=None)
    retriever = demo_index.as_retriever(similarity_top_k=6)
    workflow = example.build_workflow(client, retriever, llm)

    response = cast(Response, await workflow.run(query=QUESTION, user_id="ana"))

    assert "[Context from user profile]" not in llm.prompts[-1]
    plain = retriever.retrieve(QUESTION)[:3]
    assert [n.node.node_id for n in response.source_nodes] == [n.node.node_id for n in plain]
    assert client.stats.fallbacks == 1


async def test_example_workflow_runs_offline(capsys: pytest.CaptureFixture[str]) -> None:
    await example.main()
    out = capsys.readouterr().out
    assert out.count("[End context]") == 2  # ana and ben; the new user has no features
    assert "store calls: 3 for 3 queries" in out
