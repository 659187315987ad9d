"""``MetadataFilters`` for resolved conditions, in the form each vector store evaluates right.

LlamaIndex's ``MetadataFilters`` have one shape for every store, but each store package
translates them itself, not always with the core's meaning
(:meth:`~llm_featurestore.filters.ResolvedCondition.matches`: ``ne``/``nin`` keep
documents that lack the field, ints and floats compare as numbers, booleans never equal
numbers). Running every operator on each store
(``tests/integration/test_llamaindex_filter_stores.py``) showed:

* ``SimpleVectorStore`` (``VectorStoreIndex``'s default): all eight operators, but it
  cannot nest ``MetadataFilters``. Static filters that are an AND are merged into the
  same list; an OR/NOT one cannot be combined with feature rules (FeatureConfigError).
  It compares with Python's operators: on a field that mixes kinds, ``True`` equals ``1``
  and an ordering against text raises ``TypeError``.
* ``ChromaVectorStore``: all eight, but Chroma 1.5 compares an int metadata value with
  a fractional float operand truncated toward zero (``eq 2.5`` keeps ``2``, ``lt 2.5``
  drops it); such a comparison gets an exact companion clause (:func:`_chroma_filter`).
* ``QdrantVectorStore``: its ``ne``/``nin`` (``MatchExcept``) drop points that lack the
  field, ``MatchValue``/``MatchAny`` compare ints only with ints and refuse floats and
  booleans. So numbers in ``eq`` go as floats (a ``Range``), ``ne``/``nin`` as
  ``NOT(eq)``/``NOT(in)``, and ``in``/``nin`` over numbers or booleans as an OR of ``eq``.
* ``FaissVectorStore``: no metadata filters at all (it raises on any), so a filtered
  retriever over it is refused at construction.

A store is recognised by its class or a base class, compared by dotted name, so no store
package is imported. Any other store gets the plain filters, as LlamaIndex defines them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FilterOp, ResolvedCondition

__all__ = [
    "ALL_OPS",
    "PROFILES",
    "StoreProfile",
    "check_store_filters",
    "check_sync_search",
    "plain_filter",
    "searches_async",
    "store_profile",
    "to_metadata_filters",
]

ALL_OPS: tuple[FilterOp, ...] = ("eq", "ne", "in", "nin", "lt", "lte", "gt", "gte")
"""Every operator a :class:`~llm_featurestore.filters.FilterRule` may use, in table order."""

Translate = Callable[[ResolvedCondition], MetadataFilter | MetadataFilters]


def plain_filter(cond: ResolvedCondition) -> MetadataFilter:
    """``cond`` as one ``MetadataFilter`` with the operator of the same name."""
    # model_construct: the core already checked the value's shape for its operator, and
    # MetadataFilter's strict types would reject boolean values the stores accept.
    return MetadataFilter.model_construct(
        key=cond.field, value=cond.value, operator=FilterOperator[cond.op.upper()]
    )


def _eq(field: str, value: Any) -> MetadataFilter:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return MetadataFilter.model_construct(
        key=field, value=float(value) if number else value, operator=FilterOperator.EQ
    )


def _qdrant_filter(cond: ResolvedCondition) -> MetadataFilter | MetadataFilters:
    """``cond`` in the form Qdrant evaluates with the core's semantics (module docstring)."""
    if cond.op == "eq":
        return _eq(cond.field, cond.value)
    if cond.op == "ne":
        return MetadataFilters(filters=[_eq(cond.field, cond.value)], condition=FilterCondition.NOT)
    if cond.op in ("in", "nin"):
        if all(isinstance(v, str) for v in cond.value):
            inner: list[MetadataFilter | MetadataFilters] = [
                MetadataFilter.model_construct(
                    key=cond.field, value=list(cond.value), operator=FilterOperator.IN
                )
            ]
            condition = FilterCondition.AND
        else:
            inner = [_eq(cond.field, v) for v in cond.value]
            condition = FilterCondition.OR
        if cond.op == "nin":  # NOT: none of them holds
            return MetadataFilters(filters=inner, condition=FilterCondition.NOT)
        return inner[0] if len(inner) == 1 else MetadataFilters(filters=inner, condition=condition)
    return plain_filter(cond)


def _fraction(value: Any) -> bool:
    """True for a float with a fractional part (Chroma truncates it against int metadata)."""
    return isinstance(value, float) and math.isfinite(value) and not value.is_integer()


def _group(condition: FilterCondition, *parts: MetadataFilter) -> MetadataFilters:
    return MetadataFilters(filters=list(parts), condition=condition)


