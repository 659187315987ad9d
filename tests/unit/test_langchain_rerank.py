"""FeatureRerankCompressor and FeatureRerankRetriever on real parts.

Documents come from a real ``InMemoryVectorStore`` (``HashEmbeddings``) or are built with
a ``relevance_score``; features from a real ``LocalFeatureStore``. The same catalogue,
spec and weights as the LlamaIndex postprocessor tests, so the expectations read alike.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableConfig, RunnableLambda
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_featurestore import (
    RERANK_KEY,
    FeatureFilteredRetriever,
    FeatureLookup,
    FeatureRerankCompressor,
    FeatureRerankRetriever,
    personalized_retrieval,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule, ResolvedCondition
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow
from llm_featurestore.reranking import CONTEXT_KEY
from tests.unit.test_langchain_fakes import CountingClient, DeadBackend, HashEmbeddings
from tests.unit.test_llamaindex_context import gated_monitor

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="gt", feature="avg_order_value", factor=1.5),
    ]
)
WEIGHTS = [0.5, 0.2, -1.0]
CATALOGUE: list[tuple[str, float, dict[str, Any]]] = [
    ("hike-cheap", 0.9, {"category": "hiking", "brand": "acme", "price": 50.0}),
    ("run-pricey", 0.8, {"category": "running", "brand": "acme", "price": 500.0}),
    ("run-cheap", 0.7, {"category": "running", "brand": "globex", "price": 40.0}),
    ("no-meta", 0.6, {}),
    ("run-nobrand", 0.7, {"category": "running", "price": 10.0}),
]
BOOSTS = {
    "hike-cheap": 0.2,
    "run-pricey": -0.3,
    "run-cheap": 0.5,
    "no-meta": 0.0,
    "run-nobrand": 0.5,
}


def documents(scored: bool = True) -> list[Document]:
    return [
        Document(
            page_content=f"text of {did}",
            id=did,
            metadata={**meta, **({"relevance_score": score} if scored else {})},
        )
        for did, score, meta in CATALOGUE
    ]


def ids(docs: Sequence[Document]) -> list[str | None]:
    return [d.id for d in docs]


def tied(vs: InMemoryVectorStore, query: str) -> list[str | None]:
    """run-cheap and run-nobrand (same boost, same score) in the store's retrieval order."""
    return [i for i in ids(vs.similarity_search(query, k=5)) if i in ("run-cheap", "run-nobrand")]


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore(max_age_seconds=86_400)  # "stale" (9 days old) reads as STALE
    s.write_features(
        "u1",
        "user",
        {"favorite_category": "running", "preferred_brands": ["acme"], "avg_order_value": 100.0},
    )
    s.write_features("cold", "user", {"tier": "new"})
    old = utcnow() - timedelta(days=9)
    s.write_features("stale", "user", {"favorite_category": "yoga"}, event_timestamp=old)
    return s


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def compressor(client: FeatureStoreClient, **kwargs: Any) -> FeatureRerankCompressor:
    return FeatureRerankCompressor(client=client, spec=SPEC, **{"weights": WEIGHTS, **kwargs})


def configurable(user: Any) -> RunnableConfig:
    return {"configurable": {"user_id": user}} if user is not None else {}


async def compress(
    c: FeatureRerankCompressor, docs: list[Document], use_async: bool, user: Any = None
) -> list[Document]:
    """``compress_documents`` inside a run whose configurable names ``user``."""

    def sync(d: list[Document]) -> list[Document]:
        return c.compress_documents(d, "q")

    async def asyn(d: list[Document]) -> list[Document]:
        return await c.acompress_documents(d, "q")

    step = RunnableLambda(sync, afunc=asyn)
    config = configurable(user)
    return await step.ainvoke(docs, config) if use_async else step.invoke(docs, config)


async def run(runnable: Any, input: Any, use_async: bool, config: Any = None) -> Any:
    return await runnable.ainvoke(input, config) if use_async else runnable.invoke(input, config)


# ------------------------------------------------------------------ ordering


