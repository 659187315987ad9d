"""TLS for the HTTP backends: the context built from their settings, and how a failed
handshake is worded.

* :func:`tls_context`: the process-wide verifying context
  (:func:`~llm_featurestore.clients._aio.shared_ssl_context`) when no TLS file is set;
  otherwise one built from ``ca_bundle`` (the CAs trusted instead of the system's) and
  ``client_cert``/``client_key`` (mutual TLS). A file that is missing or unusable is a
  :class:`FeatureConfigError` naming the setting, raised when the client is built.
* :func:`tls_failure`: the :class:`ssl.SSLError` behind a transport error, if any. A
  TLS failure is never retried: the next handshake fails the same way.
* :func:`tls_error`: its message. A certificate that cannot be verified names
  ``ca_bundle``; a server that refuses the client's certificate (or wants one) is a
  :class:`FeatureAuthError` naming ``client_cert``/``client_key``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol

from llm_featurestore.clients._aio import shared_ssl_context
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
)

__all__ = ["TlsSettings", "tls_context", "tls_error", "tls_failure"]

_CLIENT_REFUSED = ("CERTIFICATE_REQUIRED", "UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN")
"""Alerts a server sends when it wants a client certificate or does not accept the one sent."""


class TlsSettings(Protocol):
    """The TLS settings of an HTTP backend's config (:class:`.config.HttpClientSettings`)."""

    @property
    def ca_bundle(self) -> str | None: ...
    @property
    def client_cert(self) -> str | None: ...
    @property
    def client_key(self) -> str | None: ...


def _existing(setting: str, path: str) -> Path:
    found = Path(path).expanduser()
    if not found.exists():
        raise FeatureConfigError(f"{setting}: no such file: {path!r}")
    return found


def _no_password() -> bytes:
    raise FeatureConfigError(
        "client_key is encrypted: the client cannot ask for its password. Give an "
        "unencrypted key (`openssl pkey -in key.pem -out plain.pem`) readable only by the "
        "service"
    )


def tls_context(settings: TlsSettings) -> ssl.SSLContext:
    """The verifying TLS context of a client with ``settings``.

    Raises:
        FeatureConfigError: a file is missing, is not PEM of the expected kind, the key
            does not match the certificate, or the key is encrypted (the message names
            the setting and the file).
    """
    if settings.ca_bundle is None and settings.client_cert is None:
        return shared_ssl_context()
    if settings.ca_bundle is None:
        context = ssl.create_default_context()
    else:
        ca = _existing("ca_bundle", settings.ca_bundle)
        if ca.is_dir():
            raise FeatureConfigError(
                f"ca_bundle: {settings.ca_bundle!r} is a directory: give the PEM file of the "
                "CA certificates (concatenated)"
            )
        try:
            context = ssl.create_default_context(cafile=str(ca))
        except ssl.SSLError as exc:
            raise FeatureConfigError(
                f"ca_bundle: {settings.ca_bundle!r} holds no PEM CA certificate ({exc.reason})"
            ) from exc
    if settings.client_cert is not None:
        cert = _existing("client_cert", settings.client_cert)
        key = None if settings.client_key is None else _existing("client_key", settings.client_key)
        try:
            context.load_cert_chain(cert, key, password=_no_password)
        except ssl.SSLError as exc:
            files = f"client_cert {settings.client_cert!r}" + (
                f" and client_key {settings.client_key!r}" if key is not None else ""
            )
            detail = exc.reason or "no PEM certificate with its key"
            raise FeatureConfigError(
                f"Cannot load the TLS client certificate from {files} ({detail}): "
                "give a PEM certificate and its unencrypted PEM private key (in client_key, "
                "or in the certificate's file)"
            ) from exc
    return context


def tls_failure(exc: BaseException) -> ssl.SSLError | None:
    """The :class:`ssl.SSLError` that caused ``exc`` (httpx chains it), else ``None``."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def tls_error(
    name: str, url: str, what: str, failure: ssl.SSLError, settings: TlsSettings
) -> FeatureStoreUnavailableError:
    """The error for a request whose TLS handshake failed with ``failure``.

    Args:
        name: How messages name the server (``"the Feast feature server"``).
        url: The server's base URL.
        what: What was asked, for the message.
        failure: The handshake's error.
        settings: The client's TLS settings, to name what to change.
    """
    if isinstance(failure, ssl.SSLCertVerificationError):
        against = (
            f"the CAs in ca_bundle ({settings.ca_bundle})"
            if settings.ca_bundle is not None
            else "the system's CAs (ca_bundle is not set)"
        )
        return FeatureStoreUnavailableError(
            f"The TLS certificate of {name} at {url} could not be verified against {against} "
            f"for {what}: {failure.verify_message}. Set ca_bundle to the PEM file of the CA "
            "that signed it, and check that the url's host is one the certificate names"
        )
    reason = str(failure.reason or failure)
    if any(alert in reason for alert in _CLIENT_REFUSED):
        fix = (
            f"check that client_cert ({settings.client_cert}) is signed by a CA the server "
            "trusts and has not expired"
            if settings.client_cert is not None
            else "it wants a client certificate: set client_cert (and client_key)"
        )
        return FeatureAuthError(
            f"{name[:1].upper()}{name[1:]} at {url} refused the TLS connection for {what} "
            f"({reason}): {fix}"
        )
    return FeatureStoreUnavailableError(
        f"The TLS handshake with {name} at {url} failed for {what} ({reason}). Check that "
        "the server speaks https at that url, and the ca_bundle, client_cert and client_key "
        "settings"
    )
