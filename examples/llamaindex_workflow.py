"""Personalised RAG as a LlamaIndex Workflow: feature lookup and retrieval run concurrently.

::

    StartEvent ──┬─> lookup   (feature store, one batch call per entity type) ─┐
                 └─> retrieve (vector search for candidates)                 ──┴─> answer

``answer`` waits for both, then reranks the candidates by the user's features
(``FeatureRerankPostprocessor``), adds the profile as a context node
(``FeatureContextPostprocessor``) and synthesises the response. Both postprocessors
read the vectors from the ``lookup`` step through a ``FeatureQueryBundle``: one lookup
per query, and none of it on the retrieval's critical path. (A hard feature filter would
make the search wait for the lookup; here preferences are soft, so the two overlap.)

Offline: LocalFeatureStore behind a ServingClient, embedded Chroma, a hashing embedding
and ``MockLLM``, which echoes the prompt it receives.

Run from the repository root: ``python -m examples.llamaindex_workflow``
"""

from __future__ import annotations

import asyncio
from typing import cast

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import RESPONSE_TYPE, Response
from llama_index.core.llms import LLM, MockLLM
from llama_index.core.response_synthesizers import get_response_synthesizer
from llama_index.core.schema import NodeWithScore
from llama_index.core.workflow import (
    Context,
    Event,
    StartEvent,
    StopEvent,
    Workflow,
    step,
)

from examples.llamaindex_query_engine import (
    ENRICHER_CONFIG,
    FILTER_SPEC,
    RERANK_SPEC,
    RERANK_WEIGHTS,
    TASK,
    build_index,
    build_store,
)
from llamaindex_featurestore import (
    FeatureContextPostprocessor,
    FeatureQueryBundle,
    FeatureRerankPostprocessor,
    afetch_vectors,
)
from llamaindex_featurestore.context import merge_needs
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.client import ServingClient

# The favourite category becomes a soft preference too (+0.5), next to brand and budget.
SOFT_SPEC = FeatureFilterSpec(rules=[*FILTER_SPEC.rules, *RERANK_SPEC.rules])
SOFT_WEIGHTS = [0.5, *RERANK_WEIGHTS]


class QueryStart(StartEvent):
    """``workflow.run(query=..., user_id=...)``."""

    query: str
    user_id: str | None = None


class LookupRequested(Event):
    user_id: str | None


class RetrievalRequested(Event):
    query: str


class FeaturesReady(Event):
    vectors: dict[str, FeatureVector]
    latency_ms: float


class CandidatesReady(Event):
    nodes: list[NodeWithScore]


class PersonalizedRAGWorkflow(Workflow):
    """Lookup and retrieval as concurrent steps, joined by rerank, context and synthesis.

    Args:
        retriever: Finds candidates (unfiltered: preferences are applied by the reranker);
            ask it for more than you will keep.
        client: The feature store.
        enricher: Renders the user's profile for ``task_type``.
        rerank: Soft preferences; its ``top_n`` decides how many candidates reach the LLM.
        llm: Writes the answer.
        task_type: The enricher task.
        **kwargs: ``Workflow`` options (``timeout``, ``verbose``, ...).
    """

    def __init__(
        self,
        *,
        retriever: BaseRetriever,
        client: FeatureStoreClient,
        enricher: FeatureEnricher,
        rerank: FeatureRerankPostprocessor,
        llm: LLM,
        task_type: str,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.retriever = retriever
        self.client = client
        self.rerank = rerank
        self.context = FeatureContextPostprocessor(enricher, client=client, task_type=task_type)
        self.needs = merge_needs(
            self.context.required_features(), {rerank.spec.entity_type: rerank.spec.feature_names}
        )
        self.synthesizer = get_response_synthesizer(llm=llm)

    @step
    async def start(
        self, ctx: Context, ev: QueryStart
    ) -> LookupRequested | RetrievalRequested | None:
        await ctx.store.set("query", ev.query)
        await ctx.store.set("user_id", ev.user_id)
        ctx.send_event(LookupRequested(user_id=ev.user_id))
        ctx.send_event(RetrievalRequested(query=ev.query))
        return None

    @step
    async def lookup(self, ev: LookupRequested) -> FeaturesReady:
        ids = {"user": ev.user_id} if ev.user_id else {}
        found = await afetch_vectors(self.client, self.needs, ids, {}, fallback=True)
        return FeaturesReady(vectors=found.vectors, latency_ms=found.latency_ms)

    @step
    async def retrieve(self, ev: RetrievalRequested) -> CandidatesReady:
        # Chroma's client is synchronous: search in a worker thread, keep the loop free.
        nodes = await asyncio.to_thread(self.retriever.retrieve, ev.query)
        return CandidatesReady(nodes=nodes)

    @step
    async def answer(self, ctx: Context, ev: FeaturesReady | CandidatesReady) -> StopEvent | None:
        ready = ctx.collect_events(ev, [FeaturesReady, CandidatesReady])
        if ready is None:
            return None
        features, candidates = ready
        assert isinstance(features, FeaturesReady)
        assert isinstance(candidates, CandidatesReady)
        bundle = FeatureQueryBundle(
            await ctx.store.get("query"),
            user_id=await ctx.store.get("user_id"),
            vectors=dict(features.vectors),  # the postprocessors reuse these: no new lookup
        )
        nodes = await self.rerank.apostprocess_nodes(candidates.nodes, query_bundle=bundle)
        nodes = await self.context.apostprocess_nodes(nodes, query_bundle=bundle)
        response: RESPONSE_TYPE = await self.synthesizer.asynthesize(bundle, nodes)
        return StopEvent(result=response)


def build_workflow(
    client: FeatureStoreClient, retriever: BaseRetriever, llm: LLM
) -> PersonalizedRAGWorkflow:
    """The demo workflow: candidates from ``retriever``, features from ``client``."""
    return PersonalizedRAGWorkflow(
        retriever=retriever,
        client=client,
        enricher=FeatureEnricher(client, ENRICHER_CONFIG),
        rerank=FeatureRerankPostprocessor(client, SOFT_SPEC, weights=SOFT_WEIGHTS, top_n=3),
        llm=llm,
        task_type=TASK,
        timeout=60,
    )


async def main() -> None:
    client = ServingClient(build_store(), timeout_ms=200)
    retriever = build_index().as_retriever(similarity_top_k=6)
    workflow = build_workflow(client, retriever, MockLLM())
    question = "Recommend shoes or gear for my next workout"
    for user_id in ["ana", "ben", "new-user"]:
        response = cast(Response, await workflow.run(query=question, user_id=user_id))
        print(f"===== {user_id} =====")
        for item in response.source_nodes:
            meta = item.node.metadata
            tag = "context" if meta.get("llmfs_context") else meta.get("category")
            print(f"  {item.get_score():6.3f}  [{tag}] {item.node.get_content()[:60]!r}")
        print("--- prompt sent to the LLM ---")
        print(str(response))
    print(f"store calls: {client.stats.backend_calls} for 3 queries")


if __name__ == "__main__":
    asyncio.run(main())
