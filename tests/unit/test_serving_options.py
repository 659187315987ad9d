"""The serving layer's settings raise FeatureConfigError naming the bad key, directly and
as sections of another model."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.serving import CacheConfig, CircuitBreakerConfig, CoalesceConfig
from llm_featurestore.settings import ConfigModel


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (CacheConfig, {"ttl_seconds": -1}, "ttl_seconds: Input should be greater than 0 (got -1)"),
        (CacheConfig, {"max_entries": 0}, "max_entries: Input should be greater than 0 (got 0)"),
        (CacheConfig, {"ttl": 1}, "ttl: unknown key; valid keys: max_entries, ttl_seconds"),
        (CoalesceConfig, {"window_ms": 51}, "window_ms: Input should be less than or equal to 50"),
        (CoalesceConfig, {"max_batch": 0}, "max_batch: Input should be greater than 0"),
        (
            CircuitBreakerConfig,
            {"failure_threshold": 0},
            "failure_threshold: Input should be greater than 0",
        ),
        (
            CircuitBreakerConfig,
            {"reset_timeout_seconds": "soon"},
            "reset_timeout_seconds: expected a number (got 'soon')",
        ),
    ],
)
def test_bad_values_are_named(
    model: type[ConfigModel], fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(FeatureConfigError) as err:
        model(**fields)
    assert str(err.value).startswith(f"Invalid {model.__name__}:\n")
    assert message in str(err.value)


def test_nested_in_another_model_the_location_is_kept() -> None:
    class Section(BaseModel):
        cache: CacheConfig | None = None

    with pytest.raises(ValidationError) as err:
        Section.model_validate({"cache": {"ttl_seconds": 0}})
    assert err.value.errors()[0]["loc"] == ("cache", "ttl_seconds")
    assert Section.model_validate({"cache": {"ttl_seconds": 2}}).cache == CacheConfig(ttl_seconds=2)


def test_defaults_are_unchanged() -> None:
    assert CacheConfig() == CacheConfig(ttl_seconds=30.0, max_entries=100_000)
    assert CoalesceConfig() == CoalesceConfig(window_ms=1.0, max_batch=128)
    assert CircuitBreakerConfig() == CircuitBreakerConfig(
        failure_threshold=5, reset_timeout_seconds=10.0
    )
