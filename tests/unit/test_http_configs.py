"""The HTTP backends' settings: typed configs, their errors, and the pinned package names."""

from __future__ import annotations

import importlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import SecretStr

from llm_featurestore.clients.feast_http import FeastHttpClient, FeastHttpClientConfig
from llm_featurestore.clients.http import map_beside
from llm_featurestore.clients.tecton import TectonClient, TectonClientConfig
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.workers import shared_pool

KEY_ENV = "LLMFS_UNIT_CONFIG_TECTON_KEY"
TECTON = {"url": "https://x.tecton.ai", "workspace": "prod", "feature_service": "fs"}


# --------------------------------------------------------------------------- pinned names

PINNED = {
    "llm_featurestore.clients.http": [
        "Attempts", "HttpBackend", "HttpClientSettings", "HttpSettings", "ProtocolErrors",
        "http_url", "map_beside", "response_error", "server_message", "tls_context",
        "transport_error",
    ],
    "llm_featurestore.clients.feast_http": [
        "FeastHttpClient", "FeastHttpClientConfig", "HttpPlan", "build_request",
        "error_for_response", "parse_response", "resolve_http_names", "service_keys",
    ],
    "llm_featurestore.clients.tecton": [
        "TectonClient", "TectonClientConfig", "TectonService", "build_get_features_request",
        "parse_features_response", "parse_metadata_response",
    ],
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(PINNED))
def test_subpackage_all_is_pinned_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(PINNED[package])
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="NoSuchName"):
        module.NoSuchName  # noqa: B018


def test_the_old_helper_import_paths_still_work() -> None:
    from llm_featurestore.clients import feast_http, names

    assert feast_http.service_keys is names.service_keys


def test_config_modules_import_without_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['httpx'] = None\n"
        "from llm_featurestore.clients.tecton.config import TectonClientConfig\n"
        "from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig\n"
        "print(TectonClientConfig.model_fields['type'].default, "
        "FeastHttpClientConfig.model_fields['type'].default)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["tecton", "feast_http"]


# --------------------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({}, "  url: Field required"),
        ({"url": "feast:6566"}, "  url: Value error, url must start with http:// or https://"),
        ({"url": "http://h", "timeout_s": -1}, "  timeout_s: Input should be greater than 0"),
        ({"url": "http://h", "max_connections": 0}, "  max_connections: Input should be greater"),
        ({"url": "http://h", "retries": -1}, "  retries: Input should be greater than or equal"),
        ({"url": "http://h", "join_keys": {"user": 3}}, "  join_keys.user: expected a string"),
        ({"url": "http://h", "ttl": {}}, "  ttl: unknown key; valid keys: ca_bundle, client_cert,"),
    ],
)
def test_feast_http_config_errors_name_the_key(fields: dict[str, Any], line: str) -> None:
    for build in (lambda: FeastHttpClientConfig(**fields), lambda: FeastHttpClient(**fields)):
        with pytest.raises(FeatureConfigError) as err:
            build()
        first, second = str(err.value).splitlines()[:2]
        assert first == "Invalid FeastHttpClientConfig:"
        assert second.startswith(line)


@pytest.mark.parametrize(
    ("fields", "line"),
    [
        ({"workspace": "p", "feature_service": "f"}, "  url: Field required"),
        ({**TECTON, "workspace": ""}, "  workspace: String should have at least 1 character"),
        ({**TECTON, "micro_batch_size": 0}, "  micro_batch_size: Input should be greater than 0"),
        (
            {**TECTON, "max_age_seconds": "old"},
            "  max_age_seconds: expected a number, a mapping of string to number, or null",
        ),
        ({**TECTON, "api_key_env": ""}, "  api_key_env: String should have at least 1 character"),
        ({**TECTON, "apikey": "k"}, "  apikey: unknown key; valid keys: api_key, api_key_env,"),
    ],
)
def test_tecton_config_errors_name_the_key(fields: dict[str, Any], line: str) -> None:
    with pytest.raises(FeatureConfigError) as err:
        TectonClientConfig(**fields)
    first, second = str(err.value).splitlines()[:2]
    assert first == "Invalid TectonClientConfig:"
    assert second.startswith(line)


