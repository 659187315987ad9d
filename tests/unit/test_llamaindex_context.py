"""Entity resolution, the per-query vector cache and filter translation (no servers)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest
from llama_index.core.schema import QueryBundle
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.vector_stores.chroma.base import _to_chroma_filter

import llamaindex_featurestore
from llamaindex_featurestore import afetch_vectors, fetch_vectors
from llamaindex_featurestore.context import (
    FeatureQueryBundle,
    current_entities,
    merge_needs,
    query_vectors,
    resolve_entities,
    user_context,
)
from llamaindex_featurestore.retriever import to_metadata_filters
from llm_featurestore import reading
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    InvalidEntityIdError,
)
from llm_featurestore.filters import FeatureFilterSpec, FilterRule, ResolvedCondition
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.serving.degrade import CauseLog


def test_public_api_is_pinned() -> None:
    assert sorted(llamaindex_featurestore.__all__) == [
        "BACKFILL_KEY",
        "CONTEXT_KEY",
        "FEATURES_KEY",
        "FeatureContextPostprocessor",
        "FeatureFilteredRetriever",
        "FeatureMemoryBlock",
        "FeatureQueryBundle",
        "FeatureRerankPostprocessor",
        "FeatureWriteBackHandler",
        "Lookup",
        "RERANK_KEY",
        "StoreProfile",
        "WriteBackQueryEngine",
        "afetch_vectors",
        "current_entities",
        "feature_facts_tool",
        "fetch_vectors",
        "personalized_query_engine",
        "query_vectors",
        "rerank_nodes",
        "resolve_entities",
        "store_profile",
        "to_metadata_filters",
        "user_context",
        "with_write_back",
    ]
    for name in llamaindex_featurestore.__all__:
        assert getattr(llamaindex_featurestore, name) is not None


# ------------------------------------------------------------------ entity resolution


def test_resolution_order_bundle_then_context_then_defaults() -> None:
    defaults = {"organization": "org-default", "team": "t1"}
    assert resolve_entities(None, "u-default", defaults) == {
        "organization": "org-default",
        "team": "t1",
        "user": "u-default",
    }
    with user_context("u-ctx", organization="org-ctx"):
        assert resolve_entities(QueryBundle("q"), "u-default", defaults) == {
            "organization": "org-ctx",
            "team": "t1",
            "user": "u-ctx",
        }
        bundle = FeatureQueryBundle("q", user_id="u-bundle")
        assert resolve_entities(bundle, "u-default", defaults)["user"] == "u-bundle"
        assert resolve_entities(bundle, "u-default", defaults)["organization"] == "org-ctx"


def test_no_entities_anywhere_resolves_to_empty() -> None:
    assert resolve_entities(QueryBundle("q")) == {}
    assert resolve_entities(FeatureQueryBundle("q", user_id=None)) == {}


def test_bundle_entities_user_key_wins_over_user_id() -> None:
    bundle = FeatureQueryBundle("q", user_id="a", entities={"user": "b", "organization": "o"})
    assert bundle.entity_ids() == {"user": "b", "organization": "o"}


def test_user_context_nests_and_resets() -> None:
    assert current_entities() == {}
    with user_context("u1", organization="acme"):
        with user_context("u2"):
            assert current_entities() == {"user": "u2", "organization": "acme"}
        assert current_entities() == {"user": "u1", "organization": "acme"}
    assert current_entities() == {}


def test_user_context_resets_after_an_exception() -> None:
    with pytest.raises(RuntimeError), user_context("u1"):
        raise RuntimeError("boom")
    assert current_entities() == {}


async def test_user_context_is_isolated_between_concurrent_tasks() -> None:
    async def who(uid: str) -> list[str]:
        seen = []
        with user_context(uid):
            for _ in range(3):
                await asyncio.sleep(0)
                seen.append(current_entities()["user"])
            seen.append(await asyncio.to_thread(lambda: current_entities()["user"]))
        return seen

    results = await asyncio.gather(*(who(f"u{i}") for i in range(50)))
    assert results == [[f"u{i}"] * 4 for i in range(50)]


# ------------------------------------------------------------------ per-query cache


class Recorder(LocalFeatureStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, str, tuple[str, ...]]] = []

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.calls.append((entity_ids[0], entity_type, tuple(feature_names)))
        return super().get_batch_features(entity_ids, entity_type, feature_names)


@pytest.fixture
def recorder() -> Recorder:
    store = Recorder()
    store.write_features("u1", "user", {"a": 1, "b": "two", "c": [3]})
    store.write_features("u2", "user", {"a": 10})
    store.write_features("o1", "organization", {"voice": "calm"})
    return store


def test_query_vectors_is_one_dict_per_bundle() -> None:
    plain = QueryBundle("q")
    assert query_vectors(plain) is query_vectors(plain)
    assert query_vectors(plain) is not query_vectors(QueryBundle("q"))
    fb = FeatureQueryBundle("q")
    assert query_vectors(fb) is fb.vectors
    assert query_vectors(None) is not query_vectors(None)
    assert "_llmfs_vectors" not in plain.to_dict()  # the cache is not part of the bundle's data


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_cache_fetches_only_missing_names_and_merges(recorder: Recorder, use_async: bool) -> None:
    def fetch(needs: dict[str, list[str]], ids: dict[str, str], cache: dict[str, FeatureVector]):  # type: ignore[no-untyped-def]
        if use_async:
            return asyncio.run(afetch_vectors(recorder, needs, ids, cache))
        return fetch_vectors(recorder, needs, ids, cache)

    cache: dict[str, FeatureVector] = {}
    first = fetch({"user": ["a", "b"]}, {"user": "u1"}, cache)
    assert first.fetched
    assert first.latency_ms >= 0.0
    assert first.vectors["user"].features == {"a": 1, "b": "two"}
    again = fetch({"user": ["b", "a"]}, {"user": "u1"}, cache)
    assert not again.fetched
    assert again.latency_ms == 0.0
    more = fetch(
        {"user": ["a", "c"], "organization": ["voice"]}, {"user": "u1", "organization": "o1"}, cache
    )
    assert more.vectors["user"].features == {"a": 1, "b": "two", "c": [3]}
    assert more.vectors["user"].statuses["c"] is FeatureStatus.PRESENT
    assert more.vectors["organization"].features == {"voice": "calm"}
    assert sorted(recorder.calls) == [
        ("o1", "organization", ("voice",)),
        ("u1", "user", ("a", "b")),
        ("u1", "user", ("c",)),
    ]


def test_cache_entry_for_another_entity_is_replaced(recorder: Recorder) -> None:
    cache: dict[str, FeatureVector] = {}
    fetch_vectors(recorder, {"user": ["a"]}, {"user": "u1"}, cache)
    got = fetch_vectors(recorder, {"user": ["a"]}, {"user": "u2"}, cache)
    assert got.vectors["user"].entity_id == "u2"
    assert got.vectors["user"].features == {"a": 10}


def test_entity_types_without_id_are_skipped(recorder: Recorder) -> None:
    got = fetch_vectors(recorder, {"user": ["a"], "organization": ["voice"]}, {"user": "u1"}, {})
    assert list(got.vectors) == ["user"]
    assert recorder.calls == [("u1", "user", ("a",))]


def test_merge_needs_unions_in_first_seen_order() -> None:
    assert merge_needs({"user": ["a", "b"]}, None, {"user": ["b", "c"], "org": ["x"]}) == {
        "user": ["a", "b", "c"],
        "org": ["x"],
    }


class Failing(FeatureStoreClient):
    source = "failing"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        raise self.exc

    def list_features(self, entity_type: str) -> list[str]:
        return []

    def health_check(self) -> bool:
        return False


@pytest.fixture
def fresh_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which failure causes the read flow already logged (it logs each once)."""
    monkeypatch.setattr(reading, "_log", CauseLog(reading.logger))


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (FeatureStoreUnavailableError("down"), FeatureStatus.UNAVAILABLE),
        (FeatureTimeoutError("slow"), FeatureStatus.TIMED_OUT),
        (
            InvalidEntityIdError("'u1' is not an Int64", entity_type="user", entity_ids=["u1"]),
            FeatureStatus.INVALID_ID,
        ),
    ],
)
@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_fallback_turns_store_errors_into_failed_vectors(
    exc: Exception,
    status: FeatureStatus,
    use_async: bool,
    caplog: pytest.LogCaptureFixture,
    fresh_log: None,
) -> None:
    client = Failing(exc)
    cache: dict[str, FeatureVector] = {}
    with caplog.at_level(logging.WARNING):
        if use_async:
            got = asyncio.run(
                afetch_vectors(client, {"user": ["a"]}, {"user": "u1"}, cache, fallback=True)
            )
        else:
            got = fetch_vectors(client, {"user": ["a"]}, {"user": "u1"}, cache, fallback=True)
    vector = got.vectors["user"]
    assert vector.failed is (status is not FeatureStatus.INVALID_ID)  # the store did answer
    assert vector.statuses == {"a": status}
    assert vector.features == {"a": None}
    assert vector.source == "failing"
    assert cache["user"] is vector  # a failed read is cached too: the query never retries it
    assert (
        f"Feature lookup for 1 user entities failed ({status.value}); "
        "continuing without their features" in caplog.text
    )
    with pytest.raises(type(exc)):
        fetch_vectors(client, {"user": ["a"]}, {"user": "u1"}, {}, fallback=False)


