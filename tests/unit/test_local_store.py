"""LocalFeatureStore: validation, atomic persistence, and file format errors."""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from llm_featurestore.clients.base import MAX_STRING_LENGTH, validate_feature_values
from llm_featurestore.clients.local import LocalFeatureStore, LocalFeatureStoreConfig
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus


def test_round_trips_every_value_type_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    values = {
        "flag": True,
        "count": 3,
        "score": 0.25,
        "name": "Zoë",
        "nothing": None,
        "tags": ["a", "b"],
        "prefs": {"size": "M", "width": 2},
        "when": datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    }
    LocalFeatureStore(path).write_features("u1", "user", values)
    vector = LocalFeatureStore(path).get_features("u1", "user", sorted(values))
    assert vector.features["flag"] is True
    assert vector.features["count"] == 3
    assert vector.features["score"] == 0.25
    assert vector.features["name"] == "Zoë"
    assert vector.features["tags"] == ["a", "b"]
    assert vector.features["prefs"] == {"size": "M", "width": 2}
    assert vector.features["when"] == "2026-01-02T03:04:05+00:00"
    assert vector.statuses["nothing"] is FeatureStatus.NULL_VALUE
    assert vector.features["nothing"] is None


@pytest.mark.parametrize(
    ("features", "message"),
    [
        ({"x": float("nan")}, "not a finite number"),
        ({"x": float("inf")}, "not a finite number"),
        ({"x": 2**64}, "overflows int64"),
        ({"x": "a" * (MAX_STRING_LENGTH + 1)}, "exceeds the limit"),
        ({"x": "bad\x00value"}, "NUL"),
        ({"x": "lone \ud800 surrogate"}, "not valid Unicode text"),
        ({"x": {"k\udfff": 1}}, r"\(dict key\): not valid Unicode text"),
        ({"x": object()}, "unsupported type object"),
        ({"x": [1, object()]}, "list item"),
        ({"x": {1: "a"}}, "dict keys must be strings"),
        ({"x": {"a": {"b": 1}}}, "unsupported type dict"),
        ({"bad name": 1}, "Invalid feature name"),
        ({"": 1}, "Invalid feature name"),
        ({}, "nothing to write"),
    ],
)
def test_invalid_values_are_rejected_with_a_clear_message(
    features: dict[object, object], message: str
) -> None:
    with pytest.raises(FeatureValidationError, match=message):
        validate_feature_values(features)  # type: ignore[arg-type]


def test_a_rejected_write_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    store = LocalFeatureStore(path)
    store.write_features("u1", "user", {"a": 1})
    before = path.read_bytes()
    with pytest.raises(FeatureValidationError):
        store.write_features("u1", "user", {"a": 2, "b": math.nan})
    assert path.read_bytes() == before
    assert store.get_features("u1", "user", ["a"]).features == {"a": 1}
    assert store.list_features("user") == ["a"]


def test_a_crash_mid_write_keeps_the_previous_file_and_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.json"
    store = LocalFeatureStore(path)
    store.write_features("u1", "user", {"a": 1})
    before = path.read_bytes()

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        store.write_features("u1", "user", {"a": 2, "b": 3})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]  # no temp file left behind
    assert store.get_features("u1", "user", ["a"]).features == {"a": 1}
    assert store.list_features("user") == ["a"]
    with pytest.raises(FeatureConfigError):
        store.get_features("u1", "user", ["b"])


def test_unknown_entity_type_lists_known_types() -> None:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"a": 1})
    store.write_features("o1", "organization", {"tone": "warm"})
    with pytest.raises(
        FeatureConfigError, match=r"Unknown entity type 'usr'. Available: organization, user"
    ):
        store.get_features("u1", "usr", ["a"])


def test_malformed_requests_are_rejected() -> None:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"a": 1})
    with pytest.raises(FeatureConfigError, match="list of ids"):
        store.get_batch_features("u1", "user", ["a"])
    with pytest.raises(FeatureConfigError, match="list of names"):
        store.get_features("u1", "user", "a")
    with pytest.raises(FeatureConfigError, match="feature_names is empty"):
        store.get_features("u1", "user", [])
    with pytest.raises(FeatureConfigError, match="non-empty strings"):
        store.get_batch_features(["u1", ""], "user", ["a"])
    with pytest.raises(FeatureConfigError, match="entity_type must be"):
        store.get_features("u1", "", ["a"])


@pytest.mark.parametrize("content", ["{not json", '["a list"]', '{"entities": 3}'])
def test_a_corrupt_file_is_reported(tmp_path: Path, content: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(content)
    with pytest.raises(FeatureConfigError, match=str(path)):
        LocalFeatureStore(path)


def test_max_age_per_entity_type() -> None:
    store = LocalFeatureStore(max_age_seconds={"user": 60})
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    store.write_features("u1", "user", {"a": 1}, event_timestamp=old)
    store.write_features("o1", "org", {"a": 1}, event_timestamp=old)
    assert store.get_features("u1", "user", ["a"]).statuses["a"] is FeatureStatus.STALE
    assert store.get_features("o1", "org", ["a"]).statuses["a"] is FeatureStatus.PRESENT


def test_naive_timestamps_are_taken_as_utc(tmp_path: Path) -> None:
    store = LocalFeatureStore(tmp_path / "f.json")
    store.write_features("u1", "user", {"a": 1}, event_timestamp=datetime(2026, 1, 1, 12))
    ts = (
        LocalFeatureStore(tmp_path / "f.json")
        .get_features("u1", "user", ["a"])
        .event_timestamps["a"]
    )
    assert ts == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["entities"]["user"]["u1"]["event_timestamps"]["a"] == "2026-01-01T12:00:00+00:00"


def test_settings_come_as_a_model_a_path_or_fields(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    config = LocalFeatureStoreConfig(data_path=path, max_age_seconds=60)
    assert LocalFeatureStore(config).config is config
    assert LocalFeatureStore(path, max_age_seconds=60).config == config
    assert LocalFeatureStore(str(path), max_age_seconds=60).config == config
    assert LocalFeatureStore(data_path=str(path), max_age_seconds=60).data_path == path
    assert LocalFeatureStore().data_path is None
    assert LocalFeatureStore.config_class is LocalFeatureStoreConfig
    assert config.type == "local"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data_pth": "x.json"}, r"data_pth: unknown key; valid keys: data_path, max_age_seconds"),
        ({"max_age_seconds": "soon"}, r"max_age_seconds"),
        ({"data_path": 3}, r"data_path"),
    ],
)
def test_bad_settings_raise_config_errors_naming_the_key(
    kwargs: dict[str, object], match: str
) -> None:
    with pytest.raises(FeatureConfigError, match=match) as err:
        LocalFeatureStore(**kwargs)
    assert str(err.value).startswith("Invalid LocalFeatureStoreConfig:")


def test_settings_given_twice_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FeatureConfigError, match="not both"):
        LocalFeatureStore(LocalFeatureStoreConfig(), max_age_seconds=1)


def test_config_matches_the_yaml_section() -> None:
    from llm_featurestore.config import LocalSection

    section = LocalSection(data_path="x.json", max_age_seconds={"user": 5})
    config = LocalFeatureStoreConfig(**section.model_dump())
    assert config.data_path == Path("x.json")
    assert config.max_age_seconds == {"user": 5}
