"""The bounds of ids, names and values (issue 13, item 5): written once, in
``clients.values``, applied by the checks every read and write runs before any I/O.
Every backend is covered by the contract suites (``tests/contract``); these pin the
edges of each bound."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llm_featurestore.clients.base import (
    MAX_ENTITY_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_VALUE_BYTES,
    check_request,
    check_request_data,
    check_write,
    validate_feature_values,
)
from llm_featurestore.errors import FeatureValidationError


def test_the_bounds() -> None:
    assert (MAX_ENTITY_ID_LENGTH, MAX_NAME_LENGTH, MAX_VALUE_BYTES) == (1_024, 256, 1_048_576)


def test_an_id_is_bounded_on_read_and_on_write() -> None:
    edge = "u" * MAX_ENTITY_ID_LENGTH
    check_request([edge], "user", ["f"])
    check_write(edge, "user", {"f": 1})
    million = "u" * 1_000_000
    expected = (
        f"Entity id '{'u' * 40}'... has 1,000,000 characters, more than the limit of 1,024 "
        "(llm_featurestore.clients.values.MAX_ENTITY_ID_LENGTH)"
    )
    for call in (
        lambda: check_request(["ok", million], "user", ["f"]),
        lambda: check_write(million, "user", {"f": 1}),
    ):
        with pytest.raises(FeatureValidationError) as info:
            call()
        assert str(info.value) == expected


@pytest.mark.parametrize("kind", ["Feature name", "Entity type"])
def test_names_and_entity_types_are_bounded_on_read_and_on_write(kind: str) -> None:
    edge, over = "n" * MAX_NAME_LENGTH, "n" * (MAX_NAME_LENGTH + 1)

    def both(name: str) -> None:
        if kind == "Feature name":
            check_request(["u1"], "user", [name])
            check_write("u1", "user", {name: 1})
        else:
            check_request(["u1"], name, ["f"])
            check_write("u1", name, {"f": 1})

    both(edge)
    with pytest.raises(FeatureValidationError) as info:
        both(over)
    assert str(info.value) == (
        f"{kind} '{'n' * 40}'... has 257 characters, more than the limit of 256 "
        "(llm_featurestore.clients.values.MAX_NAME_LENGTH)"
    )


def test_a_request_field_name_is_bounded_like_a_feature_name() -> None:
    with pytest.raises(FeatureValidationError, match=r"^Request field name 'r{40}'\.\.\. has 257"):
        check_request_data(["u1"], [{"r" * (MAX_NAME_LENGTH + 1): 1}])


@pytest.mark.parametrize(("char", "fits"), [("x", 17), ("€", 5)])  # 1 and 3 bytes of UTF-8
def test_a_list_value_is_bounded_by_the_bytes_of_its_json(char: str, fits: int) -> None:
    # Each item is within the string bound (65,536 characters); the list is not.
    piece = char * 60_000
    size = len(json.dumps([piece] * (fits + 1), ensure_ascii=False).encode("utf-8"))
    assert len(json.dumps([piece] * fits, ensure_ascii=False).encode("utf-8")) <= MAX_VALUE_BYTES
    assert validate_feature_values({"tags": [piece] * fits})["tags"] == [piece] * fits
    with pytest.raises(FeatureValidationError) as info:
        validate_feature_values({"tags": [piece] * (fits + 1)})
    assert str(info.value) == (
        f"Feature 'tags': value of {size:,} bytes (as JSON) exceeds the limit of 1,048,576 "
        "(llm_featurestore.clients.values.MAX_VALUE_BYTES)"
    )


def test_a_dict_value_is_bounded_too() -> None:
    big: dict[str, Any] = {f"k{i}": "v" * 60_000 for i in range(18)}
    with pytest.raises(FeatureValidationError, match=r"^Feature 'prefs': value of 1,080,"):
        validate_feature_values({"prefs": big})
    small = {f"k{i}": "v" * 60_000 for i in range(17)}
    assert validate_feature_values({"prefs": small})["prefs"] == small