def test_tecton_key_from_the_settings_or_the_named_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    config = TectonClientConfig(**TECTON, api_key_env=KEY_ENV)
    with pytest.raises(FeatureConfigError) as err:
        config.resolved_key()
    assert str(err.value) == (
        f"No Tecton API key: api_key is not set and the environment variable {KEY_ENV} is "
        f"unset or empty. Set {KEY_ENV} to a service-account key with read access to "
        "workspace 'prod', or pass api_key_env='OTHER_VAR'"
    )
    monkeypatch.setenv(KEY_ENV, " env-key-1 ")
    assert config.resolved_key().get_secret_value() == "env-key-1"
    direct = TectonClientConfig(**TECTON, api_key=SecretStr("direct-key-2"), api_key_env=KEY_ENV)
    assert direct.resolved_key().get_secret_value() == "direct-key-2"
    assert "direct-key-2" not in repr(direct)
    with pytest.raises(FeatureConfigError, match=r"api_key is not set .* unset or empty"):
        TectonClientConfig(**TECTON, api_key=SecretStr("  "), api_key_env=KEY_ENV).resolved_key()


def test_clients_take_their_config_or_its_fields_not_both(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "k")
    config = TectonClientConfig(**TECTON, api_key_env=KEY_ENV, micro_batch_size=7)
    client = TectonClient(config)
    assert client.config is config
    assert (client.micro_batch_size, client.retries, client.url) == (7, 1, TECTON["url"])
    assert TectonClient.config_class is TectonClientConfig
    client.close()
    by_fields = TectonClient(**TECTON, api_key_env=KEY_ENV)
    assert by_fields.config == TectonClientConfig(**TECTON, api_key_env=KEY_ENV)
    by_fields.close()
    with pytest.raises(FeatureConfigError, match=r"Pass a TectonClientConfig or its fields"):
        TectonClient(config, retries=2)
    # Positional settings: tests/unit/test_client_settings.py, over every client.
    feast = FeastHttpClient(FeastHttpClientConfig(url="http://h/", retries=2))
    assert (feast.url, feast.retries, feast.timeout_s, feast.max_connections) == (
        "http://h",
        2,
        5.0,
        100,
    )
    assert FeastHttpClient.config_class is FeastHttpClientConfig


# --------------------------------------------------------------------------- the shared pool


def test_map_beside_keeps_order_and_raises_the_first_error() -> None:
    assert map_beside(lambda n: n * 2, [1, 2, 3, 4]) == [2, 4, 6, 8]
    assert map_beside(lambda n: n, []) == []

    def boom(n: int) -> int:
        if n % 2:
            raise ValueError(f"odd {n}")
        return n

    with pytest.raises(ValueError, match="odd 1"):
        map_beside(boom, [0, 1, 2, 3])


def test_map_beside_never_waits_on_work_no_worker_started() -> None:
    """Every worker of the shared pool calls map_beside at once: none is free to take
    the handed-off items, so callers run them themselves instead of deadlocking."""
    pool = shared_pool()
    size = pool._max_workers
    everyone_busy = threading.Barrier(size)

    def outer(i: int) -> list[int]:
        everyone_busy.wait(timeout=30)
        return map_beside(lambda n: n + i, [0, 1, 2])

    futures = [pool.submit(outer, i) for i in range(size)]
    assert [f.result(timeout=30) for f in futures] == [[i, i + 1, i + 2] for i in range(size)]


def test_map_beside_runs_items_concurrently() -> None:
    started = threading.Barrier(3)

    def meet(_: int) -> bool:
        started.wait(timeout=30)  # only passes when three items run at the same time
        return True

    with ThreadPoolExecutor(1) as caller:
        assert caller.submit(map_beside, meet, [0, 1, 2]).result(timeout=60) == [True] * 3
