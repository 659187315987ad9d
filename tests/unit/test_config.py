"""Configuration: YAML/dict into typed models, clear errors, load_client builds the stack."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore, LocalFeatureStoreConfig
from llm_featurestore.config import PROVIDERS, FeatureStoreConfig, load_client, load_config
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import ServingClient
from llm_featurestore.settings import BackendConfig
from llm_featurestore.workers import WorkerConfig, configure_workers, worker_settings

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
            "feature_store.timeout: unknown key; valid keys: cache, ",
        ),
        (
            {"provider": "local", "local": {"path": "x"}},
            "feature_store.local.path: unknown key; valid keys: data_path, max_age_seconds, type",
        ),
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
        (
            "llm_featurestore.clients.local:LocalFeatureStore",
            {"bogus": 1},
            r"feature_store\.options\.bogus: unknown key; valid keys: data_path",
        ),
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
    with pytest.raises(
        FeatureConfigError, match=r"feature_store\.redis\.socket_timeout: unknown key"
    ):
        load_config({"provider": "redis", "redis": {"socket_timeout": 1}})
    with pytest.raises(
        FeatureConfigError, match=r"feature_store\.tecton\.workspace: Field required"
    ):
        load_config({"provider": "tecton", "tecton": {"url": "u", "feature_service": "s"}})


class _EchoConfig(BackendConfig):
    """A third-party backend's own settings model."""

    type: Literal["echo"] = "echo"
    greeting: str = Field(min_length=1)
    repeat: int = Field(1, ge=1)


class _Echo(FeatureStoreClient):
    """A third-party backend that declares its settings class."""

    config_class = _EchoConfig

    def __init__(self, config: _EchoConfig) -> None:
        self.config = config

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        values = dict.fromkeys(feature_names, self.config.greeting * self.config.repeat)
        statuses = dict.fromkeys(feature_names, FeatureStatus.PRESENT)
        return [
            FeatureVector.build(
                entity_id=e,
                entity_type=entity_type,
                feature_names=feature_names,
                values=values,
                statuses=statuses,
                source="echo",
            )
            for e in entity_ids
        ]

    def list_features(self, entity_type: str) -> list[str]:
        return ["greeting"]

    def health_check(self) -> bool:
        return True


def test_a_third_party_backend_is_configured_through_its_own_settings_class() -> None:
    section = {"provider": f"{__name__}:_Echo", "options": {"greeting": "hi", "repeat": 2}}
    with load_client(section) as client:
        assert isinstance(client.backend, _Echo)
        assert client.backend.config == _EchoConfig(greeting="hi", repeat=2)
        assert client.get_features("1", "user", ["greeting"]).features == {"greeting": "hihi"}
    with pytest.raises(FeatureConfigError) as info:
        load_client({**section, "options": {"greeting": "", "repat": 3}})
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid _EchoConfig:"
    assert lines[1].startswith("  feature_store.options.greeting: String should have at least 1")
    assert lines[2] == (
        "  feature_store.options.repat: unknown key; valid keys: greeting, repeat, type; "
        "did you mean 'repeat'?"
    )


@pytest.mark.parametrize(
    ("provider", "section_class"),
    [
        ("feast", "FeastClientConfig"),
        ("feast_http", "FeastHttpClientConfig"),
        ("redis", "RedisFeatureStoreConfig"),
        ("tecton", "TectonClientConfig"),
        ("local", "LocalFeatureStoreConfig"),
    ],
)
def test_each_section_is_its_backends_settings_class(provider: str, section_class: str) -> None:
    field = FeatureStoreConfig.model_fields[provider]
    assert section_class in str(field.annotation)
    assert PROVIDERS[provider].split(":")[0].startswith("llm_featurestore.clients.")


def test_the_backend_gets_the_section_itself_with_paths_resolved(tmp_path: Path) -> None:
    path = tmp_path / "conf.yaml"
    path.write_text(
        "feature_store:\n  provider: local\n  local: {data_path: store.json, max_age_seconds: 5}\n",
        encoding="utf-8",
    )
    with load_client(path) as client:
        backend = client.backend
        assert isinstance(backend, LocalFeatureStore)
        assert backend.config == LocalFeatureStoreConfig(
            data_path=tmp_path / "store.json", max_age_seconds=5
        )


def test_the_workers_section_sizes_the_pools() -> None:
    try:
        with load_client({"provider": "local", "workers": {"workers": 3}}):
            assert worker_settings().workers == 3
        with pytest.raises(
            FeatureConfigError, match=r"feature_store\.workers\.workers: Input should be greater"
        ):
            load_config({"provider": "local", "workers": {"workers": 0}})
    finally:
        configure_workers()
    assert worker_settings().workers == WorkerConfig().workers


class _Plain(_Echo):
    """A third-party backend without a settings class: options are keyword arguments."""

    config_class = None

    def __init__(self, greeting: str) -> None:  # type: ignore[override]
        super().__init__(_EchoConfig(greeting=greeting))


def test_a_backend_without_a_settings_class_gets_options_as_keywords() -> None:
    section = {"provider": f"{__name__}:_Plain", "options": {"greeting": "yo"}}
    with load_client(section) as client:
        assert client.get_features("1", "user", ["greeting"]).features == {"greeting": "yo"}
    with pytest.raises(FeatureConfigError) as info:
        load_client({**section, "options": {"greting": "yo"}})
    message = str(info.value)
    assert message.startswith(f"Provider '{__name__}:_Plain' rejected its settings: ")
    assert "greting" in message
