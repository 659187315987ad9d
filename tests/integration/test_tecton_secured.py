"""TectonClient over TLS with a client certificate, and its retries.

The local Tecton server speaks plain HTTP; a TLS-terminating proxy in front of it
(tests/fixtures/feature_proxy.py) presents a certificate of the test CA and requires a
client certificate the CA signed, as a corporate gateway in front of Tecton would. It
forwards Tecton's ``Authorization: Tecton-key`` header for the server to check.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.clients.tecton.protocol import GET_FEATURES_PATH
from llm_featurestore.errors import FeatureAuthError, FeatureStoreUnavailableError
from tests import tecton_server as ts
from tests.fixtures.certs import Pki
from tests.fixtures.feature_proxy import FeatureServerProxy, running_proxy
from tests.fixtures.secured import mtls_context
from tests.fixtures.tecton import make_tecton_client

pytestmark = pytest.mark.integration

FAV = "user_stats.favorite_category"
ROWS = {"1": {FAV: "running"}}


@pytest.fixture
def server() -> Iterator[ts.TectonTestServer]:
    with ts.running_tecton_server(ROWS) as srv:
        yield srv


@pytest.fixture
def gateway(server: ts.TectonTestServer, pki: Pki) -> Iterator[FeatureServerProxy]:
    with running_proxy(server.url, tls=mtls_context(pki)) as proxy:
        yield proxy


@pytest.fixture
def made() -> Iterator[list[TectonClient]]:
    clients: list[TectonClient] = []
    yield clients
    for client in clients:
        client.close()


@pytest.fixture
def make(made: list[TectonClient]) -> Any:
    def build(url: str, **settings: Any) -> TectonClient:
        made.append(make_tecton_client(url, **settings))
        return made[-1]

    return build


async def read(client: TectonClient, use_async: bool) -> Any:
    if use_async:
        return await client.aget_features("1", "user", [FAV])
    return client.get_features("1", "user", [FAV])


# --------------------------------------------------------------------------- TLS


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_client_certificate_and_the_ca_bundle_reach_tecton_through_tls(
    gateway: FeatureServerProxy, server: ts.TectonTestServer, pki: Pki, make: Any, use_async: bool
) -> None:
    client = make(
        gateway.url,
        ca_bundle=str(pki.ca_cert),
        client_cert=str(pki.client_cert),
        client_key=str(pki.client_key),
    )
    assert (await read(client, use_async)).features == {FAV: "running"}
    assert server.auth_headers[-1] == f"Tecton-key {ts.API_KEY}"
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_tecton_without_a_client_certificate_names_client_cert(
    gateway: FeatureServerProxy, pki: Pki, make: Any, use_async: bool
) -> None:
    client = make(gateway.url, ca_bundle=str(pki.ca_cert))
    with pytest.raises(FeatureAuthError) as err:
        await read(client, use_async)
    assert str(err.value) == (
        f"Tecton at {gateway.url} refused the TLS connection for the metadata request "
        "(TLSV13_ALERT_CERTIFICATE_REQUIRED): it wants a client certificate: set "
        "client_cert (and client_key)"
    )


def test_tecton_without_the_ca_bundle_names_ca_bundle(
    gateway: FeatureServerProxy, pki: Pki, make: Any
) -> None:
    client = make(gateway.url, client_cert=str(pki.client_cert), client_key=str(pki.client_key))
    with pytest.raises(FeatureStoreUnavailableError) as err:
        client.get_features("1", "user", [FAV])
    assert str(err.value).startswith(
        f"The TLS certificate of Tecton at {gateway.url} could not be verified against the "
        "system's CAs (ca_bundle is not set) for the metadata request"
    )
    assert gateway.requests == []  # no handshake completed, and none was tried twice


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("use_async", [False, True])
async def test_a_read_answered_503_twice_is_retried(
    server: ts.TectonTestServer, make: Any, use_async: bool
) -> None:
    client = make(server.url, retries=2)
    client.service()
    server.fail_next = 2
    assert (await read(client, use_async)).features == {FAV: "running"}
    assert server.received.count(GET_FEATURES_PATH) == 3
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_retries_0_is_strict(server: ts.TectonTestServer, make: Any, use_async: bool) -> None:
    client = make(server.url, retries=0)
    client.service()
    server.fail_next = 1
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 503\): injected failure 503$"):
        await read(client, use_async)
    assert server.received.count(GET_FEATURES_PATH) == 1
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_an_always_failing_tecton_is_retried_only_within_timeout_s(
    server: ts.TectonTestServer, make: Any, use_async: bool
) -> None:
    """The same bound as Feast's: at least one retry, at most five in a 0.5 s budget."""
    client = make(server.url, retries=1000, timeout_s=0.5, retry_backoff_s=0.05)
    client.service()
    server.fail_status = 503
    with pytest.raises(FeatureStoreUnavailableError, match=r"\(HTTP 503\): injected failure 503$"):
        await read(client, use_async)
    assert 2 <= server.received.count(GET_FEATURES_PATH) <= 6
    await client.aclose()
