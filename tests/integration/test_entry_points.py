"""Every entry point keeps the serving guarantees, because every one reads through the one
read flow: one parametrised test per guarantee, over every entry point, sync and async.

Entry points: ``enrich``/``aenrich``, ``FeatureLookup``, ``FeatureEnricherRunnable``, the
LangChain ``FeatureFilteredRetriever``, ``personalized_rag_chain``, the LlamaIndex
``FeatureFilteredRetriever``, ``FeatureContextPostprocessor``, ``FeatureRerankPostprocessor``
and ``personalized_query_engine``. Real components throughout: embedded Chroma, the real
local store behind a real ``ServingClient``, LangChain's and LlamaIndex's own runnables.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore, TextNode

from langchain_featurestore import (
    FeatureEnricherRunnable,
    FeatureLookup,
    personalized_rag_chain,
)
from langchain_featurestore import FeatureFilteredRetriever as LCRetriever
from llamaindex_featurestore import (
    FeatureContextPostprocessor,
    FeatureQueryBundle,
    FeatureRerankPostprocessor,
    personalized_query_engine,
)
from llamaindex_featurestore import FeatureFilteredRetriever as LIRetriever
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import InvalidEntityIdError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.serving import CoalesceConfig, ServingClient
from tests.contract.wrappers import CountingClient, Wrapper
from tests.integration.test_langchain_retriever import new_store
from tests.integration.test_llamaindex_support import PRODUCTS, RecordingLLM, chroma_index
from tests.unit.test_langchain_fakes import Events

pytestmark = pytest.mark.integration
__all__ = ["chroma_index"]  # fixture re-exported for pytest

CATEGORIES = ["running", "hiking", "yoga", "cycling", "swimming"]
TASK = "shop"
CONFIG = EnricherConfig(task_features={TASK: {"user": ["favorite_category", "tier"]}})
SPEC = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="favorite_category")])
USERS = {f"u{i:03d}": CATEGORIES[i % len(CATEGORIES)] for i in range(50)}
BAD_ID = "guest-7f3a"
MAX_BATCH = 16
QUESTION = "training gear item"


class StrictIds(Wrapper):
    """A real store whose join key takes only ``u<digits>`` ids, as an Int64 key takes only
    digits: it names every id it cannot take, as FeastClient does."""

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        bad = [e for e in entity_ids if not re.fullmatch(r"u\d+", e)]
        if bad:
            raise InvalidEntityIdError(
                f"ids {bad} are not valid keys", entity_type=entity_type, entity_ids=bad
            )
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return self.get_batch_features(entity_ids, entity_type, feature_names)


def make_store() -> LocalFeatureStore:
    store = LocalFeatureStore()
    for uid, category in USERS.items():
        store.write_features(uid, "user", {"favorite_category": category, "tier": "gold"})
    return store


@dataclass
class Stack:
    """What one entry point reads through: the counted backend, the client, the monitor."""

    backend: CountingClient
    client: FeatureStoreClient
    monitor: FeatureMonitor


def stack(*, coalesce: bool = False, fallback: bool = True) -> Stack:
    backend = CountingClient(StrictIds(make_store()))
    client = ServingClient(
        backend,
        timeout_ms=None,
        fallback_on_timeout=fallback,
        coalesce=CoalesceConfig(window_ms=50, max_batch=MAX_BATCH) if coalesce else None,
    )
    return Stack(backend, client, FeatureMonitor())


# An entry point: given the stack and a user id, run one request (sync or async) and say
# which favourite category the request saw (None: no features reached it).
Call = Callable[[str], Any]


@dataclass
class EntryPoint:
    name: str
    build: Callable[[Stack, Any], tuple[Callable[[str], str | None], Callable[[str], Any]]]


def _from_result(result: Any) -> str | None:
    value = result.variables["features_by_name"].get("user.favorite_category")
    return None if value is None else str(value)


def _enricher(s: Stack) -> FeatureEnricher:
    return FeatureEnricher(s.client, CONFIG, monitor=s.monitor)


def build_enrich(s: Stack, _: Any) -> tuple[Call, Call]:
    enricher = _enricher(s)
    return (
        lambda u: _from_result(enricher.enrich(QUESTION, user_id=u, task_type=TASK)),
        lambda u: _aresult(enricher.aenrich(QUESTION, user_id=u, task_type=TASK)),
    )


async def _aresult(coro: Any) -> str | None:
    return _from_result(await coro)


def _lookup_value(out: dict[str, Any]) -> str | None:
    vector = out["features"]
    value = None if vector is None else vector.features.get("favorite_category")
    return None if value is None else str(value)


def build_lookup(s: Stack, _: Any) -> tuple[Call, Call]:
    lookup = FeatureLookup(s.client, feature_names=["favorite_category"], monitor=s.monitor)

    async def run(u: str) -> str | None:
        return _lookup_value(await lookup.ainvoke({"user_id": u}))

    return (lambda u: _lookup_value(lookup.invoke({"user_id": u}))), run


def build_runnable(s: Stack, _: Any) -> tuple[Call, Call]:
    runnable = FeatureEnricherRunnable(_enricher(s), task_type=TASK, output="result")

    async def run(u: str) -> str | None:
        return _from_result(await runnable.ainvoke({"question": QUESTION, "user_id": u}))

    return (lambda u: _from_result(runnable.invoke({"question": QUESTION, "user_id": u}))), run


def _where_value(events: Events) -> str | None:
    where = dict(events.events).get("llm_featurestore.retrieval", {}).get("where")
    match = re.search(r"'\$eq': '(\w+)'", repr(where))
    return match.group(1) if match else None


def build_lc_retriever(s: Stack, resources: Any) -> tuple[Call, Call]:
    retriever = LCRetriever(
        vectorstore=resources.lc_store, filter_spec=SPEC, client=s.client, monitor=s.monitor
    )

    def run(u: str) -> str | None:
        events = Events()
        retriever.invoke(QUESTION, {"callbacks": [events]}, user_id=u)
        return _where_value(events)

    async def arun(u: str) -> str | None:
        events = Events()
        await retriever.ainvoke(QUESTION, {"callbacks": [events]}, user_id=u)
        return _where_value(events)

    return run, arun


PROMPT = ChatPromptTemplate.from_messages(
    [("system", "{feature_context}"), ("human", "{question}")]
)
_ECHO = RunnableLambda(lambda prompt: prompt.to_string())


def _fact(text: str) -> str | None:
    match = re.search(r"- Favorite category: (\w+)", text)
    return match.group(1) if match else None


def build_chain(s: Stack, resources: Any) -> tuple[Call, Call]:
    retriever = LCRetriever(vectorstore=resources.lc_store, filter_spec=SPEC, client=s.client)
    chain = personalized_rag_chain(retriever, _enricher(s), PROMPT, _ECHO, task_type=TASK)

    async def run(u: str) -> str | None:
        return _fact(await chain.ainvoke({"question": QUESTION, "user_id": u}))

    return (lambda u: _fact(chain.invoke({"question": QUESTION, "user_id": u}))), run


def _bundle_value(bundle: FeatureQueryBundle) -> str | None:
    vector = bundle.vectors.get("user")
    value = None if vector is None else vector.usable.get("favorite_category")
    return None if value is None else str(value)


def _nodes() -> list[NodeWithScore]:
    return [
        NodeWithScore(
            node=TextNode(text=p["text"], metadata={"category": p["category"]}), score=0.5
        )
        for p in PRODUCTS[:10]
    ]


def _bundle_entry(
    sync: Callable[[FeatureQueryBundle], Any], asynchronous: Any
) -> tuple[Call, Call]:
    def run(u: str) -> str | None:
        bundle = FeatureQueryBundle(QUESTION, user_id=u)
        sync(bundle)
        return _bundle_value(bundle)

    async def arun(u: str) -> str | None:
        bundle = FeatureQueryBundle(QUESTION, user_id=u)
        await asynchronous(bundle)
        return _bundle_value(bundle)

    return run, arun


def build_li_retriever(s: Stack, resources: Any) -> tuple[Call, Call]:
    retriever = LIRetriever(resources.li_index, s.client, SPEC, monitor=s.monitor)
    return _bundle_entry(retriever.retrieve, retriever.aretrieve)


def build_li_context(s: Stack, _: Any) -> tuple[Call, Call]:
    post = FeatureContextPostprocessor(_enricher(s), task_type=TASK)
    return _bundle_entry(
        lambda b: post.postprocess_nodes(_nodes(), b),
        lambda b: post.apostprocess_nodes(_nodes(), b),
    )


def build_li_rerank(s: Stack, _: Any) -> tuple[Call, Call]:
    post = FeatureRerankPostprocessor(s.client, SPEC, monitor=s.monitor)
    return _bundle_entry(
        lambda b: post.postprocess_nodes(_nodes(), b),
        lambda b: post.apostprocess_nodes(_nodes(), b),
    )


def build_li_engine(s: Stack, resources: Any) -> tuple[Call, Call]:
    context = FeatureContextPostprocessor(_enricher(s), task_type=TASK)
    engine = personalized_query_engine(
        resources.li_index, s.client, llm=RecordingLLM(), filter_spec=SPEC, context=context
    )
    return _bundle_entry(engine.query, engine.aquery)


ENTRY_POINTS = [
    EntryPoint("enrich", build_enrich),
    EntryPoint("FeatureLookup", build_lookup),
    EntryPoint("FeatureEnricherRunnable", build_runnable),
    EntryPoint("langchain.FeatureFilteredRetriever", build_lc_retriever),
    EntryPoint("personalized_rag_chain", build_chain),
    EntryPoint("llamaindex.FeatureFilteredRetriever", build_li_retriever),
    EntryPoint("FeatureContextPostprocessor", build_li_context),
    EntryPoint("FeatureRerankPostprocessor", build_li_rerank),
    EntryPoint("personalized_query_engine", build_li_engine),
]


@dataclass
class Resources:
    lc_store: Chroma
    li_index: VectorStoreIndex


@pytest.fixture(scope="module")
def resources(chroma_index: VectorStoreIndex) -> Iterator[Resources]:
    docs = [
        Document(page_content=p["text"], metadata={"category": p["category"]}, id=p["id"])
        for p in PRODUCTS
    ]
    lc_store = new_store(docs)
    yield Resources(lc_store, chroma_index)
    lc_store.delete_collection()


@pytest.fixture(params=ENTRY_POINTS, ids=[e.name for e in ENTRY_POINTS])
def entry(request: pytest.FixtureRequest) -> EntryPoint:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def run_many(sync: Call, asynchronous: Call, users: Sequence[str], use_async: bool) -> list[Any]:
    """Run one request per user, all at once: tasks on one loop, or threads that start
    together (a barrier), so coalescing sees them as concurrent."""
    if use_async:

        async def gather() -> list[Any]:
            return list(await asyncio.gather(*(asynchronous(u) for u in users)))

        return asyncio.run(gather())
    barrier = threading.Barrier(len(users))

    def one(u: str) -> Any:
        barrier.wait()
        return sync(u)

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        return list(pool.map(one, users))


def warm_up(sync: Call, s: Stack) -> None:
    """One request first, so one-time costs (tokenizer, lazy imports) do not spread the
    concurrent requests' arrival beyond the coalescing window; its call is not counted."""
    assert sync("u000") == USERS["u000"]
    s.backend.calls.clear()


