"""The dataset and handle every backend's contract fixture provides.

Each backend fixture (``contract_<name>`` in ``tests/fixtures/<name>.py``) loads
``FRESH`` and ``STALE`` into a real store and yields a :class:`ContractHarness`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from llm_featurestore.clients.base import FeatureStoreClient

ENTITY_TYPE = "user"
FEATURES = ["favorite_category", "avg_order_value", "purchases_30d"]

# Written "now" (within the test run): PRESENT.
FRESH: dict[str, dict[str, Any]] = {
    "1001": {"favorite_category": "running", "avg_order_value": 120.5, "purchases_30d": 3},
    "1002": {"favorite_category": "outerwear", "avg_order_value": 310.25, "purchases_30d": 0},
}
# 200 entities for the coalescing test: ids "2000".."2199", values derived from the id.
BULK: dict[str, dict[str, Any]] = {
    str(i): {
        "favorite_category": f"cat-{i}",
        "avg_order_value": float(i) + 0.5,
        "purchases_30d": i % 7,
    }
    for i in range(2000, 2200)
}
# Written with STALE_TIMESTAMP, older than STALE_AFTER: STALE.
STALE_ID = "1003"
STALE: dict[str, Any] = {"favorite_category": "books", "avg_order_value": 15.75, "purchases_30d": 1}
STALE_AFTER = timedelta(days=1)
STALE_TIMESTAMP = datetime.now(timezone.utc) - timedelta(days=30)
MISSING_ID = "9999"


@dataclass
class ContractHarness:
    """A populated client plus what the contract needs to know about it."""

    client: FeatureStoreClient
    source: str
    """Expected ``FeatureVector.source``."""
    feature_names: list[str] = field(default_factory=lambda: list(FEATURES))
    """Names to request for FEATURES, in this backend's spelling (e.g. Feast refs)."""
    ambiguous_name: str | None = None
    """A bare name that two feature views share, for backends where that can happen."""
    make_dead_client: Callable[[], FeatureStoreClient] | None = None
    """A client of the same kind pointed at a store that does not answer."""
    float_tolerance: float = 1e-6
    """Backends storing Float32 round floats; compare with this relative tolerance."""
