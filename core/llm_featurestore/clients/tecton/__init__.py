"""Tecton's FeatureService HTTP API.

``config``: :class:`TectonClientConfig` (imports cheaply); ``protocol``: request
bodies, answers and names (pure); ``client``: :class:`TectonClient`. Members import on
first use; ``httpx`` (the ``tecton`` extra) is required by the client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llm_featurestore.clients._lazy import lazy_exports

if TYPE_CHECKING:
    from llm_featurestore.clients.tecton.client import TectonClient
    from llm_featurestore.clients.tecton.config import TectonClientConfig
    from llm_featurestore.clients.tecton.protocol import (
        TectonService,
        build_get_features_request,
        parse_features_response,
        parse_metadata_response,
    )

__all__ = [
    "TectonClient",
    "TectonClientConfig",
    "TectonService",
    "build_get_features_request",
    "parse_features_response",
    "parse_metadata_response",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "TectonClient": "client",
        "TectonClientConfig": "config",
        "TectonService": "protocol",
        "build_get_features_request": "protocol",
        "parse_features_response": "protocol",
        "parse_metadata_response": "protocol",
    },
)