def test_config_errors_propagate_even_with_fallback(recorder: Recorder) -> None:
    with pytest.raises(FeatureConfigError, match="Unknown feature 'nope'"):
        fetch_vectors(recorder, {"user": ["nope"]}, {"user": "u1"}, {}, fallback=True)


def gated_monitor() -> FeatureMonitor:
    """A real monitor whose store gate is open (too many failed reads in a row)."""
    monitor = FeatureMonitor(disable_after_failures=3)
    for _ in range(monitor.disable_after_failures):
        monitor.record_read(False)
    assert not monitor.should_read(None)
    return monitor


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_fetch_vectors_with_the_store_gate_open_reads_nothing(
    recorder: Recorder, use_async: bool
) -> None:
    monitor = gated_monitor()
    needs, ids = {"user": ["a"]}, {"user": "u1"}
    if use_async:
        got = asyncio.run(afetch_vectors(recorder, needs, ids, {}, monitor=monitor))
    else:
        got = fetch_vectors(recorder, needs, ids, {}, monitor=monitor)
    assert got.skipped_reason == "monitor_disabled"
    assert got.vectors == {}
    assert not got.fetched
    assert recorder.calls == []
    open_monitor = FeatureMonitor()
    healthy = fetch_vectors(recorder, needs, ids, {}, monitor=open_monitor)
    assert healthy.vectors["user"].features == {"a": 1}
    assert open_monitor.get_stats().consecutive_store_failures == 0


