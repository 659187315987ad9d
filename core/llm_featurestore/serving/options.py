"""Typed settings of the serving layer (also the ``cache``/``coalesce``/``circuit_breaker``
sections of the YAML configuration).

Each is a :class:`~llm_featurestore.settings.ConfigModel`: unknown keys and values out of
bounds raise :class:`~llm_featurestore.errors.FeatureConfigError` naming the key.
"""

from __future__ import annotations

from pydantic import Field

from llm_featurestore.settings import ConfigModel, PositiveSeconds

__all__ = ["CacheConfig", "CircuitBreakerConfig", "CoalesceConfig"]


class CacheConfig(ConfigModel):
    """LRU + TTL cache of feature vectors, keyed by entity type, entity id, feature set
    and request data.

    A write through the library forgets the entity's entries at once; for writes made
    elsewhere, a short ``ttl_seconds_by_entity_type`` bounds how long a read may be
    stale (or call ``ServingClient.invalidate``).
    """

    ttl_seconds: PositiveSeconds = Field(30.0, description="How long a read is served from memory.")
    ttl_seconds_by_entity_type: dict[str, PositiveSeconds] = Field(
        default_factory=dict,
        description="entity type -> seconds, overriding ttl_seconds for that type (e.g. a "
        "short one for entity types written by other processes).",
    )
    max_entries: int = Field(100_000, gt=0, description="Least recently used entries go first.")


class CoalesceConfig(ConfigModel):
    """Answer concurrent single-entity lookups (async tasks or threads) with one batch call."""

    window_ms: float = Field(
        1.0,
        ge=0,
        le=50,
        description="How long the first request of a batch waits for others. 0 batches "
        "the async lookups that arrive in the same event-loop iteration (one "
        "asyncio.gather, for example) and adds no wait; the event loop's timers have "
        "about 1 ms resolution, so windows below that behave like 1 ms.",
    )
    max_batch: int = Field(128, gt=0, description="A batch this large is sent at once.")


class CircuitBreakerConfig(ConfigModel):
    """Stop calling a failing store; probe it again after a cool-down."""

    failure_threshold: int = Field(
        5, gt=0, description="Consecutive failures (errors or timeouts) that open the circuit."
    )
    reset_timeout_seconds: PositiveSeconds = Field(
        10.0, description="Cool-down after which one probe call is let through."
    )
