"""Secured HTTP backends without a server: credentials from the environment, headers
that must not hold them, TLS files and their errors, the auth hints, and Tecton's
serving statuses."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from llm_featurestore.clients._aio import shared_ssl_context
from llm_featurestore.clients.feast_http import FeastHttpClient, FeastHttpClientConfig
from llm_featurestore.clients.tecton import TectonClient, TectonClientConfig
from llm_featurestore.clients.tecton import protocol as tecton_protocol
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus
from tests.fixtures.certs import Pki, make_pki

TOKEN_ENV = "LLMFS_UNIT_FEAST_TOKEN"
GATEWAY_ENV = "LLMFS_UNIT_GATEWAY_KEY"
TECTON_KEY_ENV = "LLMFS_UNIT_SECURE_TECTON_KEY"
URL = "http://feast.test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("unit_pki"))


def config_error(**fields: Any) -> str:
    with pytest.raises(FeatureConfigError) as err:
        FeastHttpClientConfig(url=URL, **fields)
    lines = str(err.value).splitlines()
    assert lines[0] == "Invalid FeastHttpClientConfig:"
    return lines[1]


def client(**fields: Any) -> FeastHttpClient:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    return FeastHttpClient(URL, transport=transport, **fields)


# --------------------------------------------------------------------------- headers and tokens


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key", "Cookie", "X-Auth-Token"])
def test_a_credential_in_headers_is_refused_without_echoing_it(header: str) -> None:
    line = config_error(headers={header: "s3cr3t-value", "X-Tenant": "acme"})
    assert line == (
        f"  headers: Value error, headers would write a credential into the settings "
        f"({header}): read it from the environment instead, with token_env (a bearer token) "
        "or header_env={header: ENV_VAR}"
    )


@pytest.mark.parametrize("setting", ["headers", "header_env"])
def test_header_names_must_be_header_names(setting: str) -> None:
    assert config_error(**{setting: {"X Tenant": "v"}}) == (
        f"  {setting}: Value error, {setting} has names that are not HTTP header names: "
        "'X Tenant' (letters, digits and !#$%&'*+-.^_`|~ only)"
    )


def test_token_env_and_an_authorization_header_env_are_one_too_many() -> None:
    assert config_error(token_env=TOKEN_ENV, header_env={"authorization": GATEWAY_ENV}) == (
        "  FeastHttpClientConfig: Value error, token_env sends the Authorization header, and "
        "header_env sets it too: keep one of them"
    )


def test_credentials_are_read_from_the_environment_into_the_pool_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, " tok-81f2 ")
    monkeypatch.setenv(GATEWAY_ENV, "gw-77aa")
    made = client(
        token_env=TOKEN_ENV, header_env={"X-Api-Key": GATEWAY_ENV}, headers={"X-Tenant": "acme"}
    )
    headers = made.http.headers
    assert headers["Authorization"] == "Bearer tok-81f2"
    assert (headers["X-Api-Key"], headers["X-Tenant"]) == ("gw-77aa", "acme")
    for text in (repr(vars(made)), repr(made.config), made.config.model_dump_json()):
        assert "tok-81f2" not in text
        assert "gw-77aa" not in text
    made.close()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"token_env": TOKEN_ENV},
            f"FeastHttpClient: the environment variable {TOKEN_ENV} (named by token_env) is "
            "unset or empty. Set it to the bearer token, or remove it from token_env",
        ),
        (
            {"header_env": {"X-Api-Key": GATEWAY_ENV}},
            f"FeastHttpClient: the environment variable {GATEWAY_ENV} (named by header_env) "
            "is unset or empty. Set it to the value of X-Api-Key, or remove it from header_env",
        ),
    ],
)
def test_an_unset_credential_variable_fails_when_the_client_is_built(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], message: str
) -> None:
    monkeypatch.setenv(TOKEN_ENV, "  ")
    monkeypatch.delenv(GATEWAY_ENV, raising=False)
    with pytest.raises(FeatureConfigError) as err:
        client(**fields)
    assert str(err.value) == message


def test_the_auth_hint_names_where_the_credentials_come_from() -> None:
    assert FeastHttpClientConfig(url=URL).auth_hint() == (
        "FeastHttpClient sends no credentials: set token_env to the environment variable "
        "holding a bearer token"
    )
    assert FeastHttpClientConfig(url=URL, token_env=TOKEN_ENV).auth_hint() == (
        f"check that {TOKEN_ENV} (token_env) holds a bearer token the server accepts and "
        "that it has not expired"
    )
    gateway = FeastHttpClientConfig(url=URL, header_env={"X-Api-Key": GATEWAY_ENV})
    assert gateway.auth_hint() == "check the credentials in header_env (X-Api-Key)"


def test_a_write_refused_401_names_token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    from llm_featurestore.errors import FeatureAuthError

    monkeypatch.setenv(TOKEN_ENV, "tok")
    transport = httpx.MockTransport(lambda r: httpx.Response(401, json={"detail": "expired"}))
    made = FeastHttpClient(URL, transport=transport, token_env=TOKEN_ENV)
    with pytest.raises(FeatureAuthError, match=rf"\(HTTP 401\): check that {TOKEN_ENV} "):
        made.write_features("1", "user", {"v:x": 1})
    with pytest.raises(FeatureAuthError, match=rf"\(HTTP 401\): check that {TOKEN_ENV} "):
        made.push("src", [{"user_id": "1", "x": 1}])
    made.close()


# --------------------------------------------------------------------------- TLS files


def test_no_tls_file_shares_the_process_context_and_a_ca_bundle_replaces_it(pki: Pki) -> None:
    plain = client()
    assert plain._client_kwargs()["verify"] is shared_ssl_context()
    secured = client(ca_bundle=str(pki.ca_cert))
    context = secured._client_kwargs()["verify"]
    assert isinstance(context, ssl.SSLContext)
    assert context is not shared_ssl_context()
    subjects = [dict(item[0] for item in ca["subject"]) for ca in context.get_ca_certs()]
    assert subjects == [{"commonName": "llm-featurestore test CA"}]  # only the bundle's CAs
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    plain.close()
    secured.close()


def test_a_client_certificate_with_its_key_in_one_file(pki: Pki, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(pki.client_cert.read_bytes() + pki.client_key.read_bytes())
    client(client_cert=str(both)).close()
    client(client_cert=str(pki.client_cert), client_key=str(pki.client_key)).close()


def tls_error(**fields: Any) -> str:
    with pytest.raises(FeatureConfigError) as err:
        client(**fields)
    return str(err.value)


def test_tls_files_that_cannot_be_used_are_named(pki: Pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    assert tls_error(ca_bundle=missing) == f"ca_bundle: no such file: {missing!r}"
    assert tls_error(ca_bundle=str(tmp_path)) == (
        f"ca_bundle: {str(tmp_path)!r} is a directory: give the PEM file of the CA "
        "certificates (concatenated)"
    )
    assert tls_error(ca_bundle=str(pki.client_key)) == (
        f"ca_bundle: {str(pki.client_key)!r} holds no PEM CA certificate "
        "(NO_CERTIFICATE_OR_CRL_FOUND)"
    )
    assert tls_error(client_cert=missing) == f"client_cert: no such file: {missing!r}"
    cert = str(pki.client_cert)
    assert tls_error(client_cert=cert, client_key=missing) == (
        f"client_key: no such file: {missing!r}"
    )
    assert tls_error(client_cert=cert, client_key=str(pki.server_key)) == (
        f"Cannot load the TLS client certificate from client_cert {cert!r} and client_key "
        f"{str(pki.server_key)!r} (KEY_VALUES_MISMATCH): give a PEM certificate and its "
        "unencrypted PEM private key (in client_key, or in the certificate's file)"
    )
    assert tls_error(client_cert=cert) == (
        f"Cannot load the TLS client certificate from client_cert {cert!r} (no PEM certificate "
        "with its key): give a PEM certificate and its unencrypted PEM private key (in "
        "client_key, or in the certificate's file)"
    )
    assert tls_error(client_cert=cert, client_key=str(pki.client_key_encrypted)) == (
        "client_key is encrypted: the client cannot ask for its password. Give an unencrypted "
        "key (`openssl pkey -in key.pem -out plain.pem`) readable only by the service"
    )


@pytest.mark.parametrize("model", [FeastHttpClientConfig, TectonClientConfig])
def test_a_client_key_needs_its_certificate(model: type[Any]) -> None:
    fields = {"url": "https://h", "workspace": "w", "feature_service": "f"}
    if model is FeastHttpClientConfig:
        fields = {"url": "https://h"}
    with pytest.raises(FeatureConfigError) as err:
        model(**fields, client_key="key.pem")
    assert str(err.value).splitlines()[1] == (
        f"  {model.__name__}: Value error, client_key is set without client_cert: give the "
        "certificate it belongs to (client_cert), or put both in one PEM file and set only "
        "client_cert"
    )


def test_tecton_takes_the_same_tls_settings(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TECTON_KEY_ENV, "k")
    tecton = TectonClient(
        "https://x.tecton.ai",
        "prod",
        "fs",
        api_key_env=TECTON_KEY_ENV,
        ca_bundle=str(pki.ca_cert),
        client_cert=str(pki.client_cert),
        client_key=str(pki.client_key),
    )
    assert tecton._client_kwargs()["verify"] is not shared_ssl_context()
    tecton.close()
    with pytest.raises(FeatureConfigError, match=r"^ca_bundle: no such file: '/nowhere.pem'$"):
        TectonClient(
            "https://x.tecton.ai",
            "prod",
            "fs",
            api_key_env=TECTON_KEY_ENV,
            ca_bundle="/nowhere.pem",
        )


# --------------------------------------------------------------------------- Tecton statuses


@pytest.mark.parametrize(
    ("raw", "status", "kept"),
    [
        ("PRESENT", FeatureStatus.PRESENT, "v"),
        ("CACHED_PRESENT", FeatureStatus.PRESENT, "v"),
        ("CACHED", FeatureStatus.PRESENT, "v"),
        ("MISSING_DATA", FeatureStatus.NOT_FOUND, None),
        ("CACHED_MISSING_DATA", FeatureStatus.NOT_FOUND, None),
        ("UNKNOWN", FeatureStatus.UNAVAILABLE, None),
        ("UNKNOWN_STATUS", FeatureStatus.UNAVAILABLE, None),
        ("CACHED_UNKNOWN", FeatureStatus.UNAVAILABLE, None),
        ("TIME_OUT", FeatureStatus.TIMED_OUT, None),
    ],
)
def test_every_tecton_serving_status(raw: str, status: FeatureStatus, kept: Any) -> None:
    from llm_featurestore.clients.cells import classify

    cell = tecton_protocol.parse_features_response(
        {"result": {"features": ["v"]}, "metadata": {"features": [{"name": "a.b", "status": raw}]}},
        1,
    )[0]["a.b"]
    assert classify(cell.value, cell.event_timestamp, None, cell.status) == (status, kept)


def test_a_status_tecton_may_add_later_is_unavailable_and_logged_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tecton_protocol, "_unmapped_logged", set())
    body = {
        "result": {"features": [1]},
        "metadata": {"features": [{"name": "a.b", "status": "NEW"}]},
    }
    with caplog.at_level(logging.WARNING, logger=tecton_protocol.__name__):
        for _ in range(3):
            cells = tecton_protocol.parse_features_response(body, 1)
    assert cells[0]["a.b"].status is FeatureStatus.UNAVAILABLE
    assert [r.getMessage() for r in caplog.records] == [
        "Tecton answered the serving status 'NEW', which this client does not know; its "
        f"values read as UNAVAILABLE (known: {', '.join(tecton_protocol.STATUS_MAP)})"
    ]
