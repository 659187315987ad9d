"""Read and write features through the real Feast SDK (``feast.FeatureStore``).

The package, one idea per module:

* :mod:`.config`: :class:`FeastClientConfig`, importable without Feast;
* :mod:`.store`: the process-wide ``FeatureStore`` per repo, and its event-loop binding;
* :mod:`.registry`: entity indexes, name resolution, on-demand views, feature services;
* :mod:`.plans`: requested names as plans (columns, request-data fields, bare names);
* :mod:`.request_data`: request data for on-demand views, checked and as columns
  (no Feast import: the HTTP client shares it);
* :mod:`.ids`: string ids as join key values;
* :mod:`.decode`: the response proto as vectors (the shared cell rule, column-wise);
* :mod:`.direct`: Redis and SQLite online stores read directly, in Feast's own layout
  (the SDK reads the rest);
* :mod:`.writes`: writes through pandas, one row per feature view, merged when partial;
* :mod:`.push`: pushes through push sources, rows checked against the views they feed;
* :mod:`.failures`: Feast's refusals as usage errors, everything else as outages;
* :mod:`.client`: the :class:`FeastClient` facade.

Importing this package imports Feast only when a name that needs it is used, so
``from llm_featurestore.clients.feast import FeastClientConfig`` works without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llm_featurestore.clients.feast.config import FeastClientConfig

if TYPE_CHECKING:
    from llm_featurestore.clients.feast.client import FeastClient
    from llm_featurestore.clients.feast.store import (
        clear_feature_store_cache,
        shared_feature_store,
    )

__all__ = ["FeastClient", "FeastClientConfig", "clear_feature_store_cache", "shared_feature_store"]

_LAZY: dict[str, str] = {
    "FeastClient": "llm_featurestore.clients.feast.client",
    "clear_feature_store_cache": "llm_featurestore.clients.feast.store",
    "shared_feature_store": "llm_featurestore.clients.feast.store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
