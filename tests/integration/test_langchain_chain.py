"""personalized_rag_chain on real embedded Chroma: one lookup, parallel branches, tracing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_chroma import Chroma
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from langchain_featurestore import (
    FeatureEnricherRunnable,
    FeatureFilteredRetriever,
    FeatureLookup,
    lookup_for,
    personalized_rag_chain,
    personalized_retrieval,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.serving.client import ServingClient
from tests.integration.test_langchain_retriever import _CHROMA, SPEC, catalog_docs, new_store
from tests.unit.test_langchain_fakes import (
    BarrierClient,
    CountingClient,
    DeadBackend,
    Events,
    HashEmbeddings,
    shop_store,
)

pytestmark = pytest.mark.integration

CONFIG = EnricherConfig(task_features={"shop": {"user": ["tier", "favorite_category"]}})
PROMPT = ChatPromptTemplate.from_messages(
    [
        ("system", "Facts:\n{feature_context}\nCatalog:\n{context}"),
        ("human", "{question}"),
    ]
)


@pytest.fixture(scope="module")
def shop() -> Iterator[Chroma]:
    store = new_store(catalog_docs())
    yield store
    store.delete_collection()


class Recorder(Events):
    """Records custom events and the messages each chat model is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.prompts.extend(messages)


def build(vs: Chroma, client: FeatureStoreClient, llm: Any = None, **kw: Any) -> Any:
    retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client, k=2)
    enricher = FeatureEnricher(client, CONFIG)
    llm = llm or FakeListChatModel(responses=["answer"])
    return personalized_rag_chain(retriever, enricher, PROMPT, llm, task_type="shop", **kw)


def system_text(recorder: Recorder, i: int = 0) -> str:
    return str(recorder.prompts[i][0].content)


@pytest.mark.parametrize("use_async", [False, True])
async def test_one_lookup_serves_filter_and_prompt(shop: Chroma, use_async: bool) -> None:
    client = CountingClient(shop_store())
    chain, rec = build(shop, client), Recorder()
    request = {"question": "running gear", "user_id": "u1"}
    config: Any = {"callbacks": [rec]}
    out = await chain.ainvoke(request, config) if use_async else chain.invoke(request, config)
    assert isinstance(out, AIMessage)
    assert out.content == "answer"
    # One lookup, asking for the filter's and the enricher's features together.
    assert client.calls == [
        (["u1"], "user", ["favorite_category", "preferred_brands", "avg_order_value", "tier"])
    ]
    text = system_text(rec)
    assert "gold" in text  # enrichment used the same vector
    assert "running shoes" in text  # filtered documents reached the prompt
    assert "paperback" not in text  # ...and only those
    assert str(rec.prompts[0][1].content) == "running gear"


@pytest.mark.parametrize("use_async", [False, True])
async def test_tracing_sees_features_statuses_and_latency(shop: Chroma, use_async: bool) -> None:
    chain, rec = build(shop, shop_store()), Recorder()
    request = {"question": "novel", "user_id": "u2"}
    config: Any = {"callbacks": [rec]}
    await chain.ainvoke(request, config) if use_async else chain.invoke(request, config)
    events = dict(rec.events)
    assert set(events) == {
        "llm_featurestore.lookup",
        "llm_featurestore.retrieval",
        "llm_featurestore.enrichment",
    }
    assert events["llm_featurestore.lookup"]["entities"]["user"]["statuses"]["tier"] == "present"
    assert events["llm_featurestore.retrieval"]["conditions"] == 3
    enrichment = events["llm_featurestore.enrichment"]
    assert enrichment["features_used"] == ["user.tier", "user.favorite_category"]
    assert enrichment["statuses"] == {"user.tier": "present", "user.favorite_category": "present"}
    assert enrichment["enrichment_latency_ms"] >= 0.0
    names = [n for n, _ in rec.events]
    assert names.index("llm_featurestore.retrieval") < names.index("llm_featurestore.enrichment")


