"""The shared backend rules: cells to vectors, and feature-name resolution."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from llm_featurestore.clients.base import check_write
from llm_featurestore.clients.cells import Cell, assemble, classify, max_age_for
from llm_featurestore.clients.names import NameIndex, service_keys
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus as S

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
OLD = NOW - timedelta(hours=2)
CUTOFF = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("value", "ts", "store", "null_needs_ts", "expected"),
    [
        ("a", NOW, S.PRESENT, False, (S.PRESENT, "a")),
        ("a", OLD, S.PRESENT, False, (S.STALE, "a")),
        ("a", None, S.PRESENT, False, (S.PRESENT, "a")),
        (None, NOW, S.PRESENT, False, (S.NULL_VALUE, None)),
        (None, None, S.PRESENT, False, (S.NULL_VALUE, None)),
        (None, None, S.PRESENT, True, (S.NOT_FOUND, None)),
        (None, NOW, S.PRESENT, True, (S.NULL_VALUE, None)),
        ("a", OLD, S.STALE, False, (S.STALE, "a")),
        ("a", NOW, S.NOT_FOUND, False, (S.NOT_FOUND, None)),
        ("a", NOW, S.UNAVAILABLE, False, (S.UNAVAILABLE, None)),
    ],
)
def test_classify(
    value: object, ts: datetime | None, store: S, null_needs_ts: bool, expected: tuple[S, object]
) -> None:
    assert classify(value, ts, CUTOFF, store, null_needs_timestamp=null_needs_ts) == expected


def test_assemble_marks_missing_not_found_and_ages_the_oldest_kept_value() -> None:
    vector = assemble(
        "1",
        "user",
        ["fresh", "stale", "gone", "null"],
        {
            "fresh": Cell("x", NOW),
            "stale": Cell(3, OLD),
            "null": Cell(None, OLD - timedelta(days=1)),
        },
        source="local",
        now=NOW,
        max_age=timedelta(hours=1),
    )
    assert vector.statuses == {
        "fresh": S.PRESENT,
        "stale": S.STALE,
        "gone": S.NOT_FOUND,
        "null": S.NULL_VALUE,
    }
    assert vector.features == {"fresh": "x", "stale": 3, "gone": None, "null": None}
    assert vector.freshness_seconds == 7200.0  # the null's older stamp does not count


def test_max_age_per_entity_type() -> None:
    assert max_age_for({"user": 5}, "user") == timedelta(seconds=5)
    assert max_age_for({"user": 5}, "item") is None
    assert max_age_for(None, "user") is None


def test_name_index_resolves_refs_and_unique_bare_names() -> None:
    index = NameIndex(["a:x", "a:y", "b:y"], scope="entity 'user'")
    assert index.resolve("x") == "a:x"
    assert index.resolve("b:y") == "b:y"
    assert index.available() == ["a:x", "a:y", "b:y", "x"]
    assert index.knows("y")
    assert not index.knows("z")


def test_name_index_messages_name_the_choices() -> None:
    index = NameIndex(["a:x", "a:y", "b:y"], scope="entity 'user'", hint=" (or a service)")
    with pytest.raises(
        FeatureConfigError, match=r"Ambiguous feature 'y' for entity 'user'.*a:y, b:y"
    ):
        index.resolve("y")
    with pytest.raises(FeatureConfigError) as info:
        index.resolve("z")
    assert (
        str(info.value)
        == "Unknown feature 'z'. Available for entity 'user': a:x, a:y, b:y, x (or a service)"
    )


def test_service_keys_qualify_only_shared_names() -> None:
    assert service_keys([("a", "x"), ("a", "y"), ("b", "y")]) == ["x", "a:y", "b:y"]


def test_check_write_validates_before_io() -> None:
    when = datetime(2026, 1, 1, 12)  # naive: read as UTC
    values, ts = check_write("7", "user", {"tier": "gold"}, when)
    assert values == {"tier": "gold"}
    assert ts == when.replace(tzinfo=timezone.utc)
    with pytest.raises(FeatureConfigError, match="entity ids must be non-empty strings, got ''"):
        check_write("", "user", {"tier": "gold"})
    with pytest.raises(FeatureConfigError, match="entity_type must be a non-empty string"):
        check_write("7", "", {"tier": "gold"})
    with pytest.raises(FeatureValidationError, match="tier"):
        check_write("7", "user", {"tier": float("nan")})
