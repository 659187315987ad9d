"""The pure request/response logic of FeastHttpClient (no server)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llm_featurestore.clients.feast_http import (
    FeastHttpClient,
    build_request,
    error_for_response,
    parse_response,
    resolve_http_names,
    service_keys,
)
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    InvalidEntityIdError,
)
from llm_featurestore.models import FeatureStatus

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
KNOWN = {"user": ["stats:category", "stats:brand", "extra:brand", "extra:tier"]}
EPOCH = "1970-01-01T00:00:00Z"


def answer(
    names: list[str], columns: list[tuple[list[Any], list[str], list[str]]]
) -> dict[str, Any]:
    """A /get-online-features answer: the join key column, then ``columns``."""
    n = len(columns[0][0]) if columns else 0
    results = [
        {"values": list(range(n)), "statuses": ["PRESENT"] * n, "event_timestamps": [EPOCH] * n}
    ]
    results += [{"values": v, "statuses": s, "event_timestamps": t} for v, s, t in columns]
    return {"metadata": {"feature_names": ["user_id", *names]}, "results": results}


# ----------------------------------------------------------------- names


def test_service_keys_are_bare_unless_shared() -> None:
    assert service_keys([("a", "x"), ("a", "y"), ("b", "y")]) == ["x", "a:y", "b:y"]
    assert service_keys([]) == []


def test_refs_pass_through_in_request_order_and_dedupe() -> None:
    plan = resolve_http_names("user", ["b:y", "a:x", "b:y"], None)
    assert plan.features == ("b:y", "a:x")
    assert plan.service is None
    assert plan.key_columns == (("b:y", "b__y"), ("a:x", "a__x"), ("b:y", "b__y"))


def test_lone_bare_name_is_a_service_unless_it_is_a_known_feature() -> None:
    assert resolve_http_names("user", ["svc"], None).service == "svc"
    assert resolve_http_names("user", ["svc"], KNOWN).service == "svc"
    plan = resolve_http_names("user", ["tier"], KNOWN)
    assert plan.service is None
    assert plan.key_columns == (("tier", "extra__tier"),)


def test_bare_names_resolve_through_the_mapping() -> None:
    plan = resolve_http_names("user", ["category", "tier"], KNOWN)
    assert plan.features == ("stats:category", "extra:tier")


def test_bare_name_without_mapping_says_how_to_fix() -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"Cannot resolve the bare feature name 'category'.*features=\{'user'",
    ):
        resolve_http_names("user", ["category", "stats:brand"], None)


def test_ambiguous_and_unknown_names_list_choices() -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"^Ambiguous feature 'brand' for entity 'user': it is in 2 feature views. "
        r"Use one of: extra:brand, stats:brand$",
    ):
        resolve_http_names("user", ["brand", "tier"], KNOWN)
    with pytest.raises(
        FeatureConfigError,
        match=r"^Unknown feature 'budget'. Available for entity 'user': category, "
        r"extra:brand, extra:tier, stats:brand, stats:category, tier$",
    ):
        resolve_http_names("user", ["budget", "tier"], KNOWN)
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'stats:nope'"):
        resolve_http_names("user", ["stats:nope"], KNOWN)
    with pytest.raises(FeatureConfigError, match=r"Unknown entity type 'driver'. Available: user"):
        resolve_http_names("driver", ["stats:category"], KNOWN)


@pytest.mark.parametrize("ref", [":x", "v:", "a:b:c"])
def test_malformed_refs_are_rejected(ref: str) -> None:
    with pytest.raises(FeatureConfigError, match="Malformed Feast feature reference"):
        resolve_http_names("user", [ref, "a:b"], None)


def test_build_request_for_refs_and_services() -> None:
    plan = resolve_http_names("user", ["a:x"], None)
    assert build_request(plan, "user_id", ["1", "2"]) == {
        "entities": {"user_id": ["1", "2"]},
        "full_feature_names": True,
        "features": ["a:x"],
    }
    service = resolve_http_names("user", ["svc"], None)
    assert build_request(service, "uid", ["1"]) == {
        "entities": {"uid": ["1"]},
        "full_feature_names": True,
        "feature_service": "svc",
    }


# ----------------------------------------------------------------- responses


def test_parse_maps_statuses_values_and_timestamps_in_request_order() -> None:
    plan = resolve_http_names("user", ["b:y", "a:x"], None)
    fresh = "2026-01-10T11:00:00Z"
    doc = answer(
        ["a__x", "b__y"],
        [
            (
                ["v1", None, None, "v4"],
                ["PRESENT", "NOT_FOUND", "PRESENT", "OUTSIDE_MAX_AGE"],
                [fresh, EPOCH, fresh, fresh],
            ),
            (
                [1, 2, None, 4],
                ["PRESENT", "PRESENT", "NULL_VALUE", "INVALID"],
                [fresh, fresh, fresh, fresh],
            ),
        ],
    )
    v = parse_response(doc, plan, ["e1", "e2", "e3", "e4"], "user", now=NOW)
    assert [list(x.features) for x in v] == [["b:y", "a:x"]] * 4
    assert v[0].features == {"b:y": 1, "a:x": "v1"}
    assert v[0].freshness_seconds == 3600.0
    assert v[0].event_timestamps["a:x"] == datetime(2026, 1, 10, 11, tzinfo=timezone.utc)
    assert v[1].statuses == {"b:y": FeatureStatus.PRESENT, "a:x": FeatureStatus.NOT_FOUND}
    assert v[1].event_timestamps["a:x"] is None
    assert v[2].statuses == {"b:y": FeatureStatus.NULL_VALUE, "a:x": FeatureStatus.NULL_VALUE}
    # OUTSIDE_MAX_AGE is STALE and keeps its value; INVALID is treated as not found.
    assert v[3].statuses == {"b:y": FeatureStatus.NOT_FOUND, "a:x": FeatureStatus.STALE}
    assert v[3].features == {"b:y": None, "a:x": "v4"}
    assert all(x.source == "feast_http" for x in v)


def test_present_null_without_timestamp_is_not_found() -> None:
    plan = resolve_http_names("user", ["a:x"], None)
    doc = answer(["a__x"], [([None], ["PRESENT"], [EPOCH])])
    (vec,) = parse_response(doc, plan, ["e"], "user", now=NOW)
    assert vec.statuses == {"a:x": FeatureStatus.NOT_FOUND}


def test_ttl_seconds_per_view_mark_old_values_stale() -> None:
    plan = resolve_http_names("user", ["a:x", "b:y"], None)
    old = "2026-01-08T12:00:00.123456789Z"  # nanoseconds, as Feast may send
    doc = answer(["a__x", "b__y"], [(["v"], ["PRESENT"], [old]), ([1], ["PRESENT"], [old])])
    (vec,) = parse_response(doc, plan, ["e"], "user", now=NOW, ttl_seconds={"a": 86400})
    assert vec.statuses == {"a:x": FeatureStatus.STALE, "b:y": FeatureStatus.PRESENT}
    assert vec.features == {"a:x": "v", "b:y": 1}
    assert vec.event_timestamps["a:x"] == datetime(
        2026, 1, 8, 12, 0, 0, 123456, tzinfo=timezone.utc
    )
    assert vec.freshness_seconds == pytest.approx(2 * 86400 - 0.123456)


def test_service_keys_come_from_the_response_sorted() -> None:
    plan = resolve_http_names("user", ["svc"], None)
    t = "2026-01-10T11:00:00Z"
    doc = answer(
        ["s__z", "s__a", "t__a"],
        [(["z"], ["PRESENT"], [t]), (["sa"], ["PRESENT"], [t]), (["ta"], ["PRESENT"], [t])],
    )
    (vec,) = parse_response(doc, plan, ["e"], "user", now=NOW)
    assert vec.features == {"s:a": "sa", "z": "z", "t:a": "ta"}
    assert list(vec.features) == ["s:a", "z", "t:a"]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"results": []}, "no metadata/results"),
        ({"metadata": {"feature_names": ["user_id", "a__x"]}, "results": [{}]}, "2 feature names"),
        (answer(["b__y"], [(["v"], ["PRESENT"], [EPOCH])]), "without column 'a__x'"),
        (answer(["a__x"], [(["v", "w"], ["PRESENT", "PRESENT"], [EPOCH, EPOCH])]), "2 values"),
    ],
)
def test_malformed_answers_are_unavailable(doc: dict[str, Any], message: str) -> None:
    plan = resolve_http_names("user", ["a:x"], None)
    with pytest.raises(FeatureStoreUnavailableError, match=message):
        parse_response(doc, plan, ["e"], "user", now=NOW)


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "text", "kind", "message"),
    [
        (
            500,
            json.dumps("'Feature nope not found in projection user_stats'"),
            FeatureConfigError,
            "Feature nope not found",
        ),
        (
            404,
            json.dumps(
                json.dumps(
                    {
                        "module": "feast.errors",
                        "class": "FeatureViewNotFoundException",
                        "message": "Feature view v does not exist",
                    }
                )
            ),
            FeatureConfigError,
            r"rejected the request: Feature view v does not exist$",
        ),
        (422, '{"detail": "bad body"}', FeatureConfigError, "bad body"),
        (
            401,
            "denied",
            FeatureAuthError,
            r"refused the credentials \(HTTP 401\): FeastHttpClient sends no credentials.*"
            r"Server said: denied$",
        ),
        (403, "forbidden", FeatureAuthError, r"\(HTTP 403\).*Server said: forbidden$"),
        (
            500,
            json.dumps("invalid literal for int() with base 10: 'guest-7f3a'"),
            InvalidEntityIdError,
            r"could not use an entity id of 'this entity' as its join key: invalid literal",
        ),
        (
            500,
            json.dumps("database is locked"),
            FeatureStoreUnavailableError,
            r"failed serving the request \(HTTP 500\): database is locked$",
        ),
        (503, "", FeatureStoreUnavailableError, r"\(HTTP 503\)"),
        (504, "slow", FeatureTimeoutError, r"timed out serving the request \(HTTP 504\): slow"),
    ],
)
def test_error_for_response(status: int, text: str, kind: type[Exception], message: str) -> None:
    error = error_for_response(status, text, "http://h:1")
    assert type(error) is kind
    assert "http://h:1" in str(error)
    with pytest.raises(kind, match=message):
        raise error


# ----------------------------------------------------------------- client without I/O


def test_constructor_checks_the_url() -> None:
    with pytest.raises(FeatureConfigError) as err:
        FeastHttpClient("127.0.0.1:6566")
    assert str(err.value).splitlines() == [
        "Invalid FeastHttpClientConfig:",
        "  url: Value error, url must start with http:// or https://, e.g. "
        "http://127.0.0.1:6566 (got '127.0.0.1:6566')",
    ]


def test_requests_are_checked_before_any_io() -> None:
    client = FeastHttpClient("http://127.0.0.1:1")
    with pytest.raises(FeatureConfigError, match="not the string"):
        client.get_batch_features("1001", "user", ["a:x"])
    assert client.get_batch_features([], "user", ["a:x"]) == []
    assert client._client is None


def test_join_key_defaults_to_entity_type_id() -> None:
    client = FeastHttpClient("http://127.0.0.1:1/", join_keys={"product": "sku"})
    assert client.url == "http://127.0.0.1:1"
    _, body = client._body(["1"], "user", ["a:x"])
    assert json.loads(body)["entities"] == {"user_id": ["1"]}
    _, body = client._body(["1"], "product", ["a:x"])
    assert json.loads(body)["entities"] == {"sku": ["1"]}


def test_list_features_needs_the_mapping() -> None:
    assert FeastHttpClient("http://h", features=KNOWN).list_features("user") == [
        "category",
        "extra:brand",
        "extra:tier",
        "stats:brand",
        "stats:category",
        "tier",
    ]
    with pytest.raises(FeatureConfigError, match="no endpoint that lists features"):
        FeastHttpClient("http://h").list_features("user")


def test_future_timestamps_never_give_negative_freshness() -> None:
    plan = resolve_http_names("user", ["a:x"], None)
    future = (NOW + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    (vec,) = parse_response(
        answer(["a__x"], [(["v"], ["PRESENT"], [future])]), plan, ["e"], "user", now=NOW
    )
    assert vec.freshness_seconds == 0.0
