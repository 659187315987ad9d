"""Value types shared by every client: :class:`FeatureVector` and :class:`FeatureStatus`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "FAILED_STATUSES",
    "REJECTED_STATUSES",
    "USABLE_STATUSES",
    "FeatureStatus",
    "FeatureVector",
    "utcnow",
]


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(timezone.utc)


class FeatureStatus(str, Enum):
    """What happened to one requested feature of one entity."""

    PRESENT = "present"
    """The store holds a value, within its freshness limit."""
    NOT_FOUND = "not_found"
    """The store has no value for this entity (unknown entity, or never written)."""
    NULL_VALUE = "null_value"
    """The store holds an explicit null."""
    STALE = "stale"
    """A value exists but is older than the feature's time-to-live; the value is kept."""
    DEFAULTED = "defaulted"
    """The entity was unknown and a configured default was used (cold start)."""
    TIMED_OUT = "timed_out"
    """The store did not answer in time; no value."""
    UNAVAILABLE = "unavailable"
    """The store failed, refused the credentials, or the circuit breaker is open; no value."""
    INVALID_ID = "invalid_id"
    """The id cannot be a key of this entity type (``"guest-7f3a"`` for an Int64 join key);
    no value. Degraded in fallback mode; the other ids of the same batch are unaffected."""
    UNKNOWN_ENTITY_TYPE = "unknown_entity_type"
    """This store serves no entity of this type; no value. Degraded in fallback mode."""


USABLE_STATUSES = frozenset({FeatureStatus.PRESENT, FeatureStatus.DEFAULTED})
"""Statuses whose value may be used (filters, code; the prompt shows DEFAULTED values
only where a task opts in)."""
FAILED_STATUSES = frozenset({FeatureStatus.TIMED_OUT, FeatureStatus.UNAVAILABLE})
"""Statuses that say the store could not be read (what the monitor's store gate counts)."""
REJECTED_STATUSES = frozenset({FeatureStatus.INVALID_ID, FeatureStatus.UNKNOWN_ENTITY_TYPE})
"""Statuses that say the request could not be served by this store, though it answers."""


_AGED_STATUSES = frozenset({FeatureStatus.PRESENT, FeatureStatus.STALE})


class FeatureVector(BaseModel):
    """The features of one entity, as read from one store at one moment.

    ``features``, ``statuses`` and ``event_timestamps`` have exactly the requested
    feature names as keys, in request order. A feature that has no value (NOT_FOUND,
    TIMED_OUT, UNAVAILABLE) maps to ``None`` in ``features``; a STALE feature keeps
    its value so callers can decide. Vectors are immutable values: the serving
    layer's cache hands the same instance to every caller that asks for the same
    entity and feature set, so never mutate the dicts.
    """

    model_config = ConfigDict(frozen=True)

    entity_id: str
    entity_type: str
    features: dict[str, Any]
    statuses: dict[str, FeatureStatus]
    event_timestamps: dict[str, datetime | None] = Field(default_factory=dict)
    retrieved_at: datetime = Field(default_factory=utcnow)
    freshness_seconds: float = Field(
        0.0,
        description="Age in seconds of the oldest value returned (PRESENT or STALE) at "
        "retrieval time; 0.0 when no returned value carries a timestamp.",
    )
    source: str = Field(description='"feast", "feast_http", "redis", "tecton" or "local"')

    @classmethod
    def build(
        cls,
        *,
        entity_id: str,
        entity_type: str,
        feature_names: Sequence[str],
        values: Mapping[str, Any],
        statuses: Mapping[str, FeatureStatus],
        event_timestamps: Mapping[str, datetime | None] | None = None,
        source: str,
        retrieved_at: datetime | None = None,
    ) -> FeatureVector:
        """Assemble a vector, computing ``freshness_seconds`` from the timestamps.

        Features absent from ``statuses`` are NOT_FOUND; values of features whose
        status is not PRESENT, STALE or DEFAULTED are dropped to ``None``.
        """
        now = retrieved_at or utcnow()
        timestamps = event_timestamps or {}
        feats: dict[str, Any] = {}
        stats: dict[str, FeatureStatus] = {}
        stamps: dict[str, datetime | None] = {}
        oldest = 0.0
        for name in feature_names:
            status = statuses.get(name, FeatureStatus.NOT_FOUND)
            keeps_value = status in USABLE_STATUSES or status is FeatureStatus.STALE
            feats[name] = values.get(name) if keeps_value else None
            stats[name] = status
            ts = timestamps.get(name)
            stamps[name] = ts
            if ts is not None and status in _AGED_STATUSES:
                oldest = max(oldest, (now - ts).total_seconds())
        return cls(
            entity_id=entity_id,
            entity_type=entity_type,
            features=feats,
            statuses=stats,
            event_timestamps=stamps,
            retrieved_at=now,
            freshness_seconds=max(oldest, 0.0),
            source=source,
        )

    @classmethod
    def unavailable(
        cls,
        entity_id: str,
        entity_type: str,
        feature_names: Sequence[str],
        *,
        status: FeatureStatus,
        source: str,
    ) -> FeatureVector:
        """A vector with no values, every feature marked ``status`` (a failed or rejected
        read: TIMED_OUT, UNAVAILABLE, INVALID_ID or UNKNOWN_ENTITY_TYPE)."""
        return cls.build(
            entity_id=entity_id,
            entity_type=entity_type,
            feature_names=feature_names,
            values={},
            statuses=dict.fromkeys(feature_names, status),
            source=source,
        )

    @property
    def usable(self) -> dict[str, Any]:
        """Features whose value may be used: PRESENT or DEFAULTED, and not ``None``."""
        return {
            name: value
            for name, value in self.features.items()
            if value is not None and self.statuses.get(name) in USABLE_STATUSES
        }

    @property
    def found(self) -> bool:
        """True when the store held at least one value (PRESENT or STALE) for the entity."""
        return any(
            s in (FeatureStatus.PRESENT, FeatureStatus.STALE) for s in self.statuses.values()
        )

    @property
    def failed(self) -> bool:
        """True when the read itself failed (every feature TIMED_OUT or UNAVAILABLE)."""
        return bool(self.statuses) and all(s in FAILED_STATUSES for s in self.statuses.values())
