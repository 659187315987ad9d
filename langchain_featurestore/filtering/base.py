"""Resolved conditions as a LangChain structured query, and the translator that turns
them into one vector store's search keyword arguments.

The path of every filter: the core resolves a
:class:`~llm_featurestore.filters.FeatureFilterSpec` into
:class:`~llm_featurestore.filters.ResolvedCondition` s; :func:`structured_filter` makes
them one ``langchain_core.structured_query`` directive (a ``Comparison`` per condition,
an ``Operation(AND)`` over several); a store's ``Visitor`` renders the directive, and its
``visit_structured_query`` says under which search keyword the result goes (LangChain's
self-query contract: ``(query, {"filter": ...})``, ``(query, {"expr": ...})``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

from langchain_core.structured_query import (
    Comparator,
    Comparison,
    FilterDirective,
    Operation,
    Operator,
    StructuredQuery,
    Visitor,
)
from pydantic import BaseModel

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import ResolvedCondition

__all__ = [
    "ConditionsFunction",
    "FilterTranslator",
    "StoreVisitor",
    "TranslatorLike",
    "as_translator",
    "describe_filter",
    "refuse",
    "structured_filter",
]

ConditionsFunction = Callable[[Sequence[ResolvedCondition]], Any]
"""A function of the resolved conditions returning the value of the search's ``filter=``
(``None`` for no filter): the retriever's original form of ``filter_translator``."""

_COMPARATORS = {c.value: c for c in Comparator}
OPS = ("eq", "ne", "in", "nin", "lt", "lte", "gt", "gte")
"""The comparators a resolved condition uses (the core's ``FilterOp``)."""


def structured_filter(conditions: Sequence[ResolvedCondition]) -> FilterDirective | None:
    """The conditions as one structured-query directive: ``None`` for none, a
    ``Comparison`` for one, ``Operation(AND, [...])`` for several.

    A comparison's ``attribute`` is the metadata field, its ``comparator`` the rule's op
    (``eq``, ``ne``, ``in``, ``nin``, ``lt``, ``lte``, ``gt``, ``gte``) and its ``value``
    the resolved value, with the core's kinds unchanged (ints stay ints, booleans stay
    booleans, lists are lists of one kind).
    """
    # Plain construction: pydantic-core validates these in less time than model_construct
    # (a Python loop) skips it.
    comparisons: list[FilterDirective] = [
        Comparison(
            _COMPARATORS[c.op],
            c.field,
            list(c.value) if isinstance(c.value, (list, tuple)) else c.value,
        )
        for c in conditions
    ]
    if not comparisons:
        return None
    if len(comparisons) == 1:
        return comparisons[0]
    return Operation(Operator.AND, comparisons)


class StoreVisitor(Visitor):
    """Base of the built-in visitors: one store, one search keyword.

    Dispatches on the directive's class (``Expr.accept`` builds the method name from the
    class name on every node, a third of a translation's time), checks comparators
    against :data:`OPS`, and lets the store wrap the top-level value (:meth:`finish`).
    Its :meth:`visit_structured_query` is LangChain's contract, so the visitors work in a
    self-query retriever too.
    """

    store: ClassVar[str] = "this store"
    """The store's name, for errors."""
    keyword: ClassVar[str] = "filter"
    """The search keyword the filter goes to."""

    def visit(self, directive: FilterDirective) -> Any:
        """Render one directive (a comparison or an operation over directives)."""
        if isinstance(directive, Comparison):
            return self.visit_comparison(directive)
        if isinstance(directive, Operation):
            return self.visit_operation(directive)
        return directive.accept(self)

    def op(self, comparison: Comparison) -> str:
        """The comparison's operator name, refused unless it is one of :data:`OPS`."""
        op = comparison.comparator.value
        if op not in OPS:
            refuse(self.store, "comparator", op, OPS, f" (field '{comparison.attribute}')")
        return op

    def finish(self, value: Any) -> Any:
        """The top-level value as the store's search takes it (as it is, by default)."""
        return value

    def search_kwargs(self, directive: FilterDirective | None) -> dict[str, Any]:
        """``{keyword: filter}`` for ``directive``; ``{}`` for none."""
        if directive is None:
            return {}
        return {self.keyword: self.finish(self.visit(directive))}

    def visit_structured_query(
        self, structured_query: StructuredQuery
    ) -> tuple[str, dict[str, Any]]:
        return structured_query.query, self.search_kwargs(structured_query.filter)


