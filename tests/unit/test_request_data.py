"""Request data in the client interface: validation, refusal, the frozen form, and
third-party backends written before the keyword existed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest

from llm_featurestore.clients.base import (
    FeatureStoreClient,
    check_request_data,
    freeze_request_data,
    refuse_request_data,
)
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus, FeatureVector


def test_none_and_empty_mappings_mean_no_request_data() -> None:
    assert check_request_data(["a", "b"], None) is None
    assert check_request_data(["a", "b"], [{}, {}]) is None
    assert check_request_data([], []) is None


def test_values_come_back_as_json_safe_copies_aligned_with_the_ids() -> None:
    when = datetime(2026, 1, 2, tzinfo=timezone.utc)
    got = check_request_data(["a", "b"], [{"cart_total": 12.5, "at": when}, {}])
    assert got == [{"cart_total": 12.5, "at": "2026-01-02T00:00:00+00:00"}, {}]


@pytest.mark.parametrize(
    ("request_data", "message"),
    [
        ({"cart_total": 1.0}, "must be a list with one mapping .* per entity id, got dict"),
        ("cart_total", "must be a list .* got str"),
        ([{"cart_total": 1.0}], r"has 1 mapping\(s\) for 2 entity id\(s\)"),
        ([{}, {}, {}], r"has 3 mapping\(s\) for 2 entity id\(s\)"),
        ([{}, ["cart_total", 1.0]], "request_data for entity 'b' must be a mapping .* got list"),
    ],
)
def test_malformed_request_data_is_a_config_error(request_data: Any, message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        check_request_data(["a", "b"], request_data)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"cart_total": float("nan")}, r"Request field 'cart_total' \(entity 'b'\): .*finite"),
        ({"query": "x\x00"}, r"Request field 'query' \(entity 'b'\): strings may not contain NUL"),
        ({"blob": object()}, r"Request field 'blob' \(entity 'b'\): unsupported type object"),
        ({"bad name": 1}, r"Invalid request field name 'bad name' \(entity 'b'\)"),
        ({1: 1}, r"Invalid request field name 1 \(entity 'b'\)"),
    ],
)
def test_bad_values_are_validation_errors_naming_field_and_entity(
    values: dict[Any, Any], message: str
) -> None:
    with pytest.raises(FeatureValidationError, match=message):
        check_request_data(["a", "b"], [{}, values])


def test_frozen_form_is_order_independent_and_tells_kinds_apart() -> None:
    assert freeze_request_data(None) == freeze_request_data({}) == ()
    assert freeze_request_data({"a": 1, "b": [1, 2]}) == freeze_request_data({"b": [1, 2], "a": 1})
    distinct = [{"a": 1}, {"a": 1.0}, {"a": True}, {"a": "1"}, {"a": [1]}, {"a": {"x": 1}}]
    assert len({freeze_request_data(v) for v in distinct}) == len(distinct)
    hash(freeze_request_data({"a": {"x": [1, {"y": 2}]}}))


@pytest.fixture
def local() -> LocalFeatureStore:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"tier": "gold"})
    return store


@pytest.mark.parametrize("use_async", [False, True])
async def test_local_refuses_request_data_naming_itself_and_those_that_take_it(
    local: LocalFeatureStore, use_async: bool
) -> None:
    expected = (
        r"The LocalFeatureStore backend does not take request data \(got cart_total\); "
        r".*\(feast, feast_http, tecton\)"
    )
    with pytest.raises(FeatureConfigError, match=expected):
        await _read(local, use_async, {"cart_total": 3.0})


async def _read(client: FeatureStoreClient, use_async: bool, data: dict[str, Any]) -> Any:
    if use_async:
        return await client.aget_features("u1", "user", ["tier"], request_data=data)
    return client.get_batch_features(["u1"], "user", ["tier"], request_data=[data])


async def test_local_reads_normally_with_none_or_empty_request_data(
    local: LocalFeatureStore,
) -> None:
    assert local.get_features("u1", "user", ["tier"], request_data={}).features == {"tier": "gold"}
    got = await local.aget_batch_features(["u1"], "user", ["tier"], request_data=[{}])
    assert got[0].features == {"tier": "gold"}


def test_redis_refuses_request_data_before_any_io() -> None:
    store = RedisFeatureStore("redis://127.0.0.1:1/0")  # nothing listens: no I/O may happen
    try:
        with pytest.raises(FeatureConfigError, match="The RedisFeatureStore backend does not"):
            store.get_features("u1", "user", ["tier"], request_data={"query": "shoes"})
    finally:
        store.close()


def test_refusal_of_malformed_request_data_reports_the_shape_first() -> None:
    with pytest.raises(FeatureConfigError, match="1 mapping"):
        refuse_request_data(object(), ["a", "b"], [{}])


def test_single_read_request_data_must_be_one_mapping(local: LocalFeatureStore) -> None:
    with pytest.raises(FeatureConfigError, match="one mapping of request field to value, got list"):
        local.get_features("u1", "user", ["tier"], request_data=[{"x": 1}])  # type: ignore[arg-type]


class _Legacy(FeatureStoreClient):
    """A third-party backend written before request data: no keyword at all."""

    def get_batch_features(  # type: ignore[override]
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return [
            FeatureVector.build(
                entity_id=e,
                entity_type=entity_type,
                feature_names=feature_names,
                values=dict.fromkeys(feature_names, 1),
                statuses=dict.fromkeys(feature_names, FeatureStatus.PRESENT),
                source=self.source,
            )
            for e in entity_ids
        ]

    def list_features(self, entity_type: str) -> list[str]:
        return ["x"]

    def health_check(self) -> bool:
        return True


async def test_backends_without_the_keyword_keep_working() -> None:
    legacy = _Legacy()
    assert legacy.accepts_request_data is False
    assert legacy.get_features("u1", "user", ["x"]).features == {"x": 1}
    assert legacy.get_features("u1", "user", ["x"], request_data={}).features == {"x": 1}
    assert (await legacy.aget_features("u1", "user", ["x"])).features == {"x": 1}
    assert (await legacy.aget_batch_features(["u1"], "user", ["x"]))[0].features == {"x": 1}
