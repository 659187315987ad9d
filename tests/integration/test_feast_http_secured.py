"""FeastHttpClient against secured feature servers.

* TLS and bearer tokens: a real ``feast serve --cert --key`` whose ``auth`` is OIDC, with
  a local OpenID Connect provider (discovery document and JWKS; Feast verifies each
  token's RS256 signature and expiry against it) and a CA made by the test.
* Client certificates and extra headers, which ``feast serve`` cannot ask for: a local
  TLS-terminating proxy in front of the plain ``feast serve`` that requires a client
  certificate signed by the test CA, a bearer token and an ``X-Tenant`` header.
* Retries: a proxy in front of the same server that answers 503 on demand.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.clients.feast_http.protocol import PATH
from llm_featurestore.clients.feast_http.writes import WRITE_PATH
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
)
from llm_featurestore.models import FeatureStatus
from tests.contract import harness as h
from tests.fixtures import feast_repo
from tests.fixtures.certs import Pki
from tests.fixtures.feast_http import http_client_kwargs
from tests.fixtures.feature_proxy import FeatureServerProxy
from tests.fixtures.oidc import OidcProvider
from tests.fixtures.secured import PROXY_TOKEN, TENANT

pytestmark = pytest.mark.integration

TOKEN_ENV = "LLMFS_TEST_FEAST_TOKEN"
TENANT_ENV = "LLMFS_TEST_TENANT"
REFS = list(feast_repo.CONTRACT_REFS)
EXPECTED = {f"{feast_repo.USER_VIEW}:{k}": v for k, v in h.FRESH["1001"].items()}


@pytest.fixture
def kwargs(feast_sqlite_repo: Path) -> dict[str, Any]:
    return http_client_kwargs(feast_sqlite_repo)


@pytest.fixture
def made() -> Iterator[list[FeastHttpClient]]:
    clients: list[FeastHttpClient] = []
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def make(made: list[FeastHttpClient], kwargs: dict[str, Any]) -> Any:
    def build(url: str, **settings: Any) -> FeastHttpClient:
        client = FeastHttpClient(url, **{**kwargs, **settings})
        made.append(client)
        return client

    return build


async def read(client: FeastHttpClient, use_async: bool, names: list[str] = REFS) -> Any:
    if use_async:
        return await client.aget_features("1001", "user", names)
    return client.get_features("1001", "user", names)


# ---------------------------------------------------------------- TLS and OIDC tokens (feast serve)


@pytest.mark.parametrize("use_async", [False, True])
async def test_https_with_the_ca_bundle_and_a_token_reads_like_plain_http(
    secured_feast_url: str,
    pki: Pki,
    oidc_provider: OidcProvider,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
    use_async: bool,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, oidc_provider.token())
    client = make(secured_feast_url, ca_bundle=str(pki.ca_cert), token_env=TOKEN_ENV)
    assert secured_feast_url.startswith("https://")
    vector = await read(client, use_async)
    assert vector.features == EXPECTED
    assert set(vector.statuses.values()) == {FeatureStatus.PRESENT}
    assert (await client.ahealth_check()) if use_async else client.health_check()
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_without_the_ca_bundle_the_certificate_cannot_be_verified(
    secured_feast_url: str,
    oidc_provider: OidcProvider,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
    use_async: bool,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, oidc_provider.token())
    client = make(secured_feast_url, token_env=TOKEN_ENV)
    with pytest.raises(FeatureStoreUnavailableError) as err:
        await read(client, use_async)
    message = str(err.value)
    assert message.startswith(
        f"The TLS certificate of the Feast feature server at {secured_feast_url} could not "
        "be verified against the system's CAs (ca_bundle is not set) for a read of 1 'user' "
        "entities: unable to get local issuer certificate. Set ca_bundle to the PEM file"
    )
    assert not isinstance(err.value, FeatureAuthError)
    assert ((await client.ahealth_check()) if use_async else client.health_check()) is False


def test_a_ca_bundle_that_did_not_sign_the_certificate_is_named(
    secured_feast_url: str, pki: Pki, make: Any
) -> None:
    client = make(secured_feast_url, ca_bundle=str(pki.other_ca_cert))
    with pytest.raises(FeatureStoreUnavailableError) as err:
        client.get_features("1001", "user", REFS)
    assert f"could not be verified against the CAs in ca_bundle ({pki.other_ca_cert})" in str(
        err.value
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_no_token_is_refused_and_the_message_names_token_env(
    secured_feast_url: str, pki: Pki, make: Any, use_async: bool
) -> None:
    client = make(secured_feast_url, ca_bundle=str(pki.ca_cert))
    with pytest.raises(FeatureAuthError) as err:
        await read(client, use_async)
    assert str(err.value) == (
        f"The Feast feature server at {secured_feast_url} refused the credentials (HTTP 401): "
        "FeastHttpClient sends no credentials: set token_env to the environment variable "
        "holding a bearer token. Server said: Invalid or expired access token"
    )


@pytest.mark.parametrize("use_async", [False, True])
async def test_an_expired_token_is_refused_and_the_message_names_its_variable(
    secured_feast_url: str,
    pki: Pki,
    oidc_provider: OidcProvider,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
    use_async: bool,
) -> None:
    expired = oidc_provider.token(expires_in=-120)
    monkeypatch.setenv(TOKEN_ENV, expired)
    client = make(secured_feast_url, ca_bundle=str(pki.ca_cert), token_env=TOKEN_ENV)
    with pytest.raises(FeatureAuthError) as err:
        await read(client, use_async)
    message = str(err.value)
    assert (
        f"(HTTP 401): check that {TOKEN_ENV} (token_env) holds a bearer token the server "
        "accepts and that it has not expired. Server said: Invalid or expired access token"
    ) in message
    assert expired not in message
    assert expired not in repr(vars(client))


def test_a_token_read_again_by_a_new_pool(
    secured_feast_url: str,
    pki: Pki,
    oidc_provider: OidcProvider,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The variable is read when a pool is built: a rotated token is used after close()."""
    monkeypatch.setenv(TOKEN_ENV, oidc_provider.token(expires_in=-120))
    client = make(secured_feast_url, ca_bundle=str(pki.ca_cert), token_env=TOKEN_ENV)
    with pytest.raises(FeatureAuthError):
        client.get_features("1001", "user", REFS)
    monkeypatch.setenv(TOKEN_ENV, oidc_provider.token())
    client.close()
    assert client.get_features("1001", "user", REFS).features == EXPECTED


