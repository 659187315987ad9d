"""Personalised RAG with a LlamaIndex ``RetrieverQueryEngine``, fully offline.

One lookup per query feeds three components:

* ``FeatureFilteredRetriever`` keeps products in the user's favourite category (hard
  filter, backfilled with other products when too few match);
* ``FeatureRerankPostprocessor`` boosts preferred brands and demotes items far over the
  user's usual budget (soft preferences);
* ``FeatureContextPostprocessor`` puts the user's profile first, as a context node.

Features live in a ``LocalFeatureStore`` behind a ``ServingClient`` (timeouts and
fallback), products in embedded Chroma with a hashing embedding, and ``MockLLM`` echoes
the final prompt, so you can see exactly what a real model would receive.

Run from the repository root: ``python -m examples.llamaindex_query_engine``
"""

from __future__ import annotations

import uuid
from typing import Any

import chromadb
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.llms import LLM, MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from llamaindex_featurestore import (
    FeatureContextPostprocessor,
    FeatureRerankPostprocessor,
    personalized_query_engine,
    user_context,
)
from llamaindex_featurestore.testing import HashingEmbedding
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.serving.client import ServingClient

TASK = "product_recommendation"

PRODUCTS: list[dict[str, Any]] = [
    {
        "id": "p1",
        "name": "Trail running shoes",
        "category": "running",
        "brand": "acme",
        "price": 120.0,
    },
    {
        "id": "p2",
        "name": "Road running shoes",
        "category": "running",
        "brand": "globex",
        "price": 95.0,
    },
    {
        "id": "p3",
        "name": "Carbon racing shoes",
        "category": "running",
        "brand": "globex",
        "price": 260.0,
    },
    {
        "id": "p4",
        "name": "Running socks, 3 pack",
        "category": "running",
        "brand": "acme",
        "price": 18.0,
    },
    {"id": "p5", "name": "Hiking boots", "category": "hiking", "brand": "initech", "price": 180.0},
    {"id": "p6", "name": "Hiking day pack", "category": "hiking", "brand": "acme", "price": 70.0},
    {"id": "p7", "name": "Trekking poles", "category": "hiking", "brand": "initech", "price": 55.0},
    {"id": "p8", "name": "Yoga mat", "category": "yoga", "brand": "globex", "price": 40.0},
    {"id": "p9", "name": "Yoga blocks", "category": "yoga", "brand": "acme", "price": 22.0},
]

USERS: dict[str, dict[str, Any]] = {
    "ana": {
        "favorite_category": "running",
        "preferred_brands": ["acme"],
        "avg_order_value": 90.0,
        "recent_purchases": ["running socks", "water bottle"],
    },
    "ben": {
        "favorite_category": "hiking",
        "preferred_brands": ["initech"],
        "avg_order_value": 150.0,
        "recent_purchases": ["rain jacket"],
    },
    # "new-user" has no features: cold start, everything passes through unfiltered.
}

# Hard filter: only the favourite category.
FILTER_SPEC = FeatureFilterSpec(
    rules=[FilterRule(field="category", op="eq", feature="favorite_category")]
)
# Soft preferences: +0.3 for a preferred brand, -0.5 when over 1.5x the usual basket.
RERANK_SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="gt", feature="avg_order_value", factor=1.5),
    ]
)
RERANK_WEIGHTS = [0.3, -0.5]

ENRICHER_CONFIG = EnricherConfig(
    task_features={
        TASK: {
            "user": ["favorite_category", "recent_purchases", "preferred_brands", "avg_order_value"]
        }
    },
    max_feature_tokens=80,
)


def build_store() -> LocalFeatureStore:
    """An in-memory feature store holding USERS."""
    store = LocalFeatureStore()
    for user_id, features in USERS.items():
        store.write_features(user_id, "user", features)
    return store


def build_index(chroma: Any | None = None) -> VectorStoreIndex:
    """PRODUCTS in a new collection of embedded Chroma (``chromadb.EphemeralClient()``)."""
    chroma = chroma or chromadb.EphemeralClient()
    collection = chroma.get_or_create_collection(f"llmfs-demo-{uuid.uuid4().hex[:8]}")
    nodes = [
        TextNode(
            id_=p["id"],
            text=f"{p['name']} by {p['brand']}, ${p['price']:.0f}",
            metadata={"category": p["category"], "brand": p["brand"], "price": p["price"]},
        )
        for p in PRODUCTS
    ]
    return VectorStoreIndex(
        nodes,
        storage_context=StorageContext.from_defaults(
            vector_store=ChromaVectorStore(chroma_collection=collection)
        ),
        embed_model=HashingEmbedding(),
    )


def build_query_engine(
    index: VectorStoreIndex, client: FeatureStoreClient, llm: LLM
) -> RetrieverQueryEngine:
    """Retriever + rerank + context; the retriever's lookup serves all three."""
    return personalized_query_engine(
        index,
        client,
        llm=llm,
        filter_spec=FILTER_SPEC,
        rerank=FeatureRerankPostprocessor(client, RERANK_SPEC, weights=RERANK_WEIGHTS, top_n=3),
        context=FeatureContextPostprocessor(
            FeatureEnricher(client, ENRICHER_CONFIG), task_type=TASK
        ),
        similarity_top_k=4,
        backfill=True,
    )


def main() -> None:
    client = ServingClient(build_store(), timeout_ms=200)
    engine = build_query_engine(build_index(), client, MockLLM())
    question = "Recommend shoes or gear for my next workout"
    for user_id in ["ana", "ben", "new-user"]:
        with user_context(user_id):
            response = engine.query(question)
        print(f"===== {user_id} =====")
        for item in response.source_nodes:
            meta = item.node.metadata
            tag = "context" if meta.get("llmfs_context") else meta.get("category")
            print(f"  {item.get_score():6.3f}  [{tag}] {item.node.get_content()[:60]!r}")
        # MockLLM answers with the prompt it received: this is what a real LLM would see.
        print("--- prompt sent to the LLM ---")
        print(str(response))
    print(f"store calls: {client.stats.backend_calls} for 3 queries")


if __name__ == "__main__":
    main()
