"""FeatureEnricherRunnable: reuse of prefetched vectors, own lookups, outputs, monitor, events."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate

from langchain_featurestore import FeatureEnricherRunnable, FeatureLookup
from llm_featurestore.enricher import EnricherConfig, EnrichmentResult, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus, FeatureVector
from tests.unit.test_langchain_fakes import CountingClient, DeadBackend, Events, shop_store

CONFIG = EnricherConfig(
    task_features={
        "shop": {"user": ["tier", "favorite_category"], "organization": ["plan"]},
    }
)


def make(output: Any = "prompt", **kwargs: Any) -> tuple[FeatureEnricherRunnable, CountingClient]:
    client = CountingClient(shop_store())
    enricher = FeatureEnricher(client, CONFIG, monitor=kwargs.pop("monitor", None))
    return FeatureEnricherRunnable(enricher, task_type="shop", output=output, **kwargs), client


def user_vector() -> FeatureVector:
    return shop_store().get_features("u1", "user", ["tier", "favorite_category"])


class StubMonitor:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.recorded: list[EnrichmentResult] = []

    def should_read(self, task_type: str | None = None) -> bool:
        return self.enabled

    def record_read(self, store_available: bool) -> None:
        raise AssertionError("prefetched vectors were read elsewhere: nothing to report")

    def record_enrichment(
        self,
        result: EnrichmentResult,
        inference_quality: float | None = None,
        *,
        vectors: object = None,
        store_recorded: bool = False,
    ) -> None:
        self.recorded.append(result)


def test_prefetched_vector_is_used_without_a_lookup() -> None:
    runnable, client = make()
    prompt = runnable.invoke({"question": "What next?", "features": user_vector()})
    assert client.calls == []
    assert prompt.endswith("What next?")
    assert "gold" in prompt
    assert "shoes" in prompt


def test_prefetched_mapping_from_lookup_is_used() -> None:
    runnable, client = make(output="result")
    store_vec = user_vector()
    result = runnable.invoke({"question": "q", "features": {"user": store_vec}})
    assert isinstance(result, EnrichmentResult)
    assert result.features_used == ["user.tier", "user.favorite_category"]
    assert client.calls == []


def test_lookup_then_enrich_reads_the_store_once() -> None:
    runnable, client = make()
    lookup = FeatureLookup(
        client,
        entities={"user": "user_id", "organization": "organization_id"},
        feature_names={"user": ["tier", "favorite_category"], "organization": ["plan"]},
    )
    prompt = (lookup | runnable).invoke({"question": "q", "user_id": "u2", "organization_id": "o1"})
    assert "silver" in prompt
    assert "enterprise" in prompt
    # One call per entity type, run concurrently (so in no fixed order).
    assert sorted(c[1] for c in client.calls) == ["organization", "user"]


def test_without_vectors_the_enricher_looks_up_from_input_and_config() -> None:
    runnable, client = make(output="result")
    result = runnable.invoke({"question": "q", "user_id": "u1"})
    assert result.features_used == ["user.tier", "user.favorite_category"]
    assert client.calls == [(["u1"], "user", ["tier", "favorite_category"])]
    result = runnable.invoke("just text", {"configurable": {"organization_id": "o1"}})
    assert result.features_used == ["organization.plan"]
    assert result.original_prompt == "just text"


async def test_ainvoke_uses_prefetched_vectors_and_own_lookups() -> None:
    runnable, client = make(output="result")
    result = await runnable.ainvoke({"question": "q", "features": user_vector()})
    assert result.features_used == ["user.tier", "user.favorite_category"]
    assert client.calls == []
    result = await runnable.ainvoke({"question": "q", "user_id": "u2"})
    assert "user.tier" in result.features_used
    assert len(client.calls) == 1


def test_variables_output_feeds_a_chat_prompt_template() -> None:
    runnable, _ = make(output="variables")
    template = ChatPromptTemplate.from_messages(
        [("system", "Known facts:\n{feature_context}"), ("human", "{question}")]
    )
    variables = runnable.invoke({"question": "Hello?", "features": user_vector(), "extra": 1})
    assert variables["extra"] == 1
    assert variables["question"] == "Hello?"
    assert "gold" in variables["feature_context"]
    messages = template.invoke(variables).to_messages()
    assert "gold" in str(messages[0].content)
    assert messages[1].content == "Hello?"


def test_features_none_means_no_entity_and_a_passthrough() -> None:
    runnable, client = make(output="result")
    result = runnable.invoke({"question": "q", "features": None, "user_id": "u1"})
    assert result.skipped_reason == "no_entities"
    assert result.enriched_prompt == "q"
    assert client.calls == []


def test_dead_store_vectors_pass_the_prompt_through() -> None:
    runnable, _ = make(output="result")
    dead = FeatureVector.unavailable(
        "u1", "user", ["tier", "favorite_category"], status=FeatureStatus.UNAVAILABLE, source="x"
    )
    result = runnable.invoke({"question": "q", "features": {"user": dead}})
    assert result.enriched_prompt == "q"
    assert result.store_available is False
    assert result.features_used == []


def test_dead_store_own_lookup_never_fails() -> None:
    enricher = FeatureEnricher(DeadBackend(), CONFIG)
    runnable = FeatureEnricherRunnable(enricher, task_type="shop")
    assert runnable.invoke({"question": "q", "user_id": "u1"}) == "q"


def test_monitor_disabled_skips_prefetched_enrichment() -> None:
    monitor = StubMonitor(enabled=False)
    runnable, _ = make(output="result", monitor=monitor)
    result = runnable.invoke({"question": "q", "features": user_vector()})
    assert result.skipped_reason == "monitor_disabled"
    assert result.enriched_prompt == "q"
    assert result.variables["feature_context"] == ""
    assert monitor.recorded == []


def test_monitor_enabled_records_the_result() -> None:
    monitor = StubMonitor(enabled=True)
    runnable, _ = make(output="result", monitor=monitor)
    result = runnable.invoke({"question": "q", "features": user_vector()})
    assert monitor.recorded == [result]


def test_unknown_output_is_rejected() -> None:
    with pytest.raises(FeatureConfigError, match="output must be one of prompt, variables"):
        make(output="text")


def test_missing_prompt_is_a_config_error() -> None:
    runnable, _ = make()
    with pytest.raises(FeatureConfigError, match=r"No prompt string under 'question'.*keys: q"):
        runnable.invoke({"q": "hello"})
    with pytest.raises(FeatureConfigError, match="expects the prompt string or a dict"):
        runnable.invoke(42)


def test_malformed_features_are_a_config_error() -> None:
    runnable, _ = make()
    with pytest.raises(FeatureConfigError, match="features must be a FeatureVector or a mapping"):
        runnable.invoke({"question": "q", "features": {"user": {"tier": "gold"}}})


def test_callback_handler_sees_features_statuses_and_latency() -> None:
    runnable, _ = make()
    handler = Events()
    runnable.invoke({"question": "q", "features": user_vector()}, {"callbacks": [handler]})
    [(name, data)] = handler.events
    assert name == "llm_featurestore.enrichment"
    assert data["features_used"] == ["user.tier", "user.favorite_category"]
    assert data["statuses"] == {"user.tier": "present", "user.favorite_category": "present"}
    assert data["enrichment_latency_ms"] >= 0.0
    assert data["feature_tokens_added"] > 0
    assert data["store_available"] is True
    assert data["skipped_reason"] is None
    assert "gold" not in repr(data)


async def test_async_event_reports_skips() -> None:
    runnable, _ = make()
    handler = Events()
    await runnable.ainvoke({"question": "q"}, {"callbacks": [handler]})
    assert handler.events[0][1]["skipped_reason"] == "no_entities"