async def test_boosts_and_demotes_follow_the_weights(
    store: LocalFeatureStore, use_async: bool
) -> None:
    docs = documents()
    out = await compress(compressor(store), docs, use_async, user="u1")
    scores = {d.id: round(d.metadata["relevance_score"], 6) for d in out}
    assert scores == {
        "hike-cheap": 1.1,  # 0.9 + brand acme 0.2
        "run-pricey": 0.5,  # 0.8 + category 0.5 + brand 0.2 - over budget (500 > 150) 1.0
        "run-cheap": 1.2,  # 0.7 + category 0.5
        "no-meta": 0.6,  # nothing matches
        "run-nobrand": 1.2,  # 0.7 + category 0.5 (no brand: "in" needs the field)
    }
    assert ids(out) == ["run-cheap", "run-nobrand", "hike-cheap", "no-meta", "run-pricey"]
    assert {d.id: d.metadata[RERANK_KEY] for d in out} == pytest.approx(BOOSTS)
    # Copies: the inputs keep their metadata.
    assert docs == documents()
    assert all(a is not b for a in out for b in docs)


def test_default_weights_are_one(store: LocalFeatureStore) -> None:
    c = FeatureRerankCompressor(client=store, spec=SPEC, user_id="u1")
    assert c.weights == [1.0, 1.0, 1.0]
    out = {d.id: d.metadata["relevance_score"] for d in c.compress_documents(documents(), "q")}
    assert out["run-pricey"] == pytest.approx(3.8)  # 0.8 + 1 + 1 + 1


async def test_without_scores_the_boost_orders_a_real_retrieval(
    store: LocalFeatureStore, use_async: bool
) -> None:
    vs = InMemoryVectorStore(HashEmbeddings())
    vs.add_documents(documents(scored=False))
    chain = vs.as_retriever(search_kwargs={"k": 5}) | compressor(store).as_runnable()
    out = await run(chain, "running shoes", use_async, configurable("u1"))
    # Ties (both +0.5) keep the retrieval's order; the demoted one is last.
    assert ids(out) == [*tied(vs, "running shoes"), "hike-cheap", "no-meta", "run-pricey"]
    assert {d.id: d.metadata["relevance_score"] for d in out} == pytest.approx(BOOSTS)


def test_ties_keep_input_order(store: LocalFeatureStore) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="k", op="eq", feature="favorite_category")])
    c = FeatureRerankCompressor(client=store, spec=spec)
    docs = [
        Document(page_content=str(i), id=str(i), metadata={"k": "running" if i % 2 else "x"})
        for i in range(6)
    ]
    vector = store.get_features("u1", "user", ["favorite_category"])
    assert ids(c.rerank_documents(docs, vector)) == ["1", "3", "5", "0", "2", "4"]
    assert ids(c.rerank_documents(docs, {"user": vector})) == ["1", "3", "5", "0", "2", "4"]
    assert c.rerank_documents(docs, None) == docs


async def test_top_n_and_context_documents_stay_first(
    store: LocalFeatureStore, use_async: bool
) -> None:
    ctx = Document(page_content="about the user", id="ctx", metadata={CONTEXT_KEY: True})
    out = await compress(compressor(store, top_n=2), [*documents(), ctx], use_async, user="u1")
    assert ids(out) == ["ctx", "run-cheap", "run-nobrand"]
    assert out[0] is ctx  # untouched


# ------------------------------------------------------------------ pass-through


@pytest.mark.parametrize("user", [None, "cold", "stale", "unknown"])
async def test_without_usable_features_documents_keep_their_order(
    store: LocalFeatureStore, user: str | None, use_async: bool
) -> None:
    docs = documents()
    out = await compress(compressor(store, top_n=4), docs, use_async, user=user)
    assert out == docs[:4]
    assert all(a is b for a, b in zip(out, docs, strict=False))  # returned as they came


def test_document_content_never_names_the_user(
    store: LocalFeatureStore, caplog: pytest.LogCaptureFixture
) -> None:
    docs = [d.model_copy(update={"metadata": {**d.metadata, "user_id": "u1"}}) for d in documents()]
    with caplog.at_level(logging.WARNING):
        out = compressor(store).compress_documents(docs, "q")
    assert out == docs
    assert "FeatureRerankCompressor" in caplog.text
    assert "'user_id' (entity type user)" in caplog.text


async def test_dead_store_passes_through_or_raises(use_async: bool) -> None:
    docs = documents()
    assert await compress(compressor(DeadBackend()), docs, use_async, user="u1") == docs
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        await compress(compressor(DeadBackend(), fallback=False), docs, use_async, user="u1")


async def test_monitor_refusal_passes_through_without_a_store_call(
    store: LocalFeatureStore, use_async: bool
) -> None:
    client = CountingClient(store)
    c = compressor(client, monitor=gated_monitor())
    assert await compress(c, documents(), use_async, user="u1") == documents()
    assert client.calls == []


