"""FeatureFilteredRetriever's filters on every built-in vector store, against the real store.

- Parity: for all 100 users of :mod:`tests.filter_corpus`, the documents the retriever
  returns (``k`` larger than the corpus) are exactly the brute-force oracle's, on Chroma
  (embedded and server), ``InMemoryVectorStore``, Qdrant (local mode), FAISS and Milvus
  Lite.
- Every operator (eq, ne, in, nin, lt, lte, gt, gte) with strings, ints, floats and
  booleans, on documents some of which lack the field: each store keeps what
  :meth:`ResolvedCondition.matches` (the core's semantics) keeps, fractional operands
  against int fields included (Chroma truncates them unless the translator rewrites them).
- Milvus' expression strings: a feature value never changes the expression.
- LangChain's standard retriever suite on each store.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import chromadb
import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_featurestore import FeatureFilteredRetriever
from langchain_featurestore.filtering import translator_for
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.filters import FeatureFilterSpec, FilterRule, ResolvedCondition
from llm_featurestore.models import FeatureStatus, FeatureVector
from tests.filter_corpus import DOCUMENTS, SPEC, USERS, brute_force, vector_of
from tests.integration.langchain_stores import STORES, Stores, doc_id, documents, search_kwargs
from tests.unit.test_langchain_fakes import Events

pytestmark = pytest.mark.integration

INJECTION = 'x" or 1==1 or "'

# The corpus spec without its rule on a feature no user has, for retrievers that look the
# users' features up in the local store (which refuses a feature it never saw).
LOOKED_UP = FeatureFilterSpec(rules=SPEC.rules[:3])

# Documents for the operator tests: one kind per field (ints and floats mixed in "size"
# and "weight"), some documents lacking fields, one string that looks like an expression.
OPS_DOCS = documents(
    [
        ("o0", "red boot", {"color": "red", "size": 9, "weight": 2.0, "active": True, "t": -10}),
        (
            "o1",
            "blue boot",
            {"color": "blue", "size": 10, "weight": 2.5, "active": False, "t": -11},
        ),
        (
            "o2",
            "green boot",
            {"color": "green", "size": 11.5, "weight": 4.0, "active": True, "t": -10.5},
        ),
        ("o3", "blue bag", {"color": "blue", "weight": 1.5, "t": -9}),
        ("o4", "plain box", {"size": 12, "active": False}),
        ("o5", "odd boot", {"color": INJECTION, "size": 8, "weight": 3, "active": True, "t": 3}),
        (
            "o6",
            "slash boot",
            {"color": "a\\\"b\n\t'", "size": 9.0, "weight": 2, "active": False, "t": -10.0},
        ),
    ]
)

# (field, op, feature value): the value goes through the core's resolution, so it has
# the kinds a real lookup would give (a mixed int/float list becomes floats).
OP_CASES: list[tuple[str, str, Any]] = [
    ("color", "eq", "red"),
    ("color", "ne", "red"),
    ("color", "in", ["red", "green"]),
    ("color", "nin", ["red", "green"]),
    ("color", "eq", INJECTION),
    ("color", "ne", INJECTION),
    ("color", "in", [INJECTION, "blue"]),
    ("color", "eq", "a\\\"b\n\t'"),
    ("size", "eq", 9),
    ("size", "eq", 9.0),
    ("size", "ne", 9),
    ("size", "in", [9, 12]),
    ("size", "in", [8, 11.5]),
    ("size", "nin", [9, 12]),
    ("size", "lt", 10),
    ("size", "lte", 10),
    ("size", "gt", 10),
    ("size", "gte", 11.5),
    # fractional operands against int values (Chroma truncates them unless rewritten)
    ("size", "lt", 10.5),
    ("size", "lte", 9.5),
    ("size", "gt", 9.5),
    ("size", "gte", 10.5),
    ("size", "eq", 9.5),
    ("size", "ne", 9.5),
    ("size", "in", [9, 10.5]),
    ("size", "nin", [8, 10.5]),
    ("t", "lt", -10.5),
    ("t", "lte", -10.5),
    ("t", "gt", -10.5),
    ("t", "gte", -10.5),
    ("t", "eq", -10.5),
    ("t", "lt", 0.5),
    ("t", "gt", -0.5),
    ("weight", "eq", 2),
    ("weight", "lte", 2.5),
    ("weight", "in", [2.0, 4.0]),
    ("weight", "gt", 2),
    ("active", "eq", True),
    ("active", "ne", True),
    ("active", "in", [False]),
    ("active", "nin", [True]),
]


# Every document has an int "n": Milvus makes it a typed INT64 field (no dynamic fields).
INT_DOCS = documents([(f"n{v}", f"item {v}", {"n": v}) for v in (-11, -10, -1, 0, 1, 9, 10, 11)])
INT_CASES: list[tuple[str, str, Any]] = [
    ("n", op, value)
    for op in ("lt", "lte", "gt", "gte", "eq", "ne")
    for value in (10.5, -10.5, 0.5, -0.5, 10)
] + [("n", "in", [9, 10.5]), ("n", "nin", [-10.5, 1]), ("n", "in", [0.5, -0.5])]


def condition(field: str, op: str, value: Any) -> ResolvedCondition:
    """The condition a one-rule spec resolves to for a user whose feature is ``value``."""
    spec = FeatureFilterSpec(rules=[FilterRule(field=field, op=op, feature="f")])  # type: ignore[arg-type]
    vector = FeatureVector(
        entity_id="u",
        entity_type="user",
        source="test",
        features={"f": value},
        statuses={"f": FeatureStatus.PRESENT},
    )
    [cond] = spec.resolve(vector)
    return cond


def case_id(case: tuple[str, str, Any]) -> str:
    field, op, value = case
    return f"{field}-{op}-{value!r}"[:40]


class StoreCache:
    """Each kind of store built once per module, for one document set."""

    def __init__(self, stores: Stores, docs: list[Document], dynamic: bool) -> None:
        self.stores, self.docs, self.dynamic = stores, docs, dynamic
        self.built: dict[str, VectorStore] = {}

    def __getitem__(self, kind: str) -> VectorStore:
        if kind not in self.built:
            self.built[kind] = self.stores.build(kind, self.docs, dynamic=self.dynamic)
        return self.built[kind]

    def for_async(self, kind: str) -> VectorStore:
        """The store for a test that calls it async: Milvus binds its async client to the
        event loop of its first async call, and each test has its own loop, so Milvus
        gets a new client on the same collection."""
        return self.stores.reopen(self[kind])


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Stores:
    return Stores(tmp_path_factory.mktemp("vector-stores"))


@pytest.fixture(scope="module")
def corpus(stores: Stores) -> StoreCache:
    items = [(d.id, d.text, d.metadata) for d in DOCUMENTS]
    return StoreCache(stores, documents(items), dynamic=False)


@pytest.fixture(scope="module")
def ops(stores: Stores) -> StoreCache:
    return StoreCache(stores, OPS_DOCS, dynamic=True)


@pytest.fixture(scope="module")
def ints(stores: Stores) -> StoreCache:
    return StoreCache(stores, INT_DOCS, dynamic=False)


@pytest.fixture(scope="module")
def users() -> LocalFeatureStore:
    client = LocalFeatureStore()
    for user_id, features in USERS.items():
        client.write_features(user_id, "user", features)
    return client


@pytest.fixture
def chroma_server_store(chroma_server: tuple[str, int], corpus: StoreCache) -> Iterator[Chroma]:
    host, port = chroma_server
    client = chromadb.HttpClient(host=host, port=port)
    store = Chroma("parity", embedding_function=corpus.stores.embeddings, client=client)
    store.add_documents(corpus.docs, ids=[str(d.id) for d in corpus.docs])
    yield store
    store.delete_collection()


def parity_retriever(store: VectorStore, kind: str, client: LocalFeatureStore) -> Any:
    size = len(DOCUMENTS)
    return FeatureFilteredRetriever(
        vectorstore=store,
        filter_spec=SPEC,
        client=client,
        k=size + 50,
        search_kwargs=search_kwargs(kind, size),
    )


def assert_parity(results: list[list[Document]], user_ids: list[str]) -> None:
    wrong = [
        u
        for u, docs in zip(user_ids, results, strict=True)
        if {doc_id(d) for d in docs} != brute_force(u)
    ]
    assert wrong == [], f"{len(wrong)} users differ from brute force, first {wrong[:5]}"
    assert all(len({doc_id(d) for d in docs}) == len(docs) for docs in results)


# -- parity with brute force, 100 users -------------------------------------------------


@pytest.mark.parametrize("kind", STORES)
def test_every_users_filter_equals_brute_force(
    kind: str, corpus: StoreCache, users: LocalFeatureStore
) -> None:
    retriever = parity_retriever(corpus[kind], kind, users)
    user_ids = list(USERS)
    inputs = [{"question": "outdoor gear", "features": vector_of(u)} for u in user_ids]
    assert_parity(retriever.batch(inputs), user_ids)


@pytest.mark.parametrize("kind", STORES)
async def test_async_lookups_filter_like_brute_force(
    kind: str, corpus: StoreCache, users: LocalFeatureStore
) -> None:
    """Through the read flow (the users' features looked up, async), for a fifth of the
    users."""
    retriever = parity_retriever(corpus[kind], kind, users).model_copy(
        update={"filter_spec": LOOKED_UP}
    )
    user_ids = list(USERS)[::5]
    results = [await retriever.ainvoke("outdoor gear", user_id=u) for u in user_ids]
    assert_parity(results, user_ids)


def test_chroma_server_filter_equals_brute_force(
    chroma_server_store: Chroma, users: LocalFeatureStore
) -> None:
    retriever = parity_retriever(chroma_server_store, "chroma", users)
    user_ids = list(USERS)
    inputs = [{"question": "outdoor gear", "features": vector_of(u)} for u in user_ids]
    assert_parity(retriever.batch(inputs), user_ids)


# -- every operator, every kind of value ------------------------------------------------


@pytest.mark.parametrize("case", OP_CASES, ids=case_id)
@pytest.mark.parametrize("kind", STORES)
def test_every_operator_keeps_what_chroma_semantics_keep(
    kind: str, case: tuple[str, str, Any], ops: StoreCache
) -> None:
    store = ops[kind]
    cond = condition(*case)
    kwargs = translator_for(store).search_kwargs([cond])
    found = store.similarity_search("boot", k=50, **kwargs, **search_kwargs(kind, len(OPS_DOCS)))
    expected = {doc_id(d) for d in OPS_DOCS if cond.matches(d.metadata)}
    assert {doc_id(d) for d in found} == expected


@pytest.mark.parametrize("case", INT_CASES, ids=case_id)
@pytest.mark.parametrize("kind", STORES)
def test_fractional_operands_compare_with_int_fields_as_numbers(
    kind: str, case: tuple[str, str, Any], ints: StoreCache
) -> None:
    """Chroma truncates a fractional operand against an int value unless the translator
    rewrites it; Milvus' field here is a typed INT64."""
    store = ints[kind]
    cond = condition(*case)
    kwargs = translator_for(store).search_kwargs([cond])
    found = store.similarity_search("item", k=50, **kwargs, **search_kwargs(kind, len(INT_DOCS)))
    expected = {doc_id(d) for d in INT_DOCS if cond.matches(d.metadata)}
    assert {doc_id(d) for d in found} == expected


def test_a_feature_value_never_changes_a_milvus_expression(ops: StoreCache) -> None:
    store = ops["milvus"]
    [cond] = [condition("color", "eq", INJECTION)]
    kwargs = translator_for(store).search_kwargs([cond])
    assert kwargs == {"expr": 'color == "x\\" or 1==1 or \\""'}
    assert [doc_id(d) for d in store.similarity_search("boot", k=50, **kwargs)] == ["o5"]
    ne = translator_for(store).search_kwargs([condition("color", "ne", INJECTION)])
    assert {doc_id(d) for d in store.similarity_search("boot", k=50, **ne)} == {
        f"o{i}" for i in range(7) if i != 5
    }


def test_milvus_compares_booleans_with_numbers_so_candidates_are_not_matched_in_memory(
    stores: Stores, users: LocalFeatureStore
) -> None:
    """The difference the Milvus translator documents: in a dynamic field ``true == 1``.

    So it is not ``in_memory_match``, and a retriever with ``fetch_k`` runs the filtered
    search instead of trusting the in-memory match of its candidates.
    """
    docs = documents([("b", "flag", {"v": True}), ("n", "number", {"v": 1})])
    store = stores.build("milvus", docs, dynamic=True)
    translator = translator_for(store)
    assert translator.in_memory_match is False
    kwargs = translator.search_kwargs([condition("v", "eq", 1)])
    assert {doc_id(d) for d in store.similarity_search("flag", k=5, **kwargs)} == {"b", "n"}

    spec = FeatureFilterSpec(rules=[FilterRule(field="v", op="eq", feature="f")])
    retriever = FeatureFilteredRetriever(
        vectorstore=store, filter_spec=spec, client=users, k=5, fetch_k=10
    )
    vector = condition_vector(1)
    # In memory only "n" would match; the store's search is what the retriever returns.
    assert {doc_id(d) for d in retriever.invoke("flag", features=vector)} == {"b", "n"}


def condition_vector(value: Any) -> FeatureVector:
    return FeatureVector(
        entity_id="u",
        entity_type="user",
        source="test",
        features={"f": value},
        statuses={"f": FeatureStatus.PRESENT},
    )


@pytest.mark.parametrize("kind", ["memory", "qdrant", "faiss", "chroma"])
def test_candidates_matched_in_memory_equal_the_filtered_search(
    kind: str, corpus: StoreCache, users: LocalFeatureStore
) -> None:
    """With ``fetch_k`` covering the corpus, the in-memory match of the candidates (no
    filtered search) gives the same documents as the store's filter."""
    store = corpus[kind]
    speculative = parity_retriever(store, kind, users).model_copy(
        update={"fetch_k": len(DOCUMENTS) + 50, "filter_spec": LOOKED_UP}
    )
    user_ids = list(USERS)[::10]
    results = [speculative.invoke("outdoor gear", user_id=u) for u in user_ids]
    assert_parity(results, user_ids)


@pytest.mark.parametrize("kind", STORES)
def test_the_retrieval_event_shows_the_store_filter_json_safe(
    kind: str, corpus: StoreCache, users: LocalFeatureStore
) -> None:
    handler = Events()
    retriever = parity_retriever(corpus[kind], kind, users)
    retriever.invoke("outdoor gear", {"callbacks": [handler]}, features=vector_of("u001"))
    [(_, data)] = handler.events
    where = data["where"]
    json.dumps(where)
    user = USERS["u001"]
    shown = json.dumps(where) if not isinstance(where, str) else where
    assert user["favorite_category"] in shown
    assert str(user["avg_order_value"] * 1.5) in shown


def test_a_chroma_subclass_gets_chromas_translator(corpus: StoreCache) -> None:
    class TeamChroma(Chroma):
        pass

    base = corpus["chroma"]
    assert isinstance(base, Chroma)
    store = TeamChroma(
        base._collection.name, embedding_function=corpus.stores.embeddings, client=base._client
    )
    translator = translator_for(store)
    assert translator.name == "Chroma"
    assert translator.in_memory_match is True


# -- LangChain's standard retriever suite, on each store --------------------------------


class _StandardSuite(RetrieversIntegrationTests):
    """The suite for one store kind; the retriever is bound to user u001, so every call
    is a filtered search (backfilled up to ``k``)."""

    kind = "memory"
    _params: dict[str, Any]

    @pytest.fixture(autouse=True)
    def _bind_store(self, corpus: StoreCache, users: LocalFeatureStore) -> None:
        size = len(DOCUMENTS)
        self._params = {
            "vectorstore": corpus.for_async(self.kind),
            "filter_spec": LOOKED_UP,
            "client": users,
            "backfill": True,
            "search_kwargs": search_kwargs(self.kind, size),
        }

    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        def for_user(**params: Any) -> Runnable[Any, Any]:
            return FeatureFilteredRetriever(**params).bind(user_id="u001")

        return for_user  # type: ignore[return-value]

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return self._params

    @property
    def retriever_query_example(self) -> str:
        return "outdoor gear"


class TestStandardChroma(_StandardSuite):
    kind = "chroma"


class TestStandardInMemory(_StandardSuite):
    kind = "memory"


class TestStandardQdrant(_StandardSuite):
    kind = "qdrant"


class TestStandardFaiss(_StandardSuite):
    kind = "faiss"


class TestStandardMilvus(_StandardSuite):
    kind = "milvus"


def test_the_standard_suite_covers_every_store() -> None:
    suites = {c.kind for c in _StandardSuite.__subclasses__()}
    assert suites == set(STORES)