def test_an_open_store_gate_means_no_store_call(
    entry: EntryPoint, resources: Resources, use_async: bool
) -> None:
    s = stack()
    for _ in range(s.monitor.disable_after_failures):
        s.monitor.record_read(False)  # the store gate opens
    assert s.monitor.should_read(None) is False
    sync, asynchronous = entry.build(s, resources)
    seen = run_many(sync, asynchronous, ["u001", "u002"], use_async)
    assert seen == [None, None]
    assert s.backend.calls == []


def test_concurrent_requests_coalesce_into_few_backend_calls(
    entry: EntryPoint, resources: Resources, use_async: bool
) -> None:
    s = stack(coalesce=True)
    sync, asynchronous = entry.build(s, resources)
    warm_up(sync, s)
    users = list(USERS)
    seen = run_many(sync, asynchronous, users, use_async)
    assert seen == [USERS[u] for u in users]  # each request saw its own user's features
    # Full batches, plus slack for stragglers on a loaded machine: 50 requests in at most
    # 6 calls, where without coalescing there are 50.
    assert 1 <= len(s.backend.calls) <= math.ceil(len(users) / MAX_BATCH) + 2


def test_one_invalid_id_leaves_the_others_correct(
    entry: EntryPoint, resources: Resources, use_async: bool
) -> None:
    s = stack(coalesce=True)
    sync, asynchronous = entry.build(s, resources)
    warm_up(sync, s)
    users = [*list(USERS)[:49], BAD_ID]
    seen = run_many(sync, asynchronous, users, use_async)
    assert seen[:49] == [USERS[u] for u in users[:49]]
    assert seen[49] is None  # the invalid id degrades; it fails nobody else
    assert s.client.stats.rejected == 1  # type: ignore[attr-defined]
    read = s.client.get_features(BAD_ID, "user", ["favorite_category"])
    assert read.statuses == {"favorite_category": FeatureStatus.INVALID_ID}


