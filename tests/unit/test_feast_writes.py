"""The pure parts of writes and pushes (no server): push rows, error classification and
the feature server's write answers."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from llm_featurestore.clients.base import EntityKey
from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig
from llm_featurestore.clients.feast_http.writes import (
    Post,
    Read,
    error_for_write,
    push_flow,
    write_flow,
)
from llm_featurestore.clients.push_rows import check_push_mode, push_records, row_timestamp
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
    InvalidEntityIdError,
    UnknownEntityTypeError,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
URL = "http://feast.test:6566"
DEAD = "http://127.0.0.1:9"  # nothing is sent in these tests

# ----------------------------------------------------------------- push rows


def test_push_modes_are_checked_and_listed() -> None:
    assert check_push_mode("offline") == "offline"
    for bad in ("Online", None, 1):
        with pytest.raises(
            FeatureConfigError, match=r"use one of online, offline, online_and_offline"
        ):
            check_push_mode(bad)


def test_a_dataframe_becomes_plain_rows() -> None:
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {
            "user_id": np.array([1, 2], dtype="int64"),
            "score": [0.5, float("nan")],
            "when": [pd.Timestamp(NOW), pd.NaT],
            "tags": [np.array(["a", "b"]), None],
        }
    )
    rows = push_records(frame, "src")
    assert rows == [
        {"user_id": 1, "score": 0.5, "when": pd.Timestamp(NOW), "tags": ["a", "b"]},
        {"user_id": 2, "score": None, "when": None, "tags": None},
    ]
    assert type(rows[0]["user_id"]) is int


def test_row_timestamps_default_to_now_and_must_be_datetimes() -> None:
    naive = datetime(2026, 1, 1, 8, 30)
    assert row_timestamp({}, "ts", 0, "src", NOW) == NOW
    assert row_timestamp({"ts": naive}, "ts", 0, "src", NOW) == naive.replace(tzinfo=timezone.utc)
    with pytest.raises(
        FeatureValidationError,
        match=r"Row 2 of the push to 'src': timestamp column 'ts' must be a datetime \(or left "
        r"out for now\), got int 5",
    ):
        row_timestamp({"ts": 5}, "ts", 2, "src", NOW)


# ----------------------------------------------------------------- Feast's refusals


def test_feast_refusals_are_usage_errors_and_failures_outages() -> None:
    import pyarrow as pa
    from feast.errors import FeatureViewNotFoundException

    from llm_featurestore.clients.feast.failures import feast_write_error

    def classify(exc: Exception) -> Exception:
        return feast_write_error(exc, what="Feast write to feature view 'v'", fix="Pass ints.")

    for usage in (
        KeyError('Field "created" does not exist in schema'),
        ValueError("columns do not match"),
        AssertionError("Type `str` not in ..."),
        pa.ArrowInvalid("Could not convert 'x'"),
        pa.ArrowTypeError("Expected bytes"),
        pa.ArrowNotImplementedError("Unsupported cast"),
    ):
        error = classify(usage)
        assert isinstance(error, FeatureValidationError), usage
        assert str(error).startswith(
            f"Feast write to feature view 'v' was refused by Feast ({type(usage).__name__}: "
        )
        assert str(error).endswith("Pass ints.")
    gone = classify(FeatureViewNotFoundException("v", "p"))
    assert isinstance(gone, FeatureConfigError)
    assert "call refresh()" in str(gone)
    slow = classify(TimeoutError("read timed out"))
    assert isinstance(slow, FeatureTimeoutError)
    assert "timed out: TimeoutError: read timed out" in str(slow)
    for outage in (OSError("disk"), pa.ArrowIOError("io"), RuntimeError("boom")):
        error = classify(outage)
        assert type(error) is FeatureStoreUnavailableError, outage
        assert str(error).startswith("Feast write to feature view 'v' failed: ")
    ours = FeatureValidationError("already ours")
    assert classify(ours) is ours


# ----------------------------------------------------------------- the server's answers


def write_error(code: int, text: str, entity_id: str = "") -> Exception:
    return error_for_write(
        code,
        text,
        URL,
        what="a write to feature view 'v'",
        fix="Do X.",
        entity_type="user",
        entity_id=entity_id,
    )


def test_write_answers_map_to_usage_errors_or_outages() -> None:
    assert isinstance(write_error(401, "no"), FeatureAuthError)
    unknown = write_error(404, '{"detail": "Feature view v does not exist"}')
    assert type(unknown) is FeatureConfigError
    assert str(unknown) == (
        f"The Feast feature server at {URL} does not know the target of a write to feature "
        "view 'v': Feature view v does not exist"
    )
    push_unknown = write_error(422, json.dumps({"detail": "Unable to find push source 'p'."}))
    assert type(push_unknown) is FeatureConfigError
    for code, text in (
        (422, json.dumps({"detail": [{"msg": "field required"}]})),
        (400, "bad"),
        (500, json.dumps("\"['b'] not in index\"")),
        (500, json.dumps('Field "created" does not exist in schema')),
        (500, json.dumps("The input dataframe columns do not match the batch source columns.")),
    ):
        error = write_error(code, text)
        assert type(error) is FeatureValidationError, (code, text)
        assert str(error).startswith(f"The Feast feature server at {URL} refused a write to ")
        assert str(error).endswith(". Do X.")
    bad_id = write_error(500, json.dumps("invalid literal for int() with base 10: 'u-1'"), "u-1")
    assert isinstance(bad_id, InvalidEntityIdError)
    assert bad_id.entity_ids is None
    bad_value = write_error(500, json.dumps("invalid literal for int() with base 10: 'x'"), "7")
    assert type(bad_value) is FeatureValidationError
    assert isinstance(write_error(504, "slow"), FeatureTimeoutError)
    down = write_error(500, json.dumps("database is locked"))
    assert type(down) is FeatureStoreUnavailableError
    assert "(HTTP 500): database is locked" in str(down)


# ----------------------------------------------------------------- the flows


def drive(flow: Any, answers: list[Any]) -> tuple[list[Any], Any]:
    """Run a flow against canned answers; returns the steps it yielded and its result."""
    steps: list[Any] = []
    try:
        step = next(flow)
        while True:
            steps.append(step)
            step = flow.send(answers[len(steps) - 1])
    except StopIteration as done:
        return steps, done.value


class _Vector:
    def __init__(self, features: dict[str, Any]) -> None:
        self.features = features


def test_a_partial_write_reads_then_posts_the_merged_row() -> None:
    import httpx

    config = FeastHttpClientConfig(
        url=URL,
        features={"user": ["p:a", "p:b", "q:c"]},
        join_keys={"user": "uid"},
        timestamp_columns={"p": ["ts"]},
    )
    when = datetime(2026, 1, 9, tzinfo=timezone.utc)
    flow = write_flow(config, "7", "user", {"a": 1, "c": "x"}, when, NOW)
    ok = httpx.Response(200)
    steps, _ = drive(flow, [_Vector({"p:b": "kept"}), ok, ok])
    assert steps[0] == Read("7", "user", ("p:b",))
    bodies = [json.loads(s.body) for s in steps[1:]]
    assert bodies == [
        {
            "feature_view_name": "p",
            "df": {"uid": ["7"], "a": [1], "b": ["kept"], "ts": [when.isoformat()]},
        },
        {
            "feature_view_name": "q",
            "df": {
                "uid": ["7"],
                "c": ["x"],
                "event_timestamp": [when.isoformat()],
                "created": [NOW.isoformat()],
            },
        },
    ]
    assert all(isinstance(s, Post) and s.path == "/write-to-online-store" for s in steps[1:])


def test_write_names_are_checked_before_anything_is_sent() -> None:
    known = FeastHttpClient(DEAD, features={"user": ["p:a"]})
    with pytest.raises(UnknownEntityTypeError, match=r"Unknown entity type 'shop'.*user"):
        known.write_features("1", "shop", {"a": 1})
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'b'.*p:a"):
        known.write_features("1", "user", {"b": 1})
    bare = FeastHttpClient(DEAD)
    with pytest.raises(FeatureConfigError, match=r"Malformed Feast feature reference 'p:a:b'"):
        bare.write_features("1", "user", {"p:a:b": 1})
    with pytest.raises(
        FeatureValidationError, match="Every value written to feature view 'p' is None"
    ):
        bare.write_features("1", "user", {"p:a": None})
    with pytest.raises(FeatureValidationError, match="not a finite number"):
        bare.write_features("1", "user", {"p:a": float("inf")})


def test_a_push_body_fills_the_timestamp_columns() -> None:
    import httpx

    config = FeastHttpClientConfig(url=URL)
    rows = [{"user_id": 1, "q": "a"}, {"user_id": 1, "q": "b", "event_timestamp": NOW}]
    steps, keys = drive(push_flow(config, "src", rows, "offline", NOW), [httpx.Response(202)])
    assert keys == [EntityKey("user", "1")]
    (post,) = steps
    assert post.path == "/push"
    assert json.loads(post.body) == {
        "push_source_name": "src",
        "df": {
            "user_id": [1, 1],
            "q": ["a", "b"],
            "event_timestamp": [NOW.isoformat(), NOW.isoformat()],
            "created": [NOW.isoformat(), NOW.isoformat()],
        },
        "to": "offline",
    }


def test_timestamp_columns_take_one_or_two_names() -> None:
    with pytest.raises(FeatureConfigError, match="timestamp_columns"):
        FeastHttpClientConfig(url=URL, timestamp_columns={"v": ["a", "b", "c"]})
    with pytest.raises(FeatureConfigError, match="timestamp_columns"):
        FeastHttpClientConfig(url=URL, timestamp_columns={"v": []})
