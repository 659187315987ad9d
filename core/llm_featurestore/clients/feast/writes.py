"""Writes to Feast's online store: one pandas row per feature view, merged when partial.

Feast keeps one row and one event timestamp per (entity, feature view), and its
online write needs every feature column of the view. So a write is planned per view
(:func:`plan_write`): the features it sets, and the ones it leaves out. A write that
leaves some out is **merged** with the entity's current online row: those values are
read with the provider's raw ``online_read`` (:func:`read_current`; values past the
view's ttl are read as they are, not nulled) and written back unchanged, and an entity
with no row gets nulls. The merge is read-then-write: it is not atomic against another
writer of the same view and entity, and the whole merged row gets the new event
timestamp.

Every timestamp column the view's source declares is filled (:func:`timestamp_columns`):
its ``timestamp_field`` with the event time, its ``created_timestamp_column`` with now.
The values checked by :func:`~llm_featurestore.clients.base.check_write` are written as
given (not its JSON-safe copies), so a datetime stays a datetime for a timestamp feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.base import check_write
from llm_featurestore.clients.feast.registry import FeastRegistry
from llm_featurestore.clients.feast.store import provider_of
from llm_featurestore.errors import FeatureValidationError

ValueType = require("feast", extra="feast").ValueType

__all__ = [
    "ViewWrite",
    "check_type",
    "join_value_type",
    "plan_write",
    "read_current",
    "row_frame",
    "schema_of",
    "timestamp_columns",
]

_TYPE_CHECKS: dict[Any, tuple[tuple[type, ...], str]] = {
    ValueType.STRING: ((str,), "a string"),
    ValueType.INT64: ((int,), "an integer"),
    ValueType.INT32: ((int,), "an integer"),
    ValueType.DOUBLE: ((int, float), "a number"),
    ValueType.FLOAT: ((int, float), "a number"),
    ValueType.BOOL: ((bool,), "a bool"),
}
_PYTHON_VALUE_TYPES: dict[type, Any] = {
    int: ValueType.INT64,
    str: ValueType.STRING,
    bytes: ValueType.BYTES,
    float: ValueType.DOUBLE,
}


def check_type(ref: str, value: Any, value_type: Any) -> None:
    """Raise :class:`FeatureValidationError` when ``value`` cannot be ``value_type``.

    Scalars are checked; ``None`` and the types without a check (lists, timestamps,
    bytes) are left to Feast, whose own refusal is classified as a usage error.
    """
    check = _TYPE_CHECKS.get(value_type)
    if value is None or check is None:
        return
    kinds, label = check
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise FeatureValidationError(
            f"Feature '{ref}' is {value_type.name} in Feast: expected {label}, "
            f"got {type(value).__name__} {value!r}"
        )


def timestamp_columns(source: Any) -> tuple[str, str | None]:
    """A data source's ``timestamp_field`` (default ``event_timestamp``) and its
    ``created_timestamp_column`` (``None`` when it declares none)."""
    return (
        getattr(source, "timestamp_field", None) or "event_timestamp",
        getattr(source, "created_timestamp_column", None) or None,
    )


def join_value_type(view: Any, join_key: str, value: Any) -> Any:
    """The Feast ``ValueType`` of ``join_key`` in ``view`` (inferred from ``value`` when
    the view does not declare the column)."""
    for column in getattr(view, "entity_columns", ()) or ():
        if column.name == join_key:
            return column.dtype.to_value_type()
    return _PYTHON_VALUE_TYPES.get(type(value), ValueType.UNKNOWN)


def schema_of(view: Any) -> str:
    """``name Type, ...`` of a view's features, for messages."""
    return ", ".join(f"{f.name} {f.dtype}" for f in view.features)


@dataclass(frozen=True)
class ViewWrite:
    """What one write does to one feature view: the features it sets and the rest."""

    view: Any
    """The ``feast.FeatureView``."""
    join_key: str
    join_value: Any
    """The entity id as a value of the join key's type."""
    values: dict[str, Any]
    """Feature name to value, for the features this write sets."""
    missing: tuple[str, ...]
    """The view's other features, in schema order: merged from the current row."""
    event_timestamp: datetime

    @property
    def name(self) -> str:
        return str(self.view.name)


def plan_write(
    registry: FeastRegistry,
    entity_id: str,
    entity_type: str,
    features: Mapping[str, Any],
    event_timestamp: datetime | None,
) -> list[ViewWrite]:
    """Validate a write and split it per feature view, before any I/O.

    Raises:
        FeatureConfigError: a bad id, or an unknown or ambiguous feature name.
        FeatureValidationError: a value is invalid or of the wrong Feast type, or a
            feature is computed by an on-demand view.
    """
    request = check_write(entity_id, entity_type, features, event_timestamp)
    index = registry.index(entity_type)
    by_view: dict[str, dict[str, Any]] = {}
    for name, value in features.items():
        ref = index.to_ref(name)
        info = index.refs[ref]
        if info.on_demand:
            raise FeatureValidationError(
                f"Feature '{ref}' is computed by the on-demand view '{info.view}' at read "
                "time and cannot be written; write the features of its source views instead"
            )
        check_type(ref, value, info.value_type)
        by_view.setdefault(info.view, {})[info.name] = value
    eid = index.coerce(entity_id)
    writes: list[ViewWrite] = []
    for view_name, values in by_view.items():
        view = index.views[view_name]
        missing = tuple(f.name for f in view.features if f.name not in values)
        writes.append(
            ViewWrite(view, index.join_key, eid, values, missing, request.event_timestamp)
        )
    return writes


def read_current(store: Any, write: ViewWrite) -> dict[str, Any]:
    """The entity's current values of ``write.missing``, from the provider's raw
    ``online_read`` (``None`` for each when the entity has no row, or a value is null).

    Raises:
        Exception: whatever Feast raises (the caller classifies it).
    """
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey as EntityKeyProto
    from feast.type_map import feast_value_type_to_python_type, python_values_to_proto_values

    value_type = join_value_type(write.view, write.join_key, write.join_value)
    key = EntityKeyProto(
        join_keys=[write.join_key],
        entity_values=python_values_to_proto_values([write.join_value], value_type),
    )
    rows = provider_of(store).online_read(store.config, write.view, [key], list(write.missing))
    stored: Mapping[str, Any] = (rows[0][1] if rows else None) or {}
    return {
        name: feast_value_type_to_python_type(stored[name]) if name in stored else None
        for name in write.missing
    }


def row_frame(write: ViewWrite, current: Mapping[str, Any], now: datetime) -> Any:
    """The one-row DataFrame of ``write``: its values, ``current`` for the rest, and
    every timestamp column of the view's source.

    Raises:
        FeatureValidationError: every feature of the row is ``None`` (Feast would skip it).
    """
    pd = require("pandas", extra="feast")
    row = {**current, **write.values}
    if all(row.get(f.name) is None for f in write.view.features):
        raise FeatureValidationError(
            f"Every value written to feature view '{write.name}' is None; "
            "Feast would skip the row. Write at least one value."
        )
    ts_field, created = timestamp_columns(write.view.batch_source)
    columns: dict[str, list[Any]] = {write.join_key: [write.join_value]}
    for feature in write.view.features:
        columns[feature.name] = [row.get(feature.name)]
    columns[ts_field] = [write.event_timestamp]
    if created is not None and created != ts_field:
        columns[created] = [now]
    return pd.DataFrame(columns)