async def test_no_documents_no_read(store: LocalFeatureStore, use_async: bool) -> None:
    client = CountingClient(store)
    assert await compress(compressor(client), [], use_async, user="u1") == []
    assert await run(compressor(client).as_runnable(), [], use_async, configurable("u1")) == []
    assert client.calls == []


# ------------------------------------------------------------------ whose features


async def test_user_from_configurable_inside_a_chain(
    store: LocalFeatureStore, use_async: bool
) -> None:
    c = compressor(store, user_id="cold")  # the default, used when the run names none
    chain = RunnableLambda(lambda q: documents()) | c.as_runnable()
    assert ids(await run(chain, "q", use_async, configurable("u1")))[0] == "run-cheap"
    assert ids(await run(chain, "q", use_async)) == ids(documents())
    # compress_documents called in a step of a chain finds the run's config too.
    assert ids(await compress(c, documents(), use_async, user="u1"))[0] == "run-cheap"


async def test_custom_id_key_and_integer_ids(use_async: bool) -> None:
    store = LocalFeatureStore()
    store.write_features("42", "customer", {"segment": "outdoor"})
    spec = FeatureFilterSpec(
        entity_type="customer", rules=[FilterRule(field="seg", op="eq", feature="segment")]
    )
    docs = [Document(page_content="a", id="a"), Document(page_content="b", id="b")]
    docs[1].metadata["seg"] = "outdoor"
    by_default = FeatureRerankCompressor(client=store, spec=spec)
    assert by_default.key == "customer_id"
    cfg = {"configurable": {"customer_id": 42}}
    assert ids(await run(by_default.as_runnable(), docs, use_async, cfg)) == ["b", "a"]
    renamed = FeatureRerankCompressor(client=store, spec=spec, id_key="cid")
    out = await run(renamed.as_runnable(), {"documents": docs, "cid": "42"}, use_async)
    assert ids(out["documents"]) == ["b", "a"]
    assert out["cid"] == "42"


async def test_rerank_retriever_passes_the_run_config_to_both_parts(
    store: LocalFeatureStore, use_async: bool
) -> None:
    vs = InMemoryVectorStore(HashEmbeddings())
    vs.add_documents(documents())
    retriever = FeatureRerankRetriever(
        base_retriever=vs.as_retriever(search_kwargs={"k": 5}), base_compressor=compressor(store)
    )
    out = await run(retriever, "running shoes", use_async, configurable("u1"))
    assert ids(out) == [*tied(vs, "running shoes"), "hike-cheap", "no-meta", "run-pricey"]
    configs: list[RunnableConfig] = [configurable("u1"), configurable("cold")]
    queries = ["running shoes", "running shoes"]
    both = (
        await retriever.abatch(queries, configs) if use_async else retriever.batch(queries, configs)
    )
    assert ids(both[0]) == ids(out)
    assert {d.id for d in both[1]} == set(ids(documents()))
    assert all(RERANK_KEY not in d.metadata for d in both[1])  # cold: not re-scored


# ------------------------------------------------------------------ vectors already read


def _in_memory_filter(conditions: Sequence[ResolvedCondition]) -> Any:
    if not conditions:
        return None
    return lambda doc: all(c.matches(doc.metadata) for c in conditions)


async def test_vectors_of_personalized_retrieval_are_reused(
    store: LocalFeatureStore, use_async: bool
) -> None:
    vs = InMemoryVectorStore(HashEmbeddings())
    vs.add_documents(documents())
    client = CountingClient(store)
    cheap = FeatureFilterSpec(
        rules=[FilterRule(field="price", op="lte", feature="avg_order_value", factor=3.0)]
    )
    filtered = FeatureFilteredRetriever(
        vectorstore=vs, filter_spec=cheap, client=client, k=5, filter_translator=_in_memory_filter
    )
    names = list(dict.fromkeys([*cheap.feature_names, *SPEC.feature_names]))
    lookup = FeatureLookup(client, entities={"user": "user_id"}, feature_names={"user": names})
    chain = personalized_retrieval(filtered, lookup) | compressor(client).as_runnable()
    out = await run(chain, {"question": "running shoes", "user_id": "u1"}, use_async)
    assert ids(out["documents"]) == [*tied(vs, "running shoes"), "hike-cheap"]  # price <= 300
    assert out["question"] == "running shoes"
    assert out["features"]["user"].entity_id == "u1"
    assert len(client.calls) == 1  # the lookup's read served the filter and the rerank


