"""Request data for on-demand views: the shared checks and columns, and the HTTP plan pieces."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import httpx
import pytest

from llm_featurestore.clients.feast.request_data import (
    RequestField,
    merge_fields,
    request_columns,
)
from llm_featurestore.clients.feast_http import FeastHttpClient, resolve_http_names
from llm_featurestore.clients.feast_http.on_demand import (
    bare_names_plan,
    missing_request_data_error,
    with_request_fields,
)
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError

FIELDS = (
    RequestField("amount", "Float64", ("odv:total",)),
    RequestField("tags", "Array(String)", ("odv:total",)),
    RequestField("at", "UnixTimestamp", ("odv:late",)),
)
WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def test_columns_are_typed_and_aligned_with_the_ids() -> None:
    rows = [
        {"amount": 3, "tags": ("a",), "at": WHEN},
        {"amount": 2.5, "tags": [], "at": None},
    ]
    columns = request_columns(FIELDS, ["1", "2"], "user", rows)
    assert columns == {"amount": [3.0, 2.5], "tags": [["a"], []], "at": [WHEN, None]}
    assert isinstance(columns["amount"][0], float)
    safe = request_columns(FIELDS, ["1", "2"], "user", rows, json_safe=True)
    assert safe["at"] == ["2026-01-02T03:04:05+00:00", None]
    json.dumps(safe)


def test_no_request_data_is_fine_when_none_is_needed() -> None:
    assert request_columns((), ["1"], "user", None) == {}
    assert request_columns((), ["1"], "user", [{}]) == {}
    assert request_columns(FIELDS, [], "user", None) == {}
    assert request_columns(FIELDS, [], "user", []) == {}


def test_an_unknown_schema_sends_what_is_given_if_every_entity_has_the_same_fields() -> None:
    assert request_columns(None, ["1", "2"], "user", [{"x": 1}, {"x": "b"}]) == {"x": [1, "b"]}
    with pytest.raises(
        FeatureValidationError,
        match=r"^Request data for user '2' lacks x, which other entities of this read carry",
    ):
        request_columns(None, ["1", "2"], "user", [{"x": 1}, {}])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"amount": "3", "tags": [], "at": None}, r"'amount' for user '1' is Float64 in Feast: "),
        ({"amount": True, "tags": [], "at": None}, r"expected a number, got bool True"),
        ({"amount": 1, "tags": "a", "at": None}, r"is Array\(String\) in Feast: expected a list"),
        ({"amount": 1, "tags": [1], "at": None}, r"'tags' for user '1' is String in Feast"),
        ({"amount": 1, "tags": [], "at": "today"}, r"UnixTimestamp in Feast: expected a datetime"),
        ({"amount": float("nan"), "tags": [], "at": None}, r"^Request field 'amount': nan is not"),
        (
            {"amount": 1, "tags": ["a\x00"], "at": None},
            r"^Request field 'tags'.*may not contain NUL",
        ),
    ],
)
def test_values_are_checked_against_the_write_rule_and_the_feast_type(
    row: dict[str, object], message: str
) -> None:
    with pytest.raises(FeatureValidationError, match=message):
        request_columns(FIELDS, ["1"], "user", [row])


def test_bytes_are_taken_for_bytes_fields_but_not_as_json() -> None:
    fields = (RequestField("blob", "Bytes"),)
    assert request_columns(fields, ["1"], "u", [{"blob": b"\x00"}]) == {"blob": [b"\x00"]}
    with pytest.raises(FeatureValidationError, match=r"'blob': unsupported type bytes"):
        request_columns(fields, ["1"], "u", [{"blob": b"x"}], json_safe=True)
    with pytest.raises(FeatureValidationError, match=r"is Bytes in Feast: expected bytes"):
        request_columns(fields, ["1"], "u", [{"blob": "x"}])


def test_missing_and_unknown_fields_say_what_to_pass() -> None:
    with pytest.raises(FeatureValidationError) as info:
        request_columns(FIELDS, ["7"], "user", [{"amount": 1, "tags": []}])
    assert str(info.value) == (
        "Missing request data for user '7': at (UnixTimestamp), needed by the on-demand "
        "feature(s) odv:late. Pass it per entity: get_features(..., request_data={'amount': "
        "..., 'tags': ..., 'at': ...}), or get_batch_features(..., request_data=[{'amount': "
        "..., 'tags': ..., 'at': ...}, ...]) with one mapping per id"
    )
    with pytest.raises(
        FeatureConfigError,
        match=r"^Unknown request data field\(s\) 'amt', 'x' for user '7': the requested "
        r"features take amount, tags, at \(hint\)$",
    ):
        request_columns(FIELDS, ["7"], "user", [{"amt": 1, "x": 2, "amount": 1}], hint=" (hint)")


def test_one_mapping_per_id() -> None:
    with pytest.raises(FeatureConfigError, match=r"got str; for one entity use get_features"):
        request_columns(FIELDS, ["1"], "user", "amount")  # type: ignore[arg-type]
    with pytest.raises(FeatureConfigError, match=r"^request_data has 0 mapping\(s\) for 1 entity"):
        request_columns(FIELDS, ["1"], "user", [])


def test_fields_of_several_views_merge_by_name() -> None:
    merged = merge_fields(
        [RequestField("a", "Int64", ("v:x",)), RequestField("a", "Float64", ("w:y",)), FIELDS[0]]
    )
    assert merged == (RequestField("a", "Int64", ("v:x", "w:y")), FIELDS[0])


# ----------------------------------------------------------------- HTTP plans


def test_request_fields_come_from_the_setting_for_views_and_services() -> None:
    setting = {"odv": {"amount": "Float64"}, "svc": {"amount": "Float64", "n": "Int64"}}
    refs = resolve_http_names("user", ["odv:total", "stats:x"], None)
    assert with_request_fields(refs, None).request_fields is None
    assert with_request_fields(refs, setting).request_fields == (
        RequestField("amount", "Float64", ("odv:total",)),
    )
    service = with_request_fields(resolve_http_names("user", ["svc"], None), setting)
    assert [f.name for f in service.request_fields or ()] == ["amount", "n"]
    other = with_request_fields(resolve_http_names("user", ["other"], None), setting)
    assert other.request_fields == ()


def test_bare_names_plan_keeps_views_and_refuses_collisions() -> None:
    plan = resolve_http_names("user", ["odv:total", "stats:x"], None)
    bare = bare_names_plan(plan, "user_id")
    assert bare is not None
    assert bare.key_columns == (("odv:total", "total"), ("stats:x", "x"))
    assert bare.views == ("odv", "stats")
    assert not bare.full_names
    assert bare_names_plan(bare, "user_id") is None
    assert bare_names_plan(resolve_http_names("user", ["a:x", "b:x"], None), "user_id") is None
    assert bare_names_plan(resolve_http_names("user", ["a:user_id"], None), "user_id") is None
    assert bare_names_plan(resolve_http_names("user", ["svc"], None), "user_id") is None


def test_the_servers_refusal_is_read_even_without_field_names() -> None:
    plan = resolve_http_names("user", ["svc"], None)
    assert missing_request_data_error("Feature view x does not exist", "http://h", plan) is None
    error = missing_request_data_error("Required request data source features", "http://h", plan)
    assert error is not None
    assert "needs (not named) to compute the on-demand features of svc" in str(error)


def test_a_bare_names_answer_is_read_with_each_views_ttl() -> None:
    """A refs read answered without its columns is asked again with bare names."""
    bodies: list[dict[str, object]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        full = body["full_feature_names"]
        names = ["user_id", "stats__x"] if full else ["user_id", "total", "x"]
        results = [{"values": [1], "statuses": ["PRESENT"], "event_timestamps": [None]}]
        results += [
            {"values": [v], "statuses": ["PRESENT"], "event_timestamps": ["2000-01-01T00:00:00Z"]}
            for v in (2.5, 7)[: len(names) - 1]
        ]
        return httpx.Response(200, json={"metadata": {"feature_names": names}, "results": results})

    client = FeastHttpClient(
        "http://h", transport=httpx.MockTransport(answer), ttl_seconds={"stats": 60.0}
    )
    vector = client.get_features("1", "user", ["odv:total", "stats:x"], request_data={"a": 1})
    assert [b["full_feature_names"] for b in bodies] == [True, False]
    assert bodies[1]["entities"] == {"a": [1], "user_id": ["1"]}
    assert vector.features == {"odv:total": 2.5, "stats:x": 7}
    assert vector.statuses["stats:x"].value == "stale"  # stats' ttl, found through views
    assert vector.statuses["odv:total"].value == "present"
    client.get_features("1", "user", ["odv:total", "stats:x"], request_data={"a": 1})
    assert [b["full_feature_names"] for b in bodies] == [True, False, False]
