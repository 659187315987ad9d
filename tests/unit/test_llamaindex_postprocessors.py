"""FeatureRerankPostprocessor and FeatureContextPostprocessor on in-memory nodes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from llamaindex_featurestore.context import FeatureQueryBundle, user_context
from llamaindex_featurestore.postprocessor import FEATURES_KEY, FeatureContextPostprocessor
from llamaindex_featurestore.rerank import (
    CONTEXT_KEY,
    RERANK_KEY,
    FeatureRerankPostprocessor,
    rerank_nodes,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    InvalidEntityIdError,
)
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow
from llm_featurestore.monitor import FeatureMonitor
from tests.contract.wrappers import CountingClient
from tests.unit.test_llamaindex_context import fresh_log, gated_monitor

__all__ = ["fresh_log"]  # fixture re-exported for pytest

SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="brand", op="in", feature="preferred_brands"),
        FilterRule(field="price", op="gt", feature="avg_order_value", factor=1.5),
    ]
)
WEIGHTS = [0.5, 0.2, -1.0]
CONFIG = EnricherConfig(
    task_features={"shopping": {"user": ["favorite_category", "avg_order_value", "email"]}}
)


def node(nid: str, score: float | None, **meta: Any) -> NodeWithScore:
    return NodeWithScore(node=TextNode(id_=nid, text=f"text of {nid}", metadata=meta), score=score)


def catalogue() -> list[NodeWithScore]:
    return [
        node("hike-cheap", 0.9, category="hiking", brand="acme", price=50.0),
        node("run-pricey", 0.8, category="running", brand="acme", price=500.0),
        node("run-cheap", 0.7, category="running", brand="globex", price=40.0),
        node("no-meta", 0.6),
        node("run-nobrand", 0.7, category="running", price=10.0),
    ]


@pytest.fixture
def store() -> LocalFeatureStore:
    s = LocalFeatureStore(max_age_seconds=86_400)  # "stale" (9 days old) reads as STALE
    s.write_features(
        "u1",
        "user",
        {
            "favorite_category": "running",
            "preferred_brands": ["acme"],
            "avg_order_value": 100.0,
            "email": "u1@example.com",
        },
    )
    s.write_features("cold", "user", {"tier": "new"})
    s.write_features(
        "stale", "user", {"favorite_category": "yoga"}, event_timestamp=utcnow() - timedelta(days=9)
    )
    return s


def ids(nodes: Sequence[NodeWithScore]) -> list[str]:
    return [n.node.node_id for n in nodes]


def run(pp: Any, nodes: list[NodeWithScore], bundle: QueryBundle | None, use_async: bool) -> Any:
    if use_async:
        return asyncio.run(pp.apostprocess_nodes(nodes, query_bundle=bundle))
    return pp.postprocess_nodes(nodes, query_bundle=bundle)


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# ------------------------------------------------------------------ rerank


def test_rerank_scores_are_base_plus_matching_weights(
    store: LocalFeatureStore, use_async: bool
) -> None:
    pp = FeatureRerankPostprocessor(store, SPEC, weights=WEIGHTS)
    out = run(pp, catalogue(), FeatureQueryBundle("q", user_id="u1"), use_async)
    scores = {n.node.node_id: round(n.score, 6) for n in out}
    assert scores == {
        "hike-cheap": 1.1,  # 0.9 + brand acme 0.2
        "run-pricey": 0.5,  # 0.8 + category 0.5 + brand 0.2 - over budget (500 > 150) 1.0
        "run-cheap": 1.2,  # 0.7 + category 0.5
        "no-meta": 0.6,  # nothing matches: no field, no boost
        "run-nobrand": 1.2,  # 0.7 + category 0.5 (brand missing: "in" needs the field)
    }
    # Sorted by new score; the tie (1.2) keeps input order.
    assert ids(out) == ["run-cheap", "run-nobrand", "hike-cheap", "no-meta", "run-pricey"]
    assert out[0].node.metadata[RERANK_KEY] == pytest.approx(0.5)
    assert RERANK_KEY not in out[0].node.get_content(metadata_mode=MetadataMode.LLM)


def test_rerank_does_not_modify_input_nodes(store: LocalFeatureStore) -> None:
    nodes = catalogue()
    FeatureRerankPostprocessor(store, SPEC).postprocess_nodes(
        nodes, FeatureQueryBundle("q", user_id="u1")
    )
    assert [n.score for n in nodes] == [0.9, 0.8, 0.7, 0.6, 0.7]
    assert all(RERANK_KEY not in n.node.metadata for n in nodes)


def test_rerank_default_weights_are_one(store: LocalFeatureStore) -> None:
    out = FeatureRerankPostprocessor(store, SPEC).postprocess_nodes(
        catalogue(), FeatureQueryBundle("q", user_id="u1")
    )
    scores = {n.node.node_id: n.get_score() for n in out}
    assert scores["run-pricey"] == pytest.approx(3.8)  # 0.8 + 1 + 1 + 1


def test_rerank_top_n_and_context_nodes_stay_first(store: LocalFeatureStore) -> None:
    ctx = node("ctx", 0.1, **{CONTEXT_KEY: True})
    pp = FeatureRerankPostprocessor(store, SPEC, weights=WEIGHTS, top_n=2)
    out = pp.postprocess_nodes([*catalogue(), ctx], FeatureQueryBundle("q", user_id="u1"))
    assert ids(out) == ["ctx", "run-cheap", "run-nobrand"]
    assert out[0].score == 0.1
    assert RERANK_KEY not in out[0].node.metadata


@pytest.mark.parametrize("user", [None, "cold", "stale", "unknown"])
def test_rerank_passes_through_without_usable_features(
    store: LocalFeatureStore, user: str | None, use_async: bool
) -> None:
    nodes = catalogue()
    out = run(
        FeatureRerankPostprocessor(store, SPEC, top_n=4),
        nodes,
        FeatureQueryBundle("q", user_id=user),
        use_async,
    )
    assert ids(out) == ids(nodes)[:4]
    assert [n.score for n in out] == [0.9, 0.8, 0.7, 0.6]


def test_rerank_user_from_context_and_constructor(store: LocalFeatureStore) -> None:
    pp = FeatureRerankPostprocessor(store, SPEC, weights=WEIGHTS, user_id="cold")
    assert ids(pp.postprocess_nodes(catalogue(), QueryBundle("q")))[0] == "hike-cheap"
    with user_context("u1"):
        assert ids(pp.postprocess_nodes(catalogue(), QueryBundle("q")))[0] == "run-cheap"


def test_rerank_nodes_pure_function_ties_are_stable() -> None:
    rule = FilterRule(field="k", op="eq", feature="f")
    (cond,) = FeatureFilterSpec(rules=[rule]).resolve(
        FeatureVector.build(
            entity_id="u",
            entity_type="user",
            feature_names=["f"],
            values={"f": "x"},
            statuses={"f": "present"},  # type: ignore[dict-item]
            source="local",
        )
    )
    nodes = [node(str(i), 1.0, k="x" if i % 2 else "y") for i in range(6)]
    assert ids(rerank_nodes(nodes, [(cond, 1.0)])) == ["1", "3", "5", "0", "2", "4"]
    assert ids(rerank_nodes(nodes, [])) == [str(i) for i in range(6)]
    assert [n.score for n in rerank_nodes([node("none", None, k="x")], [(cond, 0.25)])] == [0.25]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1.0]}, "weights has 1 value\\(s\\) but the spec has 3 rule\\(s\\)"),
        ({"top_n": 0}, "top_n must be at least 1 \\(or None for all\\), got 0"),
    ],
)
def test_rerank_constructor_errors(
    store: LocalFeatureStore, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        FeatureRerankPostprocessor(store, SPEC, **kwargs)


class Down(FeatureStoreClient):
    source = "down"
    calls = 0

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.calls += 1
        raise FeatureStoreUnavailableError("connection refused")

    def list_features(self, entity_type: str) -> list[str]:
        return []

    def health_check(self) -> bool:
        return False


def test_rerank_store_down_passes_through_or_raises(use_async: bool) -> None:
    nodes = catalogue()
    out = run(
        FeatureRerankPostprocessor(Down(), SPEC),
        nodes,
        FeatureQueryBundle("q", user_id="u1"),
        use_async,
    )
    assert ids(out) == ids(nodes)
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        run(
            FeatureRerankPostprocessor(Down(), SPEC, fallback=False),
            nodes,
            FeatureQueryBundle("q", user_id="u1"),
            use_async,
        )


# ------------------------------------------------------------------ context


def test_context_node_first_with_block_and_high_score(
    store: LocalFeatureStore, use_async: bool
) -> None:
    pp = FeatureContextPostprocessor(client=store, config=CONFIG, task_type="shopping")
    out = run(pp, catalogue(), FeatureQueryBundle("what should I buy?", user_id="u1"), use_async)
    assert ids(out)[1:] == ids(catalogue())
    first = out[0]
    assert first.node.metadata[CONTEXT_KEY] is True
    assert first.node.metadata["llmfs_features_used"] == [
        "user.favorite_category",
        "user.avg_order_value",
    ]
    assert first.score == 1.0
    text = first.node.get_content(metadata_mode=MetadataMode.LLM)
    assert text.startswith("[Context from user profile]\n")
    assert "Favorite category: running" in text
    assert text.endswith("[End context]")
    assert "llmfs" not in text
    # email is sensitive: the enricher drops it by default, and so it never shows up.
    assert "u1@example.com" not in text


def test_context_node_score_is_at_least_the_best_node(store: LocalFeatureStore) -> None:
    pp = FeatureContextPostprocessor(client=store, config=CONFIG, task_type="shopping")
    out = pp.postprocess_nodes(
        [node("a", 3.5), node("b", None)], FeatureQueryBundle("q", user_id="u1")
    )
    assert out[0].score == 3.5


@pytest.mark.parametrize("show", [False, True])
def test_metadata_mode_attaches_rendered_features(store: LocalFeatureStore, show: bool) -> None:
    pp = FeatureContextPostprocessor(
        client=store,
        config=CONFIG,
        task_type="shopping",
        mode="metadata",
        show_metadata_to_llm=show,
    )
    nodes = catalogue()
    out = pp.postprocess_nodes(nodes, FeatureQueryBundle("q", user_id="u1"))
    assert ids(out) == ids(nodes)
    assert [n.score for n in out] == [n.score for n in nodes]
    for item in out:
        assert item.node.metadata[FEATURES_KEY] == {
            "user.favorite_category": "running",
            "user.avg_order_value": "100",
        }
        assert FEATURES_KEY not in item.node.get_content(metadata_mode=MetadataMode.EMBED)
        assert (FEATURES_KEY in item.node.get_content(metadata_mode=MetadataMode.LLM)) is show
    assert all(FEATURES_KEY not in n.node.metadata for n in nodes)  # inputs untouched


def test_both_mode(store: LocalFeatureStore) -> None:
    pp = FeatureContextPostprocessor(client=store, config=CONFIG, task_type="shopping", mode="both")
    out = pp.postprocess_nodes(catalogue(), FeatureQueryBundle("q", user_id="u1"))
    assert out[0].node.metadata[CONTEXT_KEY] is True
    assert all(FEATURES_KEY in n.node.metadata for n in out[1:])


@pytest.mark.parametrize(
    ("user", "task"),
    [
        (None, "shopping"),  # no entity
        ("cold", "shopping"),  # nothing usable
        ("stale", "shopping"),  # too old for the enricher
        ("unknown", "shopping"),  # entity not in the store
        ("u1", "not-enabled"),  # task disabled
    ],
)
def test_context_passes_through(
    store: LocalFeatureStore, user: str | None, task: str, use_async: bool
) -> None:
    nodes = catalogue()
    pp = FeatureContextPostprocessor(client=store, config=CONFIG, task_type=task, mode="both")
    out = run(pp, nodes, FeatureQueryBundle("q", user_id=user), use_async)
    assert out == nodes


def test_context_store_down_passes_through_or_raises(use_async: bool) -> None:
    nodes = catalogue()
    bundle = FeatureQueryBundle("q", user_id="u1")
    pp = FeatureContextPostprocessor(client=Down(), config=CONFIG, task_type="shopping")
    assert run(pp, nodes, bundle, use_async) == nodes
    strict = FeatureContextPostprocessor(
        client=Down(), config=CONFIG, task_type="shopping", fallback=False
    )
    with pytest.raises(FeatureStoreUnavailableError):
        run(strict, nodes, FeatureQueryBundle("q", user_id="u1"), use_async)


def test_context_reuses_vectors_already_on_the_bundle(store: LocalFeatureStore) -> None:
    down = Down()
    pp = FeatureContextPostprocessor(FeatureEnricher(down, CONFIG), task_type="shopping")
    bundle = FeatureQueryBundle("q", user_id="u1")
    bundle.vectors["user"] = store.get_features(
        "u1", "user", ["favorite_category", "avg_order_value", "email"]
    )
    out = pp.postprocess_nodes(catalogue(), bundle)
    assert down.calls == 0
    assert "Favorite category: running" in out[0].node.get_content()


def test_context_enricher_and_client_wiring(store: LocalFeatureStore) -> None:
    enricher = FeatureEnricher(store, CONFIG)
    pp = FeatureContextPostprocessor(enricher, task_type="shopping")
    assert pp.enricher is enricher
    assert pp.required_features() == {"user": ["favorite_category", "avg_order_value", "email"]}
    with pytest.raises(FeatureConfigError, match="needs a FeatureEnricher or a client"):
        FeatureContextPostprocessor()
    with pytest.raises(FeatureConfigError, match="Pass config only when the postprocessor builds"):
        FeatureContextPostprocessor(enricher, config=CONFIG)
    with pytest.raises(ValueError, match="mode"):
        FeatureContextPostprocessor(enricher, mode="everywhere")  # type: ignore[arg-type]


def held_out_monitor() -> FeatureMonitor:
    """A real monitor that keeps every task read as its control group (store gate closed)."""
    return FeatureMonitor(holdout_fraction=1.0, seed=7)


@pytest.mark.parametrize("make_monitor", [gated_monitor, held_out_monitor])
def test_context_monitor_can_switch_enrichment_off(
    make_monitor: Any, use_async: bool, store: LocalFeatureStore
) -> None:
    down = Down()
    monitor = make_monitor()
    pp = FeatureContextPostprocessor(
        FeatureEnricher(down, CONFIG, monitor=monitor), task_type="shopping"
    )
    nodes = catalogue()
    assert run(pp, nodes, FeatureQueryBundle("q", user_id="u1"), use_async) == nodes
    assert down.calls == 0  # skipped before any lookup
    # With features available (same monitor state), the context node would be there.
    healthy = FeatureContextPostprocessor(FeatureEnricher(store, CONFIG), task_type="shopping")
    assert run(healthy, nodes, FeatureQueryBundle("q", user_id="u1"), use_async) != nodes


def test_store_gate_open_means_no_store_call_from_either_postprocessor(
    store: LocalFeatureStore, use_async: bool
) -> None:
    client = CountingClient(store)
    monitor = gated_monitor()
    rerank = FeatureRerankPostprocessor(client, SPEC, weights=WEIGHTS, monitor=monitor)
    context = FeatureContextPostprocessor(
        FeatureEnricher(client, CONFIG, monitor=monitor), task_type="shopping"
    )
    nodes = catalogue()
    for pp in (rerank, context):
        out = run(pp, nodes, FeatureQueryBundle("q", user_id="u1"), use_async)
        assert ids(out) == ids(nodes)
        assert [n.score for n in out] == [n.score for n in nodes]
    assert client.calls == []
    # The same components read as soon as the monitor lets them.
    open_rerank = FeatureRerankPostprocessor(client, SPEC, weights=WEIGHTS)
    assert ids(run(open_rerank, nodes, FeatureQueryBundle("q", user_id="u1"), use_async))[0] == (
        "run-cheap"
    )
    assert len(client.calls) == 1


def test_a_refused_read_is_not_asked_again_in_the_same_query(
    store: LocalFeatureStore, use_async: bool
) -> None:
    client = CountingClient(store)
    monitor = held_out_monitor()
    context = FeatureContextPostprocessor(
        FeatureEnricher(client, CONFIG, monitor=monitor), task_type="shopping"
    )
    rerank = FeatureRerankPostprocessor(client, SPEC, weights=WEIGHTS)  # no monitor of its own
    bundle = FeatureQueryBundle("q", user_id="u1")
    nodes = catalogue()
    assert run(context, nodes, bundle, use_async) == nodes
    assert monitor.get_stats().holdouts == 1
    assert ids(run(rerank, nodes, bundle, use_async)) == ids(nodes)  # the query reads nothing
    assert run(context, nodes, bundle, use_async) == nodes
    assert monitor.get_stats().holdouts == 1  # one gate decision for the query
    assert client.calls == []
    # A new query is a new decision; the rerank's own reads are not held out (no task).
    assert ids(run(rerank, nodes, FeatureQueryBundle("q", user_id="u1"), use_async))[0] == (
        "run-cheap"
    )
    assert len(client.calls) == 1


class RejectsId(CountingClient):
    """A real store whose join key cannot take ``bad`` (as Feast with an Int64 key)."""

    def __init__(self, inner: FeatureStoreClient, bad: str) -> None:
        super().__init__(inner)
        self.bad = bad

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.record(entity_ids, entity_type, feature_names)
        if self.bad in entity_ids:
            raise InvalidEntityIdError(
                f"Entity id '{self.bad}' is not a valid Int64",
                entity_type=entity_type,
                entity_ids=[self.bad],
            )
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return self.get_batch_features(entity_ids, entity_type, feature_names)


@pytest.mark.parametrize("which", ["rerank", "context"])
def test_an_id_the_store_cannot_take_degrades_only_its_query(
    store: LocalFeatureStore, use_async: bool, which: str
) -> None:
    def make(fallback: bool) -> Any:
        client = RejectsId(store, "guest-7f3a")
        if which == "rerank":
            return FeatureRerankPostprocessor(client, SPEC, weights=WEIGHTS, fallback=fallback)
        enricher = FeatureEnricher(client, CONFIG)
        return FeatureContextPostprocessor(enricher, task_type="shopping", fallback=fallback)

    pp = make(fallback=True)
    nodes = catalogue()
    guest = FeatureQueryBundle("q", user_id="guest-7f3a")
    assert run(pp, nodes, guest, use_async) == nodes
    assert set(guest.vectors["user"].statuses.values()) == {FeatureStatus.INVALID_ID}
    known = FeatureQueryBundle("q", user_id="u1")
    assert run(pp, nodes, known, use_async) != nodes  # other users are unaffected
    assert known.vectors["user"].features["favorite_category"] == "running"
    with pytest.raises(InvalidEntityIdError, match="'guest-7f3a' is not a valid Int64"):
        run(make(fallback=False), nodes, FeatureQueryBundle("q", user_id="guest-7f3a"), use_async)


@pytest.mark.usefixtures("fresh_log")
def test_missing_entity_id_warns_once_naming_what_was_expected(
    use_async: bool, caplog: pytest.LogCaptureFixture
) -> None:
    local = LocalFeatureStore()
    local.write_features("d1", "driver", {"rating": 4.9, "zone": "north"})
    client = CountingClient(local)
    spec = FeatureFilterSpec(
        rules=[FilterRule(field="zone", op="eq", feature="zone")], entity_type="driver"
    )
    config = EnricherConfig(task_features={"dispatch": {"driver": ["rating"]}})
    rerank = FeatureRerankPostprocessor(client, spec)
    context = FeatureContextPostprocessor(FeatureEnricher(client, config), task_type="dispatch")
    nodes = catalogue()
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.reading"):
        for _ in range(3):  # the user id names no driver: not personalised, said once
            for pp in (rerank, context):
                assert run(pp, nodes, FeatureQueryBundle("q", user_id="d1"), use_async) == nodes
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 2, warnings
    for name, warning in zip(
        ["FeatureRerankPostprocessor", "FeatureContextPostprocessor"], warnings, strict=True
    ):
        assert warning.startswith(f"{name}: the request carries none of the expected entity ids")
        assert "'FeatureQueryBundle(entities={'driver': ...})' (entity type driver)" in warning
    assert client.calls == []
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.reading"):
        named = FeatureQueryBundle("q", entities={"driver": "d1"})
        assert run(context, nodes, named, use_async)[0].node.metadata[CONTEXT_KEY] is True
    assert caplog.records == []
    assert client.calls == [(["d1"], "driver", ["rating"])]


def test_refused_read_with_partial_vectors_on_the_bundle_reranks_nothing(
    store: LocalFeatureStore, use_async: bool
) -> None:
    # The query holds only part of what the spec needs, and the monitor refuses the rest.
    partial = store.get_features("u1", "user", ["favorite_category"])
    bundle = FeatureQueryBundle("q", user_id="u1", vectors={"user": partial})
    pp = FeatureRerankPostprocessor(store, SPEC, weights=WEIGHTS, monitor=gated_monitor())
    out = run(pp, catalogue(), bundle, use_async)
    assert ids(out) == ids(catalogue())
    assert [n.score for n in out] == [n.score for n in catalogue()]
