"""FeatureFilterSpec: rule validation, resolution from vectors, Chroma translation, matching."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from pydantic import ValidationError

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import (
    FeatureFilterSpec,
    FilterRule,
    ResolvedCondition,
    chroma_where,
)
from llm_featurestore.models import FeatureStatus, FeatureVector

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5),
    ]
)


def vector(
    values: dict[str, Any],
    statuses: dict[str, FeatureStatus] | None = None,
    *,
    entity_type: str = "user",
) -> FeatureVector:
    names = list(values)
    return FeatureVector.build(
        entity_id="u1",
        entity_type=entity_type,
        feature_names=names,
        values=values,
        statuses=statuses or dict.fromkeys(names, FeatureStatus.PRESENT),
        source="test",
    )


FULL = vector(
    {"favorite_category": "shoes", "preferred_brands": ["acme", "zeta"], "avg_order_value": 120}
)


def test_feature_names_in_rule_order_without_duplicates() -> None:
    spec = FeatureFilterSpec(
        rules=[
            FilterRule(field="a", op="gte", feature="x"),
            FilterRule(field="b", op="eq", feature="y"),
            FilterRule(field="c", op="lte", feature="x", factor=2),
        ]
    )
    assert spec.feature_names == ["x", "y"]
    assert spec.entity_type == "user"


def test_full_vector_translates_to_chroma_and() -> None:
    assert SPEC.to_chroma_where(FULL) == {
        "$and": [
            {"category": {"$eq": "shoes"}},
            {"brand": {"$in": ["acme", "zeta"]}},
            {"price": {"$lte": 180.0}},
        ]
    }


def test_single_condition_is_not_wrapped_in_and() -> None:
    v = vector(
        {"favorite_category": "shoes", "preferred_brands": None, "avg_order_value": None},
        {
            "favorite_category": FeatureStatus.PRESENT,
            "preferred_brands": FeatureStatus.NOT_FOUND,
            "avg_order_value": FeatureStatus.NULL_VALUE,
        },
    )
    assert SPEC.to_chroma_where(v) == {"category": {"$eq": "shoes"}}


def test_no_vector_means_no_filter() -> None:
    assert SPEC.resolve(None) == []
    assert SPEC.to_chroma_where(None) is None
    assert SPEC.matches(None, {}) is True


@pytest.mark.parametrize(
    "status",
    [
        FeatureStatus.NOT_FOUND,
        FeatureStatus.NULL_VALUE,
        FeatureStatus.STALE,
        FeatureStatus.TIMED_OUT,
        FeatureStatus.UNAVAILABLE,
    ],
)
def test_unusable_statuses_drop_every_rule(status: FeatureStatus) -> None:
    names = SPEC.feature_names
    v = vector({n: "kept-for-stale" for n in names}, dict.fromkeys(names, status))
    assert SPEC.resolve(v) == []
    assert SPEC.to_chroma_where(v) is None


def test_dead_store_vector_drops_every_rule() -> None:
    v = FeatureVector.unavailable(
        "u1", "user", SPEC.feature_names, status=FeatureStatus.UNAVAILABLE, source="x"
    )
    assert SPEC.to_chroma_where(v) is None


def test_defaulted_value_is_used() -> None:
    v = vector(
        {"favorite_category": "books", "preferred_brands": [], "avg_order_value": 10},
        {
            "favorite_category": FeatureStatus.DEFAULTED,
            "preferred_brands": FeatureStatus.PRESENT,
            "avg_order_value": FeatureStatus.DEFAULTED,
        },
    )
    # The empty list drops its rule (cold start), the defaults apply.
    assert SPEC.to_chroma_where(v) == {
        "$and": [{"category": {"$eq": "books"}}, {"price": {"$lte": 15.0}}]
    }


def test_scalar_feature_with_in_becomes_one_item_list() -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="brand", op="nin", feature="b")])
    assert spec.to_chroma_where(vector({"b": "acme"})) == {"brand": {"$nin": ["acme"]}}


def test_list_drops_none_items_and_mixed_numbers_become_floats() -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="size", op="in", feature="s")])
    assert spec.to_chroma_where(vector({"s": [1, None, 2.5]})) == {"size": {"$in": [1.0, 2.5]}}
    assert spec.to_chroma_where(vector({"s": [3, 4]})) == {"size": {"$in": [3, 4]}}
    assert spec.to_chroma_where(vector({"s": [None]})) is None


def test_mixed_kind_list_is_dropped_with_warning(caplog: pytest.LogCaptureFixture) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="brand", op="in", feature="b")])
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.filters"):
        assert spec.resolve(vector({"b": ["acme", 3]})) == []
    assert "Dropping filter rule brand in b" in caplog.text
    assert "mixes kinds" in caplog.text


def test_list_value_with_eq_is_dropped_with_hint(caplog: pytest.LogCaptureFixture) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="c")])
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.filters"):
        assert spec.resolve(vector({"c": ["a", "b"]})) == []
    assert "use op 'in' for lists" in caplog.text


@pytest.mark.parametrize("value", ["cheap", True, float("inf")])
def test_non_numeric_value_for_ordering_is_dropped(
    value: Any, caplog: pytest.LogCaptureFixture
) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="price", op="gt", feature="p")])
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.filters"):
        assert spec.resolve(vector({"p": value})) == []
    assert "is not a finite number" in caplog.text


def test_factor_needs_a_number_even_for_eq(caplog: pytest.LogCaptureFixture) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="x", op="eq", feature="f", factor=2)])
    assert spec.to_chroma_where(vector({"f": 4})) == {"x": {"$eq": 8.0}}
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.filters"):
        assert spec.resolve(vector({"f": "four"})) == []
    assert "is not a finite number" in caplog.text


def test_factor_with_list_operator_is_rejected() -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"Invalid FilterRule:\n  factor: Value error, factor applies to one number, "
        r"but rule on field 'brand' uses op 'in'",
    ):
        FilterRule(field="brand", op="in", feature="b", factor=2)


def test_non_finite_factor_is_rejected() -> None:
    with pytest.raises(FeatureConfigError, match=r"factor: .*factor must be a finite number"):
        FilterRule(field="price", op="lte", feature="p", factor=float("nan"))


def test_rule_and_spec_forbid_unknown_fields_and_ops() -> None:
    with pytest.raises(
        FeatureConfigError, match="operator: unknown key; valid keys: factor, feature, field, op"
    ):
        FilterRule(field="a", op="eq", feature="f", operator="eq")  # type: ignore[call-arg]
    with pytest.raises(FeatureConfigError, match=r"  op: Input should be .*\(got 'like'\)"):
        FilterRule(field="a", op="like", feature="f")  # type: ignore[arg-type]
    with pytest.raises(FeatureConfigError, match="  field: String should have at least 1"):
        FilterRule(field="", op="eq", feature="f")
    with pytest.raises(FeatureConfigError, match="entity: unknown key; valid keys: entity_type"):
        FeatureFilterSpec(rules=[], entity="user")  # type: ignore[call-arg]


def test_a_bad_rule_inside_a_spec_is_named_by_its_location() -> None:
    with pytest.raises(FeatureConfigError, match=r"Invalid FeatureFilterSpec:\n  rules\.1\.op:"):
        FeatureFilterSpec(
            rules=[
                {"field": "a", "op": "eq", "feature": "f"},
                {"field": "b", "op": "?", "feature": "g"},
            ]  # type: ignore[list-item]
        )


def test_rules_are_not_pydantic_errors() -> None:
    with pytest.raises(FeatureConfigError) as info:
        FilterRule(field="a", op="in", feature="f", factor=1)
    assert not isinstance(info.value, ValidationError)


def test_spec_loads_from_plain_dicts() -> None:
    spec = FeatureFilterSpec.model_validate(
        {"entity_type": "org", "rules": [{"field": "tier", "op": "eq", "feature": "plan"}]}
    )
    assert spec.rules[0] == FilterRule(field="tier", op="eq", feature="plan")


def test_vector_of_other_entity_type_is_a_config_error() -> None:
    v = vector({"favorite_category": "x"}, entity_type="organization")
    with pytest.raises(FeatureConfigError, match="entity type 'user', but got a vector for"):
        SPEC.resolve(v)


def test_vector_fetched_without_needed_features_is_a_config_error() -> None:
    v = vector({"favorite_category": "x"})
    with pytest.raises(
        FeatureConfigError, match="without feature\\(s\\) preferred_brands, avg_order_value"
    ):
        SPEC.to_chroma_where(v)


def cond(op: str, value: Any, field: str = "f") -> ResolvedCondition:
    rule = FilterRule(field=field, op=op, feature="x")  # type: ignore[arg-type]
    return ResolvedCondition(field=field, op=op, value=value, rule=rule)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "value", "metadata", "expected"),
    [
        ("eq", "x", {"f": "x"}, True),
        ("eq", "x", {"f": "y"}, False),
        ("eq", "x", {}, False),
        ("eq", 10.0, {"f": 10}, True),
        ("eq", 1, {"f": True}, False),
        ("eq", True, {"f": True}, True),
        ("eq", "10", {"f": 10}, False),
        ("ne", "x", {"f": "x"}, False),
        ("ne", "x", {"f": "y"}, True),
        ("ne", "x", {}, True),
        ("in", ["a", "b"], {"f": "b"}, True),
        ("in", ["a", "b"], {"f": "c"}, False),
        ("in", ["a"], {}, False),
        ("nin", ["a", "b"], {"f": "b"}, False),
        ("nin", ["a", "b"], {"f": "c"}, True),
        ("nin", ["a"], {}, True),
        ("lt", 10, {"f": 9.5}, True),
        ("lt", 10, {"f": 10}, False),
        ("lte", 10, {"f": 10}, True),
        ("gt", 10, {"f": 10}, False),
        ("gt", 10, {"f": 11}, True),
        ("gte", 10, {"f": 10.0}, True),
        ("gte", 10, {}, False),
        ("gte", 10, {"f": "11"}, False),
        ("gte", 0, {"f": True}, False),
    ],
)
def test_condition_matches_like_chroma(
    op: str, value: Any, metadata: dict[str, Any], expected: bool
) -> None:
    assert cond(op, value).matches(metadata) is expected


def test_spec_matches_requires_every_condition() -> None:
    ok = {"category": "shoes", "brand": "acme", "price": 180}
    assert SPEC.matches(FULL, ok)
    assert not SPEC.matches(FULL, {**ok, "price": 180.01})
    assert not SPEC.matches(FULL, {**ok, "brand": "other"})
    assert not SPEC.matches(FULL, {**ok, "category": "hats"})


def test_chroma_where_of_nothing_is_none() -> None:
    assert chroma_where([]) is None
    assert chroma_where([cond("eq", "x")]) == {"f": {"$eq": "x"}}


def test_empty_spec_never_filters() -> None:
    spec = FeatureFilterSpec()
    assert spec.feature_names == []
    assert spec.to_chroma_where(FULL) is None
