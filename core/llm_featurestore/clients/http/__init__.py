"""The HTTP backend base shared by ``FeastHttpClient`` and ``TectonClient``.

``base``: :class:`HttpBackend` (connection pools, TLS, limits, retries, close);
``errors``: how transport failures and HTTP statuses become the library's errors;
``fanout``: concurrent blocking calls on the library's one worker pool; ``urls``: the
URL rule of their settings. Members import on first use, so ``urls`` (used by the
config models) does not pull in ``httpx``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore.clients._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.clients.http.base import HttpBackend, HttpSettings
    from llm_featurestore.clients.http.errors import (
        ProtocolErrors,
        response_error,
        server_message,
        transport_error,
    )
    from llm_featurestore.clients.http.fanout import map_beside
    from llm_featurestore.clients.http.urls import http_url

__all__ = [
    "HttpBackend",
    "HttpSettings",
    "ProtocolErrors",
    "http_url",
    "map_beside",
    "response_error",
    "server_message",
    "transport_error",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "HttpBackend": "base",
        "HttpSettings": "base",
        "ProtocolErrors": "errors",
        "response_error": "errors",
        "server_message": "errors",
        "transport_error": "errors",
        "map_beside": "fanout",
        "http_url": "urls",
    },
)
