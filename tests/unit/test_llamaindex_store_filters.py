"""store_filters without any store: recognising a store, the per-store forms, the errors,
and the README's store table (its behaviour is proven in
tests/integration/test_llamaindex_filter_stores.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest
from llama_index.core.vector_stores.types import (
    FilterCondition,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.vector_stores.chroma.base import _to_chroma_filter

from llamaindex_featurestore.store_filters import (
    ALL_OPS,
    PROFILES,
    StoreProfile,
    check_store_filters,
    store_profile,
    to_metadata_filters,
)
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FilterOp
from tests.unit.test_llamaindex_context import cond

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def fake_store(dotted: str) -> Any:
    """An instance of a class named like ``dotted``, with nothing imported."""
    module, _, name = dotted.rpartition(".")
    return type(name, (), {"__module__": module})()


QDRANT = fake_store("llama_index.vector_stores.qdrant.base.QdrantVectorStore")
CHROMA = fake_store("llama_index.vector_stores.chroma.base.ChromaVectorStore")


def test_stores_are_recognised_by_dotted_class_name_including_subclasses() -> None:
    assert (
        store_profile(QDRANT) is PROFILES["llama_index.vector_stores.qdrant.base.QdrantVectorStore"]
    )
    sub = type("MyQdrant", (type(QDRANT),), {"__module__": "app.stores"})()
    assert store_profile(sub) is store_profile(QDRANT)
    assert store_profile(fake_store("app.stores.PineconeVectorStore")) is None
    assert store_profile(None) is None


def shape(filters: MetadataFilter | MetadataFilters) -> Any:
    """A filter tree as nested tuples: ``(condition, [...])`` or ``(key, op, value)``."""
    if isinstance(filters, MetadataFilters):
        return (filters.condition.value, [shape(f) for f in filters.filters])  # type: ignore[union-attr]
    return (filters.key, filters.operator.value, filters.value)


@pytest.mark.parametrize(
    ("op", "value", "sent"),
    [
        ("eq", 2, ("n", "==", 2.0)),
        ("eq", True, ("n", "==", True)),
        ("ne", "a", ("not", [("n", "==", "a")])),
        ("in", ["a", "b"], ("n", "in", ["a", "b"])),
        ("in", [1, 2], ("or", [("n", "==", 1.0), ("n", "==", 2.0)])),
        ("in", [True], ("n", "==", True)),
        ("nin", ["a"], ("not", [("n", "in", ["a"])])),
        ("nin", [1.5, 2], ("not", [("n", "==", 1.5), ("n", "==", 2.0)])),
        ("lte", 2.5, ("n", "<=", 2.5)),
    ],
)
def test_qdrant_gets_the_forms_it_evaluates_right(op: str, value: object, sent: Any) -> None:
    filters = to_metadata_filters([cond("n", op, value)], vector_store=QDRANT)
    assert filters is not None
    (only,) = filters.filters
    assert shape(only) == sent


@pytest.mark.parametrize(
    ("op", "value", "where"),
    [
        ("lt", 2, {"n": {"$lt": 2}}),
        ("lt", 2.0, {"n": {"$lt": 2.0}}),
        ("eq", 2.5, {"$and": [{"n": {"$eq": 2.5}}, {"n": {"$ne": 2.0}}]}),
        ("ne", -2.5, {"$or": [{"n": {"$ne": -2.5}}, {"n": {"$eq": -2.0}}]}),
        ("lt", 2.5, {"$or": [{"n": {"$lt": 2.5}}, {"n": {"$eq": 2.0}}]}),
        ("lte", -2.5, {"$and": [{"n": {"$lte": -2.5}}, {"n": {"$ne": -2.0}}]}),
        ("gt", -2.5, {"$or": [{"n": {"$gt": -2.5}}, {"n": {"$eq": -2.0}}]}),
        ("gte", 2.5, {"$and": [{"n": {"$gte": 2.5}}, {"n": {"$ne": 2.0}}]}),
        ("in", [2.5, 3.0], {"$and": [{"n": {"$in": [2.5, 3.0]}}, {"n": {"$nin": [2.0]}}]}),
        ("in", [2.5, 2.0], {"n": {"$in": [2.5, 2.0]}}),
        ("nin", [0.5], {"$or": [{"n": {"$nin": [0.5]}}, {"n": {"$in": [0.0]}}]}),
        ("in", ["a"], {"n": {"$in": ["a"]}}),
    ],
)
def test_chroma_gets_a_companion_clause_for_fractional_operands(
    op: str, value: object, where: dict[str, Any]
) -> None:
    filters = to_metadata_filters([cond("n", op, value)], vector_store=CHROMA)
    assert filters is not None
    assert _to_chroma_filter(filters) == where


def test_an_and_base_is_merged_and_an_or_base_nested() -> None:
    tenant = MetadataFilter(key="tenant", value="t1")
    rule = cond("category", "eq", "running")
    for condition in (FilterCondition.AND, None):
        base = MetadataFilters(filters=[tenant], condition=condition)
        merged = to_metadata_filters([rule], base)
        assert merged is not None
        assert merged.condition is FilterCondition.AND
        assert [shape(f) for f in merged.filters] == [
            ("tenant", "==", "t1"),
            ("category", "==", "running"),
        ]
    either = MetadataFilters(filters=[tenant, tenant], condition=FilterCondition.OR)
    nested = to_metadata_filters([rule], either)
    assert nested is not None
    assert nested.filters[0] is either


def test_a_store_lacking_an_operator_is_named_with_the_stores_that_have_it() -> None:
    narrow = StoreProfile("NarrowStore", "narrow-pkg", frozenset({"eq", "in"}))
    check_store_filters(narrow, ["eq", "in", "eq"])
    with pytest.raises(FeatureConfigError) as err:
        check_store_filters(narrow, ["nin", "eq", "lt"])
    assert str(err.value) == (
        "NarrowStore cannot apply filter op(s) lt, nin; it supports eq, in. Stores that "
        "support them: ChromaVectorStore, QdrantVectorStore, SimpleVectorStore"
    )


def test_nesting_check_names_the_condition() -> None:
    simple = PROFILES["llama_index.core.vector_stores.simple.SimpleVectorStore"]
    inner = MetadataFilters(filters=[MetadataFilter(key="a", value=1)])
    check_store_filters(simple, ["eq"], MetadataFilters(filters=[MetadataFilter(key="a", value=1)]))
    check_store_filters(simple, [], MetadataFilters(filters=[inner]))  # no rules: nothing to nest
    with pytest.raises(FeatureConfigError, match="static filters with condition 'and'"):
        check_store_filters(simple, ["eq"], MetadataFilters(filters=[inner]))
    base = MetadataFilters(
        filters=[MetadataFilter(key="a", value=1)], condition=FilterCondition.NOT
    )
    with pytest.raises(FeatureConfigError, match="static filters with condition 'not'"):
        check_store_filters(simple, ["eq"], base)


def readme_rows() -> list[str]:
    rows = [
        "| Store | Package | " + " | ".join(ALL_OPS) + " | How filters reach it |",
        "| --- | --- | " + " | ".join("---" for _ in ALL_OPS) + " | --- |",
    ]
    for p in PROFILES.values():
        cells = " | ".join("yes" if op in p.operators else "no" for op in ALL_OPS)
        rows.append(f"| `{p.name}` | {p.package} | {cells} | {p.note} |")
    return rows


def test_the_readme_store_table_is_the_profiles() -> None:
    assert "\n".join(readme_rows()) in README


def test_the_table_order_is_every_rule_operator() -> None:
    assert set(ALL_OPS) == set(get_args(FilterOp))
    for profile in PROFILES.values():
        assert profile.operators <= set(ALL_OPS), profile.name
