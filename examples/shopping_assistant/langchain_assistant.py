"""The assistant's LangChain version: ``langchain_featurestore.personalized_rag_chain``
over ``langchain-chroma``, with a callback handler that reads the latency split.

The shared parts (resources, the filter spec, :class:`~examples.shopping_assistant.
assistant.Turn`) are in :mod:`examples.shopping_assistant.assistant`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

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
from examples.shopping_assistant.vector_index import langchain_store
from llm_featurestore.writeback import WriteBack

__all__ = ["LangChainAssistant"]


class _Trace:
    """A LangChain callback handler: start/end times and outputs of named runs.

    This is what a tracing tool sees of one request; the demo reads its latency split
    and the selected documents from it instead of instrumenting the chain.
    """

    def __init__(self) -> None:
        from langchain_core.callbacks import BaseCallbackHandler

        trace = self

        class _Handler(BaseCallbackHandler):
            def on_chain_start(
                self, serialized: Any, inputs: Any, *, run_id: Any, **kwargs: Any
            ) -> None:
                trace._started(run_id, kwargs.get("name"))

            def on_chain_end(self, outputs: Any, *, run_id: Any, **kwargs: Any) -> None:
                trace._ended(run_id, outputs)

        self.handler = _Handler()
        self._lock = threading.Lock()
        self._open: dict[Any, tuple[str, float]] = {}
        self.spans: dict[str, tuple[float, float]] = {}
        self.outputs: dict[str, Any] = {}

    def _started(self, run_id: Any, name: str | None) -> None:
        with self._lock:
            self._open[run_id] = (name or "?", time.perf_counter())

    def _ended(self, run_id: Any, outputs: Any) -> None:
        now = time.perf_counter()
        with self._lock:
            name, start = self._open.pop(run_id, ("?", now))
            self.spans[name] = (start, now)
            self.outputs[name] = outputs

    def ms(self, *names: str) -> float:
        """Summed duration of the named runs, in milliseconds (0 for runs not seen)."""
        return sum(
            (e - s) * 1000.0 for n in names if (span := self.spans.get(n)) for s, e in [span]
        )


# Run names in the chain personalized_rag_chain builds.
_LOOKUP = "FeatureLookup"
_CANDIDATES = "feature_candidate_search"
_SELECT = "feature_filter_select"
_ENRICH = "FeatureEnricherRunnable"
_PARALLEL = "feature_lookup_and_retrieval"


class LangChainAssistant:
    """The assistant as ``langchain_featurestore.personalized_rag_chain`` over ``langchain-chroma``.

    The chain is the library's: one ``FeatureLookup`` beside the candidate search, the
    filter applied in memory, the enricher reusing the same vectors, then the prompt
    and the model (here: the optional OpenAI-compatible endpoint).

    Args:
        resources: The shared client, enricher and Chroma client.
        k: Products per answer.
        write_back: Hand every answered turn to it (``with_write_back``: a tap before the
            prompt reads the turn; no callback handler, no extra run).
    """

    framework = "LangChain"

    def __init__(
        self, resources: AssistantResources, k: int = 4, write_back: WriteBack | None = None
    ) -> None:
        from langchain_core.runnables import RunnableLambda

        from langchain_featurestore.chains import personalized_rag_chain
        from langchain_featurestore.retrievers import FeatureFilteredRetriever
        from langchain_featurestore.writeback import with_write_back

        self.resources = resources
        self.k = k
        self.write_back = write_back
        self.vectorstore = langchain_store(resources.chroma)
        self.retriever = FeatureFilteredRetriever(
            vectorstore=self.vectorstore,
            filter_spec=FILTER_SPEC,
            client=resources.client,
            k=k,
            fetch_k=max(20, 5 * k),
        )
        self.chain = personalized_rag_chain(
            self.retriever,
            resources.enricher,
            prompt=RunnableLambda(_chat_messages, name="shopping_prompt"),
            llm=RunnableLambda(self._generate, name="chat_endpoint"),
            task_type=TASK,
        )
        if write_back is not None:
            self.chain = with_write_back(self.chain, write_back)

    def plain(self, question: str) -> list[ProductHit]:
        """Plain vector retrieval: the top ``k`` for the question alone."""
        docs = self.vectorstore.similarity_search(question, k=self.k)
        return [ProductHit.from_metadata(d.metadata, d.page_content) for d in docs]

    def _generate(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        answer, error = generate_answer(self.resources.endpoint, messages)
        return {"messages": messages, "answer": answer, "error": error}

    def ask(self, question: str, user_id: str | None) -> Turn:
        """Answer one question for one user (``None``: anonymous, unfiltered)."""
        trace = _Trace()
        queued_before = self._queued_ms()
        out = self.chain.invoke(
            {"question": question, "user_id": user_id},
            config={"callbacks": [trace.handler]},
        )
        writeback_ms = self._queued_ms() - queued_before
        selected = trace.outputs[_SELECT]
        features = selected.get("features") or {}
        vector = features.get("user") if isinstance(features, Mapping) else features
        vectors = {"user": vector} if vector is not None else {}
        # The enrichment is pure: recomputing it from the same vectors gives the chain's
        # own result with its provenance (the chain only passes the variables on).
        enrichment = self.resources.enricher.enrich_from_vectors(
            question, vectors, task_type=TASK, lookup_latency_ms=trace.ms(_LOOKUP)
        )
        if enrichment.context_block != trace.outputs[_ENRICH].get("feature_context"):
            raise RuntimeError("enrichment is not deterministic: the context blocks differ")
        products = [
            ProductHit.from_metadata(d.metadata, d.page_content) for d in selected["documents"]
        ]
        start = trace.spans[_PARALLEL][0]
        return Turn(
            framework=self.framework,
            user_id=user_id,
            question=question,
            products=products,
            enrichment=enrichment,
            vector=vector,
            messages=out["messages"],
            timings=Timings(
                lookup_ms=trace.ms(_LOOKUP),
                retrieval_ms=trace.ms(_CANDIDATES, _SELECT),
                enrichment_ms=trace.ms(_ENRICH),
                total_ms=(trace.spans[_ENRICH][1] - start) * 1000.0,
                writeback_ms=writeback_ms,
            ),
            answer=out["answer"],
            answer_error=out["error"],
            token_budget=self.resources.enricher.config.max_feature_tokens,
        )

    def _queued_ms(self) -> float:
        return 0.0 if self.write_back is None else self.write_back.stats.submit_ms


def _chat_messages(variables: Mapping[str, Any]) -> list[dict[str, str]]:
    """The prompt step: chat messages from the chain's variables."""
    products = [
        ProductHit.from_metadata(d.metadata, d.page_content) for d in variables["documents"]
    ]
    return build_messages(
        str(variables["question"]), variables.get("feature_context", ""), products
    )
