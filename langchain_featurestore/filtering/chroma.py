"""Chroma: a structured filter as a ``where`` dict (``filter=`` of ``langchain_chroma.Chroma``).

``{field: {"$op": value}}`` for one comparison, ``{"$and": [...]}`` / ``{"$or": [...]}``
for several; the same dict as :func:`llm_featurestore.filters.chroma_where`. Chroma's
semantics are the reference every other store is pinned to (see
:mod:`llm_featurestore.filters`).
"""

from __future__ import annotations

from typing import Any

from langchain_core.structured_query import (
    Comparator,
    Comparison,
    Operation,
    Operator,
    StructuredQuery,
    Visitor,
)

from langchain_featurestore.filtering.base import refuse

__all__ = ["ChromaWhereVisitor"]

_OPS = ("eq", "ne", "in", "nin", "lt", "lte", "gt", "gte")


class ChromaWhereVisitor(Visitor):
    """Structured query -> Chroma ``where``; its search keyword is ``filter``."""

    allowed_comparators = tuple(Comparator(op) for op in _OPS)
    allowed_operators = (Operator.AND, Operator.OR)

    def visit_comparison(self, comparison: Comparison) -> dict[str, Any]:
        op = comparison.comparator.value
        if op not in _OPS:
            refuse("Chroma", "comparator", op, _OPS, f" (field '{comparison.attribute}')")
        return {comparison.attribute: {f"${op}": comparison.value}}

    def visit_operation(self, operation: Operation) -> dict[str, Any]:
        if operation.operator not in self.allowed_operators:
            refuse("Chroma", "operator", operation.operator.value, ("and", "or"))
        args = [arg.accept(self) for arg in operation.arguments]
        if len(args) == 1:
            return args[0]  # type: ignore[no-any-return]
        return {f"${operation.operator.value}": args}

    def visit_structured_query(
        self, structured_query: StructuredQuery
    ) -> tuple[str, dict[str, Any]]:
        if structured_query.filter is None:
            return structured_query.query, {}
        return structured_query.query, {"filter": structured_query.filter.accept(self)}