# ---------------------------------------------------------------- mTLS and headers (the proxy)


def mtls_settings(pki: Pki, **extra: Any) -> dict[str, Any]:
    return {
        "ca_bundle": str(pki.ca_cert),
        "client_cert": str(pki.client_cert),
        "client_key": str(pki.client_key),
        "token_env": TOKEN_ENV,
        "headers": TENANT,
        **extra,
    }


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_client_certificate_a_token_and_headers_pass_the_mtls_proxy(
    mtls_proxy: FeatureServerProxy,
    pki: Pki,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
    use_async: bool,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, PROXY_TOKEN)
    client = make(mtls_proxy.url, **mtls_settings(pki))
    assert (await read(client, use_async)).features == EXPECTED
    seen = mtls_proxy.requests[-1]
    assert (seen.path, seen.headers["x-tenant"]) == (PATH, "acme")
    assert seen.headers["authorization"] == f"Bearer {PROXY_TOKEN}"
    await client.aclose()


def test_a_key_in_the_certificate_file_needs_no_client_key(
    mtls_proxy: FeatureServerProxy,
    pki: Pki,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    both = tmp_path / "client-with-key.pem"
    both.write_bytes(pki.client_cert.read_bytes() + pki.client_key.read_bytes())
    monkeypatch.setenv(TOKEN_ENV, PROXY_TOKEN)
    client = make(mtls_proxy.url, **mtls_settings(pki, client_cert=str(both), client_key=None))
    assert client.get_features("1001", "user", REFS).features == EXPECTED


def test_a_secret_header_from_header_env(
    mtls_proxy: FeatureServerProxy, pki: Pki, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, PROXY_TOKEN)
    monkeypatch.setenv(TENANT_ENV, "acme")
    settings = mtls_settings(pki, headers=None, header_env={"X-Tenant": TENANT_ENV})
    client = make(mtls_proxy.url, **settings)
    assert client.get_features("1001", "user", REFS).features == EXPECTED
    assert "acme" not in repr(client.config)


@pytest.mark.parametrize("use_async", [False, True])
async def test_without_a_client_certificate_the_refusal_names_client_cert(
    mtls_proxy: FeatureServerProxy,
    pki: Pki,
    make: Any,
    monkeypatch: pytest.MonkeyPatch,
    use_async: bool,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, PROXY_TOKEN)
    client = make(mtls_proxy.url, **mtls_settings(pki, client_cert=None, client_key=None))
    with pytest.raises(FeatureAuthError) as err:
        await read(client, use_async)
    assert str(err.value) == (
        f"The Feast feature server at {mtls_proxy.url} refused the TLS connection for a read "
        "of 1 'user' entities (TLSV13_ALERT_CERTIFICATE_REQUIRED): it wants a client "
        "certificate: set client_cert (and client_key)"
    )


def test_a_certificate_the_server_does_not_trust_names_client_cert(
    mtls_proxy: FeatureServerProxy, pki: Pki, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, PROXY_TOKEN)
    stranger = mtls_settings(
        pki, client_cert=str(pki.stranger_cert), client_key=str(pki.stranger_key)
    )
    client = make(mtls_proxy.url, **stranger)
    with pytest.raises(FeatureAuthError) as err:
        client.get_features("1001", "user", REFS)
    message = str(err.value)
    assert "refused the TLS connection for a read of 1 'user' entities (" in message
    assert message.endswith(
        f"check that client_cert ({pki.stranger_cert}) is signed by a CA the server trusts "
        "and has not expired"
    )


def test_a_missing_header_is_refused_with_the_servers_words(
    mtls_proxy: FeatureServerProxy, pki: Pki, make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, PROXY_TOKEN)
    client = make(mtls_proxy.url, **mtls_settings(pki, headers={"X-Tenant": "other"}))
    with pytest.raises(FeatureAuthError) as err:
        client.get_features("1001", "user", REFS)
    assert str(err.value).endswith(
        f"(HTTP 403): check that {TOKEN_ENV} (token_env) holds a bearer token the server "
        "accepts and that it has not expired. Server said: Header x-tenant is missing or wrong"
    )


def test_https_to_a_plain_http_server_says_the_handshake_failed(
    feast_server_url: str, pki: Pki, make: Any
) -> None:
    url = feast_server_url.replace("http://", "https://")
    client = make(url, ca_bundle=str(pki.ca_cert))
    with pytest.raises(FeatureStoreUnavailableError) as err:
        client.get_features("1001", "user", REFS)
    message = str(err.value)
    assert message.startswith(f"The TLS handshake with the Feast feature server at {url} failed")
    assert message.endswith(
        "Check that the server speaks https at that url, and the ca_bundle, client_cert and "
        "client_key settings"
    )


# ---------------------------------------------------------------- retries (the proxy)


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_read_answered_503_twice_is_retried_and_then_read(
    fault_proxy: FeatureServerProxy, make: Any, use_async: bool
) -> None:
    client = make(fault_proxy.url, retries=2)
    fault_proxy.fail_next = 2
    assert (await read(client, use_async)).features == EXPECTED
    assert fault_proxy.attempts(PATH) == 3
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_retries_0_sends_a_read_once(
    fault_proxy: FeatureServerProxy, make: Any, use_async: bool
) -> None:
    client = make(fault_proxy.url, retries=0)
    fault_proxy.fail_next = 1
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 503\): injected 503$"):
        await read(client, use_async)
    assert fault_proxy.attempts(PATH) == 1
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_server_that_always_answers_503_is_retried_only_within_timeout_s(
    fault_proxy: FeatureServerProxy, make: Any, use_async: bool
) -> None:
    """Backoff from 0.05 s doubling inside a 0.5 s budget: at least one retry, and at most
    five (their shortest waits, 0.025 s doubling, pass the deadline at the fifth), far
    fewer than the 1000 allowed."""
    client = make(fault_proxy.url, retries=1000, timeout_s=0.5, retry_backoff_s=0.05)
    fault_proxy.fail_next = 10**6
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 503\): injected 503$"):
        await read(client, use_async)
    assert 2 <= fault_proxy.attempts(PATH) <= 6
    await client.aclose()


def test_a_request_error_answered_5xx_is_not_retried(
    fault_proxy: FeatureServerProxy, make: Any
) -> None:
    client = make(fault_proxy.url, retries=3, features=None)
    with pytest.raises(FeatureConfigError, match="rejected the request"):
        client.get_features("1001", "user", ["user_stats:no_such_feature"])
    assert fault_proxy.answers == [500]


def test_a_write_answered_503_is_not_resent(fault_proxy: FeatureServerProxy, make: Any) -> None:
    """Writes keep their rule: resent after a connection error only. (The proxy answers
    the 503 itself: nothing reaches the contract repo.)"""
    client = make(fault_proxy.url, retries=3, features=None)  # no merge read first
    fault_proxy.fail_next = 1
    row = {f"{feast_repo.USER_VIEW}:{k}": v for k, v in h.FRESH["1001"].items()}
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 503\): injected 503$"):
        client.write_features("1001", "user", row)
    assert fault_proxy.attempts(WRITE_PATH) == 1
