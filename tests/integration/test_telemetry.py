"""OpenTelemetry spans and metrics (issue 15 item 1), checked with the OpenTelemetry SDK's
in-memory exporters and its Prometheus exporter, over a real local store behind a
ServingClient."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError, MissingDependencyError
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.serving import CacheConfig, ServingClient
from llm_featurestore.telemetry import hooks, instrument, uninstrument
from llm_featurestore.telemetry.otel import OpenTelemetryInstrumentation
from tests.fixtures.redis import dead_redis_client

SECRET_VALUE = "Secret-Value-7731"
RAW_ID = "user-raw-id-4242"
CONFIG = EnricherConfig(
    task_features={"shop": {"user": ["favorite_category", "tier", "nickname"]}},
    enabled_task_types=["shop"],
)


class Telemetry:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer_provider = tracer_provider

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def tree(self) -> list[tuple[str, str | None]]:
        """(span name, parent span name) in finishing order."""
        spans = self.finished()
        by_id = {s.context.span_id: s.name for s in spans}
        return [(s.name, by_id.get(s.parent.span_id) if s.parent else None) for s in spans]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    out.setdefault(metric.name, []).extend(metric.data.data_points)
        return out


@pytest.fixture
def otel() -> Iterator[Telemetry]:
    telemetry = Telemetry()
    instrument(telemetry.tracer_provider, telemetry.meter_provider)
    yield telemetry
    uninstrument()


def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    s.write_features(RAW_ID, "user", {"favorite_category": "shoes", "nickname": SECRET_VALUE})
    s.write_features("other", "user", {"tier": "gold"})  # the store knows tier; RAW_ID lacks it
    return s


def all_attributes(spans: list[ReadableSpan]) -> list[tuple[str, Any]]:
    return [(k, v) for s in spans for k, v in (s.attributes or {}).items()]


def test_one_enrichment_is_one_span_tree_without_values_or_ids(otel: Telemetry) -> None:
    client = ServingClient(store(), cache=CacheConfig())
    result = FeatureEnricher(client, CONFIG).enrich("Ideas?", RAW_ID, task_type="shop")
    assert SECRET_VALUE in result.context_block  # the value reached the prompt...
    assert otel.tree() == [
        ("llm_featurestore.serving", "llm_featurestore.lookup"),
        ("llm_featurestore.lookup", "llm_featurestore.enrich"),
        ("llm_featurestore.enrich", None),
    ]
    serving, lookup, enrich = (dict(s.attributes or {}) for s in otel.finished())
    assert serving["llmfs.entity_type"] == "user"
    assert serving["llmfs.entities"] == 1
    assert serving["llmfs.cache_hits"] == 0
    assert serving["llmfs.backend_calls"] == 1
    assert serving["llmfs.breaker"] == "closed"
    assert lookup["llmfs.requests"] == 1
    assert lookup["llmfs.features"] == ("user.favorite_category", "user.nickname", "user.tier")
    assert lookup["llmfs.status.present"] == 2
    assert lookup["llmfs.status.not_found"] == 1
    assert enrich["llmfs.task_type"] == "shop"
    assert enrich["llmfs.features_used"] == ("user.favorite_category", "user.nickname")
    assert enrich["llmfs.tokens"] == result.feature_tokens_added
    # ...but no span attribute holds a value or the raw id.
    for key, value in all_attributes(otel.finished()):
        text = str(value)
        for secret in (SECRET_VALUE, RAW_ID, "shoes"):
            assert secret not in text, key
    # A second read is a cache hit, without a backend call.
    FeatureEnricher(client, CONFIG).enrich("Ideas?", RAW_ID, task_type="shop")
    again = dict(otel.finished()[3].attributes or {})
    assert again["llmfs.cache_hits"] == 1
    assert again["llmfs.backend_calls"] == 0


async def test_the_async_path_gives_the_same_tree(otel: Telemetry) -> None:
    enricher = FeatureEnricher(ServingClient(store()), CONFIG)
    await enricher.aenrich("Ideas?", RAW_ID, task_type="shop")
    assert otel.tree() == [
        ("llm_featurestore.serving", "llm_featurestore.lookup"),
        ("llm_featurestore.lookup", "llm_featurestore.enrich"),
        ("llm_featurestore.enrich", None),
    ]


def test_enrich_from_vectors_is_one_enrich_span(otel: Telemetry) -> None:
    enricher = FeatureEnricher(store(), CONFIG)
    vectors = {"user": store().get_features(RAW_ID, "user", ["favorite_category", "tier"])}
    enricher.enrich_from_vectors("Ideas?", vectors, "shop")
    assert otel.tree() == [("llm_featurestore.enrich", None)]


def test_a_dead_store_is_a_degraded_lookup_and_an_open_breaker(otel: Telemetry) -> None:
    client = ServingClient(dead_redis_client(), timeout_ms=2000)
    enricher = FeatureEnricher(client, CONFIG)
    for _ in range(6):  # the breaker opens after five failures
        result = enricher.enrich("Ideas?", "u1", task_type="shop")
        assert not result.store_available
    serving = [dict(s.attributes or {}) for s in otel.finished() if s.name.endswith("serving")]
    assert serving[0]["llmfs.status.unavailable"] == 3
    assert serving[-1]["llmfs.breaker"] == "open"
    metrics = otel.metrics()
    open_points = [p.value for p in metrics["llmfs.serving.breaker_open"]]
    assert 1 in open_points
    fallbacks = {p.attributes["source"]: p.value for p in metrics["llmfs.serving.fallbacks"]}
    assert fallbacks["redis"] >= 6


def test_metrics_count_operations_latency_tokens_and_feature_rates(otel: Telemetry) -> None:
    monitor = FeatureMonitor()
    client = ServingClient(store(), cache=CacheConfig())
    enricher = FeatureEnricher(client, CONFIG, monitor=monitor, record_vectors=True)
    for _ in range(3):
        enricher.enrich("Ideas?", RAW_ID, task_type="shop")
    enricher.enrich("Ideas?", None, task_type="shop")  # no entity: skipped
    monitor.set_baseline("user.favorite_category", ["shoes", "shoes", "hats", "hats"])
    metrics = otel.metrics()
    ops = {
        (p.attributes["operation"], p.attributes["outcome"]): p.value
        for p in metrics["llmfs.operations"]
    }
    assert ops[("enrich", "ok")] == 3
    assert ops[("enrich", "skipped")] == 1
    assert ops[("lookup", "ok")] == 3
    assert ops[("serving", "ok")] == 3
    durations = {p.attributes["operation"]: p.count for p in metrics["llmfs.operation.duration"]}
    assert durations["enrich"] == 4
    (tokens,) = metrics["llmfs.enrichment.tokens"]
    assert tokens.count == 3
    assert tokens.sum > 0
    hits = {p.attributes["source"]: p.value for p in metrics["llmfs.serving.cache_hits"]}
    assert hits["local"] >= 2
    missing = {p.attributes["feature"]: p.value for p in metrics["llmfs.feature.missing_rate"]}
    assert missing["user.tier"] == 1.0
    assert missing["user.favorite_category"] == 0.0
    psi = {p.attributes["feature"]: p.value for p in metrics["llmfs.feature.drift_psi"]}
    assert psi["user.favorite_category"] > 0.0  # all "shoes" against a half-"hats" baseline


def test_hashed_entity_ids_need_a_salt(monkeypatch: pytest.MonkeyPatch, otel: Telemetry) -> None:
    monkeypatch.delenv("LLM_FEATURESTORE_HASH_SALT", raising=False)
    with pytest.raises(FeatureConfigError, match="hash_entity_ids needs a salt: set LLM_FEATURE"):
        OpenTelemetryInstrumentation(otel.tracer_provider, hash_entity_ids=True)
    monkeypatch.setenv("LLM_FEATURESTORE_HASH_SALT", "s3cret")
    instrument(otel.tracer_provider, otel.meter_provider, hash_entity_ids=True)
    FeatureEnricher(store(), CONFIG).enrich("Ideas?", RAW_ID, task_type="shop")
    FeatureEnricher(store(), CONFIG).enrich("Ideas?", RAW_ID, task_type="shop")
    lookups = [dict(s.attributes or {}) for s in otel.finished() if s.name.endswith("lookup")]
    first, second = (a["llmfs.entity_ids"] for a in lookups)
    assert first == second
    assert len(first) == 1
    assert len(first[0]) == 16
    assert RAW_ID not in first[0]


def test_prometheus_exposition_through_opentelemetrys_exporter() -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import REGISTRY, generate_latest

    # The README's one-liner (shutdown_on_exit off only because the test shuts it down).
    provider = MeterProvider(metric_readers=[PrometheusMetricReader()], shutdown_on_exit=False)
    instrument(meter_provider=provider)
    client = ServingClient(store())  # metrics read live clients only
    try:
        FeatureEnricher(client, CONFIG).enrich("Ideas?", RAW_ID, task_type="shop")
        text = generate_latest(REGISTRY).decode()
    finally:
        uninstrument()
        provider.shutdown()
    enrich = r'llmfs_operations_total\{operation="enrich",[^}]*outcome="ok"\} 1\.0'
    assert re.search(enrich, text), text
    assert re.search(r'llmfs_serving_requests_total\{[^}]*source="local"[^}]*\} \d', text)


def test_without_instrumentation_spans_are_one_shared_no_op() -> None:
    assert hooks.active() is None
    with hooks.span("lookup", requests=1) as first, hooks.span("serving") as second:
        assert first is second
        first.set(anything=1)
        first.vectors([])


def test_a_missing_opentelemetry_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(MissingDependencyError, match="otel"):
        instrument()
    assert hooks.active() is None


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_a_filtered_retrieval_is_a_span_with_counts_only(otel: Telemetry, framework: str) -> None:
    from llm_featurestore.filters import FeatureFilterSpec, FilterRule

    spec = FeatureFilterSpec(rules=[FilterRule(field="nick", op="eq", feature="nickname")])
    client = ServingClient(store())
    texts = ["match", "other"]
    metas = [{"nick": SECRET_VALUE}, {"nick": "someone"}]
    if framework == "langchain":
        from langchain_core.embeddings import DeterministicFakeEmbedding
        from langchain_core.vectorstores import InMemoryVectorStore

        from langchain_featurestore import FeatureFilteredRetriever

        vs = InMemoryVectorStore(DeterministicFakeEmbedding(size=16))
        vs.add_texts(texts, metadatas=metas)
        lc = FeatureFilteredRetriever(vectorstore=vs, filter_spec=spec, client=client, k=2)
        docs = lc.invoke({"query": "q", "user_id": RAW_ID})
        assert [d.page_content for d in docs] == ["match"]
    else:
        from llama_index.core import VectorStoreIndex
        from llama_index.core.schema import TextNode

        from llamaindex_featurestore.context import FeatureQueryBundle
        from llamaindex_featurestore.retriever import FeatureFilteredRetriever as LiRetriever
        from llamaindex_featurestore.testing import HashingEmbedding

        nodes = [TextNode(text=t, metadata=m) for t, m in zip(texts, metas, strict=True)]
        index = VectorStoreIndex(nodes, embed_model=HashingEmbedding())
        li = LiRetriever(index, client, spec, similarity_top_k=2)
        got = li.retrieve(FeatureQueryBundle("q", user_id=RAW_ID))
        assert [n.node.get_content() for n in got] == ["match"]
    retrieval = [s for s in otel.finished() if s.name == "llm_featurestore.retrieval"]
    assert len(retrieval) == 1
    attrs = dict(retrieval[0].attributes or {})
    assert attrs["llmfs.framework"] == framework
    assert attrs["llmfs.conditions"] == 1
    assert attrs["llmfs.filtered"] == 1
    assert attrs["llmfs.status.present"] == 1
    for key, value in all_attributes(otel.finished()):
        for secret in (SECRET_VALUE, RAW_ID):
            assert secret not in str(value), key
