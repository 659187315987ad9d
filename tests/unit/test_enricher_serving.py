"""The enricher behind the serving layer: cold-start defaults and a store that hangs."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import pytest

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import DropReason, EnricherConfig, FeatureEnricher
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import ServingClient

CONFIG = EnricherConfig(task_features={"support": {"user": ["tier", "product_owned"]}})


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    s.write_features("u1", "user", {"tier": "gold", "product_owned": ["watch", "phone"]})
    return s


async def test_cold_start_defaults_stay_out_of_the_prompt_by_default(
    store: LocalFeatureStore,
) -> None:
    store.write_features("u2", "user", {"orders_90d": 3})
    client = ServingClient(store, timeout_ms=None, defaults={"user": {"orders_90d": 0}})
    config = EnricherConfig(task_features={"support": {"user": ["tier", "orders_90d"]}})
    enricher = FeatureEnricher(client, config)
    for result in (
        enricher.enrich("q", user_id="new-user", task_type="support"),
        await enricher.aenrich("q", user_id="new-user", task_type="support"),
    ):
        assert result.enriched_prompt == "q"  # never "- Orders 90d: 0" about an unknown user
        tier, orders = result.provenance
        assert (orders.status, orders.drop_reason) == (
            FeatureStatus.DEFAULTED,
            DropReason.DEFAULTED,
        )
        assert (tier.status, tier.drop_reason) == (FeatureStatus.NOT_FOUND, DropReason.MISSING)


async def test_cold_start_defaults_reach_the_prompt_as_defaults_when_the_task_opts_in(
    store: LocalFeatureStore,
) -> None:
    client = ServingClient(store, timeout_ms=None, defaults={"user": {"tier": "standard"}})
    config = EnricherConfig.model_validate(
        {**CONFIG.model_dump(), "defaults_in_prompt": ["support"]}
    )
    enricher = FeatureEnricher(client, config)
    for result in (
        enricher.enrich("q", user_id="new-user", task_type="support"),
        await enricher.aenrich("q", user_id="new-user", task_type="support"),
    ):
        assert result.context_block.split("\n")[2:-1] == ["- Tier: unknown (default standard)"]
        tier, owned = result.provenance
        assert (tier.status, tier.used, tier.age_seconds) == (FeatureStatus.DEFAULTED, True, None)
        assert (owned.status, owned.drop_reason) == (FeatureStatus.NOT_FOUND, DropReason.MISSING)


class HangingClient(FeatureStoreClient):
    """Blocks every read until released (the test releases it on teardown)."""

    source = "local"

    def __init__(self, inner: FeatureStoreClient) -> None:
        self.inner = inner
        self.release = threading.Event()

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.release.wait(timeout=10)
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return True


@pytest.fixture
def hanging(store: LocalFeatureStore) -> Iterator[HangingClient]:
    client = HangingClient(store)
    yield client
    client.release.set()


async def test_a_hanging_store_times_out_into_a_pass_through(hanging: HangingClient) -> None:
    serving = ServingClient(hanging, timeout_ms=50, circuit_breaker=None)
    enricher = FeatureEnricher(serving, CONFIG)
    try:
        for result in (
            enricher.enrich("q", user_id="u1", task_type="support"),
            await enricher.aenrich("q", user_id="u1", task_type="support"),
        ):
            assert result.enriched_prompt == "q"
            assert result.store_available is False
            assert result.skipped_reason is None
            assert {(p.status, p.drop_reason) for p in result.provenance} == {
                (FeatureStatus.TIMED_OUT, DropReason.UNAVAILABLE)
            }
    finally:
        hanging.release.set()
        serving.close()
