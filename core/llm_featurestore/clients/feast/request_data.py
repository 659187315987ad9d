"""Request data for Feast's on-demand feature views: checked, typed and laid out as columns.

An on-demand feature view computes its features at read time from its source views
and its *request sources*: fields (``val_to_add: Int64``) that only the caller knows.
A read passes them per entity, ``request_data=[{"val_to_add": 1}, ...]`` aligned with
the ids, and Feast takes them as extra columns of ``entity_rows`` (the SDK) or of the
body's ``entities`` (``feast serve``). The rules, the same for both clients and all
checked before any I/O:

* ``request_data`` is ``None`` or one mapping per id (wrong shape or length:
  :class:`~llm_featurestore.errors.FeatureConfigError`); ``None`` or only empty
  mappings means no request data;
* a field no requested feature needs is a ``FeatureConfigError`` naming the valid ones;
* a field a requested feature needs and an entity lacks is a
  :class:`~llm_featurestore.errors.FeatureValidationError` naming the fields, the
  features that need them and how to pass them (``None`` is a value: it is sent as null);
* values pass :func:`~llm_featurestore.clients.base.validate_feature_values` and the
  field's Feast type (``Int64`` takes an int, ``Float64`` an int or float, sent as a
  float, ``Array(String)`` a list of strings, ...).

Fields are described by their Feast type *name* (``str(field.dtype)``), so this module
does not import Feast: the HTTP client uses it without the SDK.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from llm_featurestore.clients.base import ensure_aware, validate_feature_values
from llm_featurestore.clients.request_data import request_data_rows
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError

__all__ = ["RequestField", "merge_fields", "request_columns"]

_KINDS: dict[str, tuple[tuple[type, ...], str]] = {
    "Int64": ((int,), "an integer"),
    "Int32": ((int,), "an integer"),
    "Float64": ((int, float), "a number"),
    "Float32": ((int, float), "a number"),
    "String": ((str,), "a string"),
    "Bool": ((bool,), "a bool"),
    "Bytes": ((bytes,), "bytes"),
    "UnixTimestamp": ((datetime,), "a datetime"),
}
_FLOATS = frozenset({"Float64", "Float32"})


@dataclass(frozen=True)
class RequestField:
    """One request-data field that the planned features need."""

    name: str
    dtype: str
    """Feast's type name, e.g. ``"Int64"`` or ``"Array(String)"``."""
    needed_by: tuple[str, ...] = ()
    """The requested features (result keys) computed from it."""


def merge_fields(fields: Sequence[RequestField]) -> tuple[RequestField, ...]:
    """One field per name (the first type seen), with the features of every duplicate."""
    merged: dict[str, RequestField] = {}
    for f in fields:
        seen = merged.get(f.name)
        needed = f.needed_by if seen is None else (*seen.needed_by, *f.needed_by)
        merged[f.name] = RequestField(
            f.name, f.dtype if seen is None else seen.dtype, tuple(dict.fromkeys(needed))
        )
    return tuple(merged.values())


def _example(fields: Sequence[RequestField]) -> str:
    return "{" + ", ".join(f"'{f.name}': ..." for f in fields) + "}"


def _missing_message(
    missing: Sequence[RequestField], required: Sequence[RequestField], where: str
) -> str:
    listed = ", ".join(f"{f.name} ({f.dtype})" for f in missing)
    needs = ", ".join(dict.fromkeys(k for f in missing for k in f.needed_by))
    example = _example(required)
    return (
        f"Missing request data{where}: {listed}, needed by the on-demand feature(s) {needs}. "
        f"Pass it per entity: get_features(..., request_data={example}), or "
        f"get_batch_features(..., request_data=[{example}, ...]) with one mapping per id"
    )


