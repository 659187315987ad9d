"""Encoding files that ship inside installed packages, turned into a tiktoken cache.

``bpe-openai`` (the ``[tokenizers]`` extra) ships ``cl100k_base`` and ``o200k_base`` as
gzip files. tiktoken reads its encodings from a cache directory where each file is named
by the SHA-1 of its download URL, so :func:`seeded_cache_dir` decompresses the packaged
file into such a directory (once; under the system's temp directory) and returns it.

The packaged copy is only trusted when its SHA-256 equals the hash tiktoken itself
expects for that encoding (:data:`EXPECTED_SHA256`, the constants of
``tiktoken_ext.openai_public``): the package is a carrier, not a source of truth.
Nothing here imports ``bpe_openai`` (its native extension is not needed).
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

__all__ = ["EXPECTED_SHA256", "OPENAI_BLOB", "cache_file_name", "packaged_file", "seeded_cache_dir"]

OPENAI_BLOB = "https://openaipublic.blob.core.windows.net/encodings/{name}.tiktoken"

EXPECTED_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
"""SHA-256 of each encoding file, as tiktoken checks it."""

_PACKAGES = ("bpe_openai",)


def cache_file_name(name: str) -> str:
    """The file name tiktoken's cache uses for encoding ``name``."""
    return hashlib.sha1(OPENAI_BLOB.format(name=name).encode()).hexdigest()


def packaged_file(name: str) -> Path | None:
    """A gzip copy of encoding ``name`` inside an installed package, or None."""
    for package in _PACKAGES:
        try:
            spec = importlib.util.find_spec(package)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidate = Path(location) / "data" / f"{name}.tiktoken.gz"
            if candidate.is_file():
                return candidate
    return None


def seeded_cache_dir(name: str) -> str | None:
    """A tiktoken cache directory holding a verified copy of ``name``, or None when no
    installed package carries one (or the carried copy does not match its hash)."""
    expected = EXPECTED_SHA256.get(name)
    source = packaged_file(name) if expected else None
    if source is None:
        return None
    cache_dir = Path(tempfile.gettempdir()) / "llm-featurestore-tiktoken"
    target = cache_dir / cache_file_name(name)
    if target.is_file() and _sha256(target.read_bytes()) == expected:
        return str(cache_dir)
    data = gzip.decompress(source.read_bytes())
    if _sha256(data) != expected:
        return None
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    os.replace(partial, target)  # atomic: a concurrent reader sees all or nothing
    return str(cache_dir)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