def test_user_id_from_configurable(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    rec = Recorder()
    build(shop, client).invoke(
        {"question": "novel"}, {"configurable": {"user_id": "u2"}, "callbacks": [rec]}
    )
    assert client.calls[0][0] == ["u2"]
    assert "silver" in system_text(rec)


def test_no_user_is_unfiltered_and_unenriched(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    rec = Recorder()
    build(shop, client).invoke({"question": "running"}, {"callbacks": [rec]})
    assert client.calls == []
    events = dict(rec.events)
    assert events["llm_featurestore.retrieval"]["where"] is None
    assert events["llm_featurestore.enrichment"]["skipped_reason"] == "no_entities"
    assert system_text(rec).startswith("Facts:\n\nCatalog:")


def test_batch_answers_every_request_with_one_backend_call(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    rec = Recorder()
    llm = FakeListChatModel(responses=["a", "b", "c"])
    outs = build(shop, client, llm).batch(
        [{"question": "q", "user_id": u} for u in ("u1", "u2", "u1")], {"callbacks": [rec]}
    )
    assert sorted(str(o.content) for o in outs) == ["a", "b", "c"]
    assert client.batches == [["u1", "u2"]]  # one call for 3 inputs, each id once
    facts = sorted("gold" in str(p[0].content) for p in rec.prompts)
    assert facts == [False, True, True]


def test_stream_yields_chunks(shop: Chroma) -> None:
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="one two three")]))
    chunks = list(build(shop, shop_store(), llm).stream({"question": "q", "user_id": "u1"}))
    assert len(chunks) > 1
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert "".join(str(c.content) for c in chunks) == "one two three"


async def test_astream_yields_chunks(shop: Chroma) -> None:
    llm = GenericFakeChatModel(messages=iter([AIMessage(content="alpha beta")]))
    chain = build(shop, shop_store(), llm)
    chunks = [c async for c in chain.astream({"question": "q", "user_id": "u2"})]
    assert len(chunks) > 1
    assert "".join(str(c.content) for c in chunks) == "alpha beta"


@pytest.mark.parametrize("use_async", [False, True])
async def test_dead_store_never_fails_the_chain(shop: Chroma, use_async: bool) -> None:
    client = ServingClient(DeadBackend(), fallback_on_timeout=True)
    chain, rec = build(shop, client), Recorder()
    request = {"question": "running", "user_id": "u1"}
    config: Any = {"callbacks": [rec]}
    out = await chain.ainvoke(request, config) if use_async else chain.invoke(request, config)
    assert out.content == "answer"
    events = dict(rec.events)
    assert events["llm_featurestore.retrieval"]["where"] is None
    assert events["llm_featurestore.enrichment"]["store_available"] is False
    assert events["llm_featurestore.enrichment"]["features_used"] == []
    assert system_text(rec).startswith("Facts:\n\nCatalog:")


@pytest.mark.parametrize("use_async", [False, True])
async def test_lookup_and_retrieval_branches_run_concurrently(
    shop: Chroma, use_async: bool
) -> None:
    """Structure, not time: the lookup and the query embedding each wait on a barrier of
    two, so the chain completes only if both branches were in flight at once."""
    barrier = threading.Barrier(2, timeout=10)
    vs = Chroma(
        collection_name=shop._collection.name,
        embedding_function=HashEmbeddings(barrier),
        client=_CHROMA,
    )
    client = BarrierClient(shop_store(), barrier)
    chain = build(vs, client)
    request = {"question": "running", "user_id": "u1"}
    out = await chain.ainvoke(request) if use_async else chain.invoke(request)
    assert out.content == "answer"
    assert len(client.calls) == 1
    assert not barrier.broken


def test_sequential_composition_would_deadlock_on_the_barrier(shop: Chroma) -> None:
    """The control: lookup then retrieval, one after the other, cannot pass the barrier."""
    barrier = threading.Barrier(2, timeout=0.3)
    vs = Chroma(
        collection_name=shop._collection.name,
        embedding_function=HashEmbeddings(barrier),
        client=_CHROMA,
    )
    client = BarrierClient(shop_store(), barrier)
    retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client)
    # A dict input is accepted at run time; BaseRetriever types its input as str.
    sequential = FeatureLookup(client, feature_names=SPEC.feature_names) | retriever  # type: ignore[operator]
    with pytest.raises(threading.BrokenBarrierError):
        sequential.invoke({"question": "running", "user_id": "u1"})


