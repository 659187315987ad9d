"""FeastClient's pure helpers: id coercion, value conversion, write type checks."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from feast import ValueType
from feast.protos.feast.types.Value_pb2 import Int64List, Null, Value

from llm_featurestore.clients.feast import _check_type, _convert_value, _make_coercer
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError


def test_int64_ids_are_coerced_and_checked() -> None:
    coerce = _make_coercer(ValueType.INT64, "user_id", "user")
    assert coerce("1001") == 1001
    assert coerce("-7") == -7
    assert coerce(str(2**63 - 1)) == 2**63 - 1
    for bad in ("abc", "1.5", "", str(2**63)):
        with pytest.raises(
            FeatureConfigError,
            match=rf"^Entity id '{bad}' is not a valid Int64 for join key 'user_id' of entity "
            r"'user': pass the id as decimal digits",
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
    _check_type("v:f", good, value_type)
    _check_type("v:f", None, value_type)
    with pytest.raises(
        FeatureValidationError, match=rf"^Feature 'v:f' is {value_type.name} in Feast"
    ):
        _check_type("v:f", bad, value_type)


def test_types_without_a_check_pass_through() -> None:
    _check_type("v:f", [1, 2], ValueType.INT64_LIST)
