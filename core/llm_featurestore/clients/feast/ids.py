"""Entity ids (always strings here) as values of an entity's Feast join key type."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.errors import FeatureConfigError, InvalidEntityIdError

ValueType = require("feast", extra="feast").ValueType

__all__ = ["coerce_all", "make_coercer", "probe_id"]

_INT_TYPES: dict[Any, tuple[int, str]] = {
    ValueType.INT64: (2**63, "Int64"),
    ValueType.INT32: (2**31, "Int32"),
}


def _int_coercer(value_type: Any, join_key: str, entity_type: str) -> Callable[[str], int]:
    limit, type_name = _INT_TYPES[value_type]

    def to_int(eid: str) -> int:
        digits = eid[1:] if eid[:1] == "-" else eid
        # Plain ASCII digits only: int() would also take " 7", "1_000" or non-ASCII digits.
        ok = digits.isascii() and digits.isdigit()
        out = int(eid) if ok else limit
        if not -limit <= out < limit:
            raise InvalidEntityIdError(
                f"Entity id {eid!r} is not a valid {type_name} for join key "
                f"'{join_key}' of entity '{entity_type}': pass the id as decimal digits, "
                "e.g. '1001'",
                entity_type=entity_type,
                entity_ids=[eid],
            )
        return out

    return to_int


def _float_coercer(join_key: str, entity_type: str) -> Callable[[str], float]:
    def to_float(eid: str) -> float:
        try:
            return float(eid)
        except ValueError:
            raise InvalidEntityIdError(
                f"Entity id {eid!r} is not a number, as join key '{join_key}' of "
                f"entity '{entity_type}' requires",
                entity_type=entity_type,
                entity_ids=[eid],
            ) from None

    return to_float


def make_coercer(value_type: Any, join_key: str, entity_type: str) -> Callable[[str], Any]:
    """A function turning a string id into the join key's Python value.

    Raises:
        FeatureConfigError: the join key's type cannot be built from a string.
    """
    if value_type in _INT_TYPES:
        return _int_coercer(value_type, join_key, entity_type)
    if value_type == ValueType.STRING:
        return str
    if value_type == ValueType.BYTES:
        return str.encode
    if value_type in (ValueType.DOUBLE, ValueType.FLOAT):
        return _float_coercer(join_key, entity_type)
    raise FeatureConfigError(
        f"Entity '{entity_type}' has join key '{join_key}' of type {value_type.name}, which "
        "FeastClient cannot build from a string id; use an Int64, Int32, String, Bytes, "
        "Float64 or Float32 join key"
    )


def coerce_all(
    coerce: Callable[[str], Any], entity_ids: Sequence[str], entity_type: str
) -> list[Any]:
    """Every id as a join key value.

    Raises:
        InvalidEntityIdError: naming every id that cannot be coerced (not only the first),
            so a caller can serve the others.
    """
    try:
        return [coerce(eid) for eid in entity_ids]
    except InvalidEntityIdError as first:
        bad: list[str] = []
        for eid in entity_ids:
            try:
                coerce(eid)
            except InvalidEntityIdError:
                bad.append(eid)
        more = f" ({len(bad) - 1} more invalid id(s) in this request)" if len(bad) > 1 else ""
        raise InvalidEntityIdError(
            f"{first}{more}", entity_type=entity_type, entity_ids=bad
        ) from None


def probe_id(value_type: Any) -> Any:
    """An id of the join key's type, for a health probe (``0`` or ``""``)."""
    return 0 if value_type in _INT_TYPES else ""
