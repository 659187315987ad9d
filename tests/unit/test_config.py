"""Configuration: YAML/dict into typed models, clear errors, load_client builds the stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.config import FeatureStoreConfig, load_client, load_config
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus
from llm_featurestore.serving import ServingClient

YAML = """
feature_store:
  provider: local
  local: {data_path: data/features.json}
  timeout_ms: 150
  fallback_on_timeout: true
  cache: {ttl_seconds: 30, max_entries: 1000}
  coalesce: {window_ms: 1.0, max_batch: 128}
  defaults: {user: {favorite_category: null, price_sensitivity_score: 0.5}}
enricher:
  max_feature_tokens: 150
"""


def test_yaml_loads_into_a_ready_serving_client(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    LocalFeatureStore(tmp_path / "data" / "features.json").write_features(
        "u1", "user", {"favorite_category": "running", "price_sensitivity_score": 0.9}
    )
    cfg = tmp_path / "llmfs.yaml"
    cfg.write_text(YAML)
    client = load_client(cfg)
    assert isinstance(client, ServingClient)
    assert isinstance(client.backend, LocalFeatureStore)
    # Relative paths resolve against the YAML file's folder, not the working directory.
    assert client.backend.data_path == (tmp_path / "data" / "features.json").resolve()
    assert client.timeout_ms == 150
    assert client.cache is not None
    assert client.cache.max_entries == 1000
    assert client.coalescer is not None
    assert client.get_features("u1", "user", ["favorite_category"]).features == {
        "favorite_category": "running"
    }
    cold = client.get_features("new", "user", ["price_sensitivity_score"])
    assert cold.statuses["price_sensitivity_score"] is FeatureStatus.DEFAULTED
    assert cold.features["price_sensitivity_score"] == 0.5


def test_dict_without_the_top_level_key_is_accepted() -> None:
    client = load_client({"provider": "local", "cache": None, "circuit_breaker": None})
    assert client.cache is None
    assert client.breaker is None
    assert isinstance(client.backend, LocalFeatureStore)
    assert client.backend.data_path is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"provider": "local", "timeout": 5},
            "feature_store.timeout: Extra inputs are not permitted",
        ),
        ({"provider": "local", "local": {"path": "x"}}, "feature_store.local.path: Extra inputs"),
        (
            {"provider": "local", "timeout_ms": -1},
            "feature_store.timeout_ms: Input should be greater than 0",
        ),
        ({"provider": "local", "cache": {"ttl_seconds": 0}}, "feature_store.cache.ttl_seconds"),
        ({"provider": "redis"}, "provider 'redis' needs a 'redis:' section"),
        (
            {"provider": "dynamo"},
            "Unknown provider 'dynamo'. Available: feast, feast_http, local, redis, tecton",
        ),
        ({}, "feature_store.provider: Field required"),
    ],
)
def test_invalid_configuration_lists_each_problem_with_its_location(
    section: dict[str, object], message: str
) -> None:
    with pytest.raises(FeatureConfigError, match="Invalid feature store configuration") as err:
        load_config(section)
    assert message in str(err.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(FeatureConfigError, match="Configuration file not found"):
        load_client(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("feature_store: [unclosed")
    with pytest.raises(FeatureConfigError, match="not valid YAML"):
        load_client(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just a string")
    with pytest.raises(FeatureConfigError, match="must hold a mapping"):
        load_client(scalar)


def test_dotted_path_provider_receives_its_options() -> None:
    client = load_client(
        {
            "provider": "llm_featurestore.clients.local:LocalFeatureStore",
            "options": {"max_age_seconds": 60},
        }
    )
    assert isinstance(client.backend, LocalFeatureStore)
    assert client.backend.max_age_seconds == 60


@pytest.mark.parametrize(
    ("provider", "options", "message"),
    [
        ("no.such.module:Thing", {}, "Cannot load provider class 'no.such.module:Thing'"),
        ("llm_featurestore.config:load_client", {}, "is not a FeatureStoreClient subclass"),
        ("llm_featurestore.clients.local:LocalFeatureStore", {"bogus": 1}, "rejected its settings"),
    ],
)
def test_bad_dotted_path_providers(provider: str, options: dict[str, object], message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        load_client({"provider": provider, "options": options})


def test_config_object_is_accepted_as_is() -> None:
    config = FeatureStoreConfig(provider="local", timeout_ms=None)
    client = load_client(config)
    assert client.timeout_ms is None


def test_each_network_provider_receives_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_featurestore.clients.feast_http import FeastHttpClient
    from llm_featurestore.clients.redis import RedisFeatureStore
    from llm_featurestore.clients.tecton import TectonClient

    http = load_client(
        {
            "provider": "feast_http",
            "feast_http": {
                "url": "http://127.0.0.1:1",
                "timeout_s": 0.5,
                "join_keys": {"user": "uid"},
            },
        }
    )
    assert isinstance(http.backend, FeastHttpClient)
    assert http.source == "feast_http"

    redis = load_client(
        {"provider": "redis", "redis": {"url": "redis://127.0.0.1:1/3", "namespace": "shop"}}
    )
    assert isinstance(redis.backend, RedisFeatureStore)
    assert redis.backend.key("user", "7") == "shop:user:7"
    redis.close()

    section = {
        "provider": "tecton",
        "tecton": {
            "url": "https://example.invalid",
            "workspace": "prod",
            "feature_service": "user_fs",
            "api_key_env": "LLMFS_TEST_TECTON_KEY",
        },
    }
    monkeypatch.delenv("LLMFS_TEST_TECTON_KEY", raising=False)
    with pytest.raises(FeatureConfigError, match="LLMFS_TEST_TECTON_KEY"):
        load_client(section)
    monkeypatch.setenv("LLMFS_TEST_TECTON_KEY", "secret-value")
    tecton = load_client(section)
    assert isinstance(tecton.backend, TectonClient)
    assert "secret-value" not in repr(tecton.backend)


def test_network_sections_reject_unknown_keys() -> None:
    with pytest.raises(FeatureConfigError, match=r"feature_store\.redis\.socket_timeout: Extra"):
        load_config({"provider": "redis", "redis": {"socket_timeout": 1}})
    with pytest.raises(
        FeatureConfigError, match=r"feature_store\.tecton\.workspace: Field required"
    ):
        load_config({"provider": "tecton", "tecton": {"url": "u", "feature_service": "s"}})
