"""One rerank decision, two adapters: LangChain's compressor and LlamaIndex's postprocessor
order the same documents the same way, and refuse the same arguments with the same words.

The decision is :mod:`llm_featurestore.reranking`; each case runs over both adapters,
sync and async, on a real ``LocalFeatureStore``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.runnables import RunnableConfig
from llama_index.core.schema import NodeWithScore, TextNode

from langchain_featurestore.rerank import FeatureRerankCompressor
from llamaindex_featurestore.context import FeatureQueryBundle
from llamaindex_featurestore.rerank import FeatureRerankPostprocessor
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.reranking import (
    CONTEXT_KEY,
    RERANK_KEY,
    FeatureReranker,
)
from tests.unit.test_langchain_rerank import CATALOGUE, SPEC, WEIGHTS, store

__all__ = ["store"]  # fixture re-exported for pytest

Ranked = list[tuple[str, float]]
"""(id, score) per returned item, in order."""


async def langchain_rank(
    client: FeatureStoreClient,
    spec: FeatureFilterSpec,
    items: list[tuple[str, float, dict[str, Any]]],
    user: str | None,
    use_async: bool,
    **kwargs: Any,
) -> Ranked:
    compressor = FeatureRerankCompressor(client=client, spec=spec, **kwargs)
    docs = [
        Document(page_content=i, id=i, metadata={**meta, "relevance_score": score})
        for i, score, meta in items
    ]
    config: RunnableConfig = {"configurable": {"user_id": user}}
    step = compressor.as_runnable()
    out = await step.ainvoke(docs, config) if use_async else step.invoke(docs, config)
    return [(d.id or "", d.metadata["relevance_score"]) for d in out]


async def llamaindex_rank(
    client: FeatureStoreClient,
    spec: FeatureFilterSpec,
    items: list[tuple[str, float, dict[str, Any]]],
    user: str | None,
    use_async: bool,
    **kwargs: Any,
) -> Ranked:
    pp = FeatureRerankPostprocessor(client, spec, **kwargs)
    nodes = [
        NodeWithScore(node=TextNode(id_=i, text=i, metadata=meta), score=score)
        for i, score, meta in items
    ]
    bundle = FeatureQueryBundle("q", user_id=user)
    if use_async:
        out = await pp.apostprocess_nodes(nodes, query_bundle=bundle)
    else:
        out = pp.postprocess_nodes(nodes, query_bundle=bundle)
    return [(n.node.node_id, n.get_score()) for n in out]


ADAPTERS: dict[str, Callable[..., Any]] = {
    "langchain": langchain_rank,
    "llamaindex": llamaindex_rank,
}
CONTEXT = ("ctx", 0.05, {CONTEXT_KEY: True})
CASES: list[tuple[str | None, dict[str, Any], Ranked]] = [
    (
        "u1",
        {"weights": WEIGHTS},
        [
            ("run-cheap", 1.2),
            ("run-nobrand", 1.2),
            ("hike-cheap", 1.1),
            ("no-meta", 0.6),
            ("run-pricey", 0.5),
        ],
    ),
    (
        "u1",
        {"weights": [-0.5, 0.0, 2.0], "top_n": 3},  # now demote the category, boost price
        [("run-pricey", 2.3), ("hike-cheap", 0.9), ("no-meta", 0.6)],
    ),
    # Default weights (1.0 each), the best three.
    ("u1", {"top_n": 3}, [("run-pricey", 3.8), ("hike-cheap", 1.9), ("run-cheap", 1.7)]),
    ("cold", {"weights": WEIGHTS, "top_n": 2}, [("hike-cheap", 0.9), ("run-pricey", 0.8)]),
    (None, {"weights": WEIGHTS}, [(i, s) for i, s, _ in CATALOGUE]),
]


@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("user", "kwargs", "expected"), CASES)
async def test_both_adapters_rank_alike(
    store: LocalFeatureStore,
    adapter: str,
    use_async: bool,
    user: str | None,
    kwargs: dict[str, Any],
    expected: Ranked,
) -> None:
    got = await ADAPTERS[adapter](store, SPEC, [*CATALOGUE, CONTEXT], user, use_async, **kwargs)
    assert got[0] == ("ctx", 0.05)  # the context item first, untouched
    assert [i for i, _ in got[1:]] == [i for i, _ in expected]
    assert [s for _, s in got[1:]] == pytest.approx([s for _, s in expected])


async def test_both_adapters_record_the_same_boosts(store: LocalFeatureStore) -> None:
    docs = await FeatureRerankCompressor(
        client=store, spec=SPEC, weights=WEIGHTS, user_id="u1"
    ).acompress_documents([Document(page_content="x", metadata=CATALOGUE[1][2])], "q")
    nodes = FeatureRerankPostprocessor(store, SPEC, weights=WEIGHTS).postprocess_nodes(
        [NodeWithScore(node=TextNode(text="x", metadata=CATALOGUE[1][2]))],
        FeatureQueryBundle("q", user_id="u1"),
    )
    assert docs[0].metadata[RERANK_KEY] == pytest.approx(nodes[0].node.metadata[RERANK_KEY])
    assert docs[0].metadata[RERANK_KEY] == pytest.approx(-0.3)


# ------------------------------------------------------------------ error messages


def build_langchain(client: FeatureStoreClient, **kwargs: Any) -> Any:
    return FeatureRerankCompressor(client=client, spec=SPEC, **kwargs)


def build_llamaindex(client: FeatureStoreClient, **kwargs: Any) -> Any:
    return FeatureRerankPostprocessor(client, SPEC, **kwargs)


@pytest.mark.parametrize(
    "build", [build_langchain, build_llamaindex], ids=["langchain", "llamaindex"]
)
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"weights": [1.0]},
            "weights has 1 value(s) but the spec has 3 rule(s); give one weight per rule, "
            "in rule order",
        ),
        ({"weights": [1.0, math.nan, 1.0]}, "weights[1] must be a finite number, got nan"),
        ({"weights": [1.0, 1.0, math.inf]}, "weights[2] must be a finite number, got inf"),
        ({"top_n": 0}, "top_n must be at least 1 (or None for all), got 0"),
        ({"top_n": -3}, "top_n must be at least 1 (or None for all), got -3"),
        ({"top_n": "2"}, "top_n must be at least 1 (or None for all), got '2'"),
        ({"top_n": True}, "top_n must be at least 1 (or None for all), got True"),
        ({"top_n": 1.5}, "top_n must be at least 1 (or None for all), got 1.5"),
        ({"weights": [1.0, "x", 1.0]}, "weights[1] must be a number, got str 'x'"),
        ({"weights": [True, 1.0, 1.0]}, "weights[0] must be a number, got bool True"),
        ({"weights": [1, 2.5, None]}, "weights[2] must be a number, got NoneType None"),
        ({"weights": 0.5}, "weights must be a list of numbers, one per rule, got float 0.5"),
        ({"weights": "1,1,1"}, "weights must be a list of numbers, one per rule, got str '1,1,1'"),
    ],
)
def test_both_adapters_refuse_bad_arguments_alike(
    store: LocalFeatureStore, build: Callable[..., Any], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(FeatureConfigError) as info:
        build(store, **kwargs)
    assert str(info.value) == message
    with pytest.raises(FeatureConfigError) as core:  # the one place the rule lives
        FeatureReranker(SPEC, **kwargs)
    assert str(core.value) == message


def test_core_reranker_without_a_vector_changes_nothing() -> None:
    reranker = FeatureReranker(SPEC, top_n=2)
    assert reranker.weights == (1.0, 1.0, 1.0)
    assert reranker.required_features() == {
        "user": ["favorite_category", "preferred_brands", "avg_order_value"]
    }
    assert reranker.conditions(None) == []
    items = [{"i": 1}, {"i": 2}, {"i": 3}]
    ranked = reranker.rerank(items, None, metadata=lambda m: m, score=lambda m: 0.0)
    assert [(r.item, r.boost) for r in ranked] == [({"i": 1}, None), ({"i": 2}, None)]
    partial = FeatureVector.build(
        entity_id="u1",
        entity_type="user",
        feature_names=["favorite_category"],
        values={"favorite_category": "running"},
        statuses={"favorite_category": FeatureStatus.PRESENT},
        source="local",
    )
    assert reranker.vector({"user": partial}) is None  # lacks features the rules read
    assert reranker.vector({}) is None
    spec = FeatureFilterSpec(rules=[FilterRule(field="c", op="eq", feature="favorite_category")])
    assert FeatureReranker(spec).vector({"user": partial}) is partial
