"""Every configuration class of the library raises FeatureConfigError naming the bad key.

The classes are found, not listed: every ``ConfigModel`` subclass defined in an
``llm_featurestore`` module, so a new one is covered the day it is written.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import llm_featurestore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.settings import BackendConfig, ConfigModel

_DRIVER_MODULES = ("cli.__main__",)


def _all_config_models() -> list[type[ConfigModel]]:
    for info in pkgutil.walk_packages(llm_featurestore.__path__, "llm_featurestore."):
        if not info.name.endswith(_DRIVER_MODULES):
            importlib.import_module(info.name)
    found: list[type[ConfigModel]] = []
    todo = list(ConfigModel.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("llm_featurestore.") and cls is not BackendConfig:
            found.append(cls)
    return sorted(set(found), key=lambda c: f"{c.__module__}.{c.__qualname__}")


MODELS = _all_config_models()


def test_the_library_has_its_config_models() -> None:
    names = {cls.__name__ for cls in MODELS}
    expected = {
        "CacheConfig",
        "CircuitBreakerConfig",
        "CoalesceConfig",
        "EnricherConfig",
        "FeastClientConfig",
        "FeastHttpClientConfig",
        "FeatureStoreConfig",
        "LocalFeatureStoreConfig",
        "MonitorConfig",
        "RedisFeatureStoreConfig",
        "TectonClientConfig",
        "WorkerConfig",
    }
    assert expected <= names


@pytest.mark.parametrize("model", MODELS, ids=lambda c: c.__name__)
def test_an_unknown_key_names_itself_and_the_valid_keys(model: type[ConfigModel]) -> None:
    with pytest.raises(FeatureConfigError) as info:
        model(no_such_setting=1)
    message = str(info.value)
    assert "no_such_setting: unknown key; valid keys: " in message
    listed = message.split("valid keys: ", 1)[1].splitlines()[0].split(", ")
    assert listed == sorted(model.model_fields)


@pytest.mark.parametrize("model", MODELS, ids=lambda c: c.__name__)
def test_a_wrong_type_names_its_key(model: type[ConfigModel]) -> None:
    # A list fits no scalar, mapping or model field of any of these classes.
    name = next(
        (n for n, f in model.model_fields.items() if "list" not in str(f.annotation).lower()),
        None,
    )
    if name is None:
        pytest.skip(f"{model.__name__} has only list fields")
    with pytest.raises(FeatureConfigError) as info:
        model(**{name: [object()]})
    assert f"  {name}" in str(info.value)
