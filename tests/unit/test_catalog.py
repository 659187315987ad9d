"""FeatureCatalog: definitions, YAML loading and its errors, search ranking, lineage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import ValidationError

from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus
from llm_featurestore.monitor import FeatureMonitor

if TYPE_CHECKING:
    from llm_featurestore.enricher import EnrichmentResult

YAML = """\
version: 1
features:
  - name: avg_order_value
    entity_type: user
    dtype: float64
    description: Mean value of the user's orders over 90 days
    label: Average order value
    owner: growth@example.com
    tags: {team: growth}
    version: 2
    ttl_seconds: 86400
    source: orders_daily
    source_path: /data/orders.parquet
    feature_view: user_stats
    feature_services: [recs]
  - name: favorite_category
    entity_type: user
    description: Category the user buys most often
    feature_view: user_stats
  - name: email
    entity_type: user
    description: Contact address
    sensitivity: pii
  - name: brand_voice
    entity_type: organization
    description: How the company writes, e.g. friendly and concise
    tags: {domain: marketing}
"""


@pytest.fixture
def catalog(tmp_path: Path) -> FeatureCatalog:
    path = tmp_path / "catalog.yaml"
    path.write_text(YAML, encoding="utf-8")
    return FeatureCatalog.from_yaml(path)


def test_from_yaml_loads_every_field(catalog: FeatureCatalog) -> None:
    assert len(catalog) == 4
    aov = catalog.get("user", "avg_order_value")
    assert aov is not None
    assert aov.dtype == "float64"
    assert aov.label == "Average order value"
    assert aov.display_label == "Average order value"
    assert aov.owner == "growth@example.com"
    assert aov.tags == {"team": "growth"}
    assert aov.version == 2
    assert aov.ttl_seconds == 86400
    assert aov.source == "orders_daily"
    assert aov.source_path == "/data/orders.parquet"
    assert aov.feature_services == ["recs"]
    assert aov.ref == "user_stats:avg_order_value"
    assert aov.qualified_name == "user.avg_order_value"
    assert catalog.get("user", "user_stats:avg_order_value") == aov
    assert catalog.get("user", "other_view:avg_order_value") is None
    assert catalog.get("organization", "avg_order_value") is None
    assert catalog.entity_types() == ["organization", "user"]
    assert [d.name for d in catalog.list("user")] == [
        "avg_order_value",
        "email",
        "favorite_category",
    ]
    assert [d.name for d in catalog] == [
        "brand_voice",
        "avg_order_value",
        "email",
        "favorite_category",
    ]
    assert catalog.list("nobody") == []


def test_from_yaml_accepts_a_parsed_mapping_and_round_trips(catalog: FeatureCatalog) -> None:
    again = FeatureCatalog.from_yaml(catalog.to_dict())
    assert again.list() == catalog.list()
    assert catalog.to_dict()["features"][0] == {
        "name": "brand_voice",
        "entity_type": "organization",
        "description": "How the company writes, e.g. friendly and concise",
        "tags": {"domain": "marketing"},
    }


def test_labels_and_sensitivity(catalog: FeatureCatalog) -> None:
    fav = catalog.get("user", "favorite_category")
    assert fav is not None
    assert fav.display_label == "Favorite category"
    assert catalog.label_for("user", "unknown_feature_x") == "Unknown feature x"
    assert catalog.label_for("user", "user_stats:purchases-30d") == "Purchases 30d"
    assert catalog.label_for("user", "avg_order_value") == "Average order value"
    email = catalog.get("user", "email")
    assert email is not None
    assert email.is_sensitive
    assert not fav.is_sensitive
    assert not FeatureDefinition(name="x", entity_type="u", sensitivity="internal").is_sensitive
    assert FeatureDefinition(name="x", entity_type="u", sensitivity="confidential").is_sensitive
    assert catalog.sensitive_features("user") == ["email"]
    assert catalog.sensitive_features("organization") == []


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([1, 2], "expects a YAML file path or a mapping, got list"),
        ({"feature": []}, "must be a mapping with a 'features' list"),
        (
            {"features": [], "owner": "x"},
            "unknown top-level key\\(s\\) owner; allowed: features, version",
        ),
        ({"features": ["avg"]}, "entry 1: expected a mapping of FeatureDefinition fields, got str"),
        (
            {
                "features": [
                    {"name": "a", "entity_type": "user"},
                    {"name": "tier", "entity_type": "user", "lable": "T"},
                ]
            },
            r"^Invalid feature definition \(feature catalog mapping, entry 2 \(name 'tier'\)\):\n"
            r"  features\.1\.lable: unknown key; valid keys: description, dtype, entity_type, ",
        ),
        (
            {"features": [{"name": "tier", "entity_type": "user", "sensitivity": "secret"}]},
            r"entry 1 \(name 'tier'\)\):\n  features\.0\.sensitivity: Input should be 'public', "
            r"'internal', "
            r"'confidential' or 'pii' \(got 'secret'\)",
        ),
        (
            {"features": [{"name": "tier"}]},
            r"entry 1 \(name 'tier'\)\):\n  features\.0\.entity_type: Field required",
        ),
        (
            {"features": [{"name": "t", "entity_type": "user", "ttl_seconds": -1}]},
            r"features\.0\.ttl_seconds: Input should be greater than 0 \(got -1\)",
        ),
        (
            {
                "features": [
                    {"name": "t", "entity_type": "user"},
                    {"name": "t", "entity_type": "user"},
                ]
            },
            r"entry 2 \(name 't'\): Feature 'user.t' is already in the catalog",
        ),
    ],
)
def test_from_yaml_errors_name_the_bad_entry(doc: Any, message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        FeatureCatalog.from_yaml(doc)


def test_from_yaml_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FeatureConfigError, match=r"Cannot read feature catalog .*missing.yaml"):
        FeatureCatalog.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("features: [\n", encoding="utf-8")
    with pytest.raises(FeatureConfigError, match=r"bad.yaml is not valid YAML"):
        FeatureCatalog.from_yaml(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(FeatureConfigError, match=r"empty.yaml must be a mapping"):
        FeatureCatalog.from_yaml(empty)


def test_definitions_are_frozen_and_strict() -> None:
    d = FeatureDefinition(name="x", entity_type="user")
    with pytest.raises(ValidationError):
        d.name = "y"  # type: ignore[misc]
    with pytest.raises(FeatureConfigError) as info:
        FeatureDefinition(name="x", entity_type="user", colour="red")  # type: ignore[call-arg]
    assert str(info.value).splitlines()[:2] == [
        "Invalid feature definition:",
        "  colour: unknown key; valid keys: description, dtype, entity_type, feature_services, "
        "feature_view, label, name, owner, request_sources, sensitivity, source, source_path, "
        "source_type, tags, ttl_seconds, version",
    ]
    with pytest.raises(FeatureConfigError, match=r"(?m)^  name: String should have at least 1"):
        FeatureDefinition(name="", entity_type="user")


def test_add_rejects_duplicates_but_allows_same_name_in_other_views() -> None:
    catalog = FeatureCatalog(
        [FeatureDefinition(name="brand", entity_type="user", feature_view="a")]
    )
    catalog.add(FeatureDefinition(name="brand", entity_type="user", feature_view="b"))
    catalog.add(FeatureDefinition(name="brand", entity_type="product"))
    with pytest.raises(
        FeatureConfigError,
        match=r"Feature 'user.brand' \(feature view 'a'\) is already in the catalog",
    ):
        catalog.add(FeatureDefinition(name="brand", entity_type="user", feature_view="a"))
    # The bare name is ambiguous for user: get() says nothing, refs work.
    assert catalog.get("user", "brand") is None
    view_b = catalog.get("user", "b:brand")
    assert view_b is not None
    assert view_b.feature_view == "b"
    assert catalog.names("user") == ["a:brand", "b:brand"]
    assert catalog.get("product", "brand") is not None


# -- search -----------------------------------------------------------------------------


def _search_catalog() -> FeatureCatalog:
    return FeatureCatalog(
        [
            FeatureDefinition(name="order_count", entity_type="user", description="Orders placed"),
            FeatureDefinition(name="avg_order_value", entity_type="user", label="Average basket"),
            FeatureDefinition(name="order", entity_type="user"),
            FeatureDefinition(
                name="tier", entity_type="user", label="Loyalty tier", description="Based on orders"
            ),
            FeatureDefinition(name="region", entity_type="user", tags={"domain": "order-routing"}),
            FeatureDefinition(name="email", entity_type="user", description="Contact address"),
            FeatureDefinition(name="brand_voice", entity_type="organization", owner="ORDERS team"),
        ]
    )


def test_search_ranks_exact_name_then_prefix_substring_label_description_tags() -> None:
    names = [d.name for d in _search_catalog().search("ORDER")]
    assert names == [
        "order",  # exact name
        "order_count",  # name prefix
        "avg_order_value",  # name substring
        "tier",  # description ("Based on orders")
        "region",  # tag value
        "brand_voice",  # owner
    ]


def test_search_label_beats_description_and_words_must_all_match() -> None:
    catalog = _search_catalog()
    assert [d.name for d in catalog.search("loyalty")] == ["tier"]
    assert [d.name for d in catalog.search("basket")] == ["avg_order_value"]
    assert [d.name for d in catalog.search("order value")] == ["avg_order_value"]
    assert [d.name for d in catalog.search("contact address")] == ["email"]
    assert catalog.search("contact nothing") == []
    assert catalog.search("zzz") == []
    assert [d.name for d in catalog.search("user.email")] == ["email"]
    assert [d.name for d in catalog.search("order", entity_type="organization")] == ["brand_voice"]
    assert len(catalog.search("")) == 7


# -- lineage ----------------------------------------------------------------------------


def _used(task: str, feature: str, used: bool = True) -> EnrichmentResult:
    """A real EnrichmentResult in which ``feature`` of the user was used (or dropped)."""
    from llm_featurestore.enricher import DropReason, EnrichmentResult, FeatureProvenance

    prov = FeatureProvenance(
        feature=feature,
        entity_type="user",
        entity_id="u1",
        source="local",
        status=FeatureStatus.PRESENT,
        age_seconds=1.0,
        used=used,
        drop_reason=None if used else DropReason.OVER_BUDGET,
        label=feature,
    )
    return EnrichmentResult(
        original_prompt="q",
        enriched_prompt="q",
        task_type=task,
        features_used=[f"user.{feature}"] if used else [],
        feature_tokens_added=0,
        enrichment_latency_ms=1.0,
        features_available=used,
        provenance=[prov],
    )


def test_lineage_with_monitor_usage(catalog: FeatureCatalog) -> None:
    monitor = FeatureMonitor()
    monitor.record_enrichment(_used("product_recommendation", "avg_order_value"))
    monitor.record_enrichment(_used("customer_support", "avg_order_value"))
    monitor.record_enrichment(_used("faq", "avg_order_value", used=False))
    lineage = catalog.lineage("user", "avg_order_value", monitor)
    assert lineage.feature_view == "user_stats"
    assert lineage.data_source == "orders_daily"
    assert lineage.source_path == "/data/orders.parquet"
    assert lineage.feature_services == ["recs"]
    assert lineage.owner == "growth@example.com"
    assert lineage.task_types == ["customer_support", "product_recommendation"]
    assert lineage.definition == catalog.get("user", "avg_order_value")
    assert catalog.lineage("user", "user_stats:avg_order_value").task_types == []
    plain = catalog.lineage("user", "email", monitor)
    assert (plain.feature_view, plain.data_source, plain.task_types) == (None, None, [])


def test_lineage_errors_list_what_is_available(catalog: FeatureCatalog) -> None:
    with pytest.raises(FeatureConfigError) as info:
        catalog.lineage("user", "budget")
    assert str(info.value) == (
        "Unknown feature 'budget'. Available for entity 'user': avg_order_value, email, "
        "favorite_category, user_stats:avg_order_value, user_stats:favorite_category"
    )
    with pytest.raises(FeatureConfigError) as info:
        catalog.lineage("customer", "budget")
    assert str(info.value) == (
        "Unknown entity type 'customer'. Available for the catalog: organization, user"
    )
    ambiguous = FeatureCatalog(
        [
            FeatureDefinition(name="brand", entity_type="user", feature_view="a"),
            FeatureDefinition(name="brand", entity_type="user", feature_view="b"),
        ]
    )
    with pytest.raises(
        FeatureConfigError,
        match=r"^Ambiguous feature 'brand' for entity 'user': it is in 2 feature views\. "
        r"Use one of: a:brand, b:brand$",
    ):
        ambiguous.lineage("user", "brand")
    assert ambiguous.lineage("user", "b:brand").feature_view == "b"


@pytest.mark.parametrize(
    "name", ["customer_ltv", "lastOrderID", "nps-score", "user_stats:avg_order_value", "x"]
)
def test_labels_are_the_shared_humanizer_of_the_bare_name(name: str) -> None:
    from llm_featurestore.formatting import humanize

    bare = name.rpartition(":")[2]
    catalog = FeatureCatalog([FeatureDefinition(name=bare, entity_type="user")])
    assert catalog.label_for("user", name) == humanize(bare)
    assert catalog.label_for("user", f"other_{bare}") == humanize(f"other_{bare}")
    definition = catalog.get("user", bare)
    assert definition is not None
    assert definition.display_label == humanize(bare)


def test_label_examples() -> None:
    catalog = FeatureCatalog()
    assert catalog.label_for("user", "customer_ltv") == "Customer LTV"
    assert catalog.label_for("user", "view:lastOrderID") == "Last order ID"
