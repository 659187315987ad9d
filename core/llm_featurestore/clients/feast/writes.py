"""Writes to Feast's online store: one pandas row per feature view.

Feast keeps one row and one event timestamp per (entity, feature view), so a write
must set every feature of each view it touches (``None`` stores a null). The values
checked by :func:`~llm_featurestore.clients.base.check_write` are written as given
(not its JSON-safe copies), so a datetime stays a datetime for a timestamp feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.base import check_write
from llm_featurestore.clients.feast.registry import FeastRegistry
from llm_featurestore.errors import FeatureValidationError

ValueType = require("feast", extra="feast").ValueType

__all__ = ["write_frames"]

_TYPE_CHECKS: dict[Any, tuple[tuple[type, ...], str]] = {
    ValueType.STRING: ((str,), "a string"),
    ValueType.INT64: ((int,), "an integer"),
    ValueType.INT32: ((int,), "an integer"),
    ValueType.DOUBLE: ((int, float), "a number"),
    ValueType.FLOAT: ((int, float), "a number"),
    ValueType.BOOL: ((bool,), "a bool"),
}


def _check_type(ref: str, value: Any, value_type: Any) -> None:
    check = _TYPE_CHECKS.get(value_type)
    if value is None or check is None:
        return
    kinds, label = check
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise FeatureValidationError(
            f"Feature '{ref}' is {value_type.name} in Feast: expected {label}, "
            f"got {type(value).__name__} {value!r}"
        )


def _check_view(view_name: str, all_names: list[str], values: Mapping[str, Any]) -> None:
    missing = [n for n in all_names if n not in values]
    if missing:
        raise FeatureValidationError(
            f"Feast stores one row per feature view: a write to '{view_name}' must set "
            f"all its features; missing: {', '.join(missing)} (pass None to store a null)"
        )
    if all(v is None for v in values.values()):
        raise FeatureValidationError(
            f"Every value written to feature view '{view_name}' is None; "
            "Feast would skip the row. Write at least one value."
        )


def write_frames(
    registry: FeastRegistry,
    entity_id: str,
    entity_type: str,
    features: Mapping[str, Any],
    event_timestamp: datetime | None,
) -> list[tuple[str, Any]]:
    """Validate a write and build one DataFrame per feature view it touches.

    Raises:
        FeatureConfigError: a bad id, or an unknown or ambiguous feature name.
        FeatureValidationError: a value is invalid, of the wrong Feast type, or a
            view's features are incomplete.
    """
    pd = require("pandas", extra="feast")
    request = check_write(entity_id, entity_type, features, event_timestamp)
    index = registry.index(entity_type)
    by_view: dict[str, dict[str, Any]] = {}
    for name, value in features.items():
        ref = index.to_ref(name)
        info = index.refs[ref]
        _check_type(ref, value, info.value_type)
        by_view.setdefault(info.view, {})[info.name] = value
    eid = index.coerce(entity_id)
    frames: list[tuple[str, Any]] = []
    for view_name, values in by_view.items():
        view = index.views[view_name]
        all_names = [f.name for f in view.features]
        _check_view(view_name, all_names, values)
        ts_column = view.batch_source.timestamp_field or "event_timestamp"
        frame = pd.DataFrame(
            {
                index.join_key: [eid],
                **{n: [values[n]] for n in all_names},
                ts_column: [request.event_timestamp],
            }
        )
        frames.append((view_name, frame))
    return frames
