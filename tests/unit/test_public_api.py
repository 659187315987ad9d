"""The public API is declared and pinned: a change to it is a deliberate edit here."""

from __future__ import annotations

import subprocess
import sys

import pytest

import llm_featurestore

EXPECTED = [
    "CacheConfig", "CircuitBreakerConfig", "CoalesceConfig", "DriftReport", "DropReason",
    "EncodingUnavailableError", "EnricherConfig", "EnrichmentResult", "FeastClient",
    "FeastHttpClient", "FeatureAuthError", "FeatureCatalog", "FeatureConfigError",
    "FeatureDefinition", "FeatureReader", "FeatureVectors", "InvalidEntityIdError",
    "ReadRequest", "UnknownEntityTypeError",
    "FeatureEnricher", "FeatureFilterSpec", "FeatureLineage", "FeatureMonitor",
    "FeatureProvenance", "FeatureStatus", "FeatureStoreClient", "FeatureStoreConfig",
    "FeatureStoreError", "FeatureStoreUnavailableError", "FeatureTimeoutError",
    "FeatureValidationError", "FeatureVector", "FilterRule", "LocalFeatureStore",
    "MissingDependencyError", "MonitorStats", "RedisFeatureStore", "ResolvedCondition",
    "ServingClient", "TectonClient", "TokenCounter", "WritableFeatureStore", "__version__",
    "compute_drift", "get_token_counter", "load_client", "load_config",
    "population_stability_index",
]  # fmt: skip


def test_all_is_pinned() -> None:
    assert sorted(llm_featurestore.__all__) == sorted(EXPECTED)


def test_every_exported_name_resolves() -> None:
    for name in llm_featurestore.__all__:
        assert getattr(llm_featurestore, name) is not None, name
    assert llm_featurestore.FeastClient.source == "feast"
    assert llm_featurestore.RedisFeatureStore.source == "redis"


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        llm_featurestore.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_importing_the_package_does_not_import_optional_backends() -> None:
    code = (
        "import sys, llm_featurestore; "
        "heavy = [m for m in ('feast', 'redis', 'chromadb', 'langchain_core', 'llama_index', "
        "'tiktoken', 'yaml', 'llm_featurestore.enricher') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_root_error_catches_every_library_error() -> None:
    for name in (
        "FeatureConfigError",
        "FeatureValidationError",
        "FeatureStoreUnavailableError",
        "FeatureTimeoutError",
        "MissingDependencyError",
    ):
        assert issubclass(getattr(llm_featurestore, name), llm_featurestore.FeatureStoreError)
    assert issubclass(
        llm_featurestore.FeatureTimeoutError, llm_featurestore.FeatureStoreUnavailableError
    )
    assert issubclass(llm_featurestore.MissingDependencyError, ImportError)
    assert issubclass(llm_featurestore.FeatureValidationError, ValueError)
