"""FeatureCatalog's on-demand views, request sources and push sources: models, YAML, errors."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from llm_featurestore.catalog import (
    FeatureCatalog,
    OnDemandViewDefinition,
    PushSourceDefinition,
    RequestSourceDefinition,
)
from llm_featurestore.cli.reports import catalog_report
from llm_featurestore.cli.screen import RichScreen
from llm_featurestore.cli.show import show_catalog
from llm_featurestore.errors import FeatureConfigError

DOC: dict[str, Any] = {
    "features": [
        {
            "name": "conv_rate_plus_val1",
            "entity_type": "driver",
            "feature_view": "transformed_conv_rate",
            "source_type": "OnDemandFeatureView",
            "request_sources": ["vals_to_add"],
        }
    ],
    "on_demand_views": [
        {
            "name": "transformed_conv_rate",
            "entity_type": "driver",
            "mode": "pandas",
            "features": ["conv_rate_plus_val1"],
            "feature_views": ["driver_hourly_stats"],
            "request_sources": ["vals_to_add"],
        },
        {"name": "loose", "mode": "python", "write_to_online_store": True},
    ],
    "request_sources": [{"name": "vals_to_add", "fields": {"val_to_add": "Int64"}}],
    "push_sources": [
        {"name": "stats_push", "batch_source": "stats", "feature_views": ["stats_fresh"]}
    ],
}


def test_yaml_sections_load_and_round_trip() -> None:
    catalog = FeatureCatalog.from_yaml(DOC)
    assert [v.name for v in catalog.on_demand_views()] == ["loose", "transformed_conv_rate"]
    assert [v.name for v in catalog.on_demand_views("driver")] == ["transformed_conv_rate"]
    assert catalog.request_sources() == [
        RequestSourceDefinition(name="vals_to_add", fields={"val_to_add": "Int64"})
    ]
    assert catalog.push_sources()[0].feature_views == ["stats_fresh"]
    assert catalog.lineage("driver", "conv_rate_plus_val1").request_sources == ["vals_to_add"]
    assert FeatureCatalog.from_yaml(catalog.to_dict()).to_dict() == catalog.to_dict()
    assert "push_sources" not in FeatureCatalog().to_dict()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"features": [], "push_sources": {"name": "p"}},
            r"'push_sources' must be a list of mappings, got dict",
        ),
        (
            {"features": [], "request_sources": ["vals"]},
            r"request_sources entry 1: expected a mapping of RequestSourceDefinition fields, "
            r"got str",
        ),
        (
            {"features": [], "on_demand_views": [{"name": "v", "colour": "red"}]},
            r"on_demand_views entry 1\):\n  on_demand_views\.0\.colour: unknown key; valid keys: "
            r"description, entity_type, feature_services, feature_views, features, mode, name, "
            r"owner, request_sources, tags, write_to_online_store",
        ),
        (
            {"features": [], "push_sources": [{"name": "p"}, {"name": "p"}]},
            r"push_sources entry 2: Push source definition 'p' is already in the catalog; "
            r"remove the duplicate",
        ),
    ],
)
def test_yaml_section_errors_name_the_bad_entry(doc: Any, message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        FeatureCatalog.from_yaml(doc)


def test_add_source_rejects_a_duplicate_of_the_same_kind_only() -> None:
    catalog = FeatureCatalog()
    catalog.add_source(OnDemandViewDefinition(name="same"))
    catalog.add_source(PushSourceDefinition(name="same"))
    with pytest.raises(
        FeatureConfigError,
        match=r"^On-demand view definition 'same' is already in the catalog; remove the duplicate$",
    ):
        catalog.add_source(OnDemandViewDefinition(name="same", mode="python"))


def _drawn(catalog: FeatureCatalog) -> str:
    console = Console(width=200, record=True)
    report = catalog_report(catalog, catalog.list(), query=None, origin="the test")
    show_catalog(RichScreen(console), report)
    return console.export_text()


def test_the_cli_prints_a_table_per_kind() -> None:
    text = _drawn(FeatureCatalog.from_yaml(DOC))
    assert "2 on-demand views" in text
    assert "python (written online)" in text
    assert "val_to_add: Int64" in text
    assert "1 push sources" in text
    assert "stats_fresh" in text
    plain = _drawn(FeatureCatalog.from_yaml({"features": DOC["features"]}))
    assert "1 features" in plain
    assert not any(kind in plain for kind in ("on-demand views", "request sources", "push"))
