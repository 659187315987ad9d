"""Retries of the HTTP backends: the pure policy (a fake clock, fixed jitter) and the
send loops of both clients driven through ``httpx.MockTransport`` (no network)."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.clients.http import HttpBackend
from llm_featurestore.clients.http.retry import Attempts
from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureValidationError,
)
from tests.unit.test_http_backend import KEY_ENV, NAME, healthy

# --------------------------------------------------------------------------- the policy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def attempts(clock: Clock, *, jitter: float = 1.0, **settings: Any) -> Attempts:
    defaults: dict[str, Any] = {
        "retries": 3,
        "timeout_s": 10.0,
        "backoff_s": 0.1,
        "backoff_max_s": 1.0,
        "idempotent": True,
    }
    return Attempts(**{**defaults, **settings}, clock=clock, jitter=lambda: jitter)


def connect_error() -> httpx.ConnectError:
    return httpx.ConnectError("refused")


def test_a_read_backs_off_exponentially_until_retries_run_out() -> None:
    policy = attempts(Clock())
    assert [policy.after_answer(transient=True) for _ in range(4)] == [0.1, 0.2, 0.4, None]


def test_the_jitter_keeps_at_least_half_of_each_wait_and_the_cap_bounds_it() -> None:
    low = attempts(Clock(), jitter=0.0)
    assert [low.after_error(connect_error()) for _ in range(3)] == [0.05, 0.1, 0.2]
    capped = attempts(Clock(), retries=4, backoff_s=0.5, backoff_max_s=0.6)
    assert [capped.after_answer(transient=True) for _ in range(4)] == [0.5, 0.6, 0.6, 0.6]


def test_timeout_s_is_a_deadline_across_the_attempts_of_a_read() -> None:
    clock = Clock()
    policy = attempts(clock, retries=100, timeout_s=1.0, backoff_s=0.4, backoff_max_s=10.0)
    assert policy.timeout() == 1.0
    clock.now = 0.3  # the first attempt took 0.3 s
    assert policy.timeout() == pytest.approx(0.7)
    assert policy.after_answer(transient=True) == 0.4  # 0.3 s would be left after it
    clock.now = 0.7
    assert policy.timeout() == pytest.approx(0.3)
    assert policy.after_answer(transient=True) is None  # 0.8 s would overrun the deadline
    assert policy.retried == 1


def test_no_retry_starts_with_less_than_a_tenth_of_the_budget_left() -> None:
    clock = Clock()
    policy = attempts(clock, timeout_s=1.0, backoff_s=0.1)
    clock.now = 0.82  # 0.1 s wait -> 0.08 s left: less than 0.1 s
    assert policy.after_error(connect_error()) is None


def test_an_answer_that_is_not_transient_is_kept() -> None:
    policy = attempts(Clock())
    assert policy.after_answer(transient=False) is None
    assert policy.failed == 0


def test_timeouts_and_tls_failures_are_never_retried() -> None:
    policy = attempts(Clock())
    assert policy.after_error(httpx.ReadTimeout("slow")) is None
    assert policy.after_error(httpx.ConnectTimeout("slow")) is None
    verify = httpx.ConnectError("verify failed")
    verify.__cause__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert policy.after_error(verify) is None
    assert policy.after_error(ssl.SSLError(1, "tlsv13 alert certificate required")) is None


def test_writes_resend_at_once_after_connection_errors_only_without_a_deadline() -> None:
    clock = Clock()
    policy = attempts(clock, idempotent=False, retries=2, timeout_s=1.0)
    assert policy.timeout() is None  # each attempt has the client's full timeout
    assert policy.after_answer(transient=True) is None  # a 503 to a write is its answer
    clock.now = 50.0  # far past timeout_s: writes have no deadline
    assert [policy.after_error(connect_error()) for _ in range(3)] == [0.0, 0.0, None]


@pytest.mark.parametrize("idempotent", [True, False])
def test_a_dropped_pooled_connection_is_resent_once_whatever_retries(idempotent: bool) -> None:
    policy = attempts(Clock(), retries=0, idempotent=idempotent, resend_dropped=True)
    assert policy.after_error(httpx.RemoteProtocolError("closed")) == 0.0
    assert policy.after_error(httpx.RemoteProtocolError("closed")) is None
    strict = attempts(Clock(), retries=0, idempotent=idempotent, resend_dropped=False)
    assert strict.after_error(httpx.RemoteProtocolError("closed")) is None


def test_the_dropped_connection_resend_also_follows_a_retried_answer() -> None:
    """feast serve closes the connection of every error answer: the retry after a 503
    may find it closed, and that costs no retry."""
    policy = attempts(Clock(), retries=1, resend_dropped=True)
    assert policy.after_answer(transient=True) == 0.1
    assert policy.after_error(httpx.ReadError("closed")) == 0.0
    assert policy.retried == 1
    assert policy.after_answer(transient=True) is None


# --------------------------------------------------------------------------- the send loops

Handler = Callable[[httpx.Request], httpx.Response]


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
        wiring = {"transport": transport, "async_transport": transport}
        settings = {"retry_backoff_s": 0.001, **settings}
        client: HttpBackend
        if kind == "feast_http":
            client = FeastHttpClient("http://feast.test", **wiring, **settings)
        else:
            client = TectonClient(
                "https://tecton.test", "prod", "fs", api_key_env=KEY_ENV, **wiring, **settings
            )
        made.append(client)
        return client

    return build


def answering_first(times: int, status: int, body: Any, on: str = "") -> tuple[Handler, list[str]]:
    """A handler answering the first ``times`` requests (to paths ending with ``on``)
    with ``status`` and ``body``; it logs every request's path."""
    calls: list[str] = []
    failed: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        calls.append(path)
        if path.endswith(on) and len(failed) < times:
            failed.append(path)
            return httpx.Response(status, json=body)
        return healthy(request)

    return handler, calls


