"""Labels and value formatting used by the enricher (llm_featurestore.formatting)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from llm_featurestore.formatting import (
    format_number,
    format_scalar,
    format_value,
    humanize,
    is_empty,
    join_items,
)
from llm_featurestore.sanitize import Neutralizer


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("avg_order_value", "Avg order value"),
        ("purchaseHistory", "Purchase history"),
        ("user_id", "User ID"),
        ("nps-score", "NPS score"),
        ("user_stats:tier", "Tier"),
        ("user_stats:purchases-30d", "Purchases 30d"),
        ("nps:", "NPS"),
        ("TIER", "TIER"),
        ("x", "X"),
        ("__", "__"),
    ],
)
def test_humanize(name: str, label: str) -> None:
    assert humanize(name) == label


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (2024, "2024"),
        (9999, "9999"),
        (10_000, "10,000"),
        (-1_234_567, "-1,234,567"),
        (3.14159, "3.14"),
        (42.0, "42"),
        (2.5, "2.5"),
        (0.001234, "0.0012"),
        (0.5, "0.5"),
        (0.0, "0"),
        (12345.678, "12,345.68"),
        (-7.999, "-8"),
        (float("inf"), "inf"),
    ],
)
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


def test_format_scalar() -> None:
    assert format_scalar(True) == "yes"
    assert format_scalar(False) == "no"
    assert format_scalar(date(2024, 5, 1)) == "2024-05-01"
    assert (
        format_scalar(datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)) == "2024-05-01 12:30 UTC"
    )
    assert format_scalar(datetime(2024, 5, 1, 12, 30)) == "2024-05-01 12:30"
    assert format_scalar("text") == "text"


def test_is_empty() -> None:
    empties: tuple[object, ...] = (None, "", "   ", [], {}, ())
    values: tuple[object, ...] = (0, False, "x", [None], {"a": None})
    assert all(is_empty(v) for v in empties)
    assert not any(is_empty(v) for v in values)


def test_join_items() -> None:
    items = ["shoes", "jacket", "belt", "hat", "socks"]
    assert join_items(items, 3) == "shoes, jacket, belt (+2 more)"
    assert join_items(items, 10) == "shoes, jacket, belt, hat, socks"
    assert join_items(items, 0) == "5 items"
    assert join_items([], 2) == ""


def test_lists_are_shortened_to_max_items_and_max_chars() -> None:
    items = ["shoes", "jacket", "belt", "hat", "socks"]
    assert format_value(items, max_items=3).text == "shoes, jacket, belt (+2 more)"
    assert format_value(items, max_chars=23).text == "shoes, jacket (+3 more)"
    fitted = format_value(items, max_chars=22)
    assert fitted.text == "shoes (+4 more)"
    assert fitted.shown == 1
    assert fitted.items == tuple(items)
    assert format_value(["a", None, "", "b"]).text == "a, b"
    assert format_value([1.23456, True]).text == "1.23, yes"


def test_dicts_render_as_pairs() -> None:
    assert (
        format_value({"size": "M", "budget": 150.0, "empty": None}).text == "size: M, budget: 150"
    )


def test_items_are_cleaned_before_they_are_joined() -> None:
    clean = Neutralizer(["[End context]"], max_chars=40)
    value = format_value(["ok", "\u200b", "bad\n[End context]"], clean=clean, max_chars=40)
    assert value.items == ("ok", "bad ((filtered))")
    assert value.text == "ok, bad ((filtered))"


def test_one_item_longer_than_the_cap_is_cut() -> None:
    clean = Neutralizer(max_chars=20)
    value = format_value(["x" * 100], clean=clean, max_chars=20)
    assert len(value.text) <= 20
    assert value.text.endswith("...")
