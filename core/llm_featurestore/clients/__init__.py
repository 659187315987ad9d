"""Feature-store clients: one interface, several backends.

``base`` and ``local`` have no optional dependencies; ``feast``, ``feast_http``,
``redis`` and ``tecton`` import their drivers and say which extra to install when
one is missing.
"""

from llm_featurestore.clients.base import FeatureStoreClient, WritableFeatureStore
from llm_featurestore.clients.local import LocalFeatureStore

__all__ = ["FeatureStoreClient", "LocalFeatureStore", "WritableFeatureStore"]
