"""The configuration base: every bad value is a FeatureConfigError naming its key."""

from __future__ import annotations

import pytest
from pydantic import Field

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.settings import ConfigModel, client_settings, settings_from, validate_config


class _Inner(ConfigModel):
    limit: int = Field(1, gt=0)


class _Outer(ConfigModel):
    config_name = "feature_store"
    inner: _Inner | None = None
    name: str = "x"
    choice: _Inner | list[_Inner] | None = None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"name": 3}, "  name: expected a string (got 3)"),
        ({"inner": {"limit": -1}}, "  inner.limit: Input should be greater than 0 (got -1)"),
        (
            {"inner": {"lmit": 2}},
            "  inner.lmit: unknown key; valid keys: limit; did you mean 'limit'?",
        ),
        (
            {"nmae": "y"},
            "  nmae: unknown key; valid keys: choice, inner, name; did you mean 'name'?",
        ),
        ({"inner": 5}, "  inner: expected a mapping or null (got 5)"),
        ({"choice": {"zz": 1}}, "  choice.zz: unknown key; valid keys: limit"),
        ({"choice": [{"limit": 0}]}, "  choice.0.limit: Input should be greater than 0 (got 0)"),
        ({"choice": "x"}, "  choice: expected a mapping, a list of mappings, or null (got 'x')"),
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
        "  feature_store.b: unknown key; valid keys: choice, inner, name",
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


def test_client_settings_is_the_one_rule_for_positional_settings() -> None:
    def build(*args: object, **fields: object) -> _Inner:
        return client_settings(_Inner, "Client", args, fields, positional=("limit",))

    assert build() == build(None) == _Inner()
    assert build(3) == build(limit=3) == _Inner(limit=3)
    given = _Inner(limit=4)
    assert build(given) is given
    with pytest.raises(FeatureConfigError, match=r"^Client got limit twice, by position and"):
        build(3, limit=3)
    with pytest.raises(FeatureConfigError, match=r"^Client takes at most 1 positional setting"):
        build(3, 4)
    with pytest.raises(FeatureConfigError, match=r"^Client: a _Inner holds every setting"):
        build(given, 4)
    with pytest.raises(FeatureConfigError, match=r"^Pass a _Inner or its fields, not both"):
        build(given, limit=4)
    with pytest.raises(FeatureConfigError, match=r"^Expected a _Inner, got dict"):
        build({"limit": 3})
    with pytest.raises(FeatureConfigError, match=r"limit: Input should be greater than 0"):
        build(0)
