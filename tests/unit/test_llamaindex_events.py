"""LlamaIndex instrumentation events of the adapter (issue 15 item 2): each component's
read, enrichment and rerank reach the dispatcher's event handlers, inside the
component's own span, with the LangChain events' payload shapes and no feature values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from llamaindex_featurestore._events import (
    FeatureEnrichmentEvent,
    FeatureLookupEvent,
    FeatureRerankEvent,
)
from llamaindex_featurestore.context import FeatureQueryBundle
from llamaindex_featurestore.postprocessor import FeatureContextPostprocessor
from llamaindex_featurestore.rerank import FeatureRerankPostprocessor
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.telemetry.summaries import enrichment_summary

SECRET = "Secret-Brand-9911"
SPEC = FeatureFilterSpec(rules=[FilterRule(field="brand", op="eq", feature="favorite_brand")])
CONFIG = EnricherConfig(task_features={"shop": {"user": ["favorite_brand", "tier"]}})


class Collect(BaseEventHandler):
    events: list[BaseEvent] = []

    @classmethod
    def class_name(cls) -> str:
        return "Collect"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if event.class_name().startswith("Feature"):
            self.events.append(event)


@pytest.fixture
def handler() -> Iterator[Collect]:
    root = get_dispatcher()
    collect = Collect(events=[])
    root.add_event_handler(collect)
    yield collect
    root.event_handlers.remove(collect)


def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    s.write_features("u1", "user", {"favorite_brand": SECRET, "tier": "gold"})
    return s


def nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(node=TextNode(id_="a", text="a", metadata={"brand": "other"}), score=0.9),
        NodeWithScore(node=TextNode(id_="b", text="b", metadata={"brand": SECRET}), score=0.5),
    ]


def no_values(events: list[BaseEvent]) -> None:
    for event in events:
        assert SECRET not in json.dumps(event.payload), event.class_name()  # type: ignore[attr-defined]


def test_a_context_postprocessor_reports_its_read_and_its_enrichment(handler: Collect) -> None:
    post = FeatureContextPostprocessor(client=store(), config=CONFIG, task_type="shop")
    out = post.postprocess_nodes(nodes(), FeatureQueryBundle("Ideas?", user_id="u1"))
    assert SECRET in out[0].node.get_content()  # the block reached the nodes...
    lookup, enrichment = handler.events
    assert isinstance(lookup, FeatureLookupEvent)
    assert lookup.component == "FeatureContextPostprocessor"
    assert lookup.payload["fetched"] is True
    assert lookup.payload["entities"]["user"]["statuses"] == {
        "favorite_brand": "present",
        "tier": "present",
    }
    assert isinstance(enrichment, FeatureEnrichmentEvent)
    assert enrichment.payload["features_used"] == ["user.favorite_brand", "user.tier"]
    assert enrichment.payload["feature_tokens_added"] > 0
    assert set(enrichment.payload) == set(enrichment_summary_keys())
    # ...but no event holds a value, and both belong to the postprocessor's span.
    no_values(handler.events)
    assert lookup.span_id is not None
    assert lookup.span_id == enrichment.span_id
    assert lookup.span_id.startswith("FeatureContextPostprocessor.")


def enrichment_summary_keys() -> list[str]:
    from llm_featurestore.enricher import FeatureEnricher

    result = FeatureEnricher(store(), CONFIG).enrich("q", "u1", task_type="shop")
    return list(enrichment_summary(result))


async def test_a_rerank_reports_its_read_and_what_it_did(handler: Collect) -> None:
    post = FeatureRerankPostprocessor(store(), SPEC, weights=[1.0], top_n=1)
    out = await post.apostprocess_nodes(nodes(), QueryBundle("Ideas?"))
    assert [n.node.node_id for n in out] == ["a"]  # no user: nothing boosted
    out = await post.apostprocess_nodes(nodes(), FeatureQueryBundle("Ideas?", user_id="u1"))
    assert [n.node.node_id for n in out] == ["b"]
    rerank_events = [e for e in handler.events if isinstance(e, FeatureRerankEvent)]
    assert len(rerank_events) == 2
    last = rerank_events[-1].payload
    assert (last["nodes_in"], last["nodes_out"]) == (2, 1)
    assert last["statuses"] == {"favorite_brand": "present"}
    assert last["features"] == ["favorite_brand"]
    no_values(handler.events)


def test_a_read_the_monitor_refused_is_reported_as_skipped(handler: Collect) -> None:
    from llm_featurestore.monitor import FeatureMonitor

    monitor = FeatureMonitor(disable_after_failures=1)
    monitor.record_read(False)  # the store gate opens
    post = FeatureRerankPostprocessor(store(), SPEC, weights=[1.0], monitor=monitor)
    post.postprocess_nodes(nodes(), FeatureQueryBundle("Ideas?", user_id="u1"))
    (lookup,) = [e for e in handler.events if isinstance(e, FeatureLookupEvent)]
    assert lookup.payload["skipped_reason"] == "monitor_disabled"
    assert lookup.payload["fetched"] is False


def index_of(docs: list[NodeWithScore]) -> Any:
    from llama_index.core import VectorStoreIndex

    from llamaindex_featurestore.testing import HashingEmbedding

    return VectorStoreIndex([d.node for d in docs], embed_model=HashingEmbedding())


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_filtered_retrieval_reports_its_read_and_its_result(
    handler: Collect, use_async: bool
) -> None:
    from llamaindex_featurestore._events import FeatureRetrievalEvent
    from llamaindex_featurestore.retriever import FeatureFilteredRetriever

    retriever = FeatureFilteredRetriever(
        index_of(nodes()), store(), SPEC, similarity_top_k=2, backfill=True
    )
    query = FeatureQueryBundle("Ideas?", user_id="u1")
    got = await retriever.aretrieve(query) if use_async else retriever.retrieve(query)
    assert [n.node.node_id for n in got] == ["b", "a"]
    lookup, retrieval = handler.events
    assert isinstance(lookup, FeatureLookupEvent)
    assert lookup.component == "FeatureFilteredRetriever"
    assert isinstance(retrieval, FeatureRetrievalEvent)
    payload = retrieval.payload
    assert (payload["conditions"], payload["filtered"], payload["backfilled"]) == (1, 1, 1)
    assert payload["statuses"] == {"favorite_brand": "present"}
    assert payload["k"] == 2
    assert lookup.span_id == retrieval.span_id
    assert retrieval.span_id is not None
    assert retrieval.span_id.startswith("FeatureFilteredRetriever.")
    no_values(handler.events)
