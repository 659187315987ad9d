"""Turn an entity's features into metadata filters for vector search.

A :class:`FeatureFilterSpec` is a list of :class:`FilterRule` s, each tying a document
metadata field to a feature of one entity type::

    spec = FeatureFilterSpec(
        rules=[
            FilterRule(field="category", op="eq", feature="favorite_category"),
            FilterRule(field="brand", op="in", feature="preferred_brands"),
            FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5),
        ]
    )
    spec.to_chroma_where(vector)
    # {"$and": [{"category": {"$eq": "shoes"}}, {"brand": {"$in": ["acme"]}},
    #           {"price": {"$lte": 180.0}}]}

Resolution is pure (no I/O), so both the LangChain and the LlamaIndex adapters reuse it.
A rule whose feature has no usable value (cold start: NOT_FOUND, NULL_VALUE, STALE,
TIMED_OUT, UNAVAILABLE, ``None`` or an empty list) is dropped, so a new user or a dead
store widens the search instead of emptying it. A value of the wrong shape for its
operator (text for ``lte``, a list for ``eq``) is dropped too, with a warning.

:class:`FilterRule` and :class:`FeatureFilterSpec` are configuration
(:class:`~llm_featurestore.settings.ConfigModel`): frozen, unknown keys refused, and a
bad value raises :class:`~llm_featurestore.errors.FeatureConfigError` naming its key
(``rules.0.factor: ...``).

:meth:`ResolvedCondition.matches` evaluates a condition in memory with the semantics
Chroma applies to the same ``where`` clause: ``eq``/``in`` and the comparisons need the
field to be present, ``ne``/``nin`` match documents that lack it, ints and floats compare
as numbers, and booleans never equal numbers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from llm_featurestore.request_sources import RequestDataField, RequestDataSpec
from llm_featurestore.settings import ConfigModel

__all__ = [
    "FeatureFilterSpec",
    "FilterOp",
    "FilterRule",
    "ResolvedCondition",
    "chroma_where",
    "condition_matches",
]

logger = logging.getLogger(__name__)

FilterOp = Literal["eq", "ne", "in", "nin", "lt", "lte", "gt", "gte"]
"""Operators a rule may use; each maps to Chroma's ``$``-prefixed operator of the same name."""

_ORDERING = frozenset({"lt", "lte", "gt", "gte"})
_SCALAR_OPS = frozenset({"eq", "ne"}) | _ORDERING
_LIST_OPS = frozenset({"in", "nin"})


class FilterRule(ConfigModel):
    """One metadata condition whose operand is a feature value.

    ``FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5)`` keeps
    documents whose ``price`` is at most 1.5 times the user's ``avg_order_value``.

    Raises:
        FeatureConfigError: a value is invalid or a key unknown (the message names it).
    """

    field: str = Field(min_length=1, description='Document metadata field, e.g. "category".')
    op: FilterOp = Field(description="Comparison between the metadata field and the feature.")
    feature: str = Field(
        min_length=1, description='Feature of the spec\'s entity, e.g. "favorite_category".'
    )
    factor: float | None = Field(
        None,
        description="Multiply the (numeric) feature value by this before comparing; "
        "only with eq, ne, lt, lte, gt or gte.",
    )

    @field_validator("factor")
    @classmethod
    def _check_factor(cls, factor: float | None, info: ValidationInfo) -> float | None:
        if factor is None:
            return None
        op = info.data.get("op")
        if op in _LIST_OPS:
            raise ValueError(
                f"factor applies to one number, but rule on field '{info.data.get('field')}' "
                f"uses op '{op}'; use it with eq, ne, lt, lte, gt or gte, or drop factor"
            )
        if not math.isfinite(factor):
            raise ValueError(f"factor must be a finite number, got {factor!r}")
        return factor


class ResolvedCondition(BaseModel):
    """A rule with its feature value filled in, ready to filter documents.

    Not configuration but a value computed from it (so a plain frozen model, not a
    :class:`~llm_featurestore.settings.ConfigModel`).

    ``value`` is a number for ``lt``/``lte``/``gt``/``gte`` (``factor`` applied), one
    scalar (str, int, float or bool) for ``eq``/``ne``, and a non-empty list of scalars
    of one kind for ``in``/``nin``.
    """

    model_config = ConfigDict(frozen=True)

    field: str
    op: FilterOp
    value: Any
    rule: FilterRule

    def to_chroma(self) -> dict[str, Any]:
        """This condition as one Chroma ``where`` clause: ``{field: {"$op": value}}``."""
        value = list(self.value) if isinstance(self.value, (list, tuple)) else self.value
        return {self.field: {f"${self.op}": value}}

    def matches(self, metadata: Mapping[str, Any]) -> bool:
        """True when a document with this ``metadata`` satisfies the condition."""
        return condition_matches(self.field, self.op, self.value, metadata)


