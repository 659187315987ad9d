"""The LangChain adapter over real backends: the local store and Feast on SQLite.

Uses the contract fixtures (``contract_<name>``), whose dataset is in
``tests/contract/harness.py``: 1001 likes running (avg order 120.5), 1002 outerwear
(310.25), 1003 is stale, 9999 is unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_chroma import Chroma
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate

from langchain_featurestore import FeatureFilteredRetriever, personalized_rag_chain
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from tests.contract import harness as h
from tests.integration.test_langchain_chain import Recorder
from tests.integration.test_langchain_retriever import _CHROMA
from tests.unit.test_langchain_fakes import CountingClient, HashEmbeddings

pytestmark = pytest.mark.integration

BACKENDS = ["contract_local", "contract_feast_sqlite"]
SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="price", op="lte", feature="avg_order_value"),
    ]
)
ITEMS = [
    ("light running shoes", "running", 95.0),
    ("carbon racing running shoes", "running", 240.0),
    ("running vest with pockets", "running", 60.0),
    ("down jacket for winter", "outerwear", 300.0),
    ("rain shell jacket", "outerwear", 150.0),
    ("mystery novel paperback", "books", 12.0),
]


@pytest.fixture(scope="module")
def gear() -> Iterator[Chroma]:
    store = Chroma(
        collection_name=f"gear-{uuid.uuid4().hex[:8]}",
        embedding_function=HashEmbeddings(),
        client=_CHROMA,
    )
    store.add_documents(
        [
            Document(page_content=t, metadata={"category": c, "price": p}, id=f"g{i}")
            for i, (t, c, p) in enumerate(ITEMS)
        ]
    )
    yield store
    store.delete_collection()


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> h.ContractHarness:
    value: h.ContractHarness = request.getfixturevalue(request.param)
    return value


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("1001", {"g0", "g2"}),  # running, at most 120.5
        ("1002", {"g3", "g4"}),  # outerwear, at most 310.25
        (h.STALE_ID, None),  # stale features drop every rule: unfiltered
        (h.MISSING_ID, None),  # cold start: unfiltered
    ],
)
@pytest.mark.parametrize("use_async", [False, True])
async def test_filtered_retrieval_over_the_backend(
    gear: Chroma, harness: h.ContractHarness, user: str, expected: set[str] | None, use_async: bool
) -> None:
    retriever = FeatureFilteredRetriever(vectorstore=gear, filter_spec=SPEC, client=harness.client)
    if use_async:
        docs = await retriever.ainvoke("jacket shoes", user_id=user, k=6)
    else:
        docs = retriever.invoke("jacket shoes", user_id=user, k=6)
    got = {d.id for d in docs}
    assert got == (expected if expected is not None else {f"g{i}" for i in range(len(ITEMS))})


def test_dead_feast_falls_back_to_unfiltered(
    gear: Chroma, contract_feast_sqlite: h.ContractHarness
) -> None:
    assert contract_feast_sqlite.make_dead_client is not None
    dead = contract_feast_sqlite.make_dead_client()
    try:
        retriever = FeatureFilteredRetriever(vectorstore=gear, filter_spec=SPEC, client=dead)
        docs = retriever.invoke("jacket", user_id="1001", k=6)
    finally:
        dead.close()
    assert len(docs) == len(ITEMS)


@pytest.mark.parametrize("use_async", [False, True])
async def test_chain_over_the_backend_makes_one_lookup(
    gear: Chroma, harness: h.ContractHarness, use_async: bool
) -> None:
    client = CountingClient(harness.client)
    retriever = FeatureFilteredRetriever(vectorstore=gear, filter_spec=SPEC, client=client, k=2)
    enricher = FeatureEnricher(
        client, EnricherConfig(task_features={"shop": {"user": ["purchases_30d"]}})
    )
    prompt = ChatPromptTemplate.from_messages(
        [("system", "{feature_context}\n{context}"), ("human", "{question}")]
    )
    chain = personalized_rag_chain(
        retriever, enricher, prompt, FakeListChatModel(responses=["ok"]), task_type="shop"
    )
    rec = Recorder()
    request = {"question": "running", "user_id": "1001"}
    config: Any = {"callbacks": [rec]}
    out = await chain.ainvoke(request, config) if use_async else chain.invoke(request, config)
    assert out.content == "ok"
    assert client.calls == [
        (["1001"], "user", ["favorite_category", "avg_order_value", "purchases_30d"])
    ]
    assert dict(rec.events)["llm_featurestore.enrichment"]["features_used"] == [
        "user.purchases_30d"
    ]
    system = str(rec.prompts[0][0].content)
    assert "light running shoes" in system
    assert "carbon racing" not in system  # over the user's price limit
