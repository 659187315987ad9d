"""TectonClient against the local Tecton-API server: requests, statuses, names, errors."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureStatus
from tests import tecton_server as ts
from tests.fixtures.servers import free_port
from tests.fixtures.tecton import KEY_ENV, make_tecton_client

pytestmark = pytest.mark.integration

FAV = "user_stats.favorite_category"
AOV = "user_stats.avg_order_value"
P30 = "user_stats.purchases_30d"
OLD = datetime.now(timezone.utc) - timedelta(days=30)
ROWS: dict[str, dict[str, Any]] = {
    "1": {FAV: "running", AOV: 120.5, P30: 3, "user_stats.segment": "a"},
    "2": {FAV: "outerwear", AOV: 10.0, P30: 0},  # no segments: MISSING_DATA for those
    "3": {FAV: None, AOV: 1.25, P30: 2**40},  # an explicit null
    "old": {FAV: "books", AOV: 2.0, P30: 1},
}


@pytest.fixture(autouse=True)
def close_every_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Close every client a test builds, even when the test fails half-way (an unclosed
    pool would surface as a ResourceWarning, an error, in some later test)."""
    made: list[TectonClient] = []

    def tracking(*args: Any, **kwargs: Any) -> TectonClient:
        made.append(make_tecton_client(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(sys.modules[__name__], "make_client", tracking)
    yield
    for client in made:
        client.close()


def make_client(*args: Any, **kwargs: Any) -> TectonClient:
    """Replaced in every test by the tracking factory of ``close_every_client``."""
    raise AssertionError("make_client is only usable inside a test")


@pytest.fixture
def server() -> Iterator[ts.TectonTestServer]:
    with ts.running_tecton_server(ROWS, effective_times={"old": OLD}) as srv:
        yield srv


@pytest.fixture
def client(server: ts.TectonTestServer) -> Iterator[TectonClient]:
    c = make_client(server.url, max_age_seconds=86_400)
    yield c
    c.close()


async def read_one(client: TectonClient, use_async: bool, eid: str, names: list[str]) -> Any:
    if use_async:
        return await client.aget_features(eid, "user", names)
    return client.get_features(eid, "user", names)


# --------------------------------------------------------------------------- requests


def test_single_read_sends_the_documented_request(
    server: ts.TectonTestServer, client: TectonClient
) -> None:
    client.get_features("1", "user", [FAV])
    path, body = server.requests[-1]
    assert path == "/api/v1/feature-service/get-features"
    assert body == {
        "params": {
            "workspace_name": ts.WORKSPACE,
            "feature_service_name": ts.FEATURE_SERVICE,
            "join_key_map": {"user_id": "1"},
            "request_context_map": {},
            "metadata_options": {
                "include_names": True,
                "include_data_types": True,
                "include_effective_times": True,
                "include_serving_status": True,
            },
        }
    }
    assert server.auth_headers[-1] == f"Tecton-key {ts.API_KEY}"
    # The service's names and join key were read once from the metadata endpoint.
    assert [p for p, _ in server.requests].count("/api/v1/feature-service/metadata") == 1


def test_batch_uses_get_features_batch_once_per_unique_id(
    server: ts.TectonTestServer, client: TectonClient
) -> None:
    ids = ["2", "9999", "1", "2"]
    vectors = client.get_batch_features(ids, "user", [FAV, P30])
    assert [v.entity_id for v in vectors] == ids
    assert vectors[0].features == vectors[3].features == {FAV: "outerwear", P30: 0}
    assert vectors[2].features == {FAV: "running", P30: 3}
    path, body = server.requests[-1]
    assert path == "/api/v1/feature-service/get-features-batch"
    assert body["params"]["request_data"] == [
        {"join_key_map": {"user_id": eid}, "request_context_map": {}} for eid in ["2", "9999", "1"]
    ]
    assert "join_key_map" not in body["params"]


@pytest.mark.parametrize("use_async", [False, True])
async def test_large_batches_are_split_into_micro_batches(
    server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_client(server.url, micro_batch_size=2)
    ids = ["1", "2", "3", "old", "9999"]
    if use_async:
        vectors = await client.aget_batch_features(ids, "user", [AOV])
    else:
        vectors = client.get_batch_features(ids, "user", [AOV])
    assert [v.features[AOV] for v in vectors] == [120.5, 10.0, 1.25, 2.0, None]
    sent = [body for path, body in server.requests if "get-features" in path]
    sizes = sorted(
        len(b["params"]["request_data"]) if "request_data" in b["params"] else 1 for b in sent
    )
    assert sizes == [1, 2, 2]
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_micro_batches_are_sent_concurrently(
    server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_client(server.url, micro_batch_size=1)
    client.service()
    server.delay_s = 0.05  # long enough for requests to overlap when sent together
    ids = ["1", "2", "3", "old"]
    if use_async:
        vectors = await client.aget_batch_features(ids, "user", [P30])
    else:
        vectors = client.get_batch_features(ids, "user", [P30])
    assert [v.features[P30] for v in vectors] == [3, 0, 2**40, 1]
    assert server.max_in_flight >= 2
    await client.aclose()


def test_request_context_is_sent_with_every_row(server: ts.TectonTestServer) -> None:
    client = make_client(server.url, request_context={"amount": 500.0})
    client.get_batch_features(["1", "2"], "user", [AOV])
    rows = server.requests[-1][1]["params"]["request_data"]
    assert [r["request_context_map"] for r in rows] == [{"amount": 500.0}] * 2
    client.close()


# --------------------------------------------------------------------------- answers


def test_values_keep_their_types(client: TectonClient) -> None:
    vector = client.get_features("3", "user", [AOV, P30])
    assert vector.features == {AOV: 1.25, P30: 2**40}
    assert type(vector.features[P30]) is int  # int64 arrives as a string on the wire
    assert type(vector.features[AOV]) is float


def test_statuses_present_missing_null_and_stale(client: TectonClient) -> None:
    segment = "user_stats.segment"
    vectors = client.get_batch_features(["1", "2", "3", "old", "9999"], "user", [FAV, segment])
    s = [v.statuses for v in vectors]
    assert s[0] == {FAV: FeatureStatus.PRESENT, segment: FeatureStatus.PRESENT}
    assert s[1] == {FAV: FeatureStatus.PRESENT, segment: FeatureStatus.NOT_FOUND}
    assert s[2][FAV] is FeatureStatus.NULL_VALUE
    assert s[3] == {FAV: FeatureStatus.STALE, segment: FeatureStatus.NOT_FOUND}
    assert vectors[3].features[FAV] == "books"  # stale values are kept
    stamp = vectors[3].event_timestamps[FAV]
    assert stamp is not None
    assert abs((stamp - OLD).total_seconds()) < 1e-3
    assert set(s[4].values()) == {FeatureStatus.NOT_FOUND}
    assert vectors[4].features == {FAV: None, segment: None}


def test_without_max_age_old_values_are_present(server: ts.TectonTestServer) -> None:
    client = make_client(server.url)
    assert client.get_features("old", "user", [FAV]).statuses[FAV] is FeatureStatus.PRESENT
    client.close()


def test_bare_full_and_ambiguous_names(client: TectonClient) -> None:
    vector = client.get_features("1", "user", ["favorite_category", P30])
    assert vector.features == {"favorite_category": "running", P30: 3}
    with pytest.raises(FeatureConfigError) as err:
        client.get_features("1", "user", ["segment"])
    assert str(err.value) == (
        "Ambiguous feature 'segment' for this feature service: it is in 2 feature views. "
        "Use one of: user_marketing.segment, user_stats.segment"
    )
    with pytest.raises(
        FeatureConfigError,
        match=r"^Unknown feature 'budget'\. Available for this feature service: "
        r"avg_order_value, favorite_category, purchases_30d, user_marketing\.segment, ",
    ):
        client.get_features("1", "user", ["budget"])


@pytest.mark.parametrize("use_async", [False, True])
async def test_features_deployed_later_are_found_after_a_metadata_refresh(
    server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_client(server.url)
    assert client.list_features("user") == sorted(name for name, _ in ts.FEATURES)
    server.features.append(("user_stats.new_feature", {"type": "string"}))
    server.rows["1"]["user_stats.new_feature"] = "fresh"
    client.metadata_refresh_s = 3600.0  # cache too young to refetch: still unknown
    with pytest.raises(FeatureConfigError, match="Unknown feature 'new_feature'"):
        await read_one(client, use_async, "1", ["new_feature"])
    client.metadata_refresh_s = 0.0
    vector = await read_one(client, use_async, "1", ["new_feature", P30])
    assert vector.features == {"new_feature": "fresh", P30: 3}
    metadata_calls = [p for p, _ in server.requests if p.endswith("/metadata")]
    assert len(metadata_calls) == 2  # known names never trigger a refetch
    await client.aclose()


def test_bad_requests_fail_before_any_http(server: ts.TectonTestServer) -> None:
    client = make_client(server.url)
    with pytest.raises(FeatureConfigError, match="list of ids"):
        client.get_batch_features("1", "user", [P30])  # type: ignore[arg-type]
    assert server.requests == []


def test_list_features_and_join_keys(server: ts.TectonTestServer) -> None:
    default = make_client(server.url)
    assert default.list_features("user") == sorted(name for name, _ in ts.FEATURES)
    mapped = make_client(server.url, join_key={"user": "user_id"})
    assert mapped.get_features("1", "user", [P30]).features == {P30: 3}
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown entity type 'item'\. Available for "
        r"this TectonClient: user\. Add it to join_key",
    ):
        mapped.list_features("item")
    wrong = make_client(server.url, join_key="customer_id")
    with pytest.raises(FeatureConfigError, match=r"rejected the request .*Missing join key"):
        wrong.get_features("1", "user", [P30])
    for c in (default, mapped, wrong):
        c.close()


# --------------------------------------------------------------------------- errors


def test_wrong_key_says_which_variable_to_check(
    server: ts.TectonTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(server.url, api_key="not-the-key-7f3a")
    with caplog.at_level(logging.DEBUG), pytest.raises(FeatureAuthError) as err:
        client.get_features("1", "user", [FAV])
    message = str(err.value)
    assert "refused the credentials (HTTP 401)" in message
    assert f"check {KEY_ENV} holds a valid key" in message
    assert "invalid api key" in message  # the server's own words
    assert client.health_check() is False
    for text in (message, caplog.text, repr(client), repr(vars(client))):
        assert "not-the-key-7f3a" not in text
    client.close()


def test_forbidden_is_an_auth_error(server: ts.TectonTestServer, client: TectonClient) -> None:
    server.fail_status = 403
    with pytest.raises(FeatureAuthError, match=r"refused the credentials \(HTTP 403\): check "):
        client.get_features("1", "user", [FAV])


def test_secret_never_reaches_logs_or_repr(
    server: ts.TectonTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        client = make_client(server.url)
        client.get_batch_features(["1", "2"], "user", [FAV])
        asyncio.run(client.aget_features("1", "user", [FAV]))
        client.close()
    assert caplog.records  # httpx/httpcore did log the requests...
    assert ts.API_KEY not in caplog.text  # ...but never the key
    assert ts.API_KEY not in repr(client)
    assert ts.API_KEY not in repr(vars(client))
    assert ts.API_KEY not in str(client._api_key)


@pytest.mark.parametrize(
    ("workspace", "service", "match"),
    [
        ("staging", ts.FEATURE_SERVICE, r"Workspace 'staging' not found"),
        (ts.WORKSPACE, "nope_fs", r"Unknown feature_service_name: nope_fs"),
    ],
)
def test_unknown_workspace_or_service_is_a_config_error(
    server: ts.TectonTestServer, workspace: str, service: str, match: str
) -> None:
    import os

    os.environ[KEY_ENV] = ts.API_KEY
    try:
        client = TectonClient(server.url, workspace, service, api_key_env=KEY_ENV)
    finally:
        del os.environ[KEY_ENV]
    with pytest.raises(
        FeatureConfigError, match=r"Tecton has no feature service .*\(HTTP 404\)"
    ) as err:
        client.list_features("user")
    assert f"'{service}' in workspace '{workspace}'" in str(err.value)
    with pytest.raises(FeatureConfigError, match=match):
        client.get_features("1", "user", ["a"])
    client.close()


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (
            500,
            FeatureStoreUnavailableError,
            r"Tecton at .* failed serving a read of .*\(HTTP 500\)",
        ),
        (503, FeatureStoreUnavailableError, r"\(HTTP 503\): injected failure 503"),
        (429, FeatureStoreUnavailableError, r"\(HTTP 429\)"),
        (504, FeatureTimeoutError, r"Tecton at .* timed out serving .*\(HTTP 504\)"),
    ],
)
async def test_server_errors_are_unavailable(
    server: ts.TectonTestServer,
    client: TectonClient,
    status: int,
    error: type[Exception],
    match: str,
) -> None:
    client.service()  # metadata fetched while healthy
    server.fail_status = status
    with pytest.raises(error, match=match):
        client.get_features("1", "user", [FAV])
    with pytest.raises(error, match=match):
        await client.aget_batch_features(["1", "2"], "user", [FAV])
    assert client.health_check() is False
    assert await client.ahealth_check() is False
    server.fail_status = None
    assert client.health_check() is True
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_slow_server_times_out(server: ts.TectonTestServer, use_async: bool) -> None:
    client = make_client(server.url, timeout_s=0.1)
    server.delay_s = 0.5
    with pytest.raises(FeatureTimeoutError) as err:
        await read_one(client, use_async, "1", [FAV])
    assert "did not answer the metadata request within 0.1s" in str(err.value)
    assert isinstance(err.value.__cause__, httpx.TimeoutException)
    server.delay_s = 0.0
    assert client.get_features("1", "user", [FAV]).features == {FAV: "running"}
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_dropped_connection_is_retried_once(
    server: ts.TectonTestServer, use_async: bool
) -> None:
    client = make_client(server.url)
    client.service()
    server.drop_next = 1
    vector = await read_one(client, use_async, "1", [P30])
    assert vector.features == {P30: 3}
    assert server.drop_next == 0  # the first attempt was dropped, the retry answered

    strict = make_client(server.url, retries=0)
    strict.service()
    server.drop_next = 1
    with pytest.raises(FeatureStoreUnavailableError, match="Cannot reach Tecton") as err:
        await read_one(strict, use_async, "1", [P30])
    assert isinstance(err.value.__cause__, httpx.RemoteProtocolError)
    await client.aclose()
    await strict.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_unreachable_server_is_unavailable(use_async: bool) -> None:
    client = make_client(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(FeatureStoreUnavailableError, match="Cannot reach Tecton at") as err:
        await read_one(client, use_async, "1", [FAV])
    assert not isinstance(err.value, FeatureTimeoutError)
    assert isinstance(err.value.__cause__, httpx.ConnectError)
    assert (await client.ahealth_check() if use_async else client.health_check()) is False
    await client.aclose()


# --------------------------------------------------------------------------- async


async def test_async_batch_and_health(client: TectonClient) -> None:
    vectors = await client.aget_batch_features(["old", "1"], "user", ["purchases_30d", FAV])
    assert vectors[0].statuses == {"purchases_30d": FeatureStatus.STALE, FAV: FeatureStatus.STALE}
    assert vectors[1].features == {"purchases_30d": 3, FAV: "running"}
    assert await client.ahealth_check() is True
    await client.aclose()
    await client.aclose()  # idempotent


def test_one_client_serves_several_event_loops(client: TectonClient) -> None:
    async def read() -> Any:
        return (await client.aget_features("1", "user", [P30])).features

    for _ in range(3):  # pools of finished loops are closed at loop shutdown (no leaks)
        assert asyncio.run(read()) == {P30: 3}
