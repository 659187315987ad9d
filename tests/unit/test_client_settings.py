"""Every client takes its settings by one rule (settings.client_settings): the model
alone, its fields by keyword, or its first settings by position, never one twice."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.feast import FeastClient, FeastClientConfig
from llm_featurestore.clients.feast_http import FeastHttpClient, FeastHttpClientConfig
from llm_featurestore.clients.local import LocalFeatureStore, LocalFeatureStoreConfig
from llm_featurestore.clients.redis import RedisFeatureStore, RedisFeatureStoreConfig
from llm_featurestore.clients.tecton import TectonClient, TectonClientConfig
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.settings import BackendConfig


class _FeastStore:
    """What FeastClient needs of an injected ``feast.FeatureStore`` at construction."""

    project = "shop"
    repo_path = Path("repo")


@dataclass
class Case:
    cls: type[FeatureStoreClient]
    model: Callable[[], BackendConfig]
    values: tuple[Any, ...]
    """A valid value for each of the client's positional settings, in order."""
    keywords: dict[str, Any] = field(default_factory=dict)
    """What else a working construction needs (never a positional setting)."""


CASES = [
    Case(LocalFeatureStore, LocalFeatureStoreConfig, ("features.json",)),
    Case(RedisFeatureStore, RedisFeatureStoreConfig, ("redis://127.0.0.1:1/0",)),
    Case(FeastHttpClient, lambda: FeastHttpClientConfig(url="http://h"), ("http://h",)),
    Case(
        TectonClient,
        lambda: TectonClientConfig(url="https://t", workspace="w", feature_service="f"),
        ("https://t", "w", "f"),
        {"api_key": "k"},
    ),
    Case(
        FeastClient,
        lambda: FeastClientConfig(repo_path="repo"),
        ("repo", "shop"),
        {"store": _FeastStore()},
    ),
]


@pytest.fixture(params=CASES, ids=lambda c: c.cls.__name__)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def _refused(build: Callable[[], object]) -> str:
    with pytest.raises(FeatureConfigError) as info:
        build()
    return str(info.value)


def test_every_client_applies_the_one_positional_rule(case: Case) -> None:
    cls, names, first = case.cls, case.cls.positional_settings, case.values[0]
    model = case.model()
    assert len(names) == len(case.values)
    assert set(names) <= set(type(model).model_fields)
    # By position, by keyword, or the model: the same settings.
    by_position = cls(*case.values, **case.keywords)
    by_keyword = cls(**dict(zip(names, case.values, strict=True)), **case.keywords)
    assert by_position.config == by_keyword.config  # type: ignore[attr-defined]
    for client in (by_position, by_keyword):
        client.close()
    # A setting given twice is refused, never silently overridden.
    assert _refused(lambda: cls(first, **{names[0]: first}, **case.keywords)) == (
        f"{cls.__name__} got {names[0]} twice, by position and by keyword "
        f"({names[0]}=): pass each setting once"
    )
    # More positional arguments than positional settings.
    assert _refused(lambda: cls(*case.values, "extra", **case.keywords)) == (
        f"{cls.__name__} takes at most {len(names)} positional setting(s) "
        f"({', '.join(names)}), got {len(names) + 1}: pass the others by keyword"
    )
    # The model holds everything: nothing beside it, by position or by keyword.
    model_name = type(model).__name__
    assert _refused(lambda: cls(model, "extra")) == (
        f"{cls.__name__}: a {model_name} holds every setting; pass it alone, "
        "not with 1 more positional argument(s)"
    )
    assert _refused(lambda: cls(model, **{names[0]: first})).startswith(
        f"Pass a {model_name} or its fields, not both (got {names[0]})"
    )
    # A first argument that is neither the model nor a setting.
    assert _refused(lambda: cls({names[0]: first}, **case.keywords)).startswith(  # type: ignore[arg-type]
        f"Expected a {model_name}, got dict: pass the settings model or its fields ("
    )
