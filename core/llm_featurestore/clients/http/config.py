"""The settings every HTTP backend shares: TLS files and the backoff of retried reads.

:class:`HttpClientSettings` is mixed into each HTTP backend's config model
(``FeastHttpClientConfig``, ``TectonClientConfig``), so the keys, defaults, bounds and
descriptions are written once. Importable without ``httpx``; the files are opened when
the client is built (:mod:`.tls`), where a missing or unreadable one is named.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, Field, model_validator

__all__ = ["HttpClientSettings"]


class HttpClientSettings(BaseModel):
    """TLS and retry settings of an HTTP backend (a mixin of its config model)."""

    ca_bundle: str | None = Field(
        None,
        min_length=1,
        description="PEM file of the CAs that sign the server's certificate, trusted instead "
        "of the system's. Unset: the system's CAs.",
    )
    client_cert: str | None = Field(
        None,
        min_length=1,
        description="PEM client certificate for mutual TLS (it may hold the key as well).",
    )
    client_key: str | None = Field(
        None,
        min_length=1,
        description="PEM private key of `client_cert` (unencrypted), when not in that file.",
    )
    retry_backoff_s: float = Field(
        0.05,
        gt=0,
        allow_inf_nan=False,
        description="Wait before the first retry of a read; it doubles on each retry (with "
        "jitter), and retries stop when the wait would overrun the read's timeout_s.",
    )
    retry_backoff_max_s: float = Field(
        1.0, gt=0, allow_inf_nan=False, description="Longest wait between two retries of a read."
    )

    @model_validator(mode="after")
    def _key_needs_cert(self) -> Self:
        if self.client_key is not None and self.client_cert is None:
            raise ValueError(
                "client_key is set without client_cert: give the certificate it belongs to "
                "(client_cert), or put both in one PEM file and set only client_cert"
            )
        return self
