"""The HTTP backend base shared by ``FeastHttpClient`` and ``TectonClient``.

``base``: :class:`HttpBackend` (connection pools, limits, the send loop, close);
``config``: :class:`HttpClientSettings`, the TLS and backoff settings their config
models share; ``tls``: the TLS context built from them and how a failed handshake is
worded; ``retry``: :class:`Attempts`, when a request is sent again; ``headers``: extra
headers, and credentials read from the environment; ``errors``: how transport failures
and HTTP statuses become the library's errors; ``fanout``: concurrent blocking calls on
the library's one worker pool; ``urls``: the URL rule of their settings. Members import
on first use, so ``urls``, ``config`` and ``headers`` (used by the config models) do not
pull in ``httpx``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore.clients._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.clients.http.base import HttpBackend, HttpSettings
    from llm_featurestore.clients.http.config import HttpClientSettings
    from llm_featurestore.clients.http.errors import (
        ProtocolErrors,
        response_error,
        server_message,
        transport_error,
    )
    from llm_featurestore.clients.http.fanout import map_beside
    from llm_featurestore.clients.http.retry import Attempts
    from llm_featurestore.clients.http.tls import tls_context
    from llm_featurestore.clients.http.urls import http_url

__all__ = [
    "Attempts",
    "HttpBackend",
    "HttpClientSettings",
    "HttpSettings",
    "ProtocolErrors",
    "http_url",
    "map_beside",
    "response_error",
    "server_message",
    "tls_context",
    "transport_error",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Attempts": "retry",
        "HttpBackend": "base",
        "HttpClientSettings": "config",
        "HttpSettings": "base",
        "ProtocolErrors": "errors",
        "response_error": "errors",
        "server_message": "errors",
        "transport_error": "errors",
        "map_beside": "fanout",
        "tls_context": "tls",
        "http_url": "urls",
    },
)
