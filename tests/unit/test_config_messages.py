"""Configuration errors that name the fix (issue 13, items 4 and 5).

An unknown key lists the valid keys of its section and the one probably meant; a wrong
type says the type expected; a source that is no configuration at all is refused the
same way; every duration is positive (or null, where null means never). All of them are
worded by the one formatter, :mod:`llm_featurestore.config_errors`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from llm_featurestore import EnricherConfig
from llm_featurestore.clients.feast_http import FeastHttpClientConfig
from llm_featurestore.clients.local import LocalFeatureStoreConfig
from llm_featurestore.clients.redis import RedisFeatureStoreConfig
from llm_featurestore.config import FeatureStoreConfig, load_client, load_config
from llm_featurestore.config_errors import closest_name, describe_type
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.serving import CacheConfig, CircuitBreakerConfig, CoalesceConfig
from llm_featurestore.settings import ConfigModel, MaxAgeSeconds, PositiveSeconds
from tests.unit.test_config_errors_everywhere import MODELS

HEADER = "Invalid feature store configuration (dict):"


def _keys(model: type[BaseModel]) -> str:
    return ", ".join(sorted(model.model_fields))


def _message(config: Any) -> list[str]:
    with pytest.raises(FeatureConfigError) as info:
        load_client(config)
    return str(info.value).splitlines()


# --------------------------------------------------------------------------- unknown keys

TYPOS = [
    ({"timout_ms": 50}, "timout_ms", FeatureStoreConfig, "timeout_ms"),
    ({"local": {"data_pth": "f.json"}}, "local.data_pth", LocalFeatureStoreConfig, "data_path"),
    (
        {"provider": "redis", "redis": {"ulr": "redis://h:1/0"}},
        "redis.ulr",
        RedisFeatureStoreConfig,
        "url",
    ),
    (
        {"provider": "feast_http", "feast_http": {"url": "http://h", "timeout": 1}},
        "feast_http.timeout",
        FeastHttpClientConfig,
        "timeout_s",
    ),
    ({"cache": {"ttl": 5}}, "cache.ttl", CacheConfig, "ttl_seconds"),
    ({"coalesce": {"window": 2}}, "coalesce.window", CoalesceConfig, "window_ms"),
    (
        {"circuit_breaker": {"failure_treshold": 3}},
        "circuit_breaker.failure_treshold",
        CircuitBreakerConfig,
        "failure_threshold",
    ),
]


@pytest.mark.parametrize(("section", "key", "model", "meant"), TYPOS, ids=[t[1] for t in TYPOS])
def test_an_unknown_key_lists_its_sections_keys_and_the_one_meant(
    section: dict[str, Any], key: str, model: type[BaseModel], meant: str
) -> None:
    config = {"feature_store": {"provider": "local", **section}}
    assert _message(config) == [
        HEADER,
        f"  feature_store.{key}: unknown key; valid keys: {_keys(model)}; did you mean '{meant}'?",
    ]


def test_an_unknown_enricher_setting_names_the_one_meant() -> None:
    with pytest.raises(FeatureConfigError) as info:
        EnricherConfig(max_feature_token=100)  # type: ignore[call-arg]
    assert str(info.value).splitlines() == [
        "Invalid EnricherConfig:",
        f"  max_feature_token: unknown key; valid keys: {_keys(EnricherConfig)}; "
        "did you mean 'max_feature_tokens'?",
    ]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("max_feature_token: 100\n", "max_feature_token"),
        ("feature_store: {provider: local}\nenricher:\n  max_feature_token: 100\n", None),
    ],
)
def test_a_typo_in_an_enricher_yaml_names_the_file_key_and_the_one_meant(
    tmp_path: Path, text: str, key: str | None
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FeatureConfigError) as info:
        EnricherConfig.from_yaml(path)
    assert str(info.value).splitlines() == [
        f"Invalid EnricherConfig ({path}):",
        f"  {key or 'enricher.max_feature_token'}: unknown key; valid keys: "
        f"{_keys(EnricherConfig)}; did you mean 'max_feature_tokens'?",
    ]


def test_a_key_close_to_none_lists_the_valid_keys_only() -> None:
    lines = _message({"feature_store": {"provider": "local", "cache": {"zzz": 1}}})
    assert lines[1] == f"  feature_store.cache.zzz: unknown key; valid keys: {_keys(CacheConfig)}"


@pytest.mark.parametrize(
    ("name", "valid", "meant"),
    [
        ("timout_ms", ["timeout_ms", "cache"], "timeout_ms"),
        ("Timeout-MS", ["timeout_ms"], "timeout_ms"),  # case and dashes
        ("ttl", ["ttl_seconds_by_entity_type", "ttl_seconds", "max_entries"], "ttl_seconds"),
        ("ulr", ["url", "namespace"], "url"),
        ("no_such_setting", ["url", "namespace"], None),
        ("x", [], None),
    ],
)
def test_closest_name(name: str, valid: list[str], meant: str | None) -> None:
    assert closest_name(name, valid) == meant


# --------------------------------------------------------------------------- wrong types

WRONG_TYPES = [
    ({"timeout_ms": "fast"}, "timeout_ms: expected a number or null (got 'fast')"),
    ({"fallback_on_timeout": "maybe"}, "fallback_on_timeout: expected true or false (got 'maybe')"),
    ({"cache": 5}, "cache: expected a mapping or null (got 5)"),
    ({"cache": {"max_entries": "lots"}}, "cache.max_entries: expected an integer (got 'lots')"),
    (
        {"local": {"max_age_seconds": "old"}},
        "local.max_age_seconds: expected a number, a mapping of string to number, or null "
        "(got 'old')",
    ),
    (
        {"local": {"max_age_seconds": {"user": "old"}}},
        "local.max_age_seconds.user: expected a number (got 'old')",
    ),
    ({"defaults": {"user": 3}}, "defaults.user: expected a mapping (got 3)"),
    ({"workers": {"workers": [4]}}, "workers.workers: expected an integer (got [4])"),
]


@pytest.mark.parametrize(
    ("section", "line"), WRONG_TYPES, ids=[w[1].split(":")[0] for w in WRONG_TYPES]
)
def test_a_wrong_type_says_the_type_expected(section: dict[str, Any], line: str) -> None:
    assert _message({"feature_store": {"provider": "local", **section}}) == [
        HEADER,
        f"  feature_store.{line}",
    ]


@pytest.mark.parametrize(
    ("annotation", "words"),
    [
        (PositiveSeconds | None, "a number or null"),
        (MaxAgeSeconds, "a number, a mapping of string to number, or null"),
        (dict[str, list[str]], "a mapping of string to list of strings"),
        (list[dict[str, Any]], "a list of mappings"),
        (EnricherConfig.model_fields["instruction_policy"].annotation, None),
    ],
)
def test_describe_type(annotation: Any, words: str | None) -> None:
    described = describe_type(annotation)
    if words is None:  # a Literal: its values
        assert described == "a mapping of string to one of 'drop', 'quote', 'allow'"
    else:
        assert described == words


@pytest.mark.parametrize("source", [42, None, 3.5, [1, 2], b"config.yaml"])
def test_load_client_of_something_that_is_no_configuration(source: Any) -> None:
    for load in (load_client, load_config):
        with pytest.raises(FeatureConfigError) as info:
            load(source)
        assert str(info.value).splitlines() == [
            "Invalid feature store configuration:",
            "  source: expected a YAML file path, a mapping (the feature_store section) or a "
            f"FeatureStoreConfig (got {source!r})",
        ]


def test_a_section_that_is_no_mapping_says_so() -> None:
    assert _message({"feature_store": [1, 2]}) == [
        HEADER,
        "  feature_store: expected a mapping (got [1, 2])",
    ]


def test_an_enricher_yaml_path_that_is_no_path() -> None:
    with pytest.raises(FeatureConfigError) as info:
        EnricherConfig.from_yaml(42)  # type: ignore[arg-type]
    assert str(info.value).splitlines() == [
        "Invalid EnricherConfig:",
        "  path: expected a YAML file path (got 42)",
    ]


# --------------------------------------------------------------------------- durations

ZERO_MEANS = {
    ("CoalesceConfig", "window_ms"): "no wait: batch what arrives in one loop iteration",
    ("MonitorConfig", "cooldown_seconds"): "a probe is let through at once",
    ("WriterConfig", "exit_timeout_s"): "interpreter exit does not wait",
}
"""The durations where 0 has a stated meaning (in the field's description and README)."""

DURATIONS = [
    (model, name)
    for model in MODELS
    for name, field in model.model_fields.items()
    if re.search(r"(_seconds|_ms|_s)(_|$)", name) and "float" in str(field.annotation)
]


def test_the_durations_are_found() -> None:
    names = {f"{m.__name__}.{n}" for m, n in DURATIONS}
    assert {
        "LocalFeatureStoreConfig.max_age_seconds",
        "RedisFeatureStoreConfig.max_age_seconds",
        "TectonClientConfig.max_age_seconds",
        "FeastHttpClientConfig.ttl_seconds",
        "FeatureStoreConfig.timeout_ms",
        "CacheConfig.ttl_seconds_by_entity_type",
        "CircuitBreakerConfig.reset_timeout_seconds",
        "EnricherConfig.freshness_threshold_seconds",
        "FeatureDefinition.ttl_seconds",
        "WriterConfig.backoff_s",
    } <= names
    assert {(m.__name__, n) for m, n in DURATIONS} >= set(ZERO_MEANS)


@pytest.mark.parametrize(
    ("model", "name"), DURATIONS, ids=[f"{m.__name__}.{n}" for m, n in DURATIONS]
)
@pytest.mark.parametrize("bad", [-1.0, 0.0, math.inf, math.nan], ids=["-1", "0", "inf", "nan"])
def test_every_duration_is_positive_and_finite(
    model: type[ConfigModel], name: str, bad: float
) -> None:
    if bad == 0.0 and (model.__name__, name) in ZERO_MEANS:
        pytest.skip(f"0 means: {ZERO_MEANS[model.__name__, name]}")
    by_entity = str(model.model_fields[name].annotation).startswith("dict")
    value: Any = {"user": bad} if by_entity else bad
    with pytest.raises(FeatureConfigError) as info:
        model(**{name: value})
    key = f"{name}.user" if by_entity else name
    line = next(ln for ln in str(info.value).splitlines() if ln.startswith(f"  {key}: "))
    reason = "finite number" if math.isinf(bad) or math.isnan(bad) else "greater than"
    assert reason in line or "less than or equal to" in line, line
    assert f"(got {bad!r})" in line


@pytest.mark.parametrize("section", ["local", "redis", "tecton"])
def test_a_negative_max_age_is_refused_in_every_backend_section(section: str) -> None:
    required = {"tecton": {"url": "https://t", "workspace": "w", "feature_service": "f"}}
    config = {
        "provider": section,
        section: {**required.get(section, {}), "max_age_seconds": -1},
    }
    lines = _message({"feature_store": config})
    assert lines == [
        HEADER,
        f"  feature_store.{section}.max_age_seconds: Input should be greater than 0 (got -1)",
    ]
    # null (never stale) and a positive number, one or per entity type, are fine.
    for fine in (None, 60, {"user": 60, "session": 0.5}):
        config[section] = {**required.get(section, {}), "max_age_seconds": fine}
        assert FeatureStoreConfig.model_validate(config).provider == section


def test_the_readme_shows_the_formatters_own_words(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("```text\nInvalid feature store configuration (llmfs.yaml):\n") + 8
    shown = readme[start : readme.index("```", start)].strip().splitlines()
    path = tmp_path / "llmfs.yaml"
    path.write_text(
        "feature_store:\n  provider: local\n  timout_ms: 50\n  cache: {ttl_seconds: soon}\n"
        "  local: {max_age_seconds: [1]}\n  redis: {max_age_seconds: -1}\n",
        encoding="utf-8",
    )
    with pytest.raises(FeatureConfigError) as info:
        load_client(path)
    assert str(info.value).replace(str(path), "llmfs.yaml").splitlines() == shown
