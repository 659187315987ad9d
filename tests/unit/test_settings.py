"""The configuration base: every bad value is a FeatureConfigError naming its key."""

from __future__ import annotations

import pytest
from pydantic import Field

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.settings import ConfigModel, settings_from, validate_config


class _Inner(ConfigModel):
    limit: int = Field(1, gt=0)


class _Outer(ConfigModel):
    config_name = "feature_store"
    inner: _Inner | None = None
    name: str = "x"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": 3}, "  name: Input should be a valid string (got 3)"),
        ({"inner": {"limit": -1}}, "  inner.limit: Input should be greater than 0 (got -1)"),
        ({"inner": {"lmit": 2}}, "  inner.lmit: unknown key; valid keys: limit"),
        ({"nmae": "y"}, "  nmae: unknown key; valid keys: inner, name"),
    ],
)
def test_constructor_errors_name_the_key(data: dict[str, object], expected: str) -> None:
    with pytest.raises(FeatureConfigError) as info:
        _Outer(**data)
    assert str(info.value).splitlines() == ["Invalid feature_store:", expected]


def test_validate_config_adds_origin_and_location() -> None:
    with pytest.raises(FeatureConfigError) as info:
        validate_config(
            _Outer, {"inner": {"limit": 0}, "b": 1}, origin="f.yaml", prefix=("feature_store",)
        )
    assert str(info.value).splitlines() == [
        "Invalid feature_store (f.yaml):",
        "  feature_store.inner.limit: Input should be greater than 0 (got 0)",
        "  feature_store.b: unknown key; valid keys: inner, name",
    ]


def test_long_values_are_cut_and_valid_input_builds_frozen_models() -> None:
    with pytest.raises(FeatureConfigError, match=r"\(got \['a{75}\.\.\.\)"):
        _Outer(name=["a" * 200])  # type: ignore[arg-type]
    built = validate_config(_Outer, {"inner": {"limit": 3}})
    assert built.inner == _Inner(limit=3)
    with pytest.raises(Exception, match="frozen"):
        built.name = "z"  # type: ignore[misc]


def test_settings_from_takes_the_model_or_its_fields_not_both() -> None:
    assert settings_from(_Inner, None, {"limit": 2}) == _Inner(limit=2)
    given = _Inner(limit=4)
    assert settings_from(_Inner, given, {}) is given
    with pytest.raises(
        FeatureConfigError, match=r"Pass a _Inner or its fields, not both \(got limit\)"
    ):
        settings_from(_Inner, given, {"limit": 5})
    with pytest.raises(FeatureConfigError, match=r"Expected a _Inner, got _Outer: .*\(limit\)"):
        settings_from(_Inner, _Outer(), {})  # type: ignore[arg-type]
    with pytest.raises(FeatureConfigError, match="lmit: unknown key; valid keys: limit"):
        settings_from(_Inner, None, {"lmit": 1})


def test_a_config_model_inside_a_plain_model_keeps_its_location() -> None:
    from pydantic import BaseModel, ValidationError

    class Plain(BaseModel):
        inner: _Inner

    with pytest.raises(ValidationError) as info:
        Plain(inner={"limit": 0})  # type: ignore[arg-type]
    assert info.value.errors()[0]["loc"] == ("inner", "limit")
    assert Plain.model_validate({"inner": {"limit": 2}}).inner == _Inner(limit=2)
