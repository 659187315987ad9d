"""The monitor and the catalog wired into the real FeatureEnricher over an in-memory store."""

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

TASK = "customer_support"


class FlakyStore(FeatureStoreClient):
    """A LocalFeatureStore that can be switched off; counts the reads."""

    source = "local"

    def __init__(self, inner: LocalFeatureStore) -> None:
        self.inner = inner
        self.down = False
        self.reads = 0

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.reads += 1
        if self.down:
            raise FeatureStoreUnavailableError("connection refused (test)")
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return not self.down


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store() -> FlakyStore:
    local = LocalFeatureStore()
    local.write_features("u1", "user", {"tier": "gold", "email": "a@example.com", "plan": "pro"})
    local.write_features("u2", "user", {"tier": "silver", "email": "b@example.com", "plan": "free"})
    local.write_features("known_elsewhere", "user", {"other": 1})
    return FlakyStore(local)


def config() -> EnricherConfig:
    return EnricherConfig(
        task_features={TASK: {"user": ["tier", "plan", "email"]}},
        detect_pii_names=False,  # sensitivity comes from the catalog in these tests
    )


def test_store_outage_disables_enrichment_and_a_probe_restores_it(store: FlakyStore) -> None:
    clock = FakeClock()
    monitor = FeatureMonitor(disable_after_failures=3, cooldown_seconds=30, clock=clock)
    enricher = FeatureEnricher(store, config(), monitor=monitor)

    assert enricher.enrich("Where is my order?", user_id="u1", task_type=TASK).features_available
    store.down = True
    for _ in range(3):
        failed = enricher.enrich("Where is my order?", user_id="u1", task_type=TASK)
        assert not failed.store_available
    reads = store.reads
    skipped = enricher.enrich("Where is my order?", user_id="u1", task_type=TASK)
    assert skipped.skipped_reason == "monitor_disabled"
    assert skipped.enriched_prompt == "Where is my order?"
    assert store.reads == reads  # the dead store is not even asked
    stats = monitor.get_stats()
    assert not stats.store_enabled
    assert stats.feature_store_availability_pct == 25.0
    assert stats.feature_stats["user.tier"].unavailable == 3

    store.down = False
    clock.now = 30.0
    probe = enricher.enrich("Where is my order?", user_id="u2", task_type=TASK)
    assert probe.features_available  # the probe went through and succeeded
    after = enricher.enrich("Where is my order?", user_id="u1", task_type=TASK)
    assert after.skipped_reason is None
    assert after.features_available
    stats = monitor.get_stats()
    assert stats.store_enabled
    assert stats.total_enrichments == 6  # monitor-disabled pass-throughs are not recorded
    assert stats.successful_enrichments == 3


def test_failed_probe_keeps_enrichment_off(store: FlakyStore) -> None:
    clock = FakeClock()
    monitor = FeatureMonitor(disable_after_failures=1, cooldown_seconds=10, clock=clock)
    enricher = FeatureEnricher(store, config(), monitor=monitor)
    store.down = True
    enricher.enrich("hi", user_id="u1", task_type=TASK)
    clock.now = 10.0
    probe = enricher.enrich("hi", user_id="u1", task_type=TASK)
    assert probe.skipped_reason is None
    assert not probe.store_available
    assert enricher.enrich("hi", user_id="u1", task_type=TASK).skipped_reason == "monitor_disabled"
    store.down = False
    clock.now = 19.0
    assert enricher.enrich("hi", user_id="u1", task_type=TASK).skipped_reason == "monitor_disabled"
    clock.now = 20.0
    assert enricher.enrich("hi", user_id="u1", task_type=TASK).features_available


def test_quality_scored_afterwards_turns_a_useless_task_off(store: FlakyStore) -> None:
    monitor = FeatureMonitor(quality_min_samples=3, cooldown_seconds=60, clock=FakeClock())
    enricher = FeatureEnricher(store, config(), monitor=monitor)
    for _ in range(3):
        with_features = enricher.enrich("Reset my password", user_id="u1", task_type=TASK)
        monitor.record_quality(with_features, 0.6)
        # A user the store knows nothing useful about: enrichment ran, nothing added.
        without = enricher.enrich("Reset my password", user_id="new_user", task_type=TASK)
        assert not without.features_available
        monitor.record_quality(without, 0.7)
    result = enricher.enrich("Reset my password", user_id="u1", task_type=TASK)
    assert result.skipped_reason == "monitor_disabled"
    task = monitor.get_stats().task_stats[TASK]
    assert not task.enabled
    assert task.quality_with_features == pytest.approx(0.6)
    assert task.quality_without_features == pytest.approx(0.7)
    assert monitor.get_stats().total_enrichments == 6


def test_catalog_labels_sensitivity_and_lineage_through_the_enricher(store: FlakyStore) -> None:
    catalog = FeatureCatalog(
        [
            FeatureDefinition(name="tier", entity_type="user", label="Loyalty tier"),
            FeatureDefinition(name="plan", entity_type="user", description="Billing plan"),
            FeatureDefinition(name="email", entity_type="user", sensitivity="pii"),
        ]
    )
    monitor = FeatureMonitor()
    enricher = FeatureEnricher(store, config(), catalog=catalog, monitor=monitor)
    result = enricher.enrich("Upgrade options?", user_id="u1", task_type=TASK)
    assert "Loyalty tier: gold" in result.enriched_prompt
    assert "Plan: pro" in result.enriched_prompt
    assert "a@example.com" not in result.enriched_prompt
    email = next(p for p in result.provenance if p.feature == "email")
    assert email.drop_reason is DropReason.SENSITIVE
    assert catalog.lineage("user", "tier", monitor).task_types == [TASK]
    assert catalog.lineage("user", "email", monitor).task_types == []  # dropped, never used
    rates = monitor.get_stats().feature_stats
    assert rates["user.email"].used_rate == 0.0
    assert rates["user.tier"].used_rate == 1.0


def test_drift_fed_from_the_vectors_the_enricher_fetched(store: FlakyStore) -> None:
    monitor = FeatureMonitor()
    monitor.set_baseline("user.tier", ["gold"] * 50 + ["silver"] * 50)
    enricher = FeatureEnricher(store, config(), monitor=monitor)
    for user in ["u1"] * 9 + ["u2"]:  # 90% gold now
        plan = enricher.plan(user_id=user, task_type=TASK)
        vectors = enricher.fetch(plan)  # fetch once...
        enricher.enrich_from_vectors("q", vectors, TASK)  # ...enrich (records the result)...
        for vector in vectors.values():  # ...and feed the same vectors to the drift windows
            monitor.record_vector(vector)
    report = monitor.drift_report("user.tier")
    assert report.current_count == 10
    assert report.current_fractions[:2] == [pytest.approx(0.9), pytest.approx(0.1)]
    assert report.severity == "significant"
    assert monitor.get_stats().total_enrichments == 10
