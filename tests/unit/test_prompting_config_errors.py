"""Every configuration error of the prompt rules and filters is a FeatureConfigError
whose message names its key (never pydantic's ValidationError)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from llm_featurestore.errors import FeatureConfigError, FeatureStoreError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.prompting.config import EnricherConfig

RULE = {"field": "price", "op": "lte", "feature": "aov"}

ENRICHER_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"max_feature_tokens": -1}, "max_feature_tokens", "greater than or equal to 1"),
    ({"max_feature_tokens": "many"}, "max_feature_tokens", "expected an integer (got 'many')"),
    ({"freshness_threshold_seconds": 0}, "freshness_threshold_seconds", "greater than 0"),
    ({"task_features": {"t": {"user": "tier"}}}, "task_features.t.user", "expected a list of"),
    ({"task_features": {"t": {"user": []}}}, "task_features", "is empty"),
    ({"default_features": ["tier"]}, "default_features", "expected a mapping of string to list"),
    ({"enabled_task_types": "general"}, "enabled_task_types", "expected a list of strings"),
    ({"sensitive_features": [1]}, "sensitive_features.0", "expected a string (got 1)"),
    ({"sensitive_policy": {"*": {"email": "show"}}}, "sensitive_policy.*.email", "'drop'"),
    ({"defaults_in_prompt": None}, "defaults_in_prompt", "expected a list of strings"),
    ({"detect_pii_names": "maybe"}, "detect_pii_names", "expected true or false"),
    ({"hash_salt": 7}, "hash_salt", "expected a string or null (got 7)"),
    ({"header": "two\nlines"}, "header", "header must be one line"),
    ({"footer": "- End"}, "footer", "may not start with '- '"),
    ({"header": "same", "footer": "same"}, "EnricherConfig", "header and footer must differ"),
    (
        {"sensitive_policy": {"*": {"email": "hash"}}, "hash_salt": None},
        "EnricherConfig",
        "sensitive_policy uses the 'hash' strategy but no hash_salt is set",
    ),
    ({"entity_labels": {"user": 1}}, "entity_labels.user", "expected a string"),
    ({"encoding": None}, "encoding", "expected a string (got None)"),
    ({"max_value_chars": 15}, "max_value_chars", "greater than or equal to 16"),
    ({"max_label_chars": 7}, "max_label_chars", "greater than or equal to 8"),
    ({"max_list_items": 0}, "max_list_items", "greater than or equal to 1"),
    ({"max_tokens": 10}, "max_tokens", "unknown key; valid keys: default_features, "),
]

FILTER_CASES: list[tuple[type[Any], dict[str, Any], str, str]] = [
    (FilterRule, {**RULE, "field": ""}, "field", "at least 1 character"),
    (FilterRule, {**RULE, "op": "like"}, "op", "(got 'like')"),
    (FilterRule, {**RULE, "feature": ""}, "feature", "at least 1 character"),
    (FilterRule, {**RULE, "factor": "x"}, "factor", "expected a number or null (got 'x')"),
    (FilterRule, {**RULE, "factor": float("inf")}, "factor", "finite number"),
    (FilterRule, {**RULE, "op": "in", "factor": 2}, "factor", "factor applies to one number"),
    (FilterRule, {**RULE, "operator": "eq"}, "operator", "valid keys: factor, feature, field, op"),
    (FilterRule, {"field": "price", "op": "lte"}, "feature", "Field required"),
    (FeatureFilterSpec, {"rules": [{**RULE, "op": "?"}]}, "rules.0.op", "Input should be"),
    (FeatureFilterSpec, {"rules": [RULE], "entity_type": ""}, "entity_type", "at least 1"),
    (FeatureFilterSpec, {"rules": "all"}, "rules", "expected a list of mappings"),
    (
        FeatureFilterSpec,
        {"rule": []},
        "rule",
        "unknown key; valid keys: entity_type, request_data, rules",
    ),
]


def assert_names_key(exc: BaseException, model: str, key: str, text: str) -> None:
    assert isinstance(exc, FeatureConfigError)
    assert isinstance(exc, FeatureStoreError)
    assert not isinstance(exc, ValidationError)
    message = str(exc)
    assert message.startswith(f"Invalid {model}")
    assert re.search(rf"^  {re.escape(key)}: .*{re.escape(text)}", message, re.MULTILINE), message


@pytest.mark.parametrize(("kwargs", "key", "text"), ENRICHER_CASES)
def test_enricher_config_errors_name_their_key(kwargs: dict[str, Any], key: str, text: str) -> None:
    with pytest.raises(FeatureConfigError) as info:
        EnricherConfig(**kwargs)
    assert_names_key(info.value, "EnricherConfig", key, text)


@pytest.mark.parametrize(("model", "kwargs", "key", "text"), FILTER_CASES)
def test_filter_config_errors_name_their_key(
    model: type[Any], kwargs: dict[str, Any], key: str, text: str
) -> None:
    with pytest.raises(FeatureConfigError) as info:
        model(**kwargs)
    assert_names_key(info.value, model.__name__, key, text)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("max_feature_tokens: 0\n", "max_feature_tokens"),
        ("enricher:\n  max_feature_tokens: 0\n", "enricher.max_feature_tokens"),
        ("enricher:\n  task_features: {t: {user: tier}}\n", "enricher.task_features.t.user"),
        ("feature_store: {provider: local}\nenricher: {bogus: 1}\n", "enricher.bogus"),
    ],
)
def test_yaml_errors_name_the_file_and_the_dotted_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FeatureConfigError) as info:
        EnricherConfig.from_yaml(path)
    assert str(info.value).startswith(f"Invalid EnricherConfig ({path}):\n")
    assert re.search(rf"^  {re.escape(key)}: ", str(info.value), re.MULTILINE)


def test_every_problem_is_listed_once_per_line() -> None:
    with pytest.raises(FeatureConfigError) as info:
        EnricherConfig(max_feature_tokens=0, max_list_items=0)
    lines = str(info.value).splitlines()
    assert lines[0] == "Invalid EnricherConfig:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "max_feature_tokens",
        "max_list_items",
    ]


def test_configs_stay_frozen() -> None:
    config, rule = EnricherConfig(), FilterRule(**RULE)
    with pytest.raises(ValidationError):
        config.max_feature_tokens = 5  # type: ignore[misc]
    with pytest.raises(ValidationError):
        rule.op = "eq"  # type: ignore[misc]
    assert hash(rule) == hash(FilterRule(**RULE))
