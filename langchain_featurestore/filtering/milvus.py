"""Milvus: a structured filter as a boolean expression string (``expr=`` of
``langchain_milvus.Milvus``, not ``filter=``).

``category == "shoes" and brand in ["acme", "globex"] and price <= 180.0``. Values are
rendered, never pasted: a string is a double-quoted literal with ``\\``, ``"``, newline,
carriage return and tab escaped (the only escapes Milvus' parser accepts; other
characters stand as they are), so a feature value such as ``x" or 1==1 or "`` stays one
string. Booleans are ``true``/``false``, ints stay ints and floats floats (``180.0``).

A field is a bare name when it is an identifier (a schema field or, with
``enable_dynamic_field``, a dynamic one); any other name is ``$meta["..."]`` (dynamic
fields only), or ``<metadata_field>["..."]`` for a store keeping its metadata in one
JSON field (the deprecated ``metadata_field=``).

Semantics against the core's (:meth:`~llm_featurestore.filters.ResolvedCondition.matches`):
``ne`` is rendered ``field not in [v]`` because Milvus' ``!=`` drops rows lacking a
dynamic field (null), while ``not in`` keeps them, as the core does; ints and floats
compare as numbers, in typed and dynamic fields. But Milvus compares booleans with
numbers in dynamic (JSON) fields (``true == 1``, and ``<`` matches booleans), which the
core never does. So this
translator is not ``in_memory_match``: the retriever always runs the filtered search on
Milvus rather than filtering fetched candidates in memory.
"""

from __future__ import annotations

import math
import re
from typing import Any

from langchain_core.structured_query import Comparison, Operation, Operator

from langchain_featurestore.filtering.base import StoreVisitor
from llm_featurestore.errors import FeatureConfigError

__all__ = ["MilvusExprVisitor", "milvus_literal"]

_BINARY = {"eq": "==", "lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "in": "in"}
_BINARY.update({"ne": "not in", "nin": "not in"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEYWORDS = frozenset(
    {"and", "or", "not", "in", "like", "exists", "true", "false", "is", "null", "between"}
)
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def milvus_literal(value: Any) -> str:
    """``value`` (str, bool, int, float or a list of them) as a Milvus expression literal.

    Raises:
        FeatureConfigError: the value is not finite, or not of those kinds.
    """
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FeatureConfigError(
                f"A Milvus expression cannot hold the number {value!r}; filter values "
                "must be finite numbers, strings or booleans"
            )
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(milvus_literal(v) for v in value) + "]"
    raise FeatureConfigError(
        f"A Milvus expression cannot hold {type(value).__name__} {value!r}; filter values "
        "must be strings, booleans, ints, floats or lists of them"
    )


class MilvusExprVisitor(StoreVisitor):
    """Structured query -> Milvus boolean expression; its search keyword is ``expr``.

    Args:
        dynamic_fields: The store's ``enable_dynamic_field``: names that are not
            identifiers are then ``$meta["<name>"]``.
        json_field: The store's ``metadata_field`` (one JSON field holding the
            metadata), when it uses one and no dynamic fields.
    """

    store = "Milvus"
    keyword = "expr"

    def __init__(self, dynamic_fields: bool = False, json_field: str | None = None) -> None:
        self.dynamic_fields = dynamic_fields
        self.json_field = json_field

    def field(self, name: str) -> str:
        """The expression for metadata field ``name``.

        Raises:
            FeatureConfigError: ``name`` cannot be written for this store (not an
                identifier, with neither dynamic fields nor a JSON field).
        """
        if self.json_field is not None:
            return f"{self.json_field}[{milvus_literal(name)}]"
        if _IDENTIFIER.fullmatch(name) and name.lower() not in _KEYWORDS:
            return name
        if self.dynamic_fields:
            return f"$meta[{milvus_literal(name)}]"
        raise FeatureConfigError(
            f"Milvus field '{name}' is not an identifier (letters, digits and _, not a "
            "keyword), so no expression can name it; rename the metadata field, or create "
            "the store with enable_dynamic_field=True"
        )

    def visit_comparison(self, comparison: Comparison) -> str:
        op, value = self.op(comparison), comparison.value
        if op == "ne":
            value = [value]
        return f"{self.field(comparison.attribute)} {_BINARY[op]} {milvus_literal(value)}"

    def visit_operation(self, operation: Operation) -> str:
        args = [f"({self.visit(arg)})" for arg in operation.arguments]
        if operation.operator == Operator.NOT:
            return " and ".join(f"not {arg}" for arg in args)
        return f" {operation.operator.value} ".join(args)
