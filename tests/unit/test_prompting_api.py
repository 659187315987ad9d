"""The prompt rules' package and the old modules that re-export it are pinned."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import llm_featurestore
from llm_featurestore import errors

PACKAGE = [
    "DropReason", "EnricherConfig", "EnrichmentResult", "FeatureEnricher", "FeatureProvenance",
    "LookupPlan", "PromptPolicy", "default_task_features", "humanize",
]  # fmt: skip

MODULES = {
    "llm_featurestore.prompting.config": [
        "DEFAULT_ENABLED_TASK_TYPES", "DEFAULT_FOOTER", "DEFAULT_FRAMING", "DEFAULT_HEADER",
        "EnricherConfig", "HASH_SALT_ENV", "default_task_features",
    ],
    "llm_featurestore.prompting.results": ["DropReason", "EnrichmentResult", "FeatureProvenance"],
    "llm_featurestore.prompting.plan": [
        "LookupPlan", "entity_ids", "plan", "read_request", "with_request_data",
    ],
    "llm_featurestore.prompting.policy": ["PromptPolicy", "SupportsCatalog", "age_seconds"],
    "llm_featurestore.prompting.render": [
        "BlockStyle", "Candidate", "SEPARATOR", "candidates", "fit", "passthrough",
        "render_block", "result", "shorten",
    ],
    "llm_featurestore.prompting.enricher": ["FeatureEnricher"],
    "llm_featurestore.prompting.formatting": [
        "FormattedValue", "format_number", "format_scalar", "format_value", "humanize",
        "is_empty", "join_items",
    ],
    "llm_featurestore.prompting.sanitize": [
        "BUILTIN_MARKER_PHRASES", "ELLIPSIS", "FILTERED", "InstructionPolicy", "Neutralizer",
        "SensitiveStrategy", "hash_value", "is_pii_name", "mask_value", "name_tokens",
    ],
    "llm_featurestore.prompting.confusables": [
        "bracket_table", "fold", "fold_with_positions", "has_symbols",
    ],
    "llm_featurestore.prompting.markers": ["MarkerFilter", "phrase_letters"],
    "llm_featurestore.prompting.pii": [
        "BUILTIN_PII_KINDS", "PatternDetector", "PiiDetector", "PiiMatch", "builtin_detectors",
        "find_pii", "mask_match",
    ],
    "llm_featurestore.prompting.pii_checks": [
        "card_number_ok", "iban_prefix", "luhn_ok", "not_a_date", "ssn_ok",
    ],
    "llm_featurestore.prompting.injection": [
        "InstructionPolicy", "InstructionRule", "RULES", "find_instructions", "is_role_label",
        "quote",
    ],
    "llm_featurestore.prompting.screen": ["FeatureScreen", "Scanned", "Screen"],
    "llm_featurestore.prompting.tokens": [
        "DEFAULT_ENCODING", "EncodingUnavailableError", "TokenCounter", "get_token_counter",
        "load_encoding",
    ],
}  # fmt: skip

# The modules the names moved out of, with their pinned __all__.
OLD_ALL = {
    "llm_featurestore.enricher": [
        "DEFAULT_ENABLED_TASK_TYPES", "DEFAULT_FOOTER", "DEFAULT_HEADER", "DropReason",
        "EnricherConfig", "EnrichmentResult", "FeatureEnricher", "FeatureProvenance",
        "LookupPlan", "default_task_features",
    ],
    "llm_featurestore.formatting": MODULES["llm_featurestore.prompting.formatting"],
    "llm_featurestore.sanitize": MODULES["llm_featurestore.prompting.sanitize"],
    "llm_featurestore.tokens": MODULES["llm_featurestore.prompting.tokens"],
}  # fmt: skip


def test_the_package_all_is_pinned_and_resolves() -> None:
    package = importlib.import_module("llm_featurestore.prompting")
    assert sorted(package.__all__) == sorted(PACKAGE)
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    with pytest.raises(AttributeError, match="NoSuchRule"):
        package.NoSuchRule  # noqa: B018


@pytest.mark.parametrize("module", sorted(MODULES))
def test_each_module_all_is_pinned_and_resolves(module: str) -> None:
    mod = importlib.import_module(module)
    assert sorted(mod.__all__) == sorted(MODULES[module])
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


@pytest.mark.parametrize("old", sorted(OLD_ALL))
def test_old_modules_re_export_the_same_objects(old: str) -> None:
    mod = importlib.import_module(old)
    assert sorted(mod.__all__) == sorted(OLD_ALL[old])
    for name in mod.__all__:
        homes = [m for m, names in MODULES.items() if name in names]
        assert homes, f"{name} has no home in prompting/"
        for home in homes:
            assert getattr(mod, name) is getattr(importlib.import_module(home), name), name


def test_old_enricher_module_keeps_its_other_public_names() -> None:
    from llm_featurestore.enricher import HASH_SALT_ENV, SupportsCatalog
    from llm_featurestore.prompting.policy import SupportsCatalog as Policies
    from llm_featurestore.tokens import llama_index_cache_dir

    assert HASH_SALT_ENV == "LLM_FEATURESTORE_HASH_SALT"
    assert SupportsCatalog is Policies
    assert callable(llama_index_cache_dir)


def test_root_exports_point_at_the_new_homes() -> None:
    from llm_featurestore.prompting import config, enricher, results, tokens

    assert llm_featurestore.FeatureEnricher is enricher.FeatureEnricher
    assert llm_featurestore.EnricherConfig is config.EnricherConfig
    assert llm_featurestore.DropReason is results.DropReason
    assert llm_featurestore.TokenCounter is tokens.TokenCounter


def test_encoding_unavailable_error_lives_in_errors_under_the_config_error() -> None:
    from llm_featurestore import tokens
    from llm_featurestore.prompting import tokens as moved

    cls = errors.EncodingUnavailableError
    assert issubclass(cls, errors.FeatureConfigError)
    assert cls.__module__ == "llm_featurestore.errors"
    assert "EncodingUnavailableError" in errors.__all__
    assert tokens.EncodingUnavailableError is cls
    assert moved.EncodingUnavailableError is cls
    assert llm_featurestore.EncodingUnavailableError is cls
    assert "└── EncodingUnavailableError" in (errors.__doc__ or "")


def test_the_result_models_load_without_the_tokenizer_yaml_or_the_enricher() -> None:
    code = (
        "import sys, llm_featurestore.prompting.results\n"
        "bad = [m for m in ('tiktoken', 'yaml', 'llm_featurestore.enricher', "
        "'llm_featurestore.prompting.enricher', 'llm_featurestore.prompting.config', "
        "'llm_featurestore.reading') if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""
