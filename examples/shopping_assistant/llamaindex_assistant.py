"""The assistant's LlamaIndex version: the lookup and the query embedding side by side,
then ``FeatureFilteredRetriever`` with the prefetched vectors and embedding.

The shared parts are in :mod:`examples.shopping_assistant.assistant`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from examples.shopping_assistant.assistant import (
    FILTER_SPEC,
    TASK,
    AssistantResources,
    ProductHit,
    Timings,
    Turn,
    build_messages,
    generate_answer,
)
from examples.shopping_assistant.vector_index import llamaindex_index
from llm_featurestore.models import FeatureVector

__all__ = ["LlamaIndexAssistant"]


class LlamaIndexAssistant:
    """The assistant over a LlamaIndex ``VectorStoreIndex`` on the same Chroma collection.

    The lookup and the query embedding run concurrently; ``FeatureFilteredRetriever``
    then searches with both (no second lookup, no second embedding).
    """

    framework = "LlamaIndex"

    def __init__(self, resources: AssistantResources, k: int = 4) -> None:
        from llamaindex_featurestore.retriever import FeatureFilteredRetriever

        self.resources = resources
        self.k = k
        self.index = llamaindex_index(resources.chroma)
        self.retriever = FeatureFilteredRetriever(
            self.index,
            resources.client,
            FILTER_SPEC,
            similarity_top_k=k,
            prefetch={"user": resources.lookup_features},
        )
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="li-assistant")

    def plain(self, question: str) -> list[ProductHit]:
        """Plain vector retrieval through the index's own retriever."""
        nodes = self.index.as_retriever(similarity_top_k=self.k).retrieve(question)
        return [ProductHit.from_metadata(n.node.metadata, n.node.get_content()) for n in nodes]

    def ask(self, question: str, user_id: str | None) -> Turn:
        """Answer one question for one user (``None``: anonymous, unfiltered)."""
        from llamaindex_featurestore.context import FeatureQueryBundle

        client = self.resources.client
        names = self.resources.lookup_features
        started = time.perf_counter()

        def lookup() -> tuple[FeatureVector | None, float]:
            t0 = time.perf_counter()
            vec = None if user_id is None else client.get_features(user_id, "user", names)
            return vec, (time.perf_counter() - t0) * 1000.0

        def embed() -> tuple[list[float], float]:
            t0 = time.perf_counter()
            emb = self.index._embed_model.get_query_embedding(question)
            return emb, (time.perf_counter() - t0) * 1000.0

        pending_lookup = self._pool.submit(lookup)
        embedding, embed_ms = embed()
        vector, lookup_ms = pending_lookup.result()
        vectors = {"user": vector} if vector is not None else {}
        t0 = time.perf_counter()
        bundle = FeatureQueryBundle(
            query_str=question, embedding=embedding, user_id=user_id, vectors=dict(vectors)
        )
        nodes = self.retriever.retrieve(bundle)
        search_ms = (time.perf_counter() - t0) * 1000.0
        t1 = time.perf_counter()
        enrichment = self.resources.enricher.enrich_from_vectors(
            question, vectors, task_type=TASK, lookup_latency_ms=lookup_ms
        )
        enrichment_ms = (time.perf_counter() - t1) * 1000.0
        products = [ProductHit.from_metadata(n.node.metadata, n.node.get_content()) for n in nodes]
        messages = build_messages(question, enrichment.context_block, products)
        timings = Timings(
            lookup_ms=lookup_ms,
            retrieval_ms=embed_ms + search_ms,
            enrichment_ms=enrichment_ms,
            total_ms=(time.perf_counter() - started) * 1000.0,
        )
        answer, error = generate_answer(self.resources.endpoint, messages)
        return Turn(
            self.framework,
            user_id,
            question,
            products,
            enrichment,
            vector,
            messages,
            timings,
            answer,
            error,
            token_budget=self.resources.enricher.config.max_feature_tokens,
        )

    def close(self) -> None:
        """Stop the worker thread."""
        self._pool.shutdown(wait=False)
