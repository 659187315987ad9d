"""Chroma: a structured filter as a ``where`` dict (``filter=`` of ``langchain_chroma.Chroma``).

``{field: {"$op": value}}`` for one comparison, ``{"$and": [...]}`` / ``{"$or": [...]}``
for several: the dict of :func:`llm_featurestore.filters.chroma_where`, with one
correction. Chroma compares an int metadata value with a fractional operand truncated
toward zero (for a value of 10, ``{"$lt": 10.5}`` tests ``10 < 10`` and drops it;
``{"$eq": 9.5}`` keeps a 9), where the core compares numbers as numbers. So a
fractional operand is rewritten to an equivalent on which truncation cannot err:

- an ordering moves to the neighbouring float and flips strictness where truncation
  rounds the wrong way (``lt 10.5`` -> ``lte 10.499999999999998``, ``gt -10.5`` ->
  ``gte -10.499999999999998``), which is exact for floats too;
- ``eq`` / ``in`` also exclude the truncated ints (``eq 9.5`` -> ``eq 9.5 and ne 9``),
  ``ne`` / ``nin`` also keep them.
"""

from __future__ import annotations

import math
from typing import Any

from langchain_core.structured_query import Comparison, Operation, Operator

from langchain_featurestore.filtering.base import StoreVisitor, refuse

__all__ = ["ChromaWhereVisitor", "chroma_clause"]

# Where truncating the operand toward zero rounds the wrong way for an int value:
# (op, sign of the operand) -> (op to use, direction of the neighbouring float).
_FLIP = {
    ("lt", 1): ("lte", -math.inf),
    ("gte", 1): ("gt", -math.inf),
    ("lte", -1): ("lt", math.inf),
    ("gt", -1): ("gte", math.inf),
}


def _fractional(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value) and not value.is_integer()


def chroma_clause(field: str, op: str, value: Any) -> dict[str, Any]:
    """One condition as a Chroma ``where`` clause that keeps what the core keeps."""
    if op in ("lt", "lte", "gt", "gte"):
        if _fractional(value):
            flip = _FLIP.get((op, 1 if value > 0 else -1))
            if flip is not None:
                op, value = flip[0], math.nextafter(value, flip[1])
        return {field: {f"${op}": value}}
    values = value if op in ("in", "nin") else [value]
    whole = {v for v in values if isinstance(v, (int, float)) and not _fractional(v)}
    truncated = sorted({int(v) for v in values if _fractional(v)} - whole)
    clause = {field: {f"${op}": value}}
    if not truncated:
        return clause
    if op in ("eq", "in"):
        return {"$and": [clause, {field: {"$nin": truncated}}]}
    return {"$or": [clause, {field: {"$in": truncated}}]}


class ChromaWhereVisitor(StoreVisitor):
    """Structured query -> Chroma ``where``; its search keyword is ``filter``."""

    store = "Chroma"

    def visit_comparison(self, comparison: Comparison) -> dict[str, Any]:
        return chroma_clause(comparison.attribute, self.op(comparison), comparison.value)

    def visit_operation(self, operation: Operation) -> dict[str, Any]:
        if operation.operator == Operator.NOT:
            refuse(self.store, "operator", "not", ("and", "or"))
        args = [self.visit(arg) for arg in operation.arguments]
        if len(args) == 1:
            return args[0]  # type: ignore[no-any-return]
        return {f"${operation.operator.value}": args}