async def test_partial_vectors_read_only_what_they_lack(
    store: LocalFeatureStore, use_async: bool
) -> None:
    client = CountingClient(store)
    lookup = FeatureLookup(client, feature_names=["favorite_category"])
    chain = (
        lookup
        | RunnableLambda(lambda x: {**x, "documents": documents()})
        | compressor(client).as_runnable()
    )
    out = await run(chain, {"user_id": "u1"}, use_async)
    assert ids(out["documents"])[0] == "run-cheap"
    assert client.calls == [
        (["u1"], "user", ["favorite_category"]),
        (["u1"], "user", ["preferred_brands", "avg_order_value"]),
    ]


async def test_a_read_the_monitor_refused_is_not_asked_again(
    store: LocalFeatureStore, use_async: bool
) -> None:
    client = CountingClient(store)
    lookup = FeatureLookup(
        client,
        entities={"user": "user_id"},
        feature_names={"user": SPEC.feature_names},
        monitor=gated_monitor(),
    )
    chain = (
        lookup
        | RunnableLambda(lambda x: {**x, "documents": documents()})
        | compressor(client).as_runnable()
    )
    out = await run(chain, {"user_id": "u1"}, use_async)
    assert out["features"].skipped_reason == "monitor_disabled"
    assert out["documents"] == documents()
    assert client.calls == []


async def test_batch_reads_with_one_backend_call(store: LocalFeatureStore, use_async: bool) -> None:
    client = CountingClient(store)
    step = compressor(client).as_runnable()
    inputs: list[Any] = [documents(), {"documents": documents(), "user_id": "cold"}, []]
    configs: list[RunnableConfig] = [configurable("u1"), {}, configurable("u1")]
    out = await step.abatch(inputs, configs) if use_async else step.batch(inputs, configs)
    assert ids(out[0])[2:] == ["hike-cheap", "no-meta", "run-pricey"]
    assert out[1]["documents"] == documents()  # cold: no usable feature
    assert out[2] == []
    assert client.calls == [(["u1", "cold"], "user", SPEC.feature_names)]
    assert step.get_name() == "FeatureRerankCompressor"


# ------------------------------------------------------------------ errors


ORG = FeatureVector.build(
    entity_id="o1",
    entity_type="organization",
    feature_names=["plan"],
    values={"plan": "pro"},
    statuses={"plan": FeatureStatus.PRESENT},
    source="local",
)
EXPECTS = (
    "FeatureRerankCompressor expects a list of Documents, or a dict holding them under "
    "'documents' (and vectors already read under 'features'), got "
)


@pytest.mark.parametrize(
    ("input", "config", "message"),
    [
        ("running shoes", {}, EXPECTS + "str"),
        ({"question": "q", "docs": []}, {}, EXPECTS + "dict"),
        ([Document(page_content="a"), "b"], {}, EXPECTS + "list"),
        (
            {"documents": documents(), "features": "u1"},
            {},
            "features must be a FeatureVector, a mapping {entity_type: FeatureVector} or None "
            "(the output of FeatureLookup), got str",
        ),
        (
            {"documents": documents(), "features": ORG},
            {},
            "The vector under 'features' is for entity type 'organization' (id 'o1'), but the "
            "rerank spec reads 'user'; pass the 'user' vector, or a mapping "
            "{entity_type: FeatureVector}",
        ),
        (
            documents(),
            configurable(1.5),
            "Entity id under 'user_id' must be a string or an integer, got float 1.5",
        ),
    ],
)
async def test_bad_inputs_are_config_errors(
    store: LocalFeatureStore, input: Any, config: Any, message: str, use_async: bool
) -> None:
    with pytest.raises(FeatureConfigError) as info:
        await run(compressor(store).as_runnable(), input, use_async, config)
    assert str(info.value) == message


def test_vectors_already_read_must_fit_the_spec(store: LocalFeatureStore) -> None:
    c = compressor(store)
    with pytest.raises(FeatureConfigError, match="got a vector for 'organization' \\(id 'o1'\\)"):
        c.rerank_documents(documents(), ORG)
    partial = store.get_features("u1", "user", ["favorite_category"])
    with pytest.raises(FeatureConfigError) as info:
        c.rerank_documents(documents(), partial)
    assert "fetched without feature(s) preferred_brands" in str(info.value)
    assert "include spec.feature_names in the lookup's feature_names" in str(info.value)
    with pytest.raises(FeatureConfigError, match="got list"):
        c.rerank_documents(documents(), [partial])
