"""The settings of :class:`~llm_featurestore.clients.feast_http.FeastHttpClient`.

Importable without ``httpx``; the YAML section ``feast_http:`` has these keys. Secrets
are never settings: ``token_env`` and ``header_env`` name the environment variables
that hold them, read when a connection pool is built.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from llm_featurestore.clients.http.config import HttpClientSettings
from llm_featurestore.clients.http.headers import (
    check_header_names,
    check_headers,
    env_headers,
)
from llm_featurestore.clients.http.urls import http_url
from llm_featurestore.settings import BackendConfig, PositiveSeconds

__all__ = ["FeastHttpClientConfig"]


class FeastHttpClientConfig(BackendConfig, HttpClientSettings):
    """Where Feast's feature server (``feast serve``) is, how to reach it and how to read it."""

    type: Literal["feast_http"] = "feast_http"
    url: str = Field(description="Base URL of `feast serve`, e.g. http://127.0.0.1:6566.")
    timeout_s: float = Field(
        5.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds one request may take; a read's retries share them.",
    )
    max_connections: int = Field(
        100, gt=0, description="Size of the connection pool (sync and async each)."
    )
    retries: int = Field(
        2,
        ge=0,
        description="Retries of a read after a connection error or a 5xx answer (with "
        "backoff, within timeout_s); writes and pushes are resent this many times after a "
        "connection error only.",
    )
    token_env: str | None = Field(
        None,
        min_length=1,
        description="Environment variable holding a bearer token, sent as `Authorization: "
        "Bearer <token>` (feast serve's OIDC or Kubernetes auth, or a proxy's).",
    )
    headers: dict[str, str] | None = Field(
        None,
        description="Extra headers of every request; not for credentials (refused: use "
        "token_env or header_env).",
    )
    header_env: dict[str, Annotated[str, Field(min_length=1)]] | None = Field(
        None,
        description="header -> environment variable holding its value, for secret headers "
        "(`{X-Api-Key: GATEWAY_KEY}`).",
    )
    join_keys: dict[str, str] | None = Field(
        None, description="entity type -> join key (default `<type>_id`)."
    )
    ttl_seconds: dict[str, PositiveSeconds] | None = Field(
        None, description="feature view -> ttl; older values read as STALE."
    )
    features: dict[str, list[str]] | None = Field(
        None,
        description="entity type -> feature refs, for list_features and bare names "
        "(`feast serve` has no listing endpoint).",
    )
    request_fields: dict[str, dict[str, str]] | None = Field(
        None,
        description="on-demand feature view or feature service -> the request-data fields "
        "it needs and their Feast types (`{val_to_add: Int64}`), to check request data "
        "before sending; views and services it does not list need none. Unset: request "
        "data is sent unchecked.",
    )
    timestamp_columns: dict[str, Annotated[list[str], Field(min_length=1, max_length=2)]] | None = (
        Field(
            None,
            description="feature view or push source -> the timestamp columns its batch source "
            "declares: [timestamp_field] or [timestamp_field, created_timestamp_column]. "
            "Default: event_timestamp and created (feast init's names; an online write "
            "ignores a column its view does not declare).",
        )
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return http_url(url, "http://127.0.0.1:6566")

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str] | None) -> dict[str, str] | None:
        if headers:
            check_headers(headers)
        return headers

    @field_validator("header_env")
    @classmethod
    def _header_env(cls, header_env: dict[str, str] | None) -> dict[str, str] | None:
        if header_env:
            check_header_names("header_env", header_env)
        return header_env

    @model_validator(mode="after")
    def _one_authorization(self) -> Self:
        sent = {name.lower() for name in {**(self.headers or {}), **(self.header_env or {})}}
        if self.token_env is not None and "authorization" in sent:
            raise ValueError(
                "token_env sends the Authorization header, and header_env sets it too: "
                "keep one of them"
            )
        return self

    def request_headers(self) -> dict[str, str]:
        """``headers`` and the credentials read from the environment now.

        Raises:
            FeatureConfigError: a variable named by ``token_env`` or ``header_env`` is
                unset or empty (the message names it, never a value).
        """
        credentials = env_headers("FeastHttpClient", self.token_env, self.header_env)
        return {**(self.headers or {}), **credentials}

    def auth_hint(self) -> str:
        """What to check when the server refuses the credentials (names the setting)."""
        if self.token_env is not None:
            return (
                f"check that {self.token_env} (token_env) holds a bearer token the server "
                "accepts and that it has not expired"
            )
        if self.header_env:
            return f"check the credentials in header_env ({', '.join(sorted(self.header_env))})"
        return (
            "FeastHttpClient sends no credentials: set token_env to the environment "
            "variable holding a bearer token"
        )