def test_documented_lcel_pattern_with_a_custom_lookup(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    retriever = FeatureFilteredRetriever(vectorstore=shop, filter_spec=SPEC, client=client, k=2)
    enricher = FeatureEnricher(client, CONFIG)
    lookup = FeatureLookup(
        client, feature_names=[*SPEC.feature_names, "tier"], output_key="vec", id_key="uid"
    )
    chain = personalized_rag_chain(
        retriever,
        enricher,
        PROMPT,
        RunnableLambda(lambda p: p.to_messages()[0].content),
        lookup=lookup,
        task_type="shop",
    )
    text = chain.invoke({"question": "novel", "uid": "u2"})
    assert "silver" in text
    assert "paperback novel" in text
    assert "running shoes" not in text
    assert len(client.calls) == 1


def test_lookup_for_merges_filter_and_task_features(shop: Chroma) -> None:
    retriever = FeatureFilteredRetriever(
        vectorstore=shop, filter_spec=SPEC, client=shop_store(), id_key="customer"
    )
    enricher = FeatureEnricher(
        shop_store(),
        EnricherConfig(task_features={"t": {"user": ["tier"], "organization": ["plan"]}}),
    )
    lookup = lookup_for(retriever, enricher, task_type="t")
    assert lookup.entities == {"user": "customer", "organization": "organization_id"}
    assert lookup.feature_names == {
        "user": ["favorite_category", "preferred_brands", "avg_order_value", "tier"],
        "organization": ["plan"],
    }
    out = lookup.invoke({"customer": "u1", "organization_id": "o1"})
    assert out["features"]["organization"].features == {"plan": "enterprise"}


def test_lookup_for_with_nothing_to_look_up(shop: Chroma) -> None:
    retriever = FeatureFilteredRetriever(
        vectorstore=shop, filter_spec=FeatureFilterSpec(), client=shop_store()
    )
    with pytest.raises(FeatureConfigError, match="Nothing to look up"):
        lookup_for(retriever, None)


def test_enricher_runnable_after_lookup_in_plain_lcel(shop: Chroma) -> None:
    client = CountingClient(shop_store())
    enricher = FeatureEnricher(client, CONFIG)
    chain = (
        FeatureLookup(client, feature_names=["tier", "favorite_category"])
        | FeatureEnricherRunnable(enricher, task_type="shop", output="variables")
        | PROMPT.partial(context="")
    )
    value = chain.invoke({"question": "hi", "user_id": "u1"})
    assert "gold" in str(value.to_messages()[0].content)
    assert len(client.calls) == 1


class Runs(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts: list[tuple[str | None, list[str]]] = []
        self.errors: list[BaseException] = []

    def on_chain_start(
        self, serialized: Any, inputs: Any, *, tags: list[str] | None = None, **kwargs: Any
    ) -> None:
        self.starts.append((kwargs.get("name"), list(tags or [])))

    def on_chain_error(self, error: BaseException, **kwargs: Any) -> None:
        self.errors.append(error)


@pytest.mark.parametrize("use_async", [False, True])
async def test_parallel_step_traces_like_runnable_parallel(shop: Chroma, use_async: bool) -> None:
    runs = Runs()
    chain = build(shop, shop_store())
    request = {"question": "q", "user_id": "u1"}
    config: Any = {"callbacks": [runs]}
    await chain.ainvoke(request, config) if use_async else chain.invoke(request, config)
    names = [name for name, _ in runs.starts]
    assert "feature_lookup_and_retrieval" in names
    tags = {tag for _, t in runs.starts for tag in t}
    assert {"map:key:request", "map:key:candidates"} <= tags


def test_parallel_step_reports_a_failing_branch(shop: Chroma) -> None:
    runs = Runs()
    chain = build(shop, shop_store())
    with pytest.raises(FeatureConfigError, match="must be a string or an integer"):
        chain.invoke({"question": "q", "user_id": 1.5}, {"callbacks": [runs]})
    assert any(isinstance(e, FeatureConfigError) for e in runs.errors)


@pytest.mark.parametrize("use_async", [False, True])
async def test_personalized_retrieval_returns_documents_and_features(
    shop: Chroma, use_async: bool
) -> None:
    client = CountingClient(shop_store())
    retriever = FeatureFilteredRetriever(vectorstore=shop, filter_spec=SPEC, client=client, k=3)
    stage = personalized_retrieval(retriever)
    request = {"question": "running gear", "user_id": "u1", "extra": 1}
    out = await stage.ainvoke(request) if use_async else stage.invoke(request)
    assert out["extra"] == 1
    assert out["features"]["user"].features["favorite_category"] == "shoes"
    assert {d.id for d in out["documents"]} == {"p0", "p1", "p8"}
    assert client.calls == [(["u1"], "user", SPEC.feature_names)]
