"""The serving layer: timeouts and fallback, circuit breaker, cache, defaults, coalescing."""

from llm_featurestore.serving.breaker import BreakerState, CircuitBreaker
from llm_featurestore.serving.cache import VectorCache
from llm_featurestore.serving.client import ServingClient, ServingStats
from llm_featurestore.serving.coalescer import AsyncCoalescer, ThreadCoalescer
from llm_featurestore.serving.options import CacheConfig, CircuitBreakerConfig, CoalesceConfig

__all__ = [
    "AsyncCoalescer",
    "BreakerState",
    "CacheConfig",
    "CircuitBreaker",
    "CircuitBreakerConfig",
    "CoalesceConfig",
    "ServingClient",
    "ServingStats",
    "ThreadCoalescer",
    "VectorCache",
]
