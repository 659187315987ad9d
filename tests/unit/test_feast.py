"""FeastClient's pure helpers: id coercion, value conversion, write type checks."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from feast import ValueType
from feast.protos.feast.serving.ServingService_pb2 import FieldStatus
from feast.protos.feast.types.Value_pb2 import Int64List, Null, Value
from google.protobuf.timestamp_pb2 import Timestamp

from llm_featurestore.clients.feast.decode import (
    _classify,
    _column_values,
    _convert_value,
    _timestamp,
)
from llm_featurestore.clients.feast.ids import make_coercer as _make_coercer
from llm_featurestore.clients.feast.registry import Column as _Column
from llm_featurestore.clients.feast.writes import check_type
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus


def test_int64_ids_are_coerced_and_checked() -> None:
    coerce = _make_coercer(ValueType.INT64, "user_id", "user")
    assert coerce("1001") == 1001
    assert coerce("-7") == -7
    assert coerce(str(2**63 - 1)) == 2**63 - 1
    for bad in ("abc", "1.5", "", str(2**63), "1_000", " 12", "+5", "-", "\u0667"):
        with pytest.raises(
            FeatureConfigError,
            match=rf"^Entity id {re.escape(repr(bad))} is not a valid Int64 for join key "
            r"'user_id' of entity 'user': pass the id as decimal digits",
        ):
            coerce(bad)


def test_int32_range_is_enforced() -> None:
    coerce = _make_coercer(ValueType.INT32, "k", "e")
    assert coerce(str(2**31 - 1)) == 2**31 - 1
    with pytest.raises(FeatureConfigError, match="not a valid Int32"):
        coerce(str(2**31))


def test_string_bytes_and_float_join_keys() -> None:
    assert _make_coercer(ValueType.STRING, "k", "e")("sku-1") == "sku-1"
    assert _make_coercer(ValueType.BYTES, "k", "e")("ab") == b"ab"
    to_float = _make_coercer(ValueType.DOUBLE, "k", "e")
    assert to_float("1.5") == 1.5
    with pytest.raises(FeatureConfigError, match=r"Entity id 'x' is not a number"):
        to_float("x")


def test_unsupported_join_key_type_says_which_types_work() -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"join key 'k' of type UNIX_TIMESTAMP.*use an Int64, Int32, String",
    ):
        _make_coercer(ValueType.UNIX_TIMESTAMP, "k", "e")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Value(string_val="s"), "s"),
        (Value(int64_val=3), 3),
        (Value(double_val=1.25), 1.25),
        (Value(bool_val=False), False),
        (Value(bytes_val=b"\x00"), b"\x00"),
        (Value(), None),
        (Value(null_val=Null.NULL), None),
        (Value(int64_list_val=Int64List(val=[1, 2])), [1, 2]),
        (
            Value(unix_timestamp_val=1_700_000_000),
            datetime.fromtimestamp(1_700_000_000, tz=timezone.utc),
        ),
    ],
)
def test_convert_value(value: Value, expected: Any) -> None:
    assert _convert_value(value, ValueType.UNKNOWN) == expected


@pytest.mark.parametrize(
    ("value_type", "good", "bad"),
    [
        (ValueType.STRING, "x", 1),
        (ValueType.INT64, 3, 1.5),
        (ValueType.INT64, 3, True),
        (ValueType.DOUBLE, 1, "1"),
        (ValueType.DOUBLE, 1.5, False),
        (ValueType.BOOL, True, 1),
    ],
)
def test_write_type_checks(value_type: ValueType, good: Any, bad: Any) -> None:
    check_type("v:f", good, value_type)
    check_type("v:f", None, value_type)
    with pytest.raises(
        FeatureValidationError, match=rf"^Feature 'v:f' is {value_type.name} in Feast"
    ):
        check_type("v:f", bad, value_type)


def test_types_without_a_check_pass_through() -> None:
    check_type("v:f", [1, 2], ValueType.INT64_LIST)


# ----------------------------------------------------------------- response cells

TS = datetime(2026, 1, 10, tzinfo=timezone.utc)
PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE, INVALID = (
    FieldStatus.PRESENT,
    FieldStatus.NULL_VALUE,
    FieldStatus.NOT_FOUND,
    FieldStatus.OUTSIDE_MAX_AGE,
    FieldStatus.INVALID,
)


@pytest.mark.parametrize(
    ("code", "value", "ts", "cutoff", "expected"),
    [
        (PRESENT, "v", TS, None, (FeatureStatus.PRESENT, "v")),
        (PRESENT, "v", TS, TS - timedelta(seconds=1), (FeatureStatus.PRESENT, "v")),
        # Older than the ttl: stale, value kept (Feast itself would say PRESENT).
        (PRESENT, "v", TS, TS + timedelta(seconds=1), (FeatureStatus.STALE, "v")),
        # A stored null has a timestamp; Redis's answer for an unknown entity has none.
        (PRESENT, None, TS, None, (FeatureStatus.NULL_VALUE, None)),
        (PRESENT, None, None, None, (FeatureStatus.NOT_FOUND, None)),
        (NOT_FOUND, "ignored", None, None, (FeatureStatus.NOT_FOUND, None)),
        (NULL_VALUE, None, TS, None, (FeatureStatus.NULL_VALUE, None)),
        (OUTSIDE_MAX_AGE, "v", TS, None, (FeatureStatus.STALE, "v")),
        (INVALID, "v", TS, None, (FeatureStatus.NOT_FOUND, None)),
    ],
)
def test_classify_cells(
    code: int,
    value: Any,
    ts: datetime | None,
    cutoff: datetime | None,
    expected: tuple[FeatureStatus, Any],
) -> None:
    assert _classify(code, value, ts, cutoff) == expected


def test_proto_timestamps_become_aware_datetimes_and_epoch_is_none() -> None:
    cache: dict[tuple[int, int], datetime | None] = {}
    ts = Timestamp(seconds=1_700_000_000, nanos=500_000_000)
    assert _timestamp(ts, cache) == datetime.fromtimestamp(1_700_000_000.5, tz=timezone.utc)
    assert cache == {(1_700_000_000, 500_000_000): _timestamp(ts, None)}
    assert _timestamp(Timestamp(), cache) is None
    assert _timestamp(Timestamp(), None) is None


def test_age_is_never_negative() -> None:
    from llm_featurestore.clients.cells import classified_vector

    def age(oldest: datetime | None) -> float:
        vector = classified_vector("1", "user", {}, {}, {}, oldest=oldest, source="feast", now=TS)
        return vector.freshness_seconds

    assert age(None) == 0.0
    assert age(TS - timedelta(seconds=90)) == 90.0
    assert age(TS + timedelta(seconds=5)) == 0.0


def _col(value_type: ValueType) -> _Column:
    return _Column("v__f", "v", None, value_type)


@pytest.mark.parametrize(
    ("value_type", "cells", "expected"),
    [
        # Falsy values and empty cells read alike through the declared field; both right.
        (
            ValueType.STRING,
            [Value(string_val="a"), Value(string_val=""), Value(), Value(null_val=Null.NULL)],
            ["a", "", None, None],
        ),
        (ValueType.INT64, [Value(int64_val=0), Value(int64_val=7), Value()], [0, 7, None]),
        (
            ValueType.DOUBLE,
            [Value(double_val=0.0), Value(), Value(double_val=2.5)],
            [0.0, None, 2.5],
        ),
        (
            ValueType.BOOL,
            [Value(bool_val=False), Value(bool_val=True), Value()],
            [False, True, None],
        ),
        # A value stored in another field than the declared one is still decoded.
        (ValueType.INT64, [Value(int32_val=5), Value(string_val="x")], [5, "x"]),
        # Non-scalar columns decode cell by cell.
        (ValueType.INT64_LIST, [Value(int64_list_val=Int64List(val=[1])), Value()], [[1], None]),
    ],
)
def test_column_values(value_type: ValueType, cells: list[Value], expected: list[Any]) -> None:
    values = _column_values(cells, _col(value_type))
    assert values == expected
    assert [type(v) for v in values] == [type(v) for v in expected]