# ------------------------------------------------------------------ filter translation


def cond(field: str, op: str, value: object) -> ResolvedCondition:
    rule = FilterRule(field=field, op=op, feature="f")  # type: ignore[arg-type]
    return ResolvedCondition(field=field, op=op, value=value, rule=rule)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("op", "operator", "value"),
    [
        ("eq", FilterOperator.EQ, "a"),
        ("ne", FilterOperator.NE, "a"),
        ("in", FilterOperator.IN, ["a", "b"]),
        ("nin", FilterOperator.NIN, ["a"]),
        ("lt", FilterOperator.LT, 1.5),
        ("lte", FilterOperator.LTE, 2),
        ("gt", FilterOperator.GT, 3.0),
        ("gte", FilterOperator.GTE, 4),
    ],
)
def test_each_operator_translates(op: str, operator: FilterOperator, value: object) -> None:
    filters = to_metadata_filters([cond("field", op, value)])
    assert filters is not None
    (only,) = filters.filters
    assert isinstance(only, MetadataFilter)
    assert (only.key, only.operator, only.value) == ("field", operator, value)
    # And Chroma reads it as the core's own where clause.
    assert _to_chroma_filter(filters) == cond("field", op, value).to_chroma()


def test_no_conditions_and_no_base_is_none() -> None:
    assert to_metadata_filters([]) is None
    assert to_metadata_filters([], MetadataFilters(filters=[])) is None


def test_base_filters_are_nested_and_anded() -> None:
    base = MetadataFilters(
        filters=[
            MetadataFilter(key="tenant", value="t1"),
            MetadataFilter(key="tenant", value="t2"),
        ],
        condition=FilterCondition.OR,
    )
    assert to_metadata_filters([], base) is base
    both = to_metadata_filters([cond("category", "eq", "running")], base)
    assert both is not None
    assert both.condition is FilterCondition.AND
    assert _to_chroma_filter(both) == {
        "$and": [
            {"$or": [{"tenant": {"$eq": "t1"}}, {"tenant": {"$eq": "t2"}}]},
            {"category": {"$eq": "running"}},
        ]
    }


def test_spec_resolution_matches_core_chroma_where() -> None:
    spec = FeatureFilterSpec(
        rules=[
            FilterRule(field="category", op="eq", feature="fav"),
            FilterRule(field="price", op="lte", feature="aov", factor=1.5),
            FilterRule(field="flag", op="eq", feature="flag"),
        ]
    )
    vector = FeatureVector.build(
        entity_id="u",
        entity_type="user",
        feature_names=["fav", "aov", "flag"],
        values={"fav": "running", "aov": 100, "flag": True},
        statuses=dict.fromkeys(["fav", "aov", "flag"], FeatureStatus.PRESENT),
        source="local",
    )
    filters = to_metadata_filters(spec.resolve(vector))
    assert filters is not None
    assert _to_chroma_filter(filters) == spec.to_chroma_where(vector)
