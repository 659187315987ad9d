"""Request data declared once (RequestDataSpec, in EnricherConfig and FeatureFilterSpec)
and the one resolver both adapters use; the enricher sends a task's request data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.request_sources import RequestDataSpec, request_data_spec
from tests.request_store import request_store

SPEC = RequestDataSpec.of({"user": {"query_text": "query", "cart_total": "input.cart_total"}})


def test_resolve_reads_the_query_and_the_first_input_holding_each_key() -> None:
    got = SPEC.resolve(query="red shoes", inputs=[{"cart_total": 12.0}, {"cart_total": 99.0}])
    assert got == {"user": {"query_text": "red shoes", "cart_total": 12.0}}
    assert SPEC.resolve(query="q", inputs=[{}, {"cart_total": 3}]) == {
        "user": {"query_text": "q", "cart_total": 3}
    }


def test_resolve_only_the_entity_types_asked_for() -> None:
    spec = RequestDataSpec.of({"user": {"q": "query"}, "org": {"seats": "input.seats"}})
    assert spec.resolve(query="x", inputs=[], entity_types=["user"]) == {"user": {"q": "x"}}
    assert spec.resolve(query="x", entity_types=[]) == {}


def test_a_key_after_input_may_hold_dots() -> None:
    spec = RequestDataSpec.of({"user": {"total": "input.cart.total"}})
    assert spec.resolve(query=None, inputs=[{"cart.total": 5}]) == {"user": {"total": 5}}


def test_missing_input_key_names_it_and_the_keys_present() -> None:
    with pytest.raises(FeatureValidationError) as caught:
        SPEC.resolve(query="q", inputs=[{"question": "q", "user_id": "u1"}, {"thread": "t"}])
    assert str(caught.value) == (
        "Request field 'cart_total' of entity type 'user' comes from input key 'cart_total', "
        "which the input does not hold; keys present: question, thread, user_id. Pass "
        "'cart_total' with the request, or declare another source"
    )
    with pytest.raises(FeatureValidationError, match=r"keys present: \(none\)"):
        SPEC.resolve(query="q", inputs=[])


def test_a_query_source_without_a_query_says_so() -> None:
    with pytest.raises(FeatureValidationError) as caught:
        SPEC.resolve(query=None, inputs=[{"cart_total": 1}])
    assert str(caught.value) == (
        "Request field 'query_text' of entity type 'user' comes from the query text, but "
        "this request carries none"
    )


@pytest.mark.parametrize("source", ["qury", "input.", "inputs.cart", "", "Query"])
def test_a_bad_source_names_its_location_and_the_two_forms(source: str) -> None:
    with pytest.raises(FeatureConfigError) as caught:
        RequestDataSpec.of({"user": {"cart_total": source}})
    message = str(caught.value)
    assert "sources.user.cart_total:" in message
    assert f"request data source {source!r} must be 'query'" in message
    assert "'input.<key>'" in message


def test_merged_unions_fields_and_refuses_two_sources_for_one_field() -> None:
    other = RequestDataSpec.of({"user": {"page": "input.page"}, "org": {"q": "query"}})
    merged = SPEC.merged(other)
    assert merged.sources == {
        "user": {"query_text": "query", "cart_total": "input.cart_total", "page": "input.page"},
        "org": {"q": "query"},
    }
    assert SPEC.merged(None) is SPEC
    assert SPEC.merged(SPEC).sources == SPEC.sources
    clash = RequestDataSpec.of({"user": {"cart_total": "input.total"}})
    with pytest.raises(FeatureConfigError) as caught:
        SPEC.merged(clash)
    assert str(caught.value) == (
        "Request field 'cart_total' of entity type 'user' is declared twice with different "
        "sources: 'input.cart_total' and 'input.total'; keep one"
    )


def test_empty_specs_are_false_and_adapter_arguments_accept_mappings() -> None:
    assert not RequestDataSpec()
    assert not RequestDataSpec.of({"user": {}})
    assert SPEC
    assert request_data_spec(None) == RequestDataSpec()
    assert request_data_spec(SPEC) is SPEC
    assert request_data_spec({"user": {"q": "query"}}).sources == {"user": {"q": "query"}}


def test_an_unknown_key_of_the_spec_itself_is_refused() -> None:
    with pytest.raises(FeatureConfigError, match="user: unknown key; valid keys: sources"):
        RequestDataSpec(user={"q": "query"})


def test_declared_in_the_filter_spec_and_per_task_in_the_enricher_config(tmp_path: Path) -> None:
    spec = FeatureFilterSpec(rules=[], request_data={"user": {"cart_total": "input.cart_total"}})
    assert spec.request_data.sources == {"user": {"cart_total": "input.cart_total"}}
    assert not FeatureFilterSpec().request_data
    path = tmp_path / "llmfs.yaml"
    path.write_text(
        "enricher:\n"
        "  task_features: {shop: {user: [query_words]}}\n"
        "  request_data:\n"
        "    shop: {user: {query: query, cart_total: input.cart_total}}\n",
        encoding="utf-8",
    )
    config = EnricherConfig.from_yaml(path)
    assert config.request_data["shop"].sources == {
        "user": {"query": "query", "cart_total": "input.cart_total"}
    }


@pytest.mark.parametrize(
    ("model", "data", "where"),
    [
        (
            FeatureFilterSpec,
            {"request_data": {"user": {"x": "nope"}}},
            "request_data.sources.user.x",
        ),
        (
            EnricherConfig,
            {"request_data": {"shop": {"user": {"x": "nope"}}}},
            "request_data.shop.sources.user.x",
        ),
        (FeatureFilterSpec, {"request_data": {"user": "query"}}, "request_data.sources.user"),
    ],
)
def test_bad_declarations_name_their_location(model: Any, data: dict[str, Any], where: str) -> None:
    with pytest.raises(FeatureConfigError) as caught:
        model(**data)
    assert f"  {where}:" in str(caught.value)


CONFIG = EnricherConfig(
    task_features={"shop": {"user": ["tier", "query_words", "cart_vs_aov"]}},
    request_data={"shop": {"user": {"query": "query", "cart_total": "input.cart_total"}}},
)


@pytest.mark.parametrize("use_async", [False, True])
async def test_the_enricher_sends_its_tasks_request_data(use_async: bool) -> None:
    store = request_store()
    enricher = FeatureEnricher(store, CONFIG)
    prompt, inputs = "which trail shoes fit", {"cart_total": 50.0}
    if use_async:
        result = await enricher.aenrich(prompt, user_id="u1", task_type="shop", inputs=inputs)
    else:
        result = enricher.enrich(prompt, user_id="u1", task_type="shop", inputs=inputs)
    assert store.calls == [(["u1"], [{"query": prompt, "cart_total": 50.0}])]
    assert "Query words: 4" in result.context_block
    assert "Cart vs AOV: 0.5" in result.context_block


def test_the_enricher_names_a_missing_input_of_its_task() -> None:
    enricher = FeatureEnricher(request_store(), CONFIG)
    with pytest.raises(FeatureValidationError, match=r"input key 'cart_total'.*keys present: page"):
        enricher.enrich("q", user_id="u1", task_type="shop", inputs={"page": 2})


def test_tasks_without_request_data_and_plans_that_read_nothing_resolve_nothing() -> None:
    enricher = FeatureEnricher(request_store(), CONFIG)
    assert enricher.plan(user_id="u1", task_type="general").request_data == {}
    assert enricher.plan(task_type="shop", query="q").skipped_reason == "no_entities"
    plan = enricher.plan(user_id="u1", task_type="shop", query="q", inputs={"cart_total": 1})
    assert plan.request_data == {"user": {"query": "q", "cart_total": 1}}
    assert enricher.request(plan).request_data == plan.request_data