READ_PATH = {"feast_http": "/get-online-features", "tecton": "/get-features"}


async def read(client: HttpBackend, kind: str, use_async: bool) -> Any:
    names = [NAME[kind]]
    if use_async:
        return await client.aget_features("1", "user", names)
    return client.get_features("1", "user", names)


@pytest.mark.parametrize("kind", ["feast_http", "tecton"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_read_is_retried_after_transient_answers(
    make: Callable[..., HttpBackend], kind: str, status: int, use_async: bool
) -> None:
    handler, calls = answering_first(2, status, {"message": "busy"}, on=READ_PATH[kind])
    client = make(kind, handler, retries=2)
    assert (await read(client, kind, use_async)).features == {NAME[kind]: 7}
    assert sum(c.endswith(READ_PATH[kind]) for c in calls) == 3
    await client.aclose()


@pytest.mark.parametrize("kind", ["feast_http", "tecton"])
@pytest.mark.parametrize("status", [400, 404, 429])
def test_other_answers_are_not_retried(
    make: Callable[..., HttpBackend], kind: str, status: int
) -> None:
    handler, calls = answering_first(9, status, {"message": "no"}, on=READ_PATH[kind])
    client = make(kind, handler, retries=3)
    with pytest.raises(FeatureStoreError):
        client.get_features("1", "user", [NAME[kind]])
    assert sum(c.endswith(READ_PATH[kind]) for c in calls) == 1


@pytest.mark.parametrize(
    "message",
    [
        "FeatureViewNotFoundException: Feature view v does not exist",
        "invalid literal for int() with base 10: 'guest'",
        "Required request data source features ['val'] not found",
    ],
)
def test_feast_request_errors_answered_500_are_not_retried(
    make: Callable[..., HttpBackend], message: str
) -> None:
    handler, calls = answering_first(9, 500, {"detail": message}, on=READ_PATH["feast_http"])
    client = make("feast_http", handler, retries=3)
    with pytest.raises((FeatureConfigError, FeatureValidationError)):
        client.get_features("1", "user", [NAME["feast_http"]])
    assert calls == ["/get-online-features"]


async def write(client: FeastHttpClient, use_async: bool) -> None:
    if use_async:
        await client.awrite_features("1", "user", {"v:x": 1})
    else:
        client.write_features("1", "user", {"v:x": 1})


@pytest.mark.parametrize("use_async", [False, True])
async def test_feast_writes_are_not_retried_after_a_503(
    make: Callable[..., HttpBackend], use_async: bool
) -> None:
    handler, calls = answering_first(9, 503, {"detail": "busy"}, on="/write-to-online-store")
    client = make("feast_http", handler, retries=3)
    assert isinstance(client, FeastHttpClient)
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 503\): busy$"):
        await write(client, use_async)
    assert calls == ["/write-to-online-store"]
    await client.aclose()


def test_feast_writes_are_resent_after_connection_errors(
    make: Callable[..., HttpBackend],
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) <= 2:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={})

    client = make("feast_http", handler, retries=2)
    assert isinstance(client, FeastHttpClient)
    client.write_features("1", "user", {"v:x": 1})
    assert calls == ["/write-to-online-store"] * 3


@pytest.mark.parametrize("kind", ["feast_http", "tecton"])
@pytest.mark.parametrize("use_async", [False, True])
async def test_a_tls_failure_is_not_retried(
    make: Callable[..., HttpBackend], kind: str, use_async: bool
) -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        error = httpx.ConnectError("certificate verify failed", request=request)
        cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
        cause.verify_message = "unable to get local issuer certificate"
        raise error from cause

    client = make(kind, handler, retries=3)
    with pytest.raises(FeatureStoreUnavailableError, match="could not be verified") as err:
        await read(client, kind, use_async)
    assert "unable to get local issuer certificate. Set ca_bundle" in str(err.value)
    assert len(calls) == 1
    await client.aclose()
