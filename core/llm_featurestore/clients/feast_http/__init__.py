"""Read, write and push features through Feast's feature server (``feast serve``) over HTTP.

``config``: :class:`FeastHttpClientConfig` (imports cheaply); ``protocol``: names,
request bodies and answers (pure); ``on_demand``: request fields, bare-name plans and
the server's missing-request-data refusal (pure); ``writes``: write and push bodies, the
merge and their answers (pure); ``client``: :class:`FeastHttpClient`. Members import on
first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore.clients._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.clients.feast_http.client import FeastHttpClient
    from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig
    from llm_featurestore.clients.feast_http.protocol import (
        HttpPlan,
        build_request,
        error_for_response,
        parse_response,
        resolve_http_names,
    )
    from llm_featurestore.clients.names import service_keys

__all__ = [
    "FeastHttpClient",
    "FeastHttpClientConfig",
    "HttpPlan",
    "build_request",
    "error_for_response",
    "parse_response",
    "resolve_http_names",
    "service_keys",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "FeastHttpClient": "client",
        "FeastHttpClientConfig": "config",
        "HttpPlan": "protocol",
        "build_request": "protocol",
        "error_for_response": "protocol",
        "parse_response": "protocol",
        "resolve_http_names": "protocol",
        "service_keys": "llm_featurestore.clients.names",
    },
)
