"""FeatureCatalog.from_feast against a real Feast registry built by `feast apply`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_featurestore.catalog import FeatureCatalog
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.monitor import FeatureMonitor

pytestmark = pytest.mark.integration

PROJECT = "catalog_test"


def _write_config(repo: Path) -> None:
    config = {
        "project": PROJECT,
        "provider": "local",
        "registry": {"path": str(repo / "registry.db"), "cache_ttl_seconds": 0},
        "online_store": {"type": "sqlite", "path": str(repo / "online.db")},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }
    (repo / "feature_store.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def _objects(repo: Path, *, bad_sensitivity: bool = False) -> list[Any]:
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.types import Array, Float64, Int64, String

    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)
    product = Entity(name="product", join_keys=["product_id"], value_type=ValueType.STRING)
    user_source = FileSource(
        name="user_orders",
        path=str(repo / "user_orders.parquet"),
        timestamp_field="event_timestamp",
    )
    stats = FeatureView(
        name="user_stats",
        entities=[user],
        ttl=timedelta(days=1),
        source=user_source,
        owner="growth@example.com",
        description="Order statistics per user",
        tags={"team": "growth", "sensitivity": "internal"},
        schema=[
            Field(
                name="avg_order_value",
                dtype=Float64,
                description="Mean order value over 90 days",
                tags={"label": "Average order value", "sensitivity": "public"},
            ),
            Field(name="purchases_30d", dtype=Int64, description="Orders in the last 30 days"),
            Field(name="recent_categories", dtype=Array(String), description="Last categories"),
            Field(
                name="email",
                dtype=String,
                description="Contact address",
                tags={
                    "sensitivity": "secret" if bad_sensitivity else "pii",
                    "owner": "privacy@example.com",
                },
            ),
        ],
    )
    extra = FeatureView(
        name="user_extra",
        entities=[user],
        ttl=timedelta(0),
        source=FileSource(
            name="user_extra_src",
            path=str(repo / "user_orders.parquet"),
            timestamp_field="event_timestamp",
        ),
        tags={"version": "3"},
        schema=[
            Field(name="purchases_30d", dtype=Int64, description="Duplicate name on purpose"),
            Field(name="loyalty_tier", dtype=String),
        ],
    )
    user_product = FeatureView(  # composite key: the Feast client cannot serve it
        name="user_product",
        entities=[user, product],
        ttl=timedelta(0),
        source=user_source,
        schema=[Field(name="affinity", dtype=Float64)],
    )
    recs = FeatureService(name="recs", features=[stats[["avg_order_value", "purchases_30d"]]])
    support = FeatureService(name="support", features=[stats[["avg_order_value"]], extra])
    return [user, product, stats, extra, user_product, recs, support]


def _build_repo(repo: Path, *, bad_sensitivity: bool = False) -> Path:
    import pandas as pd  # type: ignore[import-untyped]
    from feast import FeatureStore

    repo.mkdir(parents=True)
    _write_config(repo)
    pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "product_id": ["p1", "p2"],
            "avg_order_value": [42.5, 17.0],
            "purchases_30d": [3, 1],
            "recent_categories": [["shoes", "belts"], ["books"]],
            "email": ["a@example.com", "b@example.com"],
            "loyalty_tier": ["gold", "silver"],
            "affinity": [0.3, 0.9],
            "event_timestamp": [datetime.now(timezone.utc)] * 2,
        }
    ).to_parquet(repo / "user_orders.parquet")
    FeatureStore(repo_path=str(repo)).apply(_objects(repo, bad_sensitivity=bad_sensitivity))
    return repo


@pytest.fixture(scope="module")
def feast_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_repo(tmp_path_factory.mktemp("catalog") / "repo")


@pytest.fixture(scope="module")
def catalog(feast_repo: Path) -> FeatureCatalog:
    return FeatureCatalog.from_feast(feast_repo)


def test_fields_dtypes_descriptions_and_ttl(catalog: FeatureCatalog, feast_repo: Path) -> None:
    assert catalog.entity_types() == ["user"]  # composite-key view skipped
    assert [d.ref for d in catalog.list("user")] == [
        "user_stats:avg_order_value",
        "user_stats:email",
        "user_extra:loyalty_tier",
        "user_extra:purchases_30d",
        "user_stats:purchases_30d",
        "user_stats:recent_categories",
    ]
    aov = catalog.get("user", "avg_order_value")
    assert aov is not None
    assert aov.dtype == "Float64"
    assert aov.description == "Mean order value over 90 days"
    assert aov.ttl_seconds == 86400
    assert aov.feature_view == "user_stats"
    cats = catalog.get("user", "recent_categories")
    assert cats is not None
    assert cats.dtype == "Array(String)"
    tier = catalog.get("user", "loyalty_tier")
    assert tier is not None
    assert tier.ttl_seconds is None  # Feast's zero ttl: never expires
    assert tier.description == ""


def test_tags_label_sensitivity_owner_and_version(catalog: FeatureCatalog) -> None:
    aov = catalog.get("user", "avg_order_value")
    email = catalog.get("user", "email")
    cats = catalog.get("user", "recent_categories")
    tier = catalog.get("user", "loyalty_tier")
    assert aov is not None
    assert email is not None
    assert cats is not None
    assert tier is not None
    assert aov.label == "Average order value"
    assert aov.display_label == "Average order value"
    assert aov.sensitivity == "public"  # field tag overrides the view's "internal"
    assert cats.sensitivity == "internal"  # inherited from the view
    assert cats.label is None
    assert cats.display_label == "Recent categories"
    assert email.sensitivity == "pii"
    assert email.is_sensitive
    assert catalog.sensitive_features("user") == ["email", "user_stats:email"]
    assert email.owner == "privacy@example.com"  # field tag beats the view owner
    assert aov.owner == "growth@example.com"
    assert aov.tags == {"team": "growth", "sensitivity": "public", "label": "Average order value"}
    assert tier.version == "3"


def test_lineage_sources_services_and_task_usage(catalog: FeatureCatalog, feast_repo: Path) -> None:
    from llm_featurestore.enricher import EnrichmentResult, FeatureProvenance
    from llm_featurestore.models import FeatureStatus

    used = FeatureProvenance(
        feature="avg_order_value",
        entity_type="user",
        entity_id="u1",
        source="feast",
        status=FeatureStatus.PRESENT,
        age_seconds=5.0,
        used=True,
        label="Average order value",
    )
    result = EnrichmentResult(
        original_prompt="q",
        enriched_prompt="q",
        task_type="product_recommendation",
        features_used=["user.avg_order_value"],
        feature_tokens_added=8,
        enrichment_latency_ms=1.0,
        features_available=True,
        provenance=[used],
    )
    monitor = FeatureMonitor()
    monitor.record_enrichment(result)
    lineage = catalog.lineage("user", "avg_order_value", monitor)
    assert lineage.feature_view == "user_stats"
    assert lineage.data_source == "user_orders"
    assert lineage.source_type == "FileSource"
    assert lineage.source_path == str(feast_repo / "user_orders.parquet")
    assert lineage.feature_services == ["recs", "support"]
    assert lineage.task_types == ["product_recommendation"]
    assert lineage.owner == "growth@example.com"
    extra = catalog.lineage("user", "user_extra:purchases_30d")
    assert extra.data_source == "user_extra_src"
    assert extra.feature_services == ["support"]
    assert catalog.lineage("user", "user_stats:purchases_30d").feature_services == ["recs"]


def test_ambiguous_and_unknown_names(catalog: FeatureCatalog) -> None:
    assert catalog.get("user", "purchases_30d") is None
    with pytest.raises(FeatureConfigError) as info:
        catalog.lineage("user", "purchases_30d")
    assert str(info.value) == (
        "Ambiguous feature 'purchases_30d' for entity 'user': it is in 2 feature views. "
        "Use one of: user_extra:purchases_30d, user_stats:purchases_30d"
    )
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown feature 'budget'\. Available for entity 'user': avg_order_value, email,",
    ):
        catalog.lineage("user", "budget")
    with pytest.raises(
        FeatureConfigError, match=r"Unknown entity type 'product'\. Available for the catalog: user"
    ):
        catalog.lineage("product", "affinity")


def test_search_over_feast_metadata(catalog: FeatureCatalog) -> None:
    assert [d.name for d in catalog.search("order value")] == ["avg_order_value"]
    assert [d.name for d in catalog.search("contact")] == ["email"]
    assert [d.ref for d in catalog.search("growth")][:1] == ["user_stats:avg_order_value"]


def test_accepts_an_open_feature_store(feast_repo: Path, catalog: FeatureCatalog) -> None:
    from feast import FeatureStore

    again = FeatureCatalog.from_feast(FeatureStore(repo_path=str(feast_repo)))
    assert again.list() == catalog.list()
    # and round-trips through the YAML shape
    assert FeatureCatalog.from_yaml(again.to_dict()).list() == catalog.list()


def test_a_repo_path_reuses_the_feast_clients_store(
    feast_repo: Path, catalog: FeatureCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feast

    from llm_featurestore.clients.feast import FeastClient, shared_feature_store

    client = FeastClient(feast_repo)
    assert client.store is shared_feature_store(feast_repo)

    def no_second_store(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a second FeatureStore was opened")

    monkeypatch.setattr(feast, "FeatureStore", no_second_store)
    assert FeatureCatalog.from_feast(feast_repo).list() == catalog.list()
    assert FeatureCatalog.from_feast(client).list() == catalog.list()


def test_catalog_and_client_agree_on_names(feast_repo: Path, catalog: FeatureCatalog) -> None:
    from llm_featurestore.clients.feast import FeastClient

    assert catalog.names("user") == FeastClient(feast_repo).list_features("user")


def test_bad_sensitivity_tag_names_view_and_field(tmp_path: Path) -> None:
    repo = _build_repo(tmp_path / "bad", bad_sensitivity=True)
    with pytest.raises(FeatureConfigError) as info:
        FeatureCatalog.from_feast(repo)
    assert str(info.value) == (
        "Feast feature view 'user_stats', field 'email': tag sensitivity='secret' is not one "
        "of public, internal, confidential, pii"
    )


def test_missing_repo_explains(tmp_path: Path) -> None:
    with pytest.raises(
        FeatureConfigError, match=r"^No Feast repo at .*nowhere: feature_store\.yaml not found"
    ):
        FeatureCatalog.from_feast(tmp_path / "nowhere")


def test_unreadable_registry_explains() -> None:
    class Broken:
        def list_feature_views(self, allow_cache: bool = False) -> list[Any]:
            raise RuntimeError("registry.db is locked")

    with pytest.raises(
        FeatureConfigError, match=r"Cannot read the Feast registry: registry\.db is locked"
    ):
        FeatureCatalog.from_feast(Broken())
