"""FeatureFilteredRetriever over real embedded Chroma, sync and async."""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.vector_stores.types import FilterOperator, MetadataFilter, MetadataFilters

from llamaindex_featurestore.context import FeatureQueryBundle, user_context
from llamaindex_featurestore.retriever import BACKFILL_KEY, FeatureFilteredRetriever
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    InvalidEntityIdError,
)
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureStatus
from llm_featurestore.serving import CoalesceConfig, ServingClient
from tests.contract.wrappers import CountingClient
from tests.fixtures.redis import dead_redis_client
from tests.integration.test_llamaindex_support import (
    CATEGORIES,
    SPEC,
    chroma_index,
    many_users,
    store,
)
from tests.unit.test_llamaindex_context import fresh_log, gated_monitor
from tests.unit.test_llamaindex_postprocessors import RejectsId

pytestmark = pytest.mark.integration
__all__ = ["chroma_index", "fresh_log", "store"]  # fixtures re-exported for pytest

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


@pytest.mark.usefixtures("fresh_log")
def test_dead_store_without_serving_client_falls_back_and_warns(
    chroma_index: VectorStoreIndex, use_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    r = FeatureFilteredRetriever(chroma_index, dead_redis_client(), SPEC, similarity_top_k=30)
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.reading"):
        nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="u-run"), use_async)
    assert {m["category"] for m in metas(nodes)} == set(CATEGORIES)
    assert (
        "Feature lookup for 1 user entities failed (unavailable); continuing without their "
        "features: Cannot reach Redis" in caplog.text
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


def test_store_gate_open_means_no_store_call_and_an_unfiltered_search(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, use_async: bool
) -> None:
    client = CountingClient(store)
    r = FeatureFilteredRetriever(
        chroma_index, client, SPEC, similarity_top_k=30, monitor=gated_monitor()
    )
    bundle = FeatureQueryBundle(QUERY, user_id="u-run")
    nodes = retrieve(r, bundle, use_async)
    assert client.calls == []
    assert {m["category"] for m in metas(nodes)} == set(CATEGORIES)
    assert bundle.vectors == {}
    # The refusal holds for the whole query, even for a retriever without a monitor ...
    healthy = FeatureFilteredRetriever(chroma_index, client, SPEC, similarity_top_k=30)
    assert {m["category"] for m in metas(retrieve(healthy, bundle, use_async))} == set(CATEGORIES)
    assert client.calls == []
    # ... while a new query is filtered.
    fresh = FeatureQueryBundle(QUERY, user_id="u-run")
    assert {m["category"] for m in metas(retrieve(healthy, fresh, use_async))} == {"running"}
    assert len(client.calls) == 1


def test_refused_read_with_partial_vectors_on_the_bundle_searches_unfiltered(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    # The query holds only part of what the spec needs, and the monitor refuses the rest.
    partial = store.get_features("u-run", "user", ["favorite_category"])
    bundle = FeatureQueryBundle(QUERY, user_id="u-run", vectors={"user": partial})
    r = FeatureFilteredRetriever(
        chroma_index, store, SPEC, similarity_top_k=30, monitor=gated_monitor()
    )
    assert {m["category"] for m in metas(r.retrieve(bundle))} == set(CATEGORIES)


async def test_50_concurrent_users_coalesce_into_few_backend_calls(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore
) -> None:
    users = dict(list(many_users(50).items()))
    backend = CountingClient(store)
    coalesce = CoalesceConfig(window_ms=5)
    client = ServingClient(backend, coalesce=coalesce)
    r = FeatureFilteredRetriever(chroma_index, client, SPEC, similarity_top_k=3)
    results = await asyncio.gather(
        *(r.aretrieve(FeatureQueryBundle(QUERY, user_id=uid)) for uid in users)
    )
    for uid, nodes in zip(users, results, strict=True):
        assert {m["category"] for m in metas(nodes)} == {users[uid]}, uid
    assert len(backend.calls) <= math.ceil(len(users) / coalesce.max_batch) + 1
    assert sorted(uid for ids, _, _ in backend.calls for uid in ids) == sorted(users)


@pytest.mark.parametrize("fallback", [True, False])
async def test_an_id_the_store_cannot_take_degrades_only_its_own_query(
    chroma_index: VectorStoreIndex, store: LocalFeatureStore, fallback: bool
) -> None:
    backend = RejectsId(store, "guest-7f3a")
    # The serving layer reports the bad id (no fallback of its own): the retriever decides.
    client = ServingClient(backend, coalesce=CoalesceConfig(window_ms=5), fallback_on_timeout=False)
    r = FeatureFilteredRetriever(chroma_index, client, SPEC, similarity_top_k=30, fallback=fallback)
    uids = ["u-run", "guest-7f3a", "u-hike"]
    bundles = [FeatureQueryBundle(QUERY, user_id=uid) for uid in uids]
    run, guest, hike = await asyncio.gather(
        *(r.aretrieve(b) for b in bundles), return_exceptions=True
    )
    assert {m["category"] for m in metas(run)} == {"running"}  # type: ignore[arg-type]
    assert {m["category"] for m in metas(hike)} == {"hiking"}  # type: ignore[arg-type]
    if fallback:
        assert {m["category"] for m in metas(guest)} == set(CATEGORIES)  # type: ignore[arg-type]
        statuses = set(bundles[1].vectors["user"].statuses.values())
        assert statuses == {FeatureStatus.INVALID_ID}
    else:
        assert isinstance(guest, InvalidEntityIdError)
        assert "'guest-7f3a' is not a valid Int64" in str(guest)


@pytest.mark.usefixtures("fresh_log")
def test_a_user_id_for_a_driver_spec_warns_once_and_searches_unfiltered(
    chroma_index: VectorStoreIndex, use_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    local = LocalFeatureStore()
    local.write_features("d1", "driver", {"zone": "running"})
    client = CountingClient(local)
    spec = FeatureFilterSpec(
        rules=[FilterRule(field="category", op="eq", feature="zone")], entity_type="driver"
    )
    r = FeatureFilteredRetriever(chroma_index, client, spec, similarity_top_k=30)
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.reading"):
        for _ in range(2):
            nodes = retrieve(r, FeatureQueryBundle(QUERY, user_id="d1"), use_async)
            assert {m["category"] for m in metas(nodes)} == set(CATEGORIES)
    (warning,) = [r.getMessage() for r in caplog.records]
    assert warning.startswith("FeatureFilteredRetriever: the request carries none of the")
    assert "'FeatureQueryBundle(entities={'driver': ...})' (entity type driver)" in warning
    assert client.calls == []
    named = FeatureQueryBundle(QUERY, entities={"driver": "d1"})
    assert {m["category"] for m in metas(retrieve(r, named, use_async))} == {"running"}
