"""FeatureRerankPostprocessor and FeatureContextPostprocessor on in-memory nodes."""

from __future__ import annotations

import asyncio
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
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureVector, utcnow

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


def test_context_monitor_can_switch_enrichment_off(store: LocalFeatureStore) -> None:
    class Off:
        recorded = 0

        def should_enrich(self, task_type: str) -> bool:
            return False

        def record_enrichment(self, result: Any, inference_quality: float | None = None) -> None:
            self.recorded += 1

    down = Down()
    pp = FeatureContextPostprocessor(
        FeatureEnricher(down, CONFIG, monitor=Off()), task_type="shopping"
    )
    nodes = catalogue()
    assert pp.postprocess_nodes(nodes, FeatureQueryBundle("q", user_id="u1")) == nodes
    assert down.calls == 0  # skipped before any lookup
