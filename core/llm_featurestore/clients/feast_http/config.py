"""The settings of :class:`~llm_featurestore.clients.feast_http.FeastHttpClient`.

Importable without ``httpx``; the YAML section ``feast_http:`` has these keys.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from llm_featurestore.clients.http.urls import http_url
from llm_featurestore.settings import BackendConfig, PositiveSeconds

__all__ = ["FeastHttpClientConfig"]


class FeastHttpClientConfig(BackendConfig):
    """Where Feast's feature server (``feast serve``) is and how to read it."""

    type: Literal["feast_http"] = "feast_http"
    url: str = Field(description="Base URL of `feast serve`, e.g. http://127.0.0.1:6566.")
    timeout_s: float = Field(
        5.0, gt=0, allow_inf_nan=False, description="HTTP timeout of one request."
    )
    max_connections: int = Field(
        100, gt=0, description="Size of the connection pool (sync and async each)."
    )
    retries: int = Field(0, ge=0, description="Times a request is resent after a connection error.")
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
