"""FeatureFilteredRetriever on every LlamaIndex vector store that filters here, real stores.

``SimpleVectorStore`` (a ``VectorStoreIndex`` with no store), embedded Chroma and Qdrant's
local mode (``QdrantClient(":memory:")``, sync client only): the 100-user corpus gives
exactly the brute-force documents (sync and async), and every operator keeps exactly the
documents the core's semantics keep. With test_llamaindex_filter_store_limits.py (static
filters, FAISS, Qdrant's clients) this proves the README's store table
(``store_filters.PROFILES``). Milvus is left out: no ``llama-index-vector-stores-milvus``
is installed here (its pymilvus conflicts with langchain-milvus's).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import chromadb
import faiss
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore
from llama_index.vector_stores.faiss import FaissVectorStore
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import QdrantClient

from llamaindex_featurestore.context import FeatureQueryBundle
from llamaindex_featurestore.retriever import FeatureFilteredRetriever
from llamaindex_featurestore.store_filters import (
    store_profile,
)
from llamaindex_featurestore.testing import HashingEmbedding
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from tests.filter_corpus import DOCUMENTS, SPEC, USERS, brute_force
from tests.unit.test_llamaindex_context import cond

pytestmark = [
    pytest.mark.integration,
    # llama-index's Qdrant store always asks for a doc_id payload index; local mode says
    # it has no effect there (it filters by scanning), which is all we need.
    pytest.mark.filterwarnings(
        "ignore:Payload indexes have no effect in the local Qdrant:UserWarning"
    ),
]

STORES = ["simple", "chroma", "qdrant"]
EMBED_DIM = 64
QUERY = "gear number priced"
ID = "corpus_id"  # the document's own id, in metadata (Qdrant wants UUID node ids)


def nodes_of(docs: Mapping[str, Mapping[str, Any]]) -> list[TextNode]:
    return [
        TextNode(
            id_=str(uuid.uuid5(uuid.NAMESPACE_URL, doc_id)),
            text=f"gear number priced {doc_id}",
            metadata={**meta, ID: doc_id},
        )
        for doc_id, meta in docs.items()
    ]


@pytest.fixture(scope="module")
def chroma_client() -> Iterator[Any]:
    client = chromadb.EphemeralClient()
    yield client
    for collection in client.list_collections():
        client.delete_collection(collection.name)


def build_index(kind: str, docs: Mapping[str, Mapping[str, Any]], chroma: Any) -> VectorStoreIndex:
    """``docs`` ({id: metadata}) in a fresh index on store ``kind``."""
    embed = HashingEmbedding(embed_dim=EMBED_DIM)
    if kind == "simple":
        return VectorStoreIndex(nodes_of(docs), embed_model=embed)
    if kind == "chroma":
        collection = chroma.get_or_create_collection(f"llmfs-li-{uuid.uuid4().hex[:12]}")
        store: Any = ChromaVectorStore(chroma_collection=collection)
    elif kind == "qdrant":
        store = QdrantVectorStore(collection_name="corpus", client=QdrantClient(":memory:"))
    else:
        store = FaissVectorStore(faiss_index=faiss.IndexFlatL2(EMBED_DIM))
    context = StorageContext.from_defaults(vector_store=store)
    return VectorStoreIndex(nodes_of(docs), storage_context=context, embed_model=embed)


def ids(nodes: list[NodeWithScore]) -> set[str]:
    return {str(n.node.metadata[ID]) for n in nodes}


# ----------------------------------------------------------- the 100-user corpus parity

CORPUS = {doc.id: doc.metadata for doc in DOCUMENTS}
TOP_K = len(DOCUMENTS) + 10


@pytest.fixture(scope="module", params=STORES)
def corpus_index(request: pytest.FixtureRequest, chroma_client: Any) -> VectorStoreIndex:
    return build_index(str(request.param), CORPUS, chroma_client)


@pytest.fixture(scope="module")
def corpus_features() -> LocalFeatureStore:
    store = LocalFeatureStore()
    for uid, features in USERS.items():
        store.write_features(uid, "user", features)
    # Make shoe_size a known feature that no corpus user has (NOT_FOUND, rule dropped).
    store.write_features("not-in-corpus", "user", {"shoe_size": 42})
    return store


def test_the_corpus_oracle_is_not_trivial() -> None:
    results = [brute_force(uid) for uid in USERS]
    assert len({frozenset(r) for r in results}) > 50
    assert any(not r for r in results)
    assert any(len(r) > 20 for r in results)


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_every_user_gets_exactly_the_brute_force_documents(
    corpus_index: VectorStoreIndex, corpus_features: LocalFeatureStore, use_async: bool
) -> None:
    r = FeatureFilteredRetriever(corpus_index, corpus_features, SPEC, similarity_top_k=TOP_K)
    bundles = [FeatureQueryBundle(QUERY, user_id=uid) for uid in USERS]

    async def all_users() -> list[list[NodeWithScore]]:
        return await asyncio.gather(*(r.aretrieve(b) for b in bundles))

    results = asyncio.run(all_users()) if use_async else [r.retrieve(b) for b in bundles]
    for uid, nodes in zip(USERS, results, strict=True):
        assert ids(nodes) == brute_force(uid), uid
        assert len(nodes) == len(ids(nodes)), uid


# ------------------------------------------------------------- one test per operator

# One field per document, so every other document lacks it (ne/nin keep those). The
# number field mixes ints and floats, and the fractional operands below test Chroma's
# truncation of them against int metadata, on both sides of zero.
NUMBERS: dict[str, int | float] = {
    "n--3": -3,
    "n--2.5": -2.5,
    "n--2": -2,
    "n-0": 0,
    "n-1": 1,
    "n-2": 2,
    "n-2.0": 2.0,
    "n-2.5": 2.5,
    "n-3": 3,
}
TYPED: dict[str, dict[str, Any]] = {
    "none": {},
    "s-a": {"s": "a"},
    "s-b": {"s": "b"},
    "s-c": {"s": "c"},
    **{doc: {"n": n} for doc, n in NUMBERS.items()},
    "b-t": {"b": True},
    "b-f": {"b": False},
}
EVERY = set(TYPED)


def numbers(keep: Callable[[float], bool]) -> set[str]:
    """The number documents whose value ``keep`` accepts (plain Python)."""
    return {doc for doc, n in NUMBERS.items() if keep(n)}


# (op, field, feature value, documents kept): the core's semantics, written out.
CASES: list[tuple[str, str, Any, set[str]]] = [
    ("eq", "s", "b", {"s-b"}),
    ("eq", "n", 2, {"n-2", "n-2.0"}),
    ("eq", "n", 2.0, {"n-2", "n-2.0"}),
    ("eq", "n", 2.5, {"n-2.5"}),
    ("eq", "n", -2.5, {"n--2.5"}),
    ("eq", "b", True, {"b-t"}),
    ("eq", "b", False, {"b-f"}),
    ("ne", "s", "b", EVERY - {"s-b"}),
    ("ne", "n", 2, EVERY - {"n-2", "n-2.0"}),
    ("ne", "n", 2.5, EVERY - {"n-2.5"}),
    ("ne", "n", -2.5, EVERY - {"n--2.5"}),
    ("ne", "b", False, EVERY - {"b-f"}),
    ("in", "s", ["a", "b"], {"s-a", "s-b"}),
    ("in", "n", [1, 2], {"n-1", "n-2", "n-2.0"}),
    ("in", "n", [2.5, 3.0], {"n-2.5", "n-3"}),
    ("in", "n", [-2.5, 0.5], {"n--2.5"}),
    ("in", "b", [True], {"b-t"}),
    ("nin", "s", ["a", "b"], EVERY - {"s-a", "s-b"}),
    ("nin", "n", [1, 2], EVERY - {"n-1", "n-2", "n-2.0"}),
    ("nin", "n", [2.5, 3.0], EVERY - {"n-2.5", "n-3"}),
    ("nin", "n", [-2.5, 0.5], EVERY - {"n--2.5"}),
    ("nin", "b", [True], EVERY - {"b-t"}),
]
for _v in (2, 2.5, -2.5, 0.5, -0.5):
    CASES += [
        ("lt", "n", _v, numbers(lambda n, v=_v: n < v)),
        ("lte", "n", _v, numbers(lambda n, v=_v: n <= v)),
        ("gt", "n", _v, numbers(lambda n, v=_v: n > v)),
        ("gte", "n", _v, numbers(lambda n, v=_v: n >= v)),
    ]


def case_id(case: tuple[str, str, Any, set[str]]) -> str:
    op, field, value, _ = case
    return f"{op}-{field}-{value!r}"


@pytest.fixture(scope="module", params=STORES)
def typed_index(request: pytest.FixtureRequest, chroma_client: Any) -> VectorStoreIndex:
    return build_index(str(request.param), TYPED, chroma_client)


def one_rule(op: str, field: str, value: Any) -> tuple[FeatureFilterSpec, LocalFeatureStore]:
    spec = FeatureFilterSpec(rules=[FilterRule(field=field, op=op, feature="value")])  # type: ignore[arg-type]
    features = LocalFeatureStore()
    features.write_features("u", "user", {"value": value})
    return spec, features


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_operator_keeps_what_the_core_keeps(
    typed_index: VectorStoreIndex, case: tuple[str, str, Any, set[str]]
) -> None:
    op, field, value, kept = case
    # The written-out expectation is the core's own reading of the condition.
    assert {doc for doc, meta in TYPED.items() if cond(field, op, value).matches(meta)} == kept
    profile = store_profile(typed_index.vector_store)
    assert profile is not None
    assert op in profile.operators  # the README table says so; this proves it
    spec, features = one_rule(op, field, value)
    r = FeatureFilteredRetriever(typed_index, features, spec, similarity_top_k=50)
    assert ids(r.retrieve(FeatureQueryBundle(QUERY, user_id="u"))) == kept


@pytest.mark.parametrize(
    ("op", "value", "python", "core"),
    [
        ("eq", True, {"m-t", "m-1"}, {"m-t"}),
        ("eq", 1, {"m-t", "m-1"}, {"m-1"}),
        ("in", [1, 2], {"m-t", "m-1", "m-2", "m-2.0"}, {"m-1", "m-2", "m-2.0"}),
        ("lte", 2, TypeError, {"m-1", "m-2", "m-2.0", "m-0"}),
    ],
)
def test_a_field_that_mixes_kinds(
    chroma_client: Any, op: str, value: Any, python: set[str] | type, core: set[str]
) -> None:
    # SimpleVectorStore compares with Python (True == 1; text <= number raises), the
    # others with the core's semantics: the README note on SimpleVectorStore.
    docs = {
        "m-t": {"m": True},
        "m-f": {"m": False},
        "m-0": {"m": 0},
        "m-1": {"m": 1},
        "m-2": {"m": 2},
        "m-2.0": {"m": 2.0},
        "m-s": {"m": "2"},
    }
    spec, features = one_rule(op, "m", value)
    for kind in STORES:
        r = FeatureFilteredRetriever(
            build_index(kind, docs, chroma_client), features, spec, similarity_top_k=50
        )
        bundle = FeatureQueryBundle(QUERY, user_id="u")
        if kind == "simple" and python is TypeError:
            with pytest.raises(TypeError, match="'<=' not supported between instances of 'str'"):
                r.retrieve(bundle)
            continue
        want = python if kind == "simple" else core
        assert ids(r.retrieve(bundle)) == want, kind
