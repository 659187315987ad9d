"""FeatureCatalog.from_feast and `llm-featurestore catalog` on `feast init`'s repo: on-demand
views, request sources and push sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llm_featurestore.catalog import (
    FeatureCatalog,
    OnDemandViewDefinition,
    PushSourceDefinition,
    RequestSourceDefinition,
)
from llm_featurestore.cli import main
from tests.fixtures import feast_init_repo as fi

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def catalog(feast_init_repo: Path) -> FeatureCatalog:
    return FeatureCatalog.from_feast(feast_init_repo)


def test_on_demand_views_with_their_mode_sources_and_services(catalog: FeatureCatalog) -> None:
    views = {v.name: v for v in catalog.on_demand_views()}
    assert sorted(views) == [fi.PANDAS_VIEW, "transformed_conv_rate_fresh", fi.PYTHON_VIEW]
    assert views[fi.PANDAS_VIEW] == OnDemandViewDefinition(
        name=fi.PANDAS_VIEW,
        entity_type=fi.ENTITY,
        mode="pandas",
        features=["conv_rate_plus_val1", "conv_rate_plus_val2"],
        feature_views=["driver_hourly_stats"],
        request_sources=[fi.REQUEST_SOURCE],
        feature_services=["driver_activity_v1", "driver_activity_v2"],
    )
    assert views[fi.PYTHON_VIEW].mode == "python"
    assert views[fi.PYTHON_VIEW].feature_services == [fi.PYTHON_SERVICE]
    assert views["transformed_conv_rate_fresh"].feature_views == ["driver_hourly_stats_fresh"]
    assert catalog.on_demand_views("customer") == []


def test_request_and_push_sources(catalog: FeatureCatalog) -> None:
    assert catalog.request_sources() == [
        RequestSourceDefinition(
            name=fi.REQUEST_SOURCE,
            fields=fi.REQUEST_FIELDS,
            on_demand_views=sorted([fi.PANDAS_VIEW, "transformed_conv_rate_fresh", fi.PYTHON_VIEW]),
        )
    ]
    pushes = {p.name: p for p in catalog.push_sources()}
    assert pushes["driver_stats_push_source"] == PushSourceDefinition(
        name="driver_stats_push_source",
        batch_source="driver_hourly_stats_source",
        feature_views=["driver_hourly_stats_fresh"],
    )
    assert pushes["driver_quality_labels_push"].feature_views == ["driver_quality_labels"]


def test_on_demand_features_are_catalog_features(catalog: FeatureCatalog) -> None:
    d = catalog.get(fi.ENTITY, f"{fi.PANDAS_VIEW}:conv_rate_plus_val1")
    assert d is not None
    assert d.dtype == "Float64"
    assert d.source_type == "OnDemandFeatureView"
    assert d.request_sources == [fi.REQUEST_SOURCE]
    assert d.feature_services == ["driver_activity_v1", "driver_activity_v2"]
    assert d.ttl_seconds is None
    assert catalog.get(fi.ENTITY, "conv_rate_plus_val1") is None  # in two views: ambiguous
    lineage = catalog.lineage(fi.ENTITY, fi.PYTHON_FEATURE)
    assert lineage.feature_view == fi.PYTHON_VIEW
    assert lineage.request_sources == [fi.REQUEST_SOURCE]
    assert fi.PYTHON_FEATURE in catalog.names(fi.ENTITY)
    assert FeatureCatalog.from_yaml(catalog.to_dict()).to_dict() == catalog.to_dict()


def test_the_catalog_command_prints_views_and_sources(
    feast_init_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    config = tmp_path / "config.yaml"
    doc = {"feature_store": {"provider": "feast", "feast": {"repo_path": str(feast_init_repo)}}}
    config.write_text(yaml.safe_dump(doc), encoding="utf-8")
    assert main(["catalog", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "3 on-demand views" in out
    assert "transformed_conv_rate_python" in out
    assert "python" in out
    assert "1 request sources" in out
    assert "val_to_add: Int64, val_to_add_2: Int64" in out
    assert "2 push sources" in out
    assert "driver_hourly_stats_fresh" in out
    assert main(["catalog", "--config", str(config), "search", "conv"]) == 0
    assert "on-demand views" not in capsys.readouterr().out