# ------------------------------------------------------------------ batch


def _batchers(s: Stack, resources: Resources) -> dict[str, tuple[Any, Callable[[str], Any]]]:
    """Runnable and input builder for each component with a batch API."""
    retriever = LCRetriever(vectorstore=resources.lc_store, filter_spec=SPEC, client=s.client)
    enricher = _enricher(s)
    return {
        "FeatureLookup": (
            FeatureLookup(s.client, feature_names=["favorite_category"]),
            lambda u: {"user_id": u},
        ),
        "FeatureEnricherRunnable": (
            FeatureEnricherRunnable(enricher, task_type=TASK),
            lambda u: {"question": QUESTION, "user_id": u},
        ),
        "langchain.FeatureFilteredRetriever": (
            retriever,
            lambda u: {"question": QUESTION, "user_id": u},
        ),
        "personalized_rag_chain": (
            personalized_rag_chain(retriever, enricher, PROMPT, _ECHO, task_type=TASK),
            lambda u: {"question": QUESTION, "user_id": u},
        ),
    }


BATCHERS = [
    "FeatureLookup",
    "FeatureEnricherRunnable",
    "langchain.FeatureFilteredRetriever",
    "personalized_rag_chain",
]


@pytest.mark.parametrize("name", BATCHERS)
def test_batch_of_five_inputs_is_one_backend_call(
    name: str, resources: Resources, use_async: bool
) -> None:
    s = stack()
    runnable, make_input = _batchers(s, resources)[name]
    users = list(USERS)[:5]
    inputs = [make_input(u) for u in users]
    outputs = asyncio.run(runnable.abatch(inputs)) if use_async else runnable.batch(inputs)
    assert len(outputs) == 5
    assert s.backend.batches == [users]
    singles = [runnable.invoke(i) for i in inputs]  # the same answers one at a time
    assert [_essence(o) for o in outputs] == [_essence(o) for o in singles]
    assert len(s.backend.calls) == 1 + len(users)


def _essence(output: Any) -> Any:
    """What an output says about the user, without the read's timestamps."""
    if isinstance(output, list):
        return [(d.page_content, d.metadata["category"]) for d in output]
    if isinstance(output, dict):
        return output["features"].usable
    return output
