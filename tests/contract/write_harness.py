"""What the write contract needs to know about each writable backend.

Each ``write_<name>`` fixture of ``tests/contract/test_write_contract.py`` builds a
fresh, empty store and wraps it in a :class:`WriteHarness`: the features to write
spelled the backend's way, the smallest part of them it can rewrite alone, and which
of them have a freshness limit.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from llm_featurestore.clients.base import WritableFeatureStore
from tests.fixtures import feast_repo

ENTITY_TYPE = "user"
MAX_AGE_SECONDS = 86_400.0
"""The max age local and Redis are built with; Feast's ``user_stats`` ttl is one day too."""

_ids = itertools.count(800_000)


def next_id() -> str:
    """A fresh entity id (numeric: Feast's ``user_id`` is Int64)."""
    return str(next(_ids))


# Local and Redis: bare names, any subset may be written alone.
PLAIN_VALUES: dict[str, Any] = {
    "favorite_category": "running",
    "avg_order_value": 120.5,
    "purchases_30d": 3,
    "last_viewed_brand": "acme",
    "loyalty_tier": "gold",
}
PLAIN_UPDATE: dict[str, Any] = {"loyalty_tier": "silver"}

# Feast: one row per feature view, so a write sets every feature of a view it touches.
_STATS, _EXTRA = feast_repo.USER_VIEW, feast_repo.EXTRA_VIEW
FEAST_VALUES: dict[str, Any] = {
    f"{_STATS}:favorite_category": "running",
    f"{_STATS}:avg_order_value": 120.5,
    f"{_STATS}:purchases_30d": 3,
    f"{_STATS}:{feast_repo.AMBIGUOUS}": "acme",
    f"{_EXTRA}:{feast_repo.AMBIGUOUS}": "zeta",
    f"{_EXTRA}:loyalty_tier": "gold",
}
FEAST_UPDATE: dict[str, Any] = {
    f"{_EXTRA}:{feast_repo.AMBIGUOUS}": "omega",
    f"{_EXTRA}:loyalty_tier": "silver",
}


@dataclass
class WriteHarness:
    """An empty writable store plus what the write contract needs to know about it."""

    store: WritableFeatureStore
    values: dict[str, Any]
    """A full write, in this backend's spelling."""
    update: dict[str, Any]
    """New values for part of ``values``: the smallest part the backend writes alone."""
    aged: list[str]
    """The names of ``values`` that read STALE once older than :data:`MAX_AGE_SECONDS`."""
    text_name: str
    float_name: str
    int_name: str
    float_tolerance: float = 1e-9
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.names = list(self.values)


def plain_harness(store: WritableFeatureStore) -> WriteHarness:
    return WriteHarness(
        store=store,
        values=dict(PLAIN_VALUES),
        update=dict(PLAIN_UPDATE),
        aged=list(PLAIN_VALUES),
        text_name="favorite_category",
        float_name="avg_order_value",
        int_name="purchases_30d",
    )


def feast_harness(store: WritableFeatureStore) -> WriteHarness:
    return WriteHarness(
        store=store,
        values=dict(FEAST_VALUES),
        update=dict(FEAST_UPDATE),
        aged=[n for n in FEAST_VALUES if n.startswith(f"{_STATS}:")],
        text_name=f"{_STATS}:favorite_category",
        float_name=f"{_STATS}:avg_order_value",
        int_name=f"{_STATS}:purchases_30d",
    )
