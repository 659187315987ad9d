"""One corpus for the filter-parity tests of every vector store (LangChain and LlamaIndex).

100 users and 240 documents, made from a fixed seed. Each store's test indexes
:data:`DOCUMENTS`, runs the filtered search for every user with a ``k`` larger than
the corpus, and compares the ids it gets with :func:`brute_force`, which applies the
rules with plain Python (not :meth:`ResolvedCondition.matches`, so the two can
disagree).

The spec mixes the rules the issue names: ``eq`` on a string, ``in`` on a list,
``lte`` with a factor, and a rule on a feature no user has (``NOT_FOUND``: the rule
is dropped, never turned into an empty result). A quarter of the users lack
``favorite_category`` and a fifth lack ``preferred_brands``, so every combination of
applied rules occurs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureStatus, FeatureVector

__all__ = [
    "CATEGORIES",
    "DOCUMENTS",
    "FEATURES",
    "SPEC",
    "USERS",
    "CorpusDoc",
    "brute_force",
    "vector_of",
]

CATEGORIES = ("shoes", "jackets", "tents", "bags", "watches")
BRANDS = ("acme", "globex", "initech", "umbrella", "hooli", "stark")

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5),
        FilterRule(field="size", op="eq", feature="shoe_size"),  # no user has it
    ]
)


@dataclass(frozen=True)
class CorpusDoc:
    """One document: an id, its text and its metadata (every field always present)."""

    id: str
    text: str
    metadata: dict[str, Any]


def _documents(rng: random.Random) -> list[CorpusDoc]:
    docs = []
    for i in range(240):
        category = CATEGORIES[i % len(CATEGORIES)]
        brand = rng.choice(BRANDS)
        price = float(rng.choice([19, 35, 49.5, 80, 120, 150, 199, 260, 400]))
        docs.append(
            CorpusDoc(
                id=f"doc-{i:03d}",
                text=f"{brand} {category} number {i}, priced {price}",
                metadata={"category": category, "brand": brand, "price": price},
            )
        )
    return docs


def _users(rng: random.Random) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {}
    for i in range(100):
        features: dict[str, Any] = {"avg_order_value": float(rng.choice([20, 40, 60, 100, 180]))}
        if i % 4:
            features["favorite_category"] = rng.choice(CATEGORIES)
        if i % 5:
            features["preferred_brands"] = rng.sample(BRANDS, rng.randint(1, 3))
        users[f"u{i:03d}"] = features
    return users


_RNG = random.Random(20261202)
DOCUMENTS: list[CorpusDoc] = _documents(_RNG)
USERS: dict[str, dict[str, Any]] = _users(_RNG)
FEATURES: list[str] = SPEC.feature_names


def vector_of(user_id: str) -> FeatureVector:
    """The user's vector as a store would return it (absent features are NOT_FOUND)."""
    found = USERS[user_id]
    return FeatureVector(
        entity_id=user_id,
        entity_type="user",
        source="corpus",
        features={name: found.get(name) for name in FEATURES},
        statuses={
            name: FeatureStatus.PRESENT if name in found else FeatureStatus.NOT_FOUND
            for name in FEATURES
        },
    )


def brute_force(user_id: str) -> set[str]:
    """Ids of the documents the user's filter keeps, computed without the library."""
    user = USERS[user_id]
    kept = set()
    for doc in DOCUMENTS:
        meta = doc.metadata
        if "favorite_category" in user and meta["category"] != user["favorite_category"]:
            continue
        if "preferred_brands" in user and meta["brand"] not in user["preferred_brands"]:
            continue
        if meta["price"] > user["avg_order_value"] * 1.5:
            continue
        kept.add(doc.id)
    return kept