def _chroma_filter(cond: ResolvedCondition) -> MetadataFilter | MetadataFilters:
    """``cond`` in the form Chroma evaluates with the core's semantics.

    Chroma compares an int metadata value with a float operand truncated toward zero
    (``{"n": {"$eq": 2.5}}`` keeps ``n=2``; ``$lt 2.5`` drops it). An int never equals a
    fractional operand, so each such comparison gets a companion on the nearby integer
    that is exact for ints and changes nothing for floats (``lt 2.5`` becomes
    ``lt 2.5 OR eq 2.0``, ``gte 2.5`` becomes ``gte 2.5 AND ne 2.0``).
    """
    op, value, plain = cond.op, cond.value, plain_filter(cond)

    def on(op_: str, bound: Any) -> MetadataFilter:
        return MetadataFilter.model_construct(
            key=cond.field, value=bound, operator=FilterOperator[op_.upper()]
        )

    if op in ("in", "nin"):
        numbers = {v for v in value if not isinstance(v, bool)}
        near = sorted({float(math.trunc(v)) for v in value if _fraction(v)} - numbers)
        if not near:
            return plain
        if op == "in":  # drop the ints Chroma matches by truncation
            return _group(FilterCondition.AND, plain, on("nin", near))
        return _group(FilterCondition.OR, plain, on("in", near))
    if not _fraction(value):
        return plain
    and_, or_ = FilterCondition.AND, FilterCondition.OR
    companion = {
        "eq": (and_, "ne", math.trunc(value)),
        "ne": (or_, "eq", math.trunc(value)),
        "lt": (or_, "eq", math.floor(value)),
        "lte": (and_, "ne", math.ceil(value)),
        "gt": (or_, "eq", math.ceil(value)),
        "gte": (and_, "ne", math.floor(value)),
    }
    condition, op_, bound = companion[op]
    return _group(condition, plain, on(op_, float(bound)))


@dataclass(frozen=True)
class StoreProfile:
    """What one vector store class does with ``MetadataFilters``.

    Attributes:
        name: The class name, e.g. ``"QdrantVectorStore"``.
        package: The PyPI package that ships it.
        operators: The rule operators it evaluates with the core's semantics (after
            ``translate``); empty when it cannot filter by metadata at all.
        nests: Whether it accepts ``MetadataFilters`` inside ``MetadataFilters``.
        translate: One resolved condition to what this store is sent.
        sync_client: The attribute that must be set for the store's ``query`` to work
            (Qdrant's ``_client``); ``None`` when it needs nothing more.
        async_client: The same for its own ``aquery`` (Qdrant's ``_aclient``).
        note: One line on how filters reach it, for the README table.
    """

    name: str
    package: str
    operators: frozenset[str]
    nests: bool = True
    translate: Translate = plain_filter
    sync_client: str | None = None
    async_client: str | None = None
    note: str = ""


PROFILES: dict[str, StoreProfile] = {
    "llama_index.core.vector_stores.simple.SimpleVectorStore": StoreProfile(
        "SimpleVectorStore",
        "llama-index-core",
        frozenset(ALL_OPS),
        nests=False,
        note="no nesting: static filters must be an AND; Python comparisons on mixed-kind fields",
    ),
    "llama_index.vector_stores.chroma.base.ChromaVectorStore": StoreProfile(
        "ChromaVectorStore",
        "llama-index-vector-stores-chroma",
        frozenset(ALL_OPS),
        translate=_chroma_filter,
        note="a fractional operand gets an exact companion clause for int metadata",
    ),
    "llama_index.vector_stores.qdrant.base.QdrantVectorStore": StoreProfile(
        "QdrantVectorStore",
        "llama-index-vector-stores-qdrant",
        frozenset(ALL_OPS),
        translate=_qdrant_filter,
        sync_client="_client",
        async_client="_aclient",
        note="ne/nin sent as NOT, numbers as floats, in over numbers/bools as OR of eq",
    ),
    "llama_index.vector_stores.faiss.base.FaissVectorStore": StoreProfile(
        "FaissVectorStore",
        "llama-index-vector-stores-faiss",
        frozenset(),
        note="no metadata filters: FeatureConfigError at construction",
    ),
}
"""Known store classes by dotted name (``module.QualName``); subclasses match too."""


def store_profile(vector_store: object) -> StoreProfile | None:
    """The profile of ``vector_store``'s class or nearest known base class, else ``None``."""
    for cls in type(vector_store).__mro__:
        profile = PROFILES.get(f"{cls.__module__}.{cls.__qualname__}")
        if profile is not None:
            return profile
    return None


def _names(predicate: Callable[[StoreProfile], bool]) -> str:
    return ", ".join(sorted(p.name for p in PROFILES.values() if predicate(p)))


