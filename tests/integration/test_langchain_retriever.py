"""FeatureFilteredRetriever on real embedded Chroma with the local feature store."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import chromadb
import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_tests.integration_tests import RetrieversIntegrationTests

from langchain_featurestore import BACKFILL_KEY, FeatureFilteredRetriever
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule, ResolvedCondition
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving.client import ServingClient
from tests.unit.test_langchain_fakes import (
    BarrierClient,
    CountingClient,
    DeadBackend,
    Events,
    HashEmbeddings,
    shop_store,
)

pytestmark = pytest.mark.integration

_CHROMA = chromadb.EphemeralClient()

CATALOG: list[tuple[str, str, str, float]] = [
    # (text, category, brand, price)
    ("red running shoes for road races", "shoes", "acme", 90.0),
    ("trail running shoes with grip", "shoes", "zeta", 140.0),
    ("leather dress shoes", "shoes", "oxford", 260.0),
    ("running socks, pack of three", "apparel", "acme", 12.0),
    ("paperback novel about running", "books", "papyrus", 15.0),
    ("hardcover guide to marathon running", "books", "papyrus", 35.0),
    ("wool winter hat", "hats", "zeta", 25.0),
    ("running cap with visor", "hats", "acme", 20.0),
    ("budget canvas shoes", "shoes", "acme", 30.0),
    ("running jacket, waterproof", "apparel", "zeta", 180.0),
]

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5),
    ]
)


def catalog_docs() -> list[Document]:
    return [
        Document(
            page_content=text,
            metadata={"category": cat, "brand": brand, "price": price},
            id=f"p{i}",
        )
        for i, (text, cat, brand, price) in enumerate(CATALOG)
    ]


def new_store(
    docs: list[Document], embeddings: Embeddings | None = None, name: str | None = None
) -> Chroma:
    """A fresh Chroma collection (unique name) holding ``docs``."""
    store = Chroma(
        collection_name=name or f"t-{uuid.uuid4().hex[:12]}",
        embedding_function=embeddings or HashEmbeddings(),
        client=_CHROMA,
    )
    if docs:
        store.add_documents(docs)
    return store


def _sq_l2(a: list[float], b: list[float]) -> float:
    return round(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)), 6)


def distances(query: str, docs: list[Document]) -> list[float]:
    """Squared L2 distances of ``docs`` to ``query`` (Chroma's default space)."""
    emb = HashEmbeddings()
    q = emb.embed_query(query)
    return [_sq_l2(q, v) for v in emb.embed_documents([d.page_content for d in docs])]


def oracle(query: str, k: int, keep: Any = None) -> list[float]:
    """Brute force: the k best distances over the catalog among documents ``keep`` accepts.

    Comparing distances, not ids, makes the tests immune to the order of ties.
    """
    docs = [d for d in catalog_docs() if keep is None or keep(d.metadata)]
    return sorted(distances(query, docs))[:k]


@pytest.fixture(scope="module")
def shop() -> Iterator[Chroma]:
    store = new_store(catalog_docs())
    yield store
    store.delete_collection()


def make(
    vs: Chroma, client: FeatureStoreClient | None = None, **kw: Any
) -> FeatureFilteredRetriever:
    return FeatureFilteredRetriever(
        vectorstore=vs, filter_spec=SPEC, client=client or CountingClient(shop_store()), **kw
    )


def ids(docs: list[Document]) -> list[str | None]:
    return [d.id for d in docs]


def chroma_filtered(vs: Chroma, query: str, k: int, user: str) -> list[Document]:
    vector = shop_store().get_features(user, "user", SPEC.feature_names)
    return vs.similarity_search(query, k, filter=SPEC.to_chroma_where(vector))


@pytest.mark.parametrize("use_async", [False, True])
async def test_results_match_the_users_features(shop: Chroma, use_async: bool) -> None:
    retriever = make(shop, k=3)
    query = "running gear"
    docs = (
        await retriever.ainvoke(query, user_id="u1")
        if use_async
        else retriever.invoke(query, user_id="u1")
    )
    # u1: shoes, brands acme/zeta, price <= 150.
    assert ids(docs) == ids(chroma_filtered(shop, query, 3, "u1"))
    assert {d.id for d in docs} == {"p0", "p1", "p8"}
    for doc in docs:
        assert doc.metadata["category"] == "shoes"
        assert doc.metadata["brand"] in {"acme", "zeta"}
        assert doc.metadata["price"] <= 150
        assert doc.metadata[BACKFILL_KEY] is False


@pytest.mark.parametrize("fetch_k", [0, 1, 2, 50])
@pytest.mark.parametrize("use_async", [False, True])
async def test_candidate_path_equals_a_filtered_chroma_search(
    shop: Chroma, fetch_k: int, use_async: bool
) -> None:
    # fetch_k=0: no speculative search; 1/2: too few candidates match, so the filtered
    # search runs; fetch_k=50: the candidates cover the whole collection.
    retriever = make(shop, k=2, fetch_k=fetch_k)
    for user, query in [("u1", "canvas shoes"), ("u2", "novel"), ("u1", "trail shoes grip")]:
        got = (
            await retriever.ainvoke(query, user_id=user)
            if use_async
            else retriever.invoke(query, user_id=user)
        )
        assert ids(got) == ids(chroma_filtered(shop, query, 2, user)), (user, query)


def test_prefetched_features_skip_the_lookup(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    retriever = make(shop, client, k=2)
    vector = shop_store().get_features("u2", "user", SPEC.feature_names)
    by_vector = retriever.invoke("running", features=vector)
    by_mapping = retriever.invoke({"question": "running", "features": {"user": vector}})
    assert client.calls == []
    assert ids(by_vector) == ids(by_mapping) == ids(chroma_filtered(shop, "running", 2, "u2"))
    assert all(d.metadata["category"] == "books" for d in by_vector)


async def test_prefetched_features_async(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    vector = shop_store().get_features("u2", "user", SPEC.feature_names)
    docs = await make(shop, client, k=2).ainvoke("running", features={"user": vector})
    assert client.calls == []
    assert {d.metadata["category"] for d in docs} == {"books"}


def test_no_user_means_an_unfiltered_search(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    docs = make(shop, client, k=4).invoke("running")
    assert distances("running", docs) == oracle("running", 4)
    assert client.calls == []
    assert all(d.metadata[BACKFILL_KEY] is False for d in docs)


def test_cold_start_user_is_unfiltered(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    docs = make(shop, client, k=4).invoke("running", user_id="nobody")
    assert distances("running", docs) == oracle("running", 4)
    assert client.calls == [(["nobody"], "user", SPEC.feature_names)]


def test_user_id_sources(shop: Chroma) -> None:
    retriever = make(shop, k=2)
    expected = ids(chroma_filtered(shop, "running", 2, "u2"))
    assert ids(retriever.invoke("running", {"configurable": {"user_id": "u2"}})) == expected
    assert ids(retriever.invoke({"question": "running", "user_id": "u2"})) == expected
    assert ids(retriever.invoke({"query": "running", "user_id": "u2"})) == expected
    # The kwarg wins over the input, the input over the config.
    assert ids(retriever.invoke({"query": "running", "user_id": "u2"}, user_id="u1")) != expected
    custom = make(shop, k=2, id_key="customer")
    assert ids(custom.invoke("running", {"configurable": {"customer": "u2"}})) == expected
    assert ids(custom.invoke({"question": "running", "customer": "u2"})) == expected


def test_bad_inputs_are_config_errors(shop: Chroma) -> None:
    retriever = make(shop)
    with pytest.raises(FeatureConfigError, match="needs a query string"):
        retriever.invoke({"text": "running"})
    with pytest.raises(FeatureConfigError, match="k must be a positive integer, got 0"):
        retriever.invoke("running", k=0)
    with pytest.raises(FeatureConfigError, match="must be a string or an integer"):
        retriever.invoke("running", user_id=1.5)
    org = shop_store().get_features("o1", "organization", ["plan"])
    with pytest.raises(FeatureConfigError, match="entity type 'user', but got a vector for"):
        retriever.invoke("running", features=org)


def test_k_as_constructor_and_invoke_argument(shop: Chroma) -> None:
    retriever = make(shop, k=1)
    assert len(retriever.invoke("running")) == 1
    assert len(retriever.invoke("running", k=5)) == 5
    assert len(retriever.invoke("running", user_id="u1", k=2)) == 2


@pytest.mark.parametrize("fetch_k", [0, 20])
@pytest.mark.parametrize("prefetched", [False, True])
@pytest.mark.parametrize("use_async", [False, True])
async def test_backfill_fills_up_to_k_and_marks_documents(
    shop: Chroma, prefetched: bool, use_async: bool, fetch_k: int
) -> None:
    # u2: books by papyrus under 30 -> only p4 matches. With fetch_k=20 the speculative
    # candidates supply the backfill; with 0 an unfiltered search does.
    retriever = make(shop, k=4, backfill=True, fetch_k=fetch_k)
    vector = shop_store().get_features("u2", "user", SPEC.feature_names)
    kwargs: dict[str, Any] = {"features": vector} if prefetched else {"user_id": "u2"}
    docs = (
        await retriever.ainvoke("running", **kwargs)
        if use_async
        else retriever.invoke("running", **kwargs)
    )
    assert len(docs) == 4
    assert docs[0].id == "p4"
    assert docs[0].metadata[BACKFILL_KEY] is False
    assert [d.metadata[BACKFILL_KEY] for d in docs[1:]] == [True, True, True]
    assert len(set(ids(docs))) == 4
    assert distances("running", docs[1:]) == oracle("running", 3, lambda md: md["price"] != 15.0)
    without = await make(shop, k=4).ainvoke("running", **kwargs)
    assert ids(without) == ["p4"]


def test_retrieval_event_reports_the_filter(shop: Chroma) -> None:
    handler = Events()
    make(shop, k=4, backfill=True).invoke("running", {"callbacks": [handler]}, user_id="u2")
    [(name, data)] = handler.events
    assert name == "llm_featurestore.retrieval"
    assert data["entity_id"] == "u2"
    assert data["statuses"] == dict.fromkeys(SPEC.feature_names, "present")
    assert data["where"] == {
        "$and": [
            {"category": {"$eq": "books"}},
            {"brand": {"$in": ["papyrus"]}},
            {"price": {"$lte": 30.0}},
        ]
    }
    assert (data["conditions"], data["filtered"], data["backfilled"], data["k"]) == (3, 1, 3, 4)


async def test_retrieval_event_async_unfiltered(shop: Chroma) -> None:
    handler = Events()
    await make(shop, k=2).ainvoke("running", {"callbacks": [handler]})
    [(_, data)] = handler.events
    assert data["where"] is None
    assert data["entity_id"] is None


@pytest.mark.parametrize("use_async", [False, True])
async def test_dead_store_searches_unfiltered(
    shop: Chroma, use_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    retriever = make(shop, DeadBackend(), k=3)
    with caplog.at_level(logging.WARNING):
        docs = (
            await retriever.ainvoke("running", user_id="u1")
            if use_async
            else retriever.invoke("running", user_id="u1")
        )
    assert distances("running", docs) == oracle("running", 3)
    assert "continuing without their features" in caplog.text


@pytest.mark.parametrize("use_async", [False, True])
async def test_dead_store_behind_serving_client_searches_unfiltered(
    shop: Chroma, use_async: bool
) -> None:
    client = ServingClient(DeadBackend(), fallback_on_timeout=True)
    retriever = make(shop, client, k=3, fallback=False)
    docs = (
        await retriever.ainvoke("running", user_id="u1")
        if use_async
        else retriever.invoke("running", user_id="u1")
    )
    assert distances("running", docs) == oracle("running", 3)


async def test_dead_store_without_fallback_raises(shop: Chroma) -> None:
    retriever = make(shop, DeadBackend(), fallback=False)
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        retriever.invoke("running", user_id="u1")
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        await retriever.ainvoke("running", user_id="u1")


def test_unknown_filter_feature_raises(shop: Chroma) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="budget")])
    retriever = FeatureFilteredRetriever(vectorstore=shop, filter_spec=spec, client=shop_store())
    with pytest.raises(FeatureConfigError, match="Unknown feature 'budget'"):
        retriever.invoke("running", user_id="u1")


@pytest.mark.parametrize("use_async", [False, True])
async def test_lookup_and_candidate_search_overlap(shop: Chroma, use_async: bool) -> None:
    """Structure, not time: the lookup and the query embedding each wait on a barrier of
    two, so the call only completes if both were in flight at once."""
    barrier = threading.Barrier(2, timeout=10)
    vs = Chroma(
        collection_name=shop._collection.name,
        embedding_function=HashEmbeddings(barrier),
        client=_CHROMA,
    )
    client = BarrierClient(shop_store(), barrier)
    retriever = make(vs, client, k=2)
    docs = (
        await retriever.ainvoke("running", user_id="u1")
        if use_async
        else retriever.invoke("running", user_id="u1")
    )
    assert {d.metadata["category"] for d in docs} == {"shoes"}
    assert len(client.calls) == 1
    assert not barrier.broken


def test_barrier_control_sequential_calls_would_not_complete() -> None:
    """The control for the test above: one party alone never passes the barrier."""
    barrier = threading.Barrier(2, timeout=0.2)
    with pytest.raises(threading.BrokenBarrierError):
        BarrierClient(shop_store(), barrier).get_features("u1", "user", ["tier"])


def crowd() -> tuple[LocalFeatureStore, list[Document]]:
    store = LocalFeatureStore()
    docs = []
    for i in range(100):
        store.write_features(
            f"user-{i}",
            "user",
            {
                "favorite_category": f"cat-{i}",
                "preferred_brands": [f"brand-{i}"],
                "avg_order_value": 10.0,
            },
        )
        for j in range(3):
            docs.append(
                # Distinct texts: over many identical vectors Chroma's HNSW search may
                # return fewer than k filtered results, varying from run to run.
                Document(
                    page_content=f"popular product line sku{i}x{j} batch{i}y{j}",
                    metadata={"category": f"cat-{i}", "brand": f"brand-{i}", "price": 5.0 + j},
                    id=f"c{i}-{j}",
                )
            )
    return store, docs


@pytest.fixture(scope="module")
def crowd_setup() -> Iterator[tuple[LocalFeatureStore, Chroma]]:
    store, docs = crowd()
    vs = new_store(docs)
    yield store, vs
    vs.delete_collection()


async def test_hundred_concurrent_users_get_only_their_own_results(
    crowd_setup: tuple[LocalFeatureStore, Chroma],
) -> None:
    store, vs = crowd_setup
    retriever = make(vs, ServingClient(store, coalesce=None), k=3)
    users = [f"user-{i}" for i in range(100)]
    results = await asyncio.gather(
        *(retriever.ainvoke("popular product", user_id=u) for u in users)
    )
    for i, docs in enumerate(results):
        assert sorted(str(d.id) for d in docs) == [f"c{i}-0", f"c{i}-1", f"c{i}-2"]


def test_hundred_users_sync_batch_get_only_their_own_results(
    crowd_setup: tuple[LocalFeatureStore, Chroma],
) -> None:
    store, vs = crowd_setup
    retriever = make(vs, store, k=3)
    inputs = [{"question": "popular product", "user_id": f"user-{i}"} for i in range(100)]
    results = retriever.batch(inputs, {"max_concurrency": 16})  # type: ignore[arg-type]
    for i, docs in enumerate(results):
        assert {d.metadata["category"] for d in docs} == {f"cat-{i}"}
        assert len(docs) == 3


# -- the in-memory filter agrees with Chroma's where ------------------------------------


def _cond(field: str, op: str, value: Any) -> ResolvedCondition:
    rule = FilterRule(field=field, op=op, feature="x")  # type: ignore[arg-type]
    return ResolvedCondition(field=field, op=op, value=value, rule=rule)  # type: ignore[arg-type]


PARITY_DOCS: list[dict[str, Any]] = [
    {"category": "shoes", "price": 10, "brand": "acme", "active": True},
    {"category": "books", "price": 20.5, "active": False},
    {"price": 5},
    {"category": "shoes", "brand": "zeta"},
    {"category": "Shoes", "price": 10.0, "brand": "acme"},
    {"category": "", "price": -1, "active": True},
]


@pytest.fixture(scope="module")
def parity_collection() -> Iterator[Any]:
    col = _CHROMA.create_collection(f"parity-{uuid.uuid4().hex[:8]}", embedding_function=None)
    col.add(
        ids=[f"d{i}" for i in range(len(PARITY_DOCS))],
        embeddings=[[float(i), 1.0] for i in range(len(PARITY_DOCS))],  # type: ignore[arg-type]
        metadatas=PARITY_DOCS,  # type: ignore[arg-type]
    )
    yield col
    _CHROMA.delete_collection(col.name)


@pytest.mark.parametrize(
    ("field", "op", "value"),
    [
        ("category", "eq", "shoes"),
        ("category", "ne", "shoes"),
        ("category", "eq", ""),
        ("category", "in", ["shoes", "books"]),
        ("category", "nin", ["shoes"]),
        ("price", "eq", 10),
        ("price", "eq", 10.0),
        ("price", "ne", 10),
        ("price", "lt", 10),
        ("price", "lte", 10),
        ("price", "gt", 5.0),
        ("price", "gte", 20.5),
        ("price", "in", [5.0, 20.5]),
        ("price", "nin", [10]),
        ("active", "eq", True),
        ("active", "ne", False),
        ("brand", "in", ["acme"]),
    ],
)
def test_in_memory_matching_agrees_with_chroma(
    parity_collection: Any, field: str, op: str, value: Any
) -> None:
    cond = _cond(field, op, value)
    from_chroma = set(parity_collection.get(where=cond.to_chroma())["ids"])
    in_memory = {f"d{i}" for i, md in enumerate(PARITY_DOCS) if cond.matches(md)}
    assert in_memory == from_chroma


def test_resolved_spec_where_agrees_with_chroma(parity_collection: Any) -> None:
    spec = FeatureFilterSpec(
        rules=[
            FilterRule(field="category", op="eq", feature="cat"),
            FilterRule(field="price", op="lte", feature="budget", factor=2),
        ]
    )
    vector = FeatureVector.build(
        entity_id="u",
        entity_type="user",
        feature_names=["cat", "budget"],
        values={"cat": "shoes", "budget": 5},
        statuses={"cat": FeatureStatus.PRESENT, "budget": FeatureStatus.PRESENT},
        source="test",
    )
    where = spec.to_chroma_where(vector)
    assert where is not None
    from_chroma = set(parity_collection.get(where=where)["ids"])
    assert from_chroma == {f"d{i}" for i, md in enumerate(PARITY_DOCS) if spec.matches(vector, md)}
    assert from_chroma == {"d0"}


# -- LangChain's standard retriever suite -------------------------------------------------

_STANDARD: dict[str, Any] = {}


def _standard_params() -> dict[str, Any]:
    if not _STANDARD:
        _STANDARD["vectorstore"] = new_store(catalog_docs())
        _STANDARD["client"] = shop_store()
    return {
        "vectorstore": _STANDARD["vectorstore"],
        "filter_spec": SPEC,
        "client": _STANDARD["client"],
        "backfill": True,
    }


class TestFeatureFilteredRetrieverStandard(RetrieversIntegrationTests):
    @property
    def retriever_constructor(self) -> type[BaseRetriever]:
        return FeatureFilteredRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return _standard_params()

    @property
    def retriever_query_example(self) -> str:
        return "running shoes"
