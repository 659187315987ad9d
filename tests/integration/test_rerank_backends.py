"""Both rerank adapters over real backends: the local store and a real redis-server.

Uses the contract fixtures (``contract_<name>``), whose dataset is in
``tests/contract/harness.py``: 1001 likes running (avg order 120.5), 1002 outerwear
(310.25), 1003 is stale, 9999 is unknown.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_featurestore import RERANK_KEY, FeatureRerankCompressor, FeatureRerankRetriever
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from tests.contract import harness as h
from tests.fixtures.redis import dead_redis_client
from tests.unit.test_langchain_fakes import HashEmbeddings
from tests.unit.test_rerank_adapters import ADAPTERS

pytestmark = pytest.mark.integration

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="price", op="gt", feature="avg_order_value"),
    ]
)
WEIGHTS = [1.0, -2.0]  # the user's category up; over their usual spend down
ITEMS: list[tuple[str, float, dict[str, Any]]] = [
    ("light running shoes", 0.5, {"category": "running", "price": 95.0}),
    ("carbon racing running shoes", 0.9, {"category": "running", "price": 240.0}),
    ("running vest with pockets", 0.4, {"category": "running", "price": 60.0}),
    ("down jacket for winter", 0.8, {"category": "outerwear", "price": 300.0}),
    ("rain shell jacket", 0.7, {"category": "outerwear", "price": 150.0}),
    ("mystery novel paperback", 0.6, {"category": "books", "price": 12.0}),
]
IN_ORDER = [name for name, _, _ in ITEMS]


@pytest.fixture(params=["contract_local", "contract_redis"])
def harness(request: pytest.FixtureRequest) -> h.ContractHarness:
    value: h.ContractHarness = request.getfixturevalue(request.param)
    return value


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (
            "1001",  # running, spends 120.5: the racing shoes (240) and jackets go down
            [
                "light running shoes",
                "running vest with pockets",
                "mystery novel paperback",
                "carbon racing running shoes",
                "down jacket for winter",
                "rain shell jacket",
            ],
        ),
        (
            "1002",  # outerwear, spends 310.25: nothing is over budget
            [
                "down jacket for winter",
                "rain shell jacket",
                "carbon racing running shoes",
                "mystery novel paperback",
                "light running shoes",
                "running vest with pockets",
            ],
        ),
        (h.STALE_ID, IN_ORDER),  # stale features: no rule applies
        (h.MISSING_ID, IN_ORDER),  # cold start
    ],
)
async def test_the_backends_features_order_both_adapters(
    harness: h.ContractHarness,
    adapter: str,
    use_async: bool,
    user: str,
    expected: list[str],
) -> None:
    got = await ADAPTERS[adapter](harness.client, SPEC, ITEMS, user, use_async, weights=WEIGHTS)
    assert [name for name, _ in got] == expected


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_a_dead_redis_leaves_the_order_alone(adapter: str, use_async: bool) -> None:
    client = dead_redis_client()
    try:
        got = await ADAPTERS[adapter](client, SPEC, ITEMS, "1001", use_async, top_n=4)
    finally:
        client.close()
    assert got == [(name, score) for name, score, _ in ITEMS[:4]]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
async def test_rerank_retriever_over_redis(
    contract_redis: h.ContractHarness, use_async: bool
) -> None:
    vs = InMemoryVectorStore(HashEmbeddings())
    vs.add_documents([Document(page_content=t, id=t, metadata=m) for t, _, m in ITEMS])
    compressor = FeatureRerankCompressor(
        client=contract_redis.client, spec=SPEC, weights=WEIGHTS, top_n=3
    )
    retriever = FeatureRerankRetriever(
        base_retriever=vs.as_retriever(search_kwargs={"k": 6}), base_compressor=compressor
    )
    config: Any = {"configurable": {"user_id": "1002"}}
    if use_async:
        out = await retriever.ainvoke("jacket for rain", config)
    else:
        out = retriever.invoke("jacket for rain", config)
    # No scores from the vector store: the boost orders, the two jackets (+1) first.
    assert {d.id for d in out[:2]} == {"down jacket for winter", "rain shell jacket"}
    assert [d.metadata[RERANK_KEY] for d in out] == [1.0, 1.0, 0.0]