class FilterTranslator:
    """Resolved conditions -> the keyword arguments that filter one vector store's search.

    Args:
        translate: A ``langchain_core.structured_query.Visitor`` (ours for the built-in
            stores, or any other, such as one of LangChain's self-query translators), or a
            function of the resolved conditions whose result goes to ``filter=``.
        in_memory_match: True when the store keeps exactly the documents
            :meth:`~llm_featurestore.filters.ResolvedCondition.matches` keeps (pinned by
            the store's parity tests), so candidates fetched beside
            the lookup (the retriever's ``fetch_k``) may be filtered in memory instead of
            searching again. False (the safe default for a store whose semantics are not
            pinned) always runs the filtered search.
        name: Shown in errors and reprs; the visitor's or function's name by default.
    """

    __slots__ = ("_function", "_visitor", "in_memory_match", "name")

    def __init__(
        self,
        translate: Visitor | ConditionsFunction,
        *,
        in_memory_match: bool = False,
        name: str | None = None,
    ) -> None:
        self._visitor = translate if isinstance(translate, Visitor) else None
        self._function = None if isinstance(translate, Visitor) else translate
        self.in_memory_match = in_memory_match
        self.name = name or getattr(translate, "__name__", type(translate).__name__)

    @property
    def visitor(self) -> Visitor | None:
        """The structured-query visitor, or ``None`` for a function of the conditions."""
        return self._visitor

    def search_kwargs(self, conditions: Sequence[ResolvedCondition]) -> dict[str, Any]:
        """The keyword arguments that filter a search by ``conditions`` (``{}`` for none).

        Raises:
            FeatureConfigError: the visitor cannot express a condition (the message
                names it).
        """
        if not conditions:
            return {}
        if self._function is not None:
            value = self._function(conditions)
            return {} if value is None else {"filter": value}
        if isinstance(self._visitor, StoreVisitor):
            return self._visitor.search_kwargs(structured_filter(conditions))
        assert self._visitor is not None
        query = StructuredQuery.model_construct(
            query="", filter=structured_filter(conditions), limit=None
        )
        _, kwargs = self._visitor.visit_structured_query(query)
        return dict(kwargs)

    def __repr__(self) -> str:
        return f"FilterTranslator({self.name}, in_memory_match={self.in_memory_match})"


TranslatorLike = FilterTranslator | Visitor | ConditionsFunction
"""What the retriever's ``filter_translator`` accepts."""


def as_translator(value: Any) -> FilterTranslator:
    """``value`` as a :class:`FilterTranslator` (a visitor or function is wrapped, with
    ``in_memory_match=False``).

    Raises:
        FeatureConfigError: ``value`` is none of the accepted kinds.
    """
    if isinstance(value, FilterTranslator):
        return value
    if isinstance(value, Visitor) or callable(value):
        return FilterTranslator(value)
    raise FeatureConfigError(
        f"filter_translator must be a FilterTranslator, a langchain_core.structured_query "
        f"Visitor or a function of the resolved conditions; got {type(value).__name__} "
        f"{value!r}"
    )


def refuse(store: str, kind: str, name: str, allowed: Sequence[str], where: str = "") -> NoReturn:
    """Raise the error for a comparator or operator ``store`` cannot express.

    Raises:
        FeatureConfigError: always; names the store, the refused ``name`` (``where`` says
            on which field) and the ``allowed`` ones.
    """
    raise FeatureConfigError(
        f"{store} filters have no {kind} '{name}'{where}; the {kind}s they support: "
        + ", ".join(allowed)
    )


def describe_filter(kwargs: Mapping[str, Any] | None) -> Any:
    """A JSON-safe picture of the filter a search got, for the tracing event's ``"where"``.

    ``None`` for no filter; the filter value for one keyword (a Chroma ``where`` dict or a
    Milvus expression as they are, a pydantic model such as Qdrant's ``Filter`` dumped,
    anything else, such as a predicate function, as its ``repr``); a dict of those for
    several keywords.
    """
    if not kwargs:
        return None
    if len(kwargs) == 1:
        return _json_safe(next(iter(kwargs.values())))
    return {key: _json_safe(value) for key, value in kwargs.items()}


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    return repr(value)
