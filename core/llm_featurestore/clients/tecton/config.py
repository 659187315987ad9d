"""The settings of :class:`~llm_featurestore.clients.tecton.TectonClient`.

Importable without ``httpx``; the YAML section ``tecton:`` has these keys. The API key
is ``api_key`` (a secret) or, by default, read from the environment variable named by
``api_key_env`` when the client is built.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator

from llm_featurestore.clients.http.config import HttpClientSettings
from llm_featurestore.clients.http.urls import http_url
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.settings import BackendConfig, MaxAgeSeconds

__all__ = ["TectonClientConfig"]


class TectonClientConfig(BackendConfig, HttpClientSettings):
    """Which Tecton feature service to read, with which key, and how (TLS files such as
    a corporate proxy's ``ca_bundle`` and the retry backoff: :class:`HttpClientSettings`)."""

    type: Literal["tecton"] = "tecton"
    url: str = Field(min_length=1, description="Cluster URL, e.g. https://acme.tecton.ai.")
    workspace: str = Field(min_length=1, description="The workspace holding the service.")
    feature_service: str = Field(min_length=1, description="The feature service to read.")
    api_key: SecretStr | None = Field(
        None, description="The API key; when omitted it is read from `api_key_env`."
    )
    api_key_env: str = Field(
        "TECTON_API_KEY", min_length=1, description="Environment variable with the key."
    )
    join_key: str | dict[str, str] | None = Field(
        None,
        description="Join key, or entity type -> join key (which also limits the entity "
        "types accepted). Default: the service's only join key, else `<type>_id`.",
    )
    request_context: dict[str, Any] | None = Field(
        None, description="request_context_map sent with every request."
    )
    max_age_seconds: MaxAgeSeconds = Field(
        None, description="Older effective times read as STALE (one number or per entity type)."
    )
    timeout_s: float = Field(
        2.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds one request may take; its retries share them.",
    )
    micro_batch_size: int = Field(
        5, gt=0, description="Entities per get-features-batch call; larger reads are split."
    )
    max_connections: int = Field(32, gt=0, description="Size of the connection pool.")
    retries: int = Field(
        1,
        ge=0,
        description="Retries of a read after a connection error or a 5xx answer (with "
        "backoff, within timeout_s); 0: none at all.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return http_url(url, "https://yourco.tecton.ai")

    def resolved_key(self) -> SecretStr:
        """``api_key``, else the value of the ``api_key_env`` variable (read now).

        Raises:
            FeatureConfigError: neither holds a key (the message names the variable).
        """
        key = (
            self.api_key.get_secret_value()
            if self.api_key is not None
            else os.environ.get(self.api_key_env, "")
        ).strip()
        if not key:
            env = self.api_key_env
            raise FeatureConfigError(
                f"No Tecton API key: api_key is not set and the environment variable {env} "
                f"is unset or empty. Set {env} to a service-account key with read access to "
                f"workspace '{self.workspace}', or pass api_key_env='OTHER_VAR'"
            )
        return SecretStr(key)
