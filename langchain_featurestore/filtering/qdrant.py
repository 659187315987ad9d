"""Qdrant: a structured filter as a ``qdrant_client.models.Filter`` (``filter=`` of
``langchain_qdrant.QdrantVectorStore``).

The metadata of a LangChain document lives under the store's ``metadata_payload_key``
(``"metadata"``), so a field is the payload key ``metadata.<field>`` (quoted,
``metadata."a.b"``, when it holds other characters than letters, digits, ``_`` and ``-``).

The core's semantics (:meth:`~llm_featurestore.filters.ResolvedCondition.matches`),
which Qdrant's own conditions do not all share, are kept by the
choice of condition:

- strings and booleans: ``MatchValue`` / ``MatchAny`` (Qdrant never matches a boolean
  against a number, as the core);
- numbers: ``Range(gte=v, lte=v)`` for equality, because ``MatchValue(5)`` does not
  match a payload of ``5.0`` while the core compares ints and floats as numbers;
- ``ne`` / ``nin``: ``must_not`` of the match, which keeps documents lacking the field
  (the core's semantics) where ``MatchExcept`` would drop them.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.structured_query import Comparison, Operation, Operator
from qdrant_client import models

from langchain_featurestore.filtering.base import StoreVisitor, refuse

__all__ = ["QdrantFilterVisitor"]

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class QdrantFilterVisitor(StoreVisitor):
    """Structured query -> ``models.Filter``; its search keyword is ``filter``.

    Args:
        metadata_key: The store's ``metadata_payload_key`` (``"metadata"`` by default).
    """

    store = "Qdrant"

    def __init__(self, metadata_key: str = "metadata") -> None:
        self.metadata_key = metadata_key

    def key(self, field: str) -> str:
        """The payload key of metadata ``field``."""
        if _PLAIN_KEY.fullmatch(field):
            return f"{self.metadata_key}.{field}"
        if '"' in field:
            refuse("Qdrant", "field name", field, ['names without a double quote (")'])
        return f'{self.metadata_key}."{field}"'

    def _equal(self, key: str, value: Any) -> models.Condition:
        if _is_number(value):
            return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))

    def _any(self, key: str, values: list[Any]) -> models.Condition:
        if all(isinstance(v, str) for v in values):
            return models.FieldCondition(key=key, match=models.MatchAny(any=values))
        return models.Filter(should=[self._equal(key, v) for v in values])

    def visit_comparison(self, comparison: Comparison) -> models.Condition:
        op, value = self.op(comparison), comparison.value
        key = self.key(comparison.attribute)
        if op == "eq":
            return self._equal(key, value)
        if op == "ne":
            return models.Filter(must_not=[self._equal(key, value)])
        if op == "in":
            return self._any(key, list(value))
        if op == "nin":
            return models.Filter(must_not=[self._any(key, list(value))])
        return models.FieldCondition(key=key, range=models.Range(**{op: value}))

    def visit_operation(self, operation: Operation) -> models.Filter:
        args = [self.visit(arg) for arg in operation.arguments]
        if operation.operator == Operator.AND:
            return models.Filter(must=args)
        if operation.operator == Operator.OR:
            return models.Filter(should=args)
        return models.Filter(must_not=args)

    def finish(self, value: Any) -> models.Filter:
        return value if isinstance(value, models.Filter) else models.Filter(must=[value])
