"""In-memory filters: a structured filter as a predicate function, for the stores whose
``filter=`` takes a callable.

- ``InMemoryVectorStore`` (langchain-core) calls ``filter(document)``:
  :class:`DocumentPredicateVisitor`.
- ``FAISS`` (langchain-community) calls ``filter(metadata)``:
  :class:`MetadataPredicateVisitor`. (FAISS also takes a ``{"field": {"$op": v}}`` dict,
  but evaluates it with Python's ``==`` and ``<``, so ``True`` equals ``1`` and ``$lt``
  on a document lacking the field raises ``TypeError``; the predicate keeps Chroma's
  semantics instead.)

Every comparison is evaluated by :func:`llm_featurestore.filters.condition_matches`, the
core's semantics, so these stores keep exactly what the candidate pre-filter
keeps. A predicate's ``repr`` reads as the condition (``price <= 180.0``), which is what
the retrieval event shows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.structured_query import Comparison, Operation, Operator

from langchain_featurestore.filtering.base import StoreVisitor, refuse
from llm_featurestore.filters import condition_matches

__all__ = [
    "DocumentPredicate",
    "DocumentPredicateVisitor",
    "MetadataPredicate",
    "MetadataPredicateVisitor",
]

_SYMBOLS = {"eq": "==", "ne": "!=", "in": "in", "nin": "not in"}
_SYMBOLS.update({"lt": "<", "lte": "<=", "gt": ">", "gte": ">="})


class MetadataPredicate:
    """``metadata -> bool`` for a tree of comparisons (``all``/``any``/``not`` of them)."""

    __slots__ = ("_parts", "kind")

    def __init__(self, kind: str, parts: Sequence[Any]) -> None:
        self.kind = kind  # "cmp" (parts: field, op, value), "and", "or" or "not"
        self._parts = tuple(parts)

    def __call__(self, metadata: Mapping[str, Any]) -> bool:
        parts = self._parts
        if self.kind == "cmp":
            return condition_matches(parts[0], parts[1], parts[2], metadata)
        if self.kind == "and":
            return all(part(metadata) for part in parts)
        if self.kind == "or":
            return any(part(metadata) for part in parts)
        return not parts[0](metadata)

    def __repr__(self) -> str:
        if self.kind == "cmp":
            field, op, value = self._parts
            return f"{field} {_SYMBOLS[op]} {value!r}"
        if self.kind == "not":
            return f"not ({self._parts[0]!r})"
        return f" {self.kind} ".join(
            f"({p!r})" if p.kind in ("and", "or") else repr(p) for p in self._parts
        )


class DocumentPredicate:
    """``Document -> bool``: a :class:`MetadataPredicate` applied to ``document.metadata``."""

    __slots__ = ("predicate",)

    def __init__(self, predicate: MetadataPredicate) -> None:
        self.predicate = predicate

    def __call__(self, document: Document) -> bool:
        return self.predicate(document.metadata)

    def __repr__(self) -> str:
        return repr(self.predicate)


class MetadataPredicateVisitor(StoreVisitor):
    """Structured query -> ``metadata -> bool`` (FAISS); its search keyword is ``filter``."""

    store = "FAISS"

    def visit_comparison(self, comparison: Comparison) -> MetadataPredicate:
        return MetadataPredicate(
            "cmp", (comparison.attribute, self.op(comparison), comparison.value)
        )

    def visit_operation(self, operation: Operation) -> MetadataPredicate:
        args = [self.visit(arg) for arg in operation.arguments]
        if operation.operator == Operator.NOT:
            if len(args) != 1:
                refuse(self.store, "operator", f"not of {len(args)} arguments", ["not of one"])
            return MetadataPredicate("not", args)
        if len(args) == 1:
            return args[0]  # type: ignore[no-any-return]
        return MetadataPredicate(operation.operator.value, args)


class DocumentPredicateVisitor(MetadataPredicateVisitor):
    """Structured query -> ``Document -> bool`` (``InMemoryVectorStore``); keyword ``filter``."""

    store = "InMemoryVectorStore"

    def finish(self, value: Any) -> Any:
        return DocumentPredicate(value)
