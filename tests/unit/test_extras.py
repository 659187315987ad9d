"""The adapters' extras depend only on their framework's core; Chroma is its own extra."""

from __future__ import annotations

import re
from importlib import metadata


def _extra(name: str) -> set[str]:
    out = set()
    for req in metadata.requires("llm-featurestore") or []:
        if re.search(rf"""extra\s*==\s*["']{name}["']""", req):
            out.add(re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].lower())
    return out


def test_the_adapter_extras_bring_no_vector_store() -> None:
    assert _extra("langchain") == {"langchain-core"}
    assert _extra("llamaindex") == {"llama-index-core"}


def test_the_chroma_extra_brings_chroma_and_its_integrations() -> None:
    assert _extra("chroma") == {"chromadb", "langchain-chroma", "llama-index-vector-stores-chroma"}
    assert {"chromadb", "langchain-chroma", "llama-index-vector-stores-chroma"} <= _extra(
        "examples"
    )


def test_the_mcp_extra_brings_the_official_sdk_and_all_includes_it() -> None:
    assert _extra("mcp") == {"mcp"}
    assert "mcp" in _extra("all")
