"""Shared data and helpers for the LlamaIndex integration tests (plus checks of the helpers).

Imported by the other ``test_llamaindex_*`` modules: a small product catalogue in real
embedded Chroma, feature data in a LocalFeatureStore, a client that counts store calls,
and a MockLLM that records the prompts it receives.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import chromadb
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.base.llms.types import CompletionResponse
from llama_index.core.llms import MockLLM
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from llamaindex_featurestore.testing import HashingEmbedding
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.filters import FeatureFilterSpec, FilterRule

pytestmark = pytest.mark.integration

CATEGORIES = ["running", "hiking", "yoga", "cycling", "swimming"]
BRANDS = ["acme", "globex", "initech"]

# 5 categories x 6 items: brand cycles, prices 20, 60, ..., 220. The text is the same for
# every category ("gear for ..."), so similarity alone mixes categories.
PRODUCTS: list[dict[str, Any]] = [
    {
        "id": f"{cat}-{i}",
        "text": f"{cat} gear item {i} from {BRANDS[i % 3]}, good for training",
        "category": cat,
        "brand": BRANDS[i % 3],
        "price": float(20 + 40 * i),
    }
    for cat in CATEGORIES
    for i in range(6)
]

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5),
    ]
)

USERS: dict[str, dict[str, Any]] = {
    # running, any brand, budget 1.5 * 100 = 150: running-0..3 (20, 60, 100, 140)
    "u-run": {"favorite_category": "running", "avg_order_value": 100.0},
    # hiking, acme only: hiking-0 (acme), hiking-3 (acme)
    "u-hike": {"favorite_category": "hiking", "preferred_brands": ["acme"]},
    # yoga, budget 1.5 * 20 = 30: only yoga-0 (20)
    "u-yoga-cheap": {"favorite_category": "yoga", "avg_order_value": 20.0},
    # known user without any filter feature -> no rule applies
    "u-nothing": {"tier": "gold"},
}


def many_users(n: int) -> dict[str, str]:
    """``n`` user ids mapped to their favourite category (cycling through CATEGORIES)."""
    return {f"m{i:03d}": CATEGORIES[i % len(CATEGORIES)] for i in range(n)}


def make_store() -> LocalFeatureStore:
    store = LocalFeatureStore()
    for uid, feats in USERS.items():
        store.write_features(uid, "user", feats)
    # Register the names every spec feature uses, so an absent one is NOT_FOUND, not unknown.
    store.write_features("u-schema", "user", {"preferred_brands": ["x"], "favorite_category": "x"})
    store.write_features("acme-corp", "organization", {"brand_voice": "plain and friendly"})
    for uid, cat in many_users(100).items():
        store.write_features(uid, "user", {"favorite_category": cat})
    return store


def product_nodes() -> list[TextNode]:
    return [
        TextNode(
            id_=p["id"],
            text=p["text"],
            metadata={"category": p["category"], "brand": p["brand"], "price": p["price"]},
        )
        for p in PRODUCTS
    ]


@pytest.fixture(scope="module")
def chroma_index() -> Iterator[VectorStoreIndex]:
    """The catalogue in a real embedded Chroma collection (deleted afterwards)."""
    client = chromadb.EphemeralClient()
    name = f"llmfs-li-{uuid.uuid4().hex[:12]}"
    collection = client.get_or_create_collection(name)
    vector_store = ChromaVectorStore(chroma_collection=collection)
    index = VectorStoreIndex(
        product_nodes(),
        storage_context=StorageContext.from_defaults(vector_store=vector_store),
        embed_model=HashingEmbedding(),
    )
    yield index
    client.delete_collection(name)


@pytest.fixture
def store() -> LocalFeatureStore:
    return make_store()


class RecordingLLM(MockLLM):
    """MockLLM that keeps every prompt it is asked to complete (sync or async)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._prompts: list[str] = []

    @property
    def prompts(self) -> list[str]:
        return self._prompts

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self._prompts.append(prompt)
        response: CompletionResponse = super().complete(prompt, formatted=formatted, **kwargs)
        return response


# --------------------------------------------------------------- checks of the helpers


def test_hashing_embedding_is_deterministic_and_normalised() -> None:
    embed = HashingEmbedding(embed_dim=64)
    a = embed.get_text_embedding("Running shoes, running")
    assert a == HashingEmbedding(embed_dim=64).get_text_embedding("running shoes running")
    assert abs(sum(v * v for v in a) - 1.0) < 1e-9
    assert a != embed.get_text_embedding("hiking boots")
    assert embed.get_text_embedding("") == [1.0] + [0.0] * 63


def test_recording_llm_records_sync_and_async_prompts() -> None:
    import asyncio

    llm = RecordingLLM()
    assert llm.complete("one").text == "one"
    assert asyncio.run(llm.acomplete("two")).text == "two"
    assert llm.prompts == ["one", "two"]
