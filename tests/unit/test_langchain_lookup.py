"""FeatureLookup: ids from input and config, batching, several entity types, fallback, events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_featurestore import FeatureLookup
from langchain_featurestore.lookup import entity_id_from, vector_for
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving.client import ServingClient
from tests.unit.test_langchain_fakes import (
    AsyncEvents,
    CountingClient,
    DeadBackend,
    Events,
    shop_store,
)

NAMES = ["favorite_category", "tier"]


def make(**kwargs: Any) -> tuple[FeatureLookup, CountingClient]:
    client = CountingClient(shop_store())
    return FeatureLookup(client, feature_names=kwargs.pop("feature_names", NAMES), **kwargs), client


def test_invoke_adds_the_vector_and_keeps_the_input() -> None:
    lookup, client = make()
    out = lookup.invoke({"question": "q", "user_id": "u1"})
    assert out["question"] == "q"
    assert out["user_id"] == "u1"
    vec = out["features"]
    assert isinstance(vec, FeatureVector)
    assert vec.entity_id == "u1"
    assert vec.features == {"favorite_category": "shoes", "tier": "gold"}
    assert client.calls == [(["u1"], "user", NAMES)]


def test_id_from_configurable_and_custom_keys() -> None:
    lookup, _ = make(id_key="customer", output_key="vec")
    out = lookup.invoke({"question": "q"}, {"configurable": {"customer": "u2"}})
    assert out["vec"].features["tier"] == "silver"
    # The input wins over the config.
    out = lookup.invoke({"customer": "u1"}, {"configurable": {"customer": "u2"}})
    assert out["vec"].entity_id == "u1"


@pytest.mark.parametrize("value", [None, ""])
def test_no_id_gives_none_and_no_backend_call(value: Any) -> None:
    lookup, client = make()
    out = lookup.invoke({"question": "q", "user_id": value})
    assert out["features"] is None
    assert lookup.invoke({"question": "q"})["features"] is None
    assert client.calls == []


def test_integer_id_is_coerced_to_string() -> None:
    assert entity_id_from(1001, "user_id") == "1001"
    lookup, client = make()
    lookup.invoke({"user_id": 7})
    assert client.calls[0][0] == ["7"]


@pytest.mark.parametrize("value", [1.5, True, ["u1"]])
def test_malformed_id_is_a_config_error(value: Any) -> None:
    lookup, _ = make()
    with pytest.raises(FeatureConfigError, match="Entity id under 'user_id' must be a string"):
        lookup.invoke({"user_id": value})


def test_non_dict_input_is_a_config_error() -> None:
    lookup, _ = make()
    with pytest.raises(FeatureConfigError, match="expects a dict input carrying ids"):
        lookup.invoke("u1")  # type: ignore[arg-type]


def test_batch_makes_one_backend_call_with_unique_ids() -> None:
    lookup, client = make()
    inputs = [{"user_id": "u1"}, {"user_id": "u2"}, {"question": "anon"}, {"user_id": "u1"}]
    outs = lookup.batch(inputs)
    assert client.calls == [(["u1", "u2"], "user", NAMES)]
    assert [o["features"] and o["features"].entity_id for o in outs] == ["u1", "u2", None, "u1"]
    assert outs[1]["features"].features["favorite_category"] == "books"


async def test_abatch_makes_one_backend_call() -> None:
    lookup, client = make()
    outs = await lookup.abatch([{"user_id": f"u{i % 2 + 1}"} for i in range(10)])
    assert len(client.calls) == 1
    assert client.calls[0][0] == ["u1", "u2"]
    assert [o["features"].entity_id for o in outs] == [f"u{i % 2 + 1}" for i in range(10)]


async def test_batch_through_a_chain_is_still_one_call() -> None:
    lookup, client = make()
    chain = lookup | RunnableLambda(lambda x: x["features"].features["tier"])
    assert chain.batch([{"user_id": "u1"}, {"user_id": "u2"}]) == ["gold", "silver"]
    assert await chain.abatch([{"user_id": "u2"}, {"user_id": "u1"}]) == ["silver", "gold"]
    assert len(client.calls) == 2


def test_empty_batch_does_nothing() -> None:
    lookup, client = make()
    assert lookup.batch([]) == []
    assert client.calls == []


async def test_empty_abatch_does_nothing() -> None:
    lookup, client = make()
    assert await lookup.abatch([]) == []
    assert client.calls == []


def test_batch_return_exceptions_reports_bad_input() -> None:
    lookup, _ = make()
    outs = lookup.batch([{"user_id": "u1"}, {"user_id": 2.5}], return_exceptions=True)
    assert all(isinstance(o, FeatureConfigError) for o in outs)
    with pytest.raises(FeatureConfigError):
        lookup.batch([{"user_id": "u1"}, {"user_id": 2.5}])


async def test_ainvoke_uses_the_async_path() -> None:
    lookup, client = make()
    out = await lookup.ainvoke({"user_id": "u2"})
    assert out["features"].features["tier"] == "silver"
    assert len(client.calls) == 1


def multi() -> tuple[FeatureLookup, CountingClient]:
    client = CountingClient(shop_store())
    lookup = FeatureLookup(
        client,
        entities={"user": "user_id", "organization": "org_id"},
        feature_names={"user": ["tier"], "organization": ["plan"]},
    )
    return lookup, client


def test_several_entity_types_give_a_mapping() -> None:
    lookup, client = multi()
    out = lookup.invoke({"user_id": "u1", "org_id": "o1"})
    assert set(out["features"]) == {"user", "organization"}
    assert out["features"]["organization"].features == {"plan": "enterprise"}
    # Only entities with an id appear.
    assert set(lookup.invoke({"user_id": "u2"})["features"]) == {"user"}
    assert lookup.invoke({})["features"] == {}
    assert [c[1] for c in client.calls] == ["user", "organization", "user"]


async def test_several_entity_types_batch_one_call_per_type() -> None:
    lookup, client = multi()
    inputs = [{"user_id": "u1", "org_id": "o1"}, {"user_id": "u2", "org_id": "o1"}]
    outs = await lookup.abatch(inputs)
    assert sorted((c[1], tuple(c[0])) for c in client.calls) == [
        ("organization", ("o1",)),
        ("user", ("u1", "u2")),
    ]
    assert outs[1]["features"]["user"].entity_id == "u2"
    assert outs[1]["features"]["organization"].entity_id == "o1"
    sync_outs = lookup.batch(inputs)
    assert [o["features"]["user"].entity_id for o in sync_outs] == ["u1", "u2"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"feature_names": {"user": ["tier"]}}, "pass entities="),
        ({"entities": {}, "feature_names": {}}, "entities is empty"),
        ({"entities": {"user": "user_id"}, "feature_names": ["tier"]}, "must map each entity"),
        (
            {"entities": {"user": "user_id"}, "feature_names": {"org": ["plan"]}},
            "without feature names: \\['user'\\], without an id key: \\['org'\\]",
        ),
        ({"feature_names": []}, "must be a non-empty list"),
        ({"feature_names": "tier"}, "must be a non-empty list"),
    ],
)
def test_constructor_rejects_inconsistent_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        FeatureLookup(shop_store(), **kwargs)


def test_unknown_feature_always_raises() -> None:
    lookup, _ = make(feature_names=["budget"])
    with pytest.raises(FeatureConfigError, match="Unknown feature 'budget'"):
        lookup.invoke({"user_id": "u1"})


def test_dead_store_falls_back_to_unavailable_vectors(caplog: pytest.LogCaptureFixture) -> None:
    backend = DeadBackend()
    lookup = FeatureLookup(backend, feature_names=NAMES)
    with caplog.at_level(logging.WARNING, logger="langchain_featurestore.lookup"):
        outs = lookup.batch([{"user_id": "u1"}, {"user_id": "u2"}])
    assert backend.calls == 1
    for out, uid in zip(outs, ["u1", "u2"], strict=True):
        vec = out["features"]
        assert vec.entity_id == uid
        assert vec.failed
        assert set(vec.statuses.values()) == {FeatureStatus.UNAVAILABLE}
        assert vec.source == "dead"
    assert "Feature lookup for 2 user entities failed (unavailable)" in caplog.text
    assert "connection refused" in caplog.text


async def test_dead_store_async_fallback_and_no_fallback() -> None:
    out = await FeatureLookup(DeadBackend(), feature_names=NAMES).ainvoke({"user_id": "u1"})
    assert out["features"].failed
    strict = FeatureLookup(DeadBackend(), feature_names=NAMES, fallback=False)
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        await strict.ainvoke({"user_id": "u1"})
    with pytest.raises(FeatureStoreUnavailableError, match="connection refused"):
        strict.invoke({"user_id": "u1"})


class SlowBackend(DeadBackend):
    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        raise FeatureTimeoutError("no answer within 5 ms (test double)")


def test_timeout_gives_timed_out_status() -> None:
    out = FeatureLookup(SlowBackend(), feature_names=NAMES).invoke({"user_id": "u1"})
    assert set(out["features"].statuses.values()) == {FeatureStatus.TIMED_OUT}


def test_serving_client_around_a_dead_store_never_fails() -> None:
    client = ServingClient(DeadBackend(), fallback_on_timeout=True)
    out = FeatureLookup(client, feature_names=NAMES, fallback=False).invoke({"user_id": "u1"})
    assert out["features"].failed


def test_callback_handler_sees_statuses_and_latency() -> None:
    lookup, _ = make()
    handler = Events()
    lookup.invoke({"user_id": "u1"}, {"callbacks": [handler]})
    lookup.batch([{"user_id": "u2"}, {}], {"callbacks": [handler]})
    names = [name for name, _ in handler.events]
    assert names == ["llm_featurestore.lookup"] * 3
    first = handler.events[0][1]
    assert first["entities"]["user"]["statuses"] == {
        "favorite_category": "present",
        "tier": "present",
    }
    assert first["entities"]["user"]["entity_id"] == "u1"
    assert first["lookup_ms"] >= 0.0
    assert handler.events[2][1]["entities"] == {}
    # Values are not sent to tracing (they may be sensitive).
    assert "shoes" not in repr(handler.events)


async def test_async_callback_handler_sees_the_event() -> None:
    lookup, _ = make()
    handler = AsyncEvents()
    await lookup.ainvoke({"user_id": "u2"}, {"callbacks": [handler]})
    await lookup.abatch([{"user_id": "u1"}], {"callbacks": [handler]})
    assert [d["entities"]["user"]["entity_id"] for _, d in handler.events] == ["u2", "u1"]


def test_vector_for_accepts_the_lookup_shapes() -> None:
    vec = shop_store().get_features("u1", "user", ["tier"])
    assert vector_for(None, "user") is None
    assert vector_for(vec, "user") is vec
    assert vector_for({"user": vec}, "user") is vec
    assert vector_for({"organization": vec}, "user") is None
    with pytest.raises(FeatureConfigError, match="must be a FeatureVector, a mapping"):
        vector_for(["u1"], "user")
    with pytest.raises(FeatureConfigError, match="got dict"):
        vector_for({"user": {"tier": "gold"}}, "user")
