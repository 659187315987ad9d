"""The bundled all-MiniLM-L6-v2, offline, through its Chroma, LangChain and LlamaIndex wrappers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from examples.shopping_assistant.data import generate_products
from examples.shopping_assistant.embeddings import (
    EMBEDDING_DIM,
    MiniLMChromaEmbedding,
    embed_texts,
    langchain_embeddings,
    llamaindex_embedding,
)
from examples.shopping_assistant.vector_index import (
    COLLECTION,
    build_index,
    catalogue_fingerprint,
    chroma_client,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _close(a: list[float], b: list[float]) -> bool:
    return all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a, b, strict=True))


def test_the_three_wrappers_give_the_same_normalised_vectors() -> None:
    text = "waterproof winter parka"
    (direct,) = embed_texts([text])
    assert len(direct) == EMBEDDING_DIM
    assert math.isclose(math.fsum(x * x for x in direct), 1.0, rel_tol=1e-4)
    assert _close(langchain_embeddings().embed_query(text), direct)
    assert _close(llamaindex_embedding().get_query_embedding(text), direct)
    (chroma_vec,) = MiniLMChromaEmbedding()([text])
    assert _close([float(x) for x in chroma_vec], direct)
    assert embed_texts([]) == []


def test_similar_texts_are_closer_than_unrelated_ones() -> None:
    # The model's own reference pair scores about 0.76; an unrelated sentence about 0.
    food, bread, baby = embed_texts(
        [
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
        ]
    )

    def cos(a: list[float], b: list[float]) -> float:
        return math.fsum(x * y for x, y in zip(a, b, strict=True))

    assert cos(food, bread) > 0.6
    assert cos(food, baby) < 0.2


def test_index_is_built_once_and_rebuilt_when_the_catalogue_changes(tmp_path: Path) -> None:
    client = chroma_client(tmp_path / "chroma")
    products = generate_products(20)
    seen: list[tuple[int, int]] = []
    first = build_index(client, products, progress=lambda d, t: seen.append((d, t)))
    assert not first.skipped
    assert first.count == 20
    assert seen[-1] == (20, 20)
    assert build_index(client, products).skipped
    changed = generate_products(21)
    assert catalogue_fingerprint(changed) != catalogue_fingerprint(products)
    rebuilt = build_index(client, changed)
    assert not rebuilt.skipped
    assert rebuilt.count == 21
    # Chroma can query the persisted collection with the registered offline function.
    reopened = chroma_client(tmp_path / "chroma").get_collection(COLLECTION)
    hits = reopened.query(query_texts=["GPS watch for marathon pacing"], n_results=1)
    assert "watch" in hits["metadatas"][0][0]["name"]
