"""FeatureFilteredRetriever over real embedded Chroma, sync and async."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from llamaindex_featurestore.context import FeatureQueryBundle, user_context
from llamaindex_featurestore.retriever import BACKFILL_KEY, FeatureFilteredRetriever
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.serving.client import ServingClient
from tests.contract.wrappers import CountingClient
from tests.fixtures.redis import dead_redis_client
from tests.integration.test_llamaindex_support import (
    CATEGORIES,
    SPEC,
    chroma_index,
    many_users,
    store,
)

pytestmark = pytest.mark.integration
__all__ = ["chroma_index", "store"]  # fixtures re-exported for pytest

QUERY = "gear item for training"


def retrieve(
    retriever: FeatureFilteredRetriever, query: str | QueryBundle, use_async: bool
) -> list[NodeWithScore]:
    if use_async:
        return asyncio.run(retriever.aretrieve(query))
    return retriever.retrieve(query)


def metas(nodes: list[NodeWithScore]) -> list[dict[str, Any]]:
    return [n.node.metadata for n in nodes]


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_filters_by_category_and_budget(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=10)
    nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="u-run"), use_async)
    # running, price <= 150: exactly running-0..3
    assert sorted(n.node.node_id for n in nodes) == [f"running-{i}" for i in range(4)]
    assert all(BACKFILL_KEY not in m for m in metas(nodes))


def test_in_rule_with_list_feature(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=10)
    nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="u-hike"), use_async)
    assert sorted(n.node.node_id for n in nodes) == ["hiking-0", "hiking-3"]


def test_missing_feature_drops_only_its_rule(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    # u-run has no preferred_brands: the brand rule is dropped, the others still apply.
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=30)
    nodes = r.retrieve(FeatureQueryBundle(QUERY, user_id="u-run"))
    assert {m["brand"] for m in metas(nodes)} == {"acme", "globex", "initech"}
    assert {m["category"] for m in metas(nodes)} == {"running"}


@pytest.mark.parametrize("user", [None, "u-nothing", "unknown-user"])
def test_no_user_or_no_usable_feature_searches_unfiltered(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, user: str | None, use_async: bool
) -> None:
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=30)
    nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id=user), use_async)
    assert len(nodes) == 30
    assert {m["category"] for m in metas(nodes)} == set(CATEGORIES)


def test_backfill_fills_up_to_top_k_and_marks_nodes(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=5, backfill=True)
    nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="u-yoga-cheap"), use_async)
    assert len(nodes) == 5
    assert nodes[0].node.node_id == "yoga-0"
    assert BACKFILL_KEY not in nodes[0].node.metadata
    assert all(n.node.metadata[BACKFILL_KEY] is True for n in nodes[1:])
    assert len({n.node.node_id for n in nodes}) == 5
    # The marker is for code, not for the model or the embedding.
    assert BACKFILL_KEY not in nodes[1].node.get_content(metadata_mode="llm")  # type: ignore[arg-type]


def test_no_backfill_by_default(chroma_index: VectorStoreIndex, store: LocalFeatureStore) -> None:
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=5)
    nodes = r.retrieve(FeatureQueryBundle(QUERY, user_id="u-yoga-cheap"))
    assert [n.node.node_id for n in nodes] == ["yoga-0"]


def test_backfill_keeps_static_filters(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    tenant = MetadataFilters(
        filters=[MetadataFilter(key="brand", value="acme", operator=FilterOperator.EQ)]
    )
    r = FeatureFilteredRetriever(
        chroma_index, store, SPEC, similarity_top_k=6, backfill=True, filters=tenant
    )
    nodes = r.retrieve(FeatureQueryBundle(QUERY, user_id="u-yoga-cheap"))
    assert len(nodes) == 6
    assert {m["brand"] for m in metas(nodes)} == {"acme"}
    # yoga-0 is acme and within budget: the one true match, first.
    assert nodes[0].node.node_id == "yoga-0"


def test_user_from_context_variable_and_constructor(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=10, user_id="u-hike")
    assert {m["category"] for m in metas(retrieve(r, QUERY, use_async))} == {"hiking"}
    with user_context("u-run"):
        assert {m["category"] for m in metas(retrieve(r, QUERY, use_async))} == {"running"}
        # The query bundle wins over the context variable.
        bundle = FeatureQueryBundle(QUERY, user_id="u-yoga-cheap")
        assert [n.node.node_id for n in retrieve(r, bundle, use_async)] == ["yoga-0"]


def test_one_lookup_per_query_shared_through_the_bundle(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    client = CountingClient(store)
    r = FeatureFilteredRetriever(
        chroma_index, client, SPEC, prefetch={"user": ["tier"], "organization": ["brand_voice"]}
    )
    bundle = FeatureQueryBundle(QUERY, user_id="u-run", entities={"organization": "acme-corp"})
    r.retrieve(bundle)
    assert sorted(client.calls) == [
        (["acme-corp"], "organization", ["brand_voice"]),
        (["u-run"], "user", [*SPEC.feature_names, "tier"]),
    ]
    assert bundle.vectors["user"].entity_id == "u-run"
    assert bundle.vectors["organization"].features == {"brand_voice": "plain and friendly"}
    r.retrieve(bundle)  # same query bundle: served from its cache
    assert len(client.calls) == 2


async def test_100_concurrent_users_each_get_only_their_category(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    users = many_users(100)
    r = FeatureFilteredRetriever(chroma_index, store, SPEC, similarity_top_k=4)

    async def one(uid: str) -> list[NodeWithScore]:
        with user_context(uid):
            await asyncio.sleep(0)  # let the other tasks interleave
            return await r.aretrieve(QUERY)

    results = await asyncio.gather(*(one(uid) for uid in users))
    for uid, nodes in zip(users, results, strict=True):
        assert len(nodes) == 4, uid
        assert {m["category"] for m in metas(nodes)} == {users[uid]}, uid


def test_dead_store_with_serving_fallback_searches_unfiltered(
    chroma_index: VectorStoreIndex, use_async: bool
) -> None:
    client = ServingClient(dead_redis_client(), timeout_ms=2000, circuit_breaker=None)
    r = FeatureFilteredRetriever(chroma_index, client, SPEC, similarity_top_k=30)
    nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="u-run"), use_async)
    assert len(nodes) == 30
    assert {m["category"] for m in metas(nodes)} == set(CATEGORIES)
    assert client.stats.fallbacks >= 1


def test_dead_store_without_serving_client_falls_back_and_warns(
    chroma_index: VectorStoreIndex, use_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    r = FeatureFilteredRetriever(chroma_index, dead_redis_client(), SPEC, similarity_top_k=30)
    with caplog.at_level(logging.WARNING, logger="llamaindex_featurestore.context"):
        nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="u-run"), use_async)
    assert {m["category"] for m in metas(nodes)} == set(CATEGORIES)
    assert "Feature lookup for user 'u-run' failed (unavailable); continuing without it" in (
        caplog.text
    )


@pytest.mark.parametrize("wrap", [False, True], ids=["raw", "serving-no-fallback"])
def test_dead_store_with_fallback_off_raises(
    chroma_index: VectorStoreIndex, wrap: bool, use_async: bool
) -> None:
    client: FeatureStoreClient = dead_redis_client()
    if wrap:
        client = ServingClient(client, fallback_on_timeout=False, circuit_breaker=None)
    r = FeatureFilteredRetriever(chroma_index, client, SPEC, fallback=False)
    with pytest.raises(FeatureStoreUnavailableError):
        retrieve(r, FeatureQueryBundle(QUERY, user_id="u-run"), use_async)


def test_boolean_feature_value_filters(chroma_index: VectorStoreIndex) -> None:
    # MetadataFilter's strict types reject bools; the retriever still passes them to Chroma.
    spec = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="cat")])
    local = LocalFeatureStore()
    local.write_features("b", "user", {"cat": True})
    r = FeatureFilteredRetriever(chroma_index, local, spec, similarity_top_k=5)
    assert r.retrieve(FeatureQueryBundle(QUERY, user_id="b")) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"similarity_top_k": 0}, "similarity_top_k must be at least 1, got 0"),
        (
            {"retriever_kwargs": {"filters": None}},
            "retriever_kwargs may not set filters; pass similarity_top_k= and filters=",
        ),
    ],
)
def test_constructor_errors(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        FeatureFilteredRetriever(chroma_index, store, SPEC, **kwargs)


def test_unknown_feature_in_spec_is_a_config_error(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    spec = FeatureFilterSpec(rules=[FilterRule(field="x", op="eq", feature="no_such_feature")])
    r = FeatureFilteredRetriever(chroma_index, store, spec)
    with pytest.raises(FeatureConfigError, match="Unknown feature 'no_such_feature'"):
        r.retrieve(FeatureQueryBundle(QUERY, user_id="u-run"))