class FeatureFilterSpec(ConfigModel):
    """Rules that map one entity's features to metadata filters.

    Args:
        rules: The conditions; all that resolve must hold (logical AND).
        entity_type: The entity whose features the rules read, e.g. ``"user"``.
        request_data: Where the request data of the lookup comes from, for on-demand
            features the rules read (``{entity_type: {request_field: "query" |
            "input.<key>"}}``, see :mod:`llm_featurestore.request_sources`); the
            adapters' retrievers and lookups resolve it per request.

    Raises:
        FeatureConfigError: a rule or value is invalid, or a key unknown; the message
            names it with its location (``rules.0.op``).
    """

    rules: list[FilterRule] = Field(default_factory=list)
    entity_type: str = Field("user", min_length=1)
    request_data: RequestDataField = Field(default_factory=RequestDataSpec)

    @property
    def feature_names(self) -> list[str]:
        """The features to look up for this spec, in rule order, without duplicates."""
        return list(dict.fromkeys(rule.feature for rule in self.rules))

    def resolve(self, vector: FeatureVector | None) -> list[ResolvedCondition]:
        """The rules whose feature has a usable value, with that value filled in.

        Args:
            vector: The entity's features, fetched with at least :attr:`feature_names`;
                ``None`` (no entity) resolves to no conditions.

        Returns:
            One condition per applicable rule, in rule order. A rule is dropped when its
            feature is not PRESENT or DEFAULTED, is ``None`` or an empty list, or has a
            shape its operator cannot use (logged as a warning).

        Raises:
            FeatureConfigError: ``vector`` is for another entity type, or was fetched
                without a feature this spec needs.
        """
        if vector is None:
            return []
        if vector.entity_type != self.entity_type:
            raise FeatureConfigError(
                f"This filter spec reads features of entity type '{self.entity_type}', but "
                f"got a vector for '{vector.entity_type}' (id '{vector.entity_id}'); pass the "
                f"'{self.entity_type}' vector, or set entity_type on the spec"
            )
        missing = [name for name in self.feature_names if name not in vector.statuses]
        if missing:
            raise FeatureConfigError(
                f"The vector for {vector.entity_type} '{vector.entity_id}' was fetched without "
                f"feature(s) {', '.join(missing)} needed by the filter spec; include "
                "spec.feature_names in the lookup's feature_names"
            )
        usable = vector.usable
        out: list[ResolvedCondition] = []
        for rule in self.rules:
            if rule.feature not in usable:
                continue
            value = _operand(rule, usable[rule.feature])
            if value is not None:
                out.append(ResolvedCondition(field=rule.field, op=rule.op, value=value, rule=rule))
        return out

    def to_chroma_where(self, vector: FeatureVector | None) -> dict[str, Any] | None:
        """A Chroma ``where`` for ``vector``: ``None`` when no rule applies.

        One condition gives ``{field: {"$op": value}}``; several give
        ``{"$and": [...]}``. Raises like :meth:`resolve`.
        """
        return chroma_where(self.resolve(vector))

    def matches(self, vector: FeatureVector | None, metadata: Mapping[str, Any]) -> bool:
        """True when ``metadata`` satisfies every condition resolved from ``vector``."""
        return all(cond.matches(metadata) for cond in self.resolve(vector))


def condition_matches(field: str, op: FilterOp, value: Any, metadata: Mapping[str, Any]) -> bool:
    """True when ``metadata`` satisfies ``field op value`` with Chroma's semantics.

    The semantics of :meth:`ResolvedCondition.matches` (see the module docstring), for
    adapters that evaluate conditions they hold in another form (a LangChain
    ``structured_query`` comparison, for one).
    """
    present = field in metadata
    actual = metadata.get(field)
    if op == "eq":
        return present and _equal(actual, value)
    if op == "ne":
        return not (present and _equal(actual, value))
    if op == "in":
        return present and any(_equal(actual, v) for v in value)
    if op == "nin":
        return not (present and any(_equal(actual, v) for v in value))
    if not present or not _is_number(actual):
        return False
    if op == "lt":
        return bool(actual < value)
    if op == "lte":
        return bool(actual <= value)
    if op == "gt":
        return bool(actual > value)
    return bool(actual >= value)


def chroma_where(conditions: Sequence[ResolvedCondition]) -> dict[str, Any] | None:
    """Combine resolved conditions into one Chroma ``where`` (``None`` for none)."""
    clauses = [cond.to_chroma() for cond in conditions]
    if not clauses:
        return None
    if len(clauses) == 1:
        return clauses[0]
    return {"$and": clauses}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


def _equal(actual: Any, expected: Any) -> bool:
    """Chroma's equality: numbers compare across int/float, other kinds must match exactly."""
    if _is_number(actual) and _is_number(expected):
        return bool(actual == expected)
    if isinstance(actual, bool) and isinstance(expected, bool):
        return actual is expected
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    return False


def _drop(rule: FilterRule, value: Any, why: str) -> None:
    logger.warning(
        "Dropping filter rule %s %s %s: feature value %r %s",
        rule.field,
        rule.op,
        rule.feature,
        value,
        why,
    )


def _operand(rule: FilterRule, value: Any) -> Any:
    """The value to compare against, or ``None`` when the rule cannot use this value."""
    if rule.op in _SCALAR_OPS:
        if rule.factor is not None or rule.op in _ORDERING:
            if not _is_number(value) or not math.isfinite(value):
                _drop(rule, value, "is not a finite number")
                return None
            return value * rule.factor if rule.factor is not None else value
        if not _is_scalar(value):
            _drop(rule, value, "is not one str, int, float or bool (use op 'in' for lists)")
            return None
        return value
    items = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
    items = [item for item in items if item is not None]
    if not items:
        return None
    if all(isinstance(item, str) for item in items) or all(
        isinstance(item, bool) for item in items
    ):
        return items
    if all(_is_number(item) for item in items):
        # Chroma wants one kind per list; it compares ints and floats as numbers.
        kinds = {type(item) for item in items}
        return [float(item) for item in items] if len(kinds) > 1 else items
    _drop(rule, value, "mixes kinds or holds non-scalar items; use one kind of str/number/bool")
    return None