def _typed(field: str, dtype: str | None, value: Any, where: str) -> Any:
    """``value`` checked against the Feast type ``dtype`` (floats of ints for float types)."""
    if value is None or dtype is None:
        return value
    if dtype.startswith("Array(") and dtype.endswith(")"):
        if not isinstance(value, (list, tuple)):
            raise FeatureValidationError(
                f"Request field '{field}'{where} is {dtype} in Feast: expected a list, "
                f"got {type(value).__name__} {value!r}"
            )
        return [_typed(field, dtype[6:-1], item, where) for item in value]
    kind = _KINDS.get(dtype)
    if kind is None:
        return value
    types, label = kind
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise FeatureValidationError(
            f"Request field '{field}'{where} is {dtype} in Feast: expected {label}, "
            f"got {type(value).__name__} {value!r}"
        )
    checked: Any = value
    return float(checked) if dtype in _FLOATS else checked


def _validate(values: Mapping[str, Any], where: str, *, json_safe: bool) -> None:
    """``values`` through the write rule (bytes, which JSON cannot carry, are left to
    the type check when not sent as JSON)."""
    checked = {k: v for k, v in values.items() if json_safe or not isinstance(v, bytes)}
    try:
        if checked:
            validate_feature_values(checked)
    except FeatureValidationError as exc:
        text = str(exc).replace("Feature '", "Request field '", 1)
        raise FeatureValidationError(f"{text} (request data{where})") from None


def _json_safe(value: Any) -> Any:
    """``value`` as JSON can carry it: datetimes and dates as ISO-8601 text."""
    if isinstance(value, datetime):
        return ensure_aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def request_columns(
    fields: Sequence[RequestField] | None,
    entity_ids: Sequence[str],
    entity_type: str,
    request_data: Sequence[Mapping[str, Any]] | None,
    *,
    json_safe: bool = False,
    hint: str = "",
) -> dict[str, list[Any]]:
    """The request data as columns, ``field -> one value per id``, after every check.

    Args:
        fields: The fields the requested features need, or ``None`` when that is not
            known (a feature server without ``request_fields``): then every entity must
            carry the same fields, sent as given.
        entity_ids: The read's ids, aligned with ``request_data``.
        entity_type: For messages.
        request_data: One mapping per id, or ``None``.
        json_safe: Return JSON-safe values (datetimes as ISO-8601 text), for HTTP.
        hint: Appended to the unknown-field message (where the valid fields come from).

    Returns:
        Nothing (``{}``) when there is no request data and none is needed, or no ids.

    Raises:
        FeatureConfigError: ``request_data`` is not one mapping per id, or holds a field
            no requested feature needs (the message lists the valid ones).
        FeatureValidationError: a needed field is missing, or a value is invalid or not
            of the field's Feast type.
    """
    rows = request_data_rows(entity_ids, request_data)
    required = () if fields is None else tuple(fields)
    if rows is None:
        if required and entity_ids:
            where = f" for entity '{entity_type}'"
            raise FeatureValidationError(_missing_message(required, required, where))
        return {}
    names = (
        [f.name for f in required]
        if fields is not None
        else list(dict.fromkeys(k for row in rows for k in row))
    )
    types = {f.name: f.dtype for f in required}
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for eid, row in zip(entity_ids, rows, strict=True):
        where = f" for {entity_type} '{eid}'"
        unknown = [k for k in row if k not in columns]
        if unknown:
            valid = ", ".join(names) if names else "none: drop request_data"
            raise FeatureConfigError(
                f"Unknown request data field(s) {', '.join(map(repr, unknown))}{where}: "
                f"the requested features take {valid}{hint}"
            )
        lacking = [n for n in names if n not in row]
        if lacking:
            if fields is None:
                raise FeatureValidationError(
                    f"Request data{where} lacks {', '.join(lacking)}, which other entities "
                    "of this read carry: give every entity the same request fields"
                )
            missing = [f for f in required if f.name in lacking]
            raise FeatureValidationError(_missing_message(missing, required, where))
        _validate(row, where, json_safe=json_safe)
        for name in names:
            value = _typed(name, types.get(name), row[name], where)
            columns[name].append(_json_safe(value) if json_safe else value)
    return columns
