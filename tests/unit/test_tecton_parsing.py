"""TectonClient's pure parts: request building, response parsing, status and error mapping."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from llm_featurestore.clients.tecton import (
    TectonClient,
    TectonService,
    build_get_features_request,
    parse_features_response,
    parse_metadata_response,
)
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureStatus

ENV = "LLMFS_UNIT_TECTON_KEY"
SECRET = "unit-secret-9c1d"


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> TectonClient:
    monkeypatch.setenv(ENV, SECRET)
    return TectonClient("https://x.tecton.ai/", "prod", "user_fs", api_key_env=ENV)


def meta(name: str, dtype: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"name": name, "dataType": dtype, **extra}


# --------------------------------------------------------------------------- requests


def test_single_and_batch_requests() -> None:
    path, body = build_get_features_request("prod", "fs", "user_id", ["7"], {"amt": 1.5})
    assert path == "/api/v1/feature-service/get-features"
    assert body["params"]["join_key_map"] == {"user_id": "7"}
    assert body["params"]["request_context_map"] == {"amt": 1.5}
    assert body["params"]["workspace_name"] == "prod"
    assert body["params"]["feature_service_name"] == "fs"
    assert body["params"]["metadata_options"]["include_serving_status"] is True
    path, body = build_get_features_request("prod", "fs", "user_id", ["7", "8"])
    assert path == "/api/v1/feature-service/get-features-batch"
    assert body["params"]["request_data"] == [
        {"join_key_map": {"user_id": "7"}, "request_context_map": {}},
        {"join_key_map": {"user_id": "8"}, "request_context_map": {}},
    ]


def test_per_row_request_contexts_merge_over_the_fixed_map() -> None:
    _, body = build_get_features_request(
        "prod",
        "fs",
        "user_id",
        ["7", "8"],
        {"amt": 1.0, "q": "x"},
        request_contexts=[{"amt": 2.0}, {}],
    )
    assert [r["request_context_map"] for r in body["params"]["request_data"]] == [
        {"amt": 2.0, "q": "x"},
        {"amt": 1.0, "q": "x"},
    ]
    with pytest.raises(ValueError, match="1 request contexts for 2 entity ids"):
        build_get_features_request("prod", "fs", "user_id", ["7", "8"], request_contexts=[{}])


# --------------------------------------------------------------------------- responses


def test_single_response_values_statuses_and_times() -> None:
    body = {
        "result": {"features": ["42", 1.5, None, None, "x", ["1", "2"], ["a", "3"]]},
        "metadata": {
            "features": [
                meta(
                    "v.count",
                    {"type": "int64"},
                    status="PRESENT",
                    effectiveTime="2023-05-03T00:00:00Z",
                ),
                meta("v.score", {"type": "float64"}, status="CACHED_PRESENT"),
                meta("v.missing", {"type": "string"}, status="MISSING_DATA"),
                meta("v.null", {"type": "string"}, status="PRESENT"),
                meta("v.odd", {"type": "string"}, status="UNKNOWN"),
                meta(
                    "v.ids", {"type": "array", "elementType": {"type": "int64"}}, status="PRESENT"
                ),
                meta(
                    "v.pair",
                    {
                        "type": "struct",
                        "fields": [
                            {"name": "label", "dataType": {"type": "string"}},
                            {"name": "n", "dataType": {"type": "int64"}},
                        ],
                    },
                    status="SOMETHING_NEW",
                ),
            ]
        },
    }
    [row] = parse_features_response(body, 1)
    assert row["v.count"].value == 42
    assert row["v.count"].status is FeatureStatus.PRESENT
    assert row["v.count"].event_timestamp == datetime(2023, 5, 3, tzinfo=timezone.utc)
    assert row["v.score"].value == 1.5
    assert row["v.score"].status is FeatureStatus.PRESENT
    assert row["v.score"].event_timestamp is None
    assert row["v.missing"].status is FeatureStatus.NOT_FOUND
    assert row["v.null"].status is FeatureStatus.PRESENT  # the cell rule makes it NULL_VALUE
    assert row["v.odd"].status is FeatureStatus.UNAVAILABLE
    assert row["v.ids"].value == [1, 2]
    assert row["v.pair"].value == {"label": "a", "n": 3}
    assert row["v.pair"].status is FeatureStatus.UNAVAILABLE  # unrecognised status


def test_batch_response_with_per_row_status_and_shared_or_per_row_times() -> None:
    body = {
        "result": [{"features": ["1", "a"]}, {"features": [None, "b"]}],
        "metadata": {
            "features": [
                meta(
                    "v.n",
                    {"type": "int64"},
                    status=["PRESENT", "MISSING_DATA"],
                    effectiveTime="2024-01-01T00:00:00Z",
                ),
                meta(
                    "v.s",
                    {"type": "string"},
                    status=["PRESENT", "PRESENT"],
                    effectiveTime=["2024-01-02T00:00:00+00:00", "2024-01-03T00:00:00Z"],
                ),
            ]
        },
    }
    first, second = parse_features_response(body, 2)
    assert (first["v.n"].value, first["v.n"].status) == (1, FeatureStatus.PRESENT)
    assert second["v.n"].status is FeatureStatus.NOT_FOUND
    shared = datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert first["v.n"].event_timestamp == second["v.n"].event_timestamp == shared
    assert first["v.s"].event_timestamp == datetime(2024, 1, 2, tzinfo=timezone.utc)
    assert second["v.s"].event_timestamp == datetime(2024, 1, 3, tzinfo=timezone.utc)


def test_without_serving_status_nulls_are_not_found() -> None:
    body = {
        "result": {"features": [None, 3.0]},
        "metadata": {"features": [meta("v.a", {"type": "float64"}), meta("v.b", {})]},
    }
    [row] = parse_features_response(body, 1)
    assert row["v.a"].status is FeatureStatus.NOT_FOUND
    assert row["v.b"].status is FeatureStatus.PRESENT


def test_unreadable_effective_time_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    body = {
        "result": {"features": [1.0]},
        "metadata": {"features": [meta("v.a", {}, status="PRESENT", effectiveTime="soon")]},
    }
    [row] = parse_features_response(body, 1)
    assert row["v.a"].event_timestamp is None
    assert "unreadable effectiveTime" in caplog.text


@pytest.mark.parametrize(
    ("body", "n", "match"),
    [
        ({}, 1, "unexpected shape: 'result'"),
        ({"result": {"features": [1]}}, 1, "'metadata'"),
        (
            {"result": [{"features": [1]}], "metadata": {"features": [meta("a", {})]}},
            2,
            "1 rows for 2 requested entities",
        ),
        (
            {"result": {"features": [1, 2]}, "metadata": {"features": [meta("a", {})]}},
            1,
            "2 values for 1 metadata entries",
        ),
        ({"result": {"features": [1]}, "metadata": {"features": [{"dataType": {}}]}}, 1, "'name'"),
    ],
)
def test_malformed_responses_are_unavailable(body: Any, n: int, match: str) -> None:
    with pytest.raises(FeatureStoreUnavailableError, match=match):
        parse_features_response(body, n)


def test_metadata_both_spellings_and_bad_shape() -> None:
    camel = parse_metadata_response(
        {"featureValues": [{"name": "v.a"}], "inputJoinKeys": [{"name": "user_id"}]}
    )
    snake = parse_metadata_response({"feature_values": [{"name": "v.a"}]})
    assert camel == TectonService(feature_names=("v.a",), join_keys=("user_id",))
    assert snake == TectonService(feature_names=("v.a",), join_keys=())
    with_context = parse_metadata_response(
        {"featureValues": [], "inputRequestContextKeys": [{"name": "amt"}, {"name": "q"}]}
    )
    assert with_context.request_context_keys == ("amt", "q")
    assert camel.request_context_keys == ()
    with pytest.raises(FeatureStoreUnavailableError, match="unexpected shape"):
        parse_metadata_response({"features": []})


def test_name_resolution() -> None:
    service = TectonService(("a.x", "a.y", "b.y", "plain"), ("user_id",))
    assert service.resolve("a.x") == "a.x"
    assert service.resolve("x") == "a.x"
    assert service.resolve("plain") == "plain"
    with pytest.raises(
        FeatureConfigError,
        match=r"^Ambiguous feature 'y' for this feature service: it is in 2 feature views\. "
        r"Use one of: a\.y, b\.y$",
    ):
        service.resolve("y")
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'z'\. Available .*a\.x, a\.y"):
        service.resolve("z")


# --------------------------------------------------------------------------- the client


def test_missing_key_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TECTON_API_KEY", raising=False)
    with pytest.raises(FeatureConfigError, match=r"environment variable TECTON_API_KEY is unset"):
        TectonClient("https://x.tecton.ai", "prod", "fs")
    monkeypatch.setenv("MY_KEY", "   ")
    with pytest.raises(FeatureConfigError, match=r"MY_KEY is unset or empty.*workspace 'prod'"):
        TectonClient("https://x.tecton.ai", "prod", "fs", api_key_env="MY_KEY")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("", "prod", "fs"), {}, r"\n  url: String should have at least 1 character"),
        (
            ("x.tecton.ai", "prod", "fs"),
            {},
            r"\n  url: Value error, url must start with http:// or https://, "
            r"e\.g\. https://yourco\.tecton\.ai \(got 'x\.tecton\.ai'\)",
        ),
        (("https://x", "", "fs"), {}, r"\n  workspace: String should have at least 1 character"),
        (("https://x", "prod", ""), {}, r"\n  feature_service: String should have at least 1"),
        (("https://x", "prod", "fs"), {"timeout_s": 0}, r"\n  timeout_s: Input should be greater"),
        (
            ("https://x", "prod", "fs"),
            {"timeout_s": float("inf")},
            r"\n  timeout_s: Input should be a finite number",
        ),
        (("https://x", "prod", "fs"), {"micro_batch_size": 0}, r"\n  micro_batch_size: Input"),
        (("https://x", "prod", "fs"), {"retries": -1}, r"\n  retries: Input should be greater"),
        (("https://x", "prod", "fs"), {"retry": 2}, r"\n  retry: unknown key; valid keys: "),
    ],
)
def test_bad_settings_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], kwargs: dict[str, Any], match: str
) -> None:
    monkeypatch.setenv(ENV, SECRET)
    with pytest.raises(FeatureConfigError, match=match):
        TectonClient(*args, api_key_env=ENV, **kwargs)


def test_key_is_secret_and_sent_as_tecton_key(client: TectonClient) -> None:
    assert SECRET not in repr(client)
    assert SECRET not in repr(vars(client))
    assert str(client._api_key) == "**********"
    assert client.http.headers["Authorization"] == f"Tecton-key {SECRET}"
    assert client.url == "https://x.tecton.ai"
    client.close()


def response(status: int, body: Any = None, text: str | None = None) -> httpx.Response:
    if text is not None:
        return httpx.Response(status, text=text)
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (
            401,
            FeatureAuthError,
            r"refused the credentials \(HTTP 401\): check LLMFS_UNIT_TECTON_KEY holds a valid "
            r"key .*Server said: boom$",
        ),
        (403, FeatureAuthError, r"refused the credentials \(HTTP 403\)"),
        (
            404,
            FeatureConfigError,
            r"no feature service 'user_fs' in workspace 'prod' \(HTTP 404\)",
        ),
        (400, FeatureConfigError, r"rejected the request .*\(HTTP 400\): boom\. Check join_key"),
        (429, FeatureStoreUnavailableError, r"failed serving the call \(HTTP 429\): boom$"),
        (502, FeatureStoreUnavailableError, r"\(HTTP 502\): boom"),
        (504, FeatureTimeoutError, r"timed out serving the call \(HTTP 504\): boom"),
    ],
)
def test_http_status_mapping(
    client: TectonClient, status: int, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        client._check(response(status, {"error": "e", "message": "boom", "code": 1}), "the call")


def test_non_json_bodies(client: TectonClient) -> None:
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 502\): <html>bad gateway"):
        client._check(response(502, text="<html>bad gateway</html>"), "the call")
    with pytest.raises(FeatureStoreUnavailableError, match="body that is not JSON"):
        client._check(response(200, text="oops"), "the call")
    assert client._check(response(200, {"ok": 1}), "the call") == {"ok": 1}


def test_entity_type_and_join_key_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)
    two = TectonService(("v.a",), ("user_id", "ad_id"))
    plain = TectonClient("https://x", "p", "fs", api_key_env=ENV)
    assert plain._join_key(TectonService(("v.a",), ("customer",)), "user") == "customer"
    assert plain._join_key(two, "user") == "user_id"
    with pytest.raises(FeatureConfigError, match=r"expects user_id, ad_id\. Pass join_key="):
        plain._join_key(two, "item")
    fixed = TectonClient("https://x", "p", "fs", api_key_env=ENV, join_key="uid")
    assert fixed._join_key(two, "anything") == "uid"
    for c in (plain, fixed):
        c.close()
