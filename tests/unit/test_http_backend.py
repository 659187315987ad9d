"""The shared HTTP backend base, driven through both HTTP clients (no network).

``httpx.MockTransport`` stands in for the server: each test's handler answers (or
fails) every request, so retries, error mapping, closing and the per-loop async
clients are checked the same way for FeastHttpClient and TectonClient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.clients.http import HttpBackend
from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureStatus

Handler = Callable[[httpx.Request], httpx.Response]
KINDS = ["feast_http", "tecton"]
NAME = {"feast_http": "v:x", "tecton": "v.x"}
KEY_ENV = "LLMFS_UNIT_HTTP_TECTON_KEY"

FEAST_ANSWER = {
    "metadata": {"feature_names": ["user_id", "v__x"]},
    "results": [
        {"values": [1], "statuses": ["PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z"]},
        {"values": [7], "statuses": ["PRESENT"], "event_timestamps": ["2026-01-01T00:00:00Z"]},
    ],
}
TECTON_METADATA = {"featureValues": [{"name": "v.x"}], "inputJoinKeys": [{"name": "user_id"}]}
TECTON_ANSWER = {
    "result": {"features": ["7"]},
    "metadata": {
        "features": [
            {"name": "v.x", "dataType": {"type": "int64"}, "status": "PRESENT"},
        ]
    },
}


def healthy(request: httpx.Request) -> httpx.Response:
    """A server that answers every request of either protocol."""
    path = request.url.path
    if path == "/get-online-features":
        return httpx.Response(200, json=FEAST_ANSWER)
    if path.endswith("/metadata"):
        return httpx.Response(200, json=TECTON_METADATA)
    if path.endswith("/get-features"):
        return httpx.Response(200, json=TECTON_ANSWER)
    return httpx.Response(200, json={})


@pytest.fixture
def made() -> Iterator[list[HttpBackend]]:
    clients: list[HttpBackend] = []
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def make(made: list[HttpBackend], monkeypatch: pytest.MonkeyPatch) -> Callable[..., HttpBackend]:
    monkeypatch.setenv(KEY_ENV, "unit-key-3b7e")

    def build(kind: str, handler: Handler, **settings: Any) -> HttpBackend:
        transport = httpx.MockTransport(handler)
        client: HttpBackend
        if kind == "feast_http":
            client = FeastHttpClient(
                "http://feast.test", transport=transport, async_transport=transport, **settings
            )
        else:
            client = TectonClient(
                "https://tecton.test",
                "prod",
                "fs",
                api_key_env=KEY_ENV,
                transport=transport,
                async_transport=transport,
                **settings,
            )
        made.append(client)
        return client

    return build


async def read(client: HttpBackend, kind: str, use_async: bool) -> Any:
    names = [NAME[kind]]
    if use_async:
        return await client.aget_features("1", "user", names)
    return client.get_features("1", "user", names)


def failing_first(times: int, exc: type[httpx.TransportError]) -> tuple[Handler, list[str]]:
    """A handler failing the first ``times`` requests with ``exc``; it logs every request."""
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) <= times:
            raise exc("injected", request=request)
        return healthy(request)

    return handler, calls


# --------------------------------------------------------------------------- reads


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_read_through_the_mock_server(
    make: Callable[..., HttpBackend], kind: str, use_async: bool
) -> None:
    client = make(kind, healthy)
    vector = await read(client, kind, use_async)
    assert vector.features == {NAME[kind]: 7}
    assert vector.statuses == {NAME[kind]: FeatureStatus.PRESENT}
    await client.aclose()


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_connection_error_is_resent_retries_times(
    make: Callable[..., HttpBackend], kind: str, use_async: bool
) -> None:
    handler, calls = failing_first(2, httpx.ConnectError)
    client = make(kind, handler, retries=2)
    vector = await read(client, kind, use_async)
    assert vector.features == {NAME[kind]: 7}
    assert len(calls) == 3 + (kind == "tecton")  # two failures, then the answer(s)
    await client.aclose()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_async", [False, True])
async def test_retries_run_out_into_unavailable(
    make: Callable[..., HttpBackend], kind: str, use_async: bool
) -> None:
    handler, calls = failing_first(5, httpx.ConnectError)
    client = make(kind, handler, retries=1)
    with pytest.raises(FeatureStoreUnavailableError, match=r"^Cannot reach .* for ") as err:
        await read(client, kind, use_async)
    assert not isinstance(err.value, FeatureTimeoutError)
    assert isinstance(err.value.__cause__, httpx.ConnectError)
    assert len(calls) == 2
    await client.aclose()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_timeout_is_never_resent(
    make: Callable[..., HttpBackend], kind: str, use_async: bool
) -> None:
    handler, calls = failing_first(5, httpx.ReadTimeout)
    client = make(kind, handler, retries=3, timeout_s=0.5)
    with pytest.raises(
        FeatureTimeoutError, match=r"did not answer .* within 0\.5s \(ReadTimeout\)"
    ):
        await read(client, kind, use_async)
    assert len(calls) == 1
    await client.aclose()


# --------------------------------------------------------------------------- statuses


def answering(status: int, body: Any) -> Handler:
    return lambda request: httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("feast_http", "FeastHttpClient sends no credentials"),
        ("tecton", f"check {KEY_ENV} holds a valid key with read access to workspace 'prod'"),
    ],
)
@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("use_async", [False, True])
async def test_refused_credentials_name_the_setting_that_holds_them(
    make: Callable[..., HttpBackend], kind: str, hint: str, status: int, use_async: bool
) -> None:
    client = make(kind, answering(status, {"message": "key revoked"}))
    with pytest.raises(FeatureAuthError) as err:
        await read(client, kind, use_async)
    message = str(err.value)
    assert f"refused the credentials (HTTP {status}): {hint}" in message
    assert message.endswith("Server said: key revoked")
    assert "unit-key-3b7e" not in message
    await client.aclose()


def test_a_key_given_in_the_settings_is_named_as_api_key(
    make: Callable[..., HttpBackend],
) -> None:
    client = make("tecton", answering(401, {"message": "no"}), api_key="direct-key-55aa")
    with pytest.raises(FeatureAuthError, match=r"\(HTTP 401\): check api_key holds a valid key"):
        client.list_features("user")
    assert client.http.headers["Authorization"] == "Tecton-key direct-key-55aa"
    assert "direct-key-55aa" not in repr(vars(client))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (500, FeatureStoreUnavailableError, "failed serving"),
        (503, FeatureStoreUnavailableError, "failed serving"),
        (504, FeatureTimeoutError, "timed out serving"),
    ],
)
@pytest.mark.parametrize("use_async", [False, True])
async def test_server_errors_are_unavailable_and_504_a_timeout(
    make: Callable[..., HttpBackend],
    kind: str,
    status: int,
    error: type[Exception],
    words: str,
    use_async: bool,
) -> None:
    client = make(kind, answering(status, {"message": "down"}))
    with pytest.raises(error, match=rf" at https?://\S+ {words} .*\(HTTP {status}\): down$"):
        await read(client, kind, use_async)
    await client.aclose()


@pytest.mark.parametrize("kind", KINDS)
def test_a_200_that_is_not_json_is_unavailable(make: Callable[..., HttpBackend], kind: str) -> None:
    client = make(kind, lambda request: httpx.Response(200, text="<html>"))
    with pytest.raises(
        FeatureStoreUnavailableError, match=r"with a body that is not JSON: '<html>'"
    ):
        client.get_features("1", "user", [NAME[kind]])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("use_async", [False, True])
async def test_health_checks_report_and_never_raise(
    make: Callable[..., HttpBackend], kind: str, use_async: bool
) -> None:
    handler, _ = failing_first(1, httpx.ConnectError)
    client = make(kind, handler, retries=0)
    check = client.ahealth_check if use_async else None
    first = await check() if check else client.health_check()
    second = await check() if check else client.health_check()
    assert (first, second) == (False, True)
    await client.aclose()


# --------------------------------------------------------------------------- pools and closing


@pytest.mark.parametrize("kind", KINDS)
def test_close_twice_is_safe_and_the_pool_reopens(
    make: Callable[..., HttpBackend], kind: str
) -> None:
    client = make(kind, healthy)
    pooled = client.http
    client.close()
    client.close()
    assert pooled.is_closed
    assert client.http is not pooled
    assert client.get_features("1", "user", [NAME[kind]]).features == {NAME[kind]: 7}


@pytest.mark.parametrize("kind", KINDS)
async def test_aclose_twice_is_safe(make: Callable[..., HttpBackend], kind: str) -> None:
    client = make(kind, healthy)
    await read(client, kind, use_async=True)
    pooled = await client.ahttp()
    await client.aclose()
    await client.aclose()
    assert pooled.is_closed
    assert client._client is None
    assert await client.ahttp() is not pooled


@pytest.mark.parametrize("kind", KINDS)
def test_one_async_client_per_event_loop_closed_with_its_loop(
    make: Callable[..., HttpBackend], kind: str
) -> None:
    client = make(kind, healthy)

    async def use() -> httpx.AsyncClient:
        await read(client, kind, use_async=True)
        pooled = await client.ahttp()
        assert await client.ahttp() is pooled  # one per loop
        return pooled

    first, second = asyncio.run(use()), asyncio.run(use())
    assert first is not second
    assert first.is_closed
    assert second.is_closed


@pytest.mark.parametrize("kind", KINDS)
def test_pools_share_limits_timeout_and_tls(make: Callable[..., HttpBackend], kind: str) -> None:
    from llm_featurestore.clients._aio import shared_ssl_context

    client = make(kind, healthy, max_connections=3, timeout_s=1.5)
    kwargs = client._client_kwargs()
    assert kwargs["verify"] is shared_ssl_context()
    assert kwargs["timeout"] == httpx.Timeout(1.5)
    assert kwargs["limits"] == httpx.Limits(max_connections=3, max_keepalive_connections=3)
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert (client.max_connections, client.timeout_s) == (3, 1.5)
