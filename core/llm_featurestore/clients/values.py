"""The values a backend may store or receive with a read, and the bounds of ids and names:
one rule, checked before any I/O.

:func:`validate_feature_values` checks what is written; :func:`validate_values` is the
same rule for any named values (a read's request data uses it, naming its fields
"Request field" instead of "Feature"). Accepted: ``None``, ``bool``, ``int`` (int64
range), finite ``float``, ``str`` (no NUL, at most :data:`MAX_STRING_LENGTH`
characters), ``datetime``/``date`` (as ISO-8601 text), lists of those (at most
:data:`MAX_LIST_LENGTH` items) and flat dicts of those with string keys; a list or
dict serialises to at most :data:`MAX_VALUE_BYTES` of JSON.

The bounds of what names a value: an entity id has at most :data:`MAX_ENTITY_ID_LENGTH`
characters, a feature name, request field or entity type at most
:data:`MAX_NAME_LENGTH` (:func:`check_entity_id`, :func:`check_name`). Every read and
write of every backend applies them (``clients.base.check_request`` and
``check_write``), so a longer one is a :class:`FeatureValidationError` before any I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from llm_featurestore.errors import FeatureValidationError

__all__ = [
    "MAX_ENTITY_ID_LENGTH",
    "MAX_LIST_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_STRING_LENGTH",
    "MAX_VALUE_BYTES",
    "check_entity_id",
    "check_name",
    "ensure_aware",
    "validate_feature_values",
    "validate_value",
    "validate_values",
]

MAX_STRING_LENGTH = 65_536
"""Longest string value (in characters) a writable backend accepts."""
MAX_LIST_LENGTH = 10_000
"""Most items of a list value."""
MAX_VALUE_BYTES = 1_048_576
"""Largest list or dict value a write accepts: 1 MiB of JSON (UTF-8). A scalar is
bounded by :data:`MAX_STRING_LENGTH` already."""
MAX_ENTITY_ID_LENGTH = 1_024
"""Longest entity id (in characters) a read or write accepts."""
MAX_NAME_LENGTH = 256
"""Longest feature name, request field name or entity type (in characters)."""
_PREVIEW_CHARS = 40
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-:]*$")


def check_entity_id(entity_id: str, where: str = "") -> None:
    """Raise :class:`FeatureValidationError` for an id longer than
    :data:`MAX_ENTITY_ID_LENGTH` characters (``where`` is prefixed to the message)."""
    _check_length("Entity id", entity_id, MAX_ENTITY_ID_LENGTH, "MAX_ENTITY_ID_LENGTH", where)


def check_name(kind: str, name: str, where: str = "") -> None:
    """Raise :class:`FeatureValidationError` for a ``kind`` name (``"Feature name"``,
    ``"Entity type"``) longer than :data:`MAX_NAME_LENGTH` characters."""
    _check_length(kind, name, MAX_NAME_LENGTH, "MAX_NAME_LENGTH", where)


def _check_length(kind: str, text: str, limit: int, constant: str, where: str) -> None:
    if len(text) <= limit:
        return
    preview = text[:_PREVIEW_CHARS]
    raise FeatureValidationError(
        f"{where}{kind} {preview!r}... has {len(text):,} characters, more than the limit of "
        f"{limit:,} (llm_featurestore.clients.values.{constant})"
    )


def ensure_aware(ts: datetime) -> datetime:
    """Treat naive datetimes as UTC; convert aware ones to UTC."""
    if ts.tzinfo is None:
        return ts.replace(tzinfo=timezone.utc)
    return ts.astimezone(timezone.utc)


def _validate_scalar(label: str, value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= 2**63:
            raise FeatureValidationError(f"{label}{where}: integer {value} overflows int64")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FeatureValidationError(f"{label}{where}: {value!r} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STRING_LENGTH:
            raise FeatureValidationError(
                f"{label}{where}: string of {len(value)} characters exceeds the "
                f"limit of {MAX_STRING_LENGTH}"
            )
        if "\x00" in value:
            raise FeatureValidationError(f"{label}{where}: strings may not contain NUL")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise FeatureValidationError(
                    f"{label}{where}: not valid Unicode text ({exc.reason} at "
                    f"position {exc.start}); decode bytes properly before storing them"
                ) from exc
        return value
    if isinstance(value, datetime):
        return ensure_aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise FeatureValidationError(
        f"{label}{where}: unsupported type {type(value).__name__}; "
        "use None, bool, int, float, str, datetime, a list of these, or a flat dict of these"
    )


def validate_value(label: str, value: Any) -> Any:
    """One value checked by the module's rule, as a JSON-safe copy.

    Args:
        label: How messages name the value, e.g. ``"Feature 'budget'"``.
        value: The value.

    Raises:
        FeatureValidationError: starting with ``label``, saying what is wrong.
    """
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_LIST_LENGTH:
            raise FeatureValidationError(
                f"{label}: list of {len(value)} items exceeds {MAX_LIST_LENGTH}"
            )
        return _bounded(label, [_validate_scalar(label, v, " (list item)") for v in value])
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str):
                raise FeatureValidationError(f"{label}: dict keys must be strings, got {key!r}")
            _validate_scalar(label, key, " (dict key)")
        clean = {k: _validate_scalar(label, v, f" (key {k!r})") for k, v in value.items()}
        return _bounded(label, clean)
    return _validate_scalar(label, value, "")


def _bounded(label: str, value: list[Any] | dict[str, Any]) -> Any:
    """``value`` when its JSON fits :data:`MAX_VALUE_BYTES`."""
    text = json.dumps(value, ensure_ascii=False)
    if len(text) * 4 > MAX_VALUE_BYTES:  # UTF-8 takes at most 4 bytes a character
        size = len(text.encode("utf-8"))
        if size > MAX_VALUE_BYTES:
            raise FeatureValidationError(
                f"{label}: value of {size:,} bytes (as JSON) exceeds the limit of "
                f"{MAX_VALUE_BYTES:,} (llm_featurestore.clients.values.MAX_VALUE_BYTES)"
            )
    return value


def validate_values(values: Mapping[str, Any], kind: str, scope: str = "") -> dict[str, Any]:
    """Check names and values, returning JSON-safe copies (an empty mapping is fine).

    Args:
        values: Name to value.
        kind: What a name is, for messages: ``"Feature"`` or ``"Request field"``.
        scope: Appended to each name in messages, e.g. ``" of user 'u1'"``.

    Raises:
        FeatureValidationError: naming the bad name or value.
    """
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(name, str):
            check_name(f"{kind} name", name)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise FeatureValidationError(
                f"Invalid {kind.lower()} name {name!r}{scope}: use letters, digits, '_', '-', "
                "'.' or ':', starting with a letter or '_'"
            )
        clean[name] = validate_value(f"{kind} '{name}'{scope}", value)
    return clean


def validate_feature_values(features: Mapping[str, Any]) -> dict[str, Any]:
    """Check names and values before they are stored, returning JSON-safe copies.

    Accepted values are those of the module docstring.

    Raises:
        FeatureValidationError: naming the feature and what is wrong with it.
    """
    if not isinstance(features, Mapping):
        raise FeatureValidationError(
            f"features must be a mapping of name to value, got {type(features).__name__}"
        )
    if not features:
        raise FeatureValidationError("features is empty: nothing to write")
    return validate_values(features, "Feature")
