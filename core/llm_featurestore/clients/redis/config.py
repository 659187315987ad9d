"""The settings of :class:`~llm_featurestore.clients.redis.RedisFeatureStore`.

Importable without the ``redis`` driver, so configuration loaders can validate a
``redis:`` section before (or without) connecting. A password inside ``url`` is a
secret: :func:`redact_url` hides it, and the model's repr shows only the redacted URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from llm_featurestore.settings import BackendConfig, MaxAgeSeconds

__all__ = ["RedisFeatureStoreConfig", "redact_url"]


def redact_url(url: str) -> str:
    """The URL without its password, for messages and repr.

    >>> redact_url("redis://user:pw@host:6379/0")
    'redis://user:***@host:6379/0'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


class RedisFeatureStoreConfig(BackendConfig):
    """Where the Redis store lives and how it waits (the ``redis:`` section of a config)."""

    type: Literal["redis"] = "redis"
    url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="redis://[[user]:password@]host:port/db, rediss://... or unix:///path.sock.",
    )
    namespace: str = Field(
        "llmfs",
        min_length=1,
        description="Prefix of every key: `<namespace>:<type>:<id>`; one per application.",
    )
    max_age_seconds: MaxAgeSeconds = Field(
        None, description="Older values read as STALE: one number, or entity type -> seconds."
    )
    socket_timeout_s: float = Field(
        1.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds to wait for a reply or a connection before FeatureTimeoutError.",
    )
    retries: int = Field(
        1, ge=0, description="Retries, without backoff, of a command after a connection error."
    )
    max_connections: int = Field(
        64, gt=0, description="Size of each connection pool (sync, and async per event loop)."
    )

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" else value
