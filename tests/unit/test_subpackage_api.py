"""Every subpackage of the core has a pinned public surface.

A name added to or removed from a subpackage's ``__all__`` must be added here on
purpose; every pinned name resolves (lazily exported ones included).
"""

from __future__ import annotations

import importlib

import pytest

PINNED: dict[str, list[str]] = {
    "llm_featurestore.catalog": [
        "FeatureCatalog",
        "FeatureDefinition",
        "FeatureLineage",
        "OnDemandViewDefinition",
        "PushSourceDefinition",
        "RequestSourceDefinition",
        "Sensitivity",
    ],
    "llm_featurestore.cli": [
        "CONFIG_ENV",
        "CliError",
        "DEMO_MODULE",
        "EXIT_NO_MATCH",
        "EXIT_OK",
        "EXIT_UNAVAILABLE",
        "EXIT_USAGE",
        "PROG",
        "build_parser",
        "find_demo_root",
        "main",
        "parse_entity",
    ],
    "llm_featurestore.mcp": [
        "FeatureTools",
        "McpConfig",
        "McpHttpConfig",
        "TOOL_NAMES",
        "build_server",
        "run_server",
    ],
    "llm_featurestore.clients": ["FeatureStoreClient", "LocalFeatureStore", "WritableFeatureStore"],
    "llm_featurestore.clients.feast": [
        "FeastClient",
        "FeastClientConfig",
        "clear_feature_store_cache",
        "shared_feature_store",
    ],
    "llm_featurestore.clients.feast.direct": [
        "DirectReads",
        "KeyEncoder",
        "SERIALIZATION_VERSIONS",
        "store_support",
    ],
    "llm_featurestore.clients.feast_http": [
        "FeastHttpClient",
        "FeastHttpClientConfig",
        "HttpPlan",
        "build_request",
        "error_for_response",
        "parse_response",
        "resolve_http_names",
        "service_keys",
    ],
    "llm_featurestore.clients.http": [
        "Attempts",
        "HttpBackend",
        "HttpClientSettings",
        "HttpSettings",
        "ProtocolErrors",
        "http_url",
        "map_beside",
        "response_error",
        "server_message",
        "tls_context",
        "transport_error",
    ],
    "llm_featurestore.clients.redis": [
        "RedisFeatureStore",
        "RedisFeatureStoreConfig",
        "decode_row",
        "encode_features",
    ],
    "llm_featurestore.clients.tecton": [
        "TectonClient",
        "TectonClientConfig",
        "TectonService",
        "build_get_features_request",
        "parse_features_response",
        "parse_metadata_response",
    ],
    "llm_featurestore.monitoring": [
        "FeatureMonitor",
        "FeatureRate",
        "MonitorConfig",
        "MonitorStats",
        "TaskStats",
    ],
    "llm_featurestore.prompting": [
        "DropReason",
        "EnricherConfig",
        "EnrichmentResult",
        "FeatureEnricher",
        "FeatureProvenance",
        "LookupPlan",
        "PromptPolicy",
        "default_task_features",
        "humanize",
    ],
    "llm_featurestore.serving": [
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
    ],
    "llm_featurestore.telemetry": [
        "OpenTelemetryInstrumentation",
        "instrument",
        "register_monitor",
        "register_serving",
        "span",
        "uninstrument",
    ],
    "llm_featurestore.templates": [
        "PromptTemplateVersion",
        "TEMPLATE_ENTITY_TYPE",
        "TemplateHead",
        "TemplateRegistry",
        "content_hash",
        "split_bucket",
        "template_variables",
    ],
    "llm_featurestore.writeback": [
        "BackgroundWriter",
        "ConversationMemory",
        "FEATURE_FIELDS",
        "PreparedWrite",
        "PreviousValues",
        "Summarizer",
        "Turn",
        "TurnJob",
        "WriteBack",
        "WriteBackConfig",
        "WriterConfig",
        "WriterStats",
        "as_summarizer",
        "flush_all_writers",
        "next_values",
        "shown_ids",
        "summary_prompt",
        "text_of",
    ],
}


@pytest.mark.parametrize("package", sorted(PINNED))
def test_subpackage_all_is_pinned_and_resolves(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PINNED[package]
    for name in module.__all__:
        assert getattr(module, name) is not None, name


def test_every_subpackage_is_pinned() -> None:
    import pkgutil

    import llm_featurestore

    packages = {
        info.name
        for info in pkgutil.walk_packages(llm_featurestore.__path__, "llm_featurestore.")
        if info.ispkg
    }
    assert packages == set(PINNED)
