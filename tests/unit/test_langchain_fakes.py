"""Test doubles for the LangChain adapter tests (imported by the other test_langchain* modules).

Real vectors, real stores: ``HashEmbeddings`` hashes words into 64 dimensions (so Chroma
runs real similarity search offline), and the client wrappers delegate to a real store
while counting calls, waiting on barriers, or failing like a dead store.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.embeddings import Embeddings

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureStoreUnavailableError
from llm_featurestore.models import FeatureVector
from tests.contract.wrappers import CountingClient

__all__ = ["CountingClient"]  # re-exported for the other test_langchain* modules

DIMS = 64


class HashEmbeddings(Embeddings):
    """Bag of words hashed into 64 dimensions, L2-normalised; deterministic."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.barrier = barrier
        self.calls = 0

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * DIMS
        for token in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "big") % DIMS] += 1.0
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0.0:
            vec[0], norm = 1.0, 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        self.calls += 1
        if self.barrier is not None:
            self.barrier.wait()
        return self._embed(text)


class BarrierClient(CountingClient):
    """Waits on ``barrier`` before answering (sync, and async through a worker thread)."""

    def __init__(self, inner: FeatureStoreClient, barrier: threading.Barrier) -> None:
        super().__init__(inner)
        self.barrier = barrier

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.barrier.wait()
        return super().get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return await FeatureStoreClient.aget_batch_features(
            self, entity_ids, entity_type, feature_names
        )


class DeadBackend(FeatureStoreClient):
    """A store that is down: every read raises FeatureStoreUnavailableError."""

    source = "dead"

    def __init__(self) -> None:
        self.calls = 0

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.calls += 1
        raise FeatureStoreUnavailableError("connection refused (test double)")

    def list_features(self, entity_type: str) -> list[str]:
        raise FeatureStoreUnavailableError("connection refused (test double)")

    def health_check(self) -> bool:
        return False


USERS = {
    "u1": {
        "favorite_category": "shoes",
        "preferred_brands": ["acme", "zeta"],
        "avg_order_value": 100.0,
        "tier": "gold",
    },
    "u2": {
        "favorite_category": "books",
        "preferred_brands": ["papyrus"],
        "avg_order_value": 20.0,
        "tier": "silver",
    },
}


def shop_store() -> LocalFeatureStore:
    """An in-memory store with users u1, u2 and organization o1."""
    store = LocalFeatureStore()
    for uid, feats in USERS.items():
        store.write_features(uid, "user", feats)
    store.write_features("o1", "organization", {"plan": "enterprise"})
    return store


def test_hash_embeddings_are_deterministic_unit_vectors() -> None:
    emb = HashEmbeddings()
    a, b = emb.embed_query("Red running shoes"), emb.embed_documents(["red RUNNING shoes"])[0]
    assert a == b
    assert math.isclose(sum(v * v for v in a), 1.0)
    assert emb.embed_query("") == [1.0] + [0.0] * (DIMS - 1)
    assert emb.calls == 2


def test_counting_client_records_and_delegates() -> None:
    client = CountingClient(shop_store())
    vecs = client.get_batch_features(["u1", "u2"], "user", ["tier"])
    assert [v.features["tier"] for v in vecs] == ["gold", "silver"]
    assert client.calls == [(["u1", "u2"], "user", ["tier"])]


def test_dead_backend_raises() -> None:
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        DeadBackend().get_features("u1", "user", ["tier"])


class Events(BaseCallbackHandler):
    """Records the custom events a run dispatches (sync callbacks)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        self.events.append((name, data))


class AsyncEvents(AsyncCallbackHandler):
    """Records the custom events a run dispatches (async callbacks)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def on_custom_event(
        self,
        name: str,
        data: Any,
        *,
        run_id: UUID,
        tags: Any = None,
        metadata: Any = None,
        **kwargs: Any,
    ) -> None:
        self.events.append((name, data))