def _flat(base: MetadataFilters | None) -> bool:
    """True when ``base`` can be merged into an AND list without nesting."""
    if base is None or not base.filters:
        return True
    and_ = base.condition in (FilterCondition.AND, None)
    return and_ and all(isinstance(f, MetadataFilter) for f in base.filters)


def check_store_filters(
    profile: StoreProfile, ops: Iterable[str], base: MetadataFilters | None = None
) -> None:
    """Refuse rule operators ``ops`` (with static filters ``base``) the store cannot apply.

    Raises:
        FeatureConfigError: the store cannot filter by metadata, lacks one of ``ops``,
            or cannot nest and ``base`` is not a plain AND list; the message names the
            store and the stores that can.
    """
    used = sorted(set(ops))
    if not profile.operators and (used or (base is not None and base.filters)):
        raise FeatureConfigError(
            f"{profile.name} ({profile.package}) cannot filter by metadata: it raises on any "
            f"MetadataFilters. Use a store that can ({_names(lambda p: bool(p.operators))}), "
            "or rank by features instead of filtering with FeatureRerankPostprocessor"
        )
    missing = [op for op in used if op not in profile.operators]
    if missing:
        raise FeatureConfigError(
            f"{profile.name} cannot apply filter op(s) {', '.join(missing)}; it supports "
            f"{', '.join(op for op in ALL_OPS if op in profile.operators)}. Stores that "
            f"support them: {_names(lambda p: set(missing) <= p.operators)}"
        )
    if used and not profile.nests and not _flat(base):
        assert base is not None
        condition = getattr(base.condition, "value", base.condition)
        raise FeatureConfigError(
            f"{profile.name} cannot nest MetadataFilters, so static filters with condition "
            f"'{condition}' (or nested filters) cannot be combined with the feature rules; "
            "pass static filters as one AND list of MetadataFilter, or use a store that "
            f"nests ({_names(lambda p: p.nests and bool(p.operators))})"
        )


def to_metadata_filters(
    conditions: Sequence[ResolvedCondition],
    base: MetadataFilters | None = None,
    *,
    vector_store: object | None = None,
) -> MetadataFilters | None:
    """LlamaIndex ``MetadataFilters`` for resolved conditions, AND-ed with ``base``.

    Args:
        conditions: From :meth:`~llm_featurestore.filters.FeatureFilterSpec.resolve`.
        base: Static filters; an AND is merged into the same list, an OR or NOT is
            nested whole, so it keeps its meaning.
        vector_store: The store the filters are for; a known one (:data:`PROFILES`)
            gets each condition in the form it evaluates with the core's semantics,
            and any other the plain ``MetadataFilter``.

    Returns:
        ``None`` when there is nothing to filter on; ``base`` itself when no condition
        applies.

    Raises:
        FeatureConfigError: the store cannot apply the conditions
            (:func:`check_store_filters`).
    """
    profile = None if vector_store is None else store_profile(vector_store)
    translate = plain_filter if profile is None else profile.translate
    if profile is not None and conditions:
        check_store_filters(profile, (c.op for c in conditions), base)
    filters: list[MetadataFilter | MetadataFilters] = [translate(c) for c in conditions]
    if base is None or not base.filters:
        return MetadataFilters(filters=filters) if filters else None
    if not filters:
        return base
    if base.condition in (FilterCondition.AND, None):
        return MetadataFilters(filters=[*base.filters, *filters])
    return MetadataFilters(filters=[base, *filters], condition=FilterCondition.AND)


def searches_async(vector_store: object) -> bool:
    """True when awaiting ``vector_store.aquery`` does not block and will work.

    False for stores that inherit the base ``aquery`` (it calls the sync ``query``:
    Chroma, ``SimpleVectorStore``) and for a known store whose async client is missing
    (a Qdrant store built with only a sync ``QdrantClient``, as in local mode); the
    retriever then searches in a worker thread.
    """
    if not isinstance(vector_store, BasePydanticVectorStore):
        return True
    if type(vector_store).aquery is BasePydanticVectorStore.aquery:
        return False
    profile = store_profile(vector_store)
    attr = None if profile is None else profile.async_client
    return attr is None or getattr(vector_store, attr, None) is not None


def check_sync_search(vector_store: object, who: str) -> None:
    """Refuse a sync search on a known store built without its sync client.

    Raises:
        FeatureConfigError: e.g. a ``QdrantVectorStore`` given only ``aclient=``, whose
            ``query`` would fail on ``None``; the message says what to pass instead.
    """
    profile = store_profile(vector_store)
    attr = None if profile is None else profile.sync_client
    if profile is not None and attr is not None and getattr(vector_store, attr, None) is None:
        raise FeatureConfigError(
            f"{who}.retrieve searches {profile.name} synchronously, but the store was built "
            "with only an async client; pass client= to the store as well, or call "
            f"{who}.aretrieve"
        )
