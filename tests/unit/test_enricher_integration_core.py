"""The enricher with the real FeatureCatalog and FeatureMonitor (no servers)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import DropReason, EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureStoreUnavailableError
from llm_featurestore.models import FeatureVector
from llm_featurestore.monitor import FeatureMonitor

TASK = "support"
CONFIG = EnricherConfig(task_features={TASK: {"user": ["tier", "contact", "ltv", "nickname"]}})


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    s.write_features(
        "u1",
        "user",
        {"tier": "gold", "contact": "jane@example.com", "ltv": 1234.5, "nickname": "JJ"},
    )
    return s


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_catalog_labels_and_sensitivity_drive_the_block(store: LocalFeatureStore) -> None:
    catalog = FeatureCatalog(
        [
            FeatureDefinition(name="tier", entity_type="user", label="Loyalty tier"),
            # Not PII by name, but the catalog says so.
            FeatureDefinition(name="contact", entity_type="user", sensitivity="pii"),
            FeatureDefinition(name="ltv", entity_type="user", sensitivity="internal"),
            FeatureDefinition(name="nickname", entity_type="user", sensitivity="confidential"),
        ]
    )
    result = FeatureEnricher(store, CONFIG, catalog=catalog).enrich(
        "q", user_id="u1", task_type=TASK
    )

    assert result.context_block.split("\n")[2:-1] == ["- Loyalty tier: gold", "- LTV: 1234.5"]
    reasons = {p.feature: p.drop_reason for p in result.provenance}
    assert reasons == {
        "tier": None,
        "contact": DropReason.SENSITIVE,
        "ltv": None,
        "nickname": DropReason.SENSITIVE,
    }


def test_catalog_sensitive_feature_can_be_masked_by_policy(store: LocalFeatureStore) -> None:
    catalog = FeatureCatalog(
        [FeatureDefinition(name="contact", entity_type="user", sensitivity="pii")]
    )
    config = CONFIG.model_copy(update={"sensitive_policy": {TASK: {"contact": "mask"}}})
    result = FeatureEnricher(store, config, catalog=catalog).enrich(
        "q", user_id="u1", task_type=TASK
    )
    assert "- Contact: j***@example.com" in result.context_block


def test_monitor_receives_results_and_vectors(store: LocalFeatureStore) -> None:
    monitor = FeatureMonitor(clock=FakeClock())
    enricher = FeatureEnricher(store, CONFIG, monitor=monitor, record_vectors=True)
    enricher.enrich("q", user_id="u1", task_type=TASK)
    enricher.enrich("q", user_id="nobody", task_type=TASK)
    enricher.enrich("q", user_id="u1", task_type="disabled-task")  # skipped: not recorded

    stats = monitor.get_stats()
    assert stats.total_enrichments == 2
    assert stats.successful_enrichments == 1
    assert stats.feature_stats["user.tier"].used == 1
    assert stats.feature_stats["user.tier"].missing == 1
    assert stats.feature_stats["user.ltv"].used == 1
    assert monitor.feature_usage()["user.tier"] == {TASK}
    # The vectors read were passed on for drift: one value and one null.
    assert monitor.current_values("user.tier") == ["gold", None]


def test_vectors_are_not_passed_to_the_monitor_by_default(store: LocalFeatureStore) -> None:
    monitor = FeatureMonitor(clock=FakeClock())
    FeatureEnricher(store, CONFIG, monitor=monitor).enrich("q", user_id="u1", task_type=TASK)
    assert monitor.get_stats().total_enrichments == 1
    assert monitor.current_values("user.tier") == []


class CountingFailingClient(FeatureStoreClient):
    """Fails while ``down`` is True; counts lookups."""

    source = "local"

    def __init__(self, inner: FeatureStoreClient) -> None:
        self.inner, self.down, self.calls = inner, True, 0

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.calls += 1
        if self.down:
            raise FeatureStoreUnavailableError("store is down")
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return not self.down


async def test_monitor_disables_enrichment_after_store_failures_and_recovers(
    store: LocalFeatureStore,
) -> None:
    clock = FakeClock()
    monitor = FeatureMonitor(disable_after_failures=2, cooldown_seconds=30, clock=clock)
    client = CountingFailingClient(store)
    enricher = FeatureEnricher(client, CONFIG, monitor=monitor)

    for _ in range(2):
        result = enricher.enrich("q", user_id="u1", task_type=TASK)
        assert result.store_available is False
    skipped = await enricher.aenrich("q", user_id="u1", task_type=TASK)
    assert skipped.skipped_reason == "monitor_disabled"
    assert skipped.enriched_prompt == "q"
    assert client.calls == 2  # the open gate saved the store a lookup

    client.down = False
    clock.now += 31  # cool-down over: one probe goes through and closes the gate
    probe = enricher.enrich("q", user_id="u1", task_type=TASK)
    assert probe.skipped_reason is None
    assert probe.features_available is True
    after = enricher.enrich("q", user_id="u1", task_type=TASK)
    assert after.skipped_reason is None
    assert client.calls == 4
