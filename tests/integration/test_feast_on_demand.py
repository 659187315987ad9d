"""On-demand views, request data and feature services through FeastClient, on `feast init`'s repo.

The repo (``tests/fixtures/feast_init_repo.py``) is the one a new user gets, plus a
python-mode view; it is read on SQLite (async through a worker thread) and on Redis
(Feast's native async read). Every on-demand value is checked against the stored
``conv_rate`` plus the request data sent for that entity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus, FeatureVector
from tests.fixtures import feast_init_repo as fi

pytestmark = pytest.mark.integration

IDS = ["1001", "1002", "1001", fi.MISSING_DRIVER]
"""1001 twice, with different request data: the answers must differ."""
REQUEST = [
    {"val_to_add": 1, "val_to_add_2": 10},
    {"val_to_add": 2, "val_to_add_2": 20},
    {"val_to_add": 300, "val_to_add_2": 3000},
    {"val_to_add": 4, "val_to_add_2": 40},
]
MODES = ["batch", "abatch", "one", "aone"]


@pytest.fixture(scope="module")
def sqlite_client(feast_init_repo: Path) -> FeastClient:
    return FeastClient(feast_init_repo)


@pytest.fixture(scope="module")
def redis_client(feast_init_redis_repo: Path) -> FeastClient:
    return FeastClient(feast_init_redis_repo)


@pytest.fixture(scope="module")
def rates(feast_init_repo: Path) -> dict[str, float | None]:
    return fi.conv_rates(feast_init_repo)


@pytest.fixture(params=["sqlite", "redis"])
def client(request: pytest.FixtureRequest) -> FeastClient:
    client: FeastClient = request.getfixturevalue(f"{request.param}_client")
    return client


async def read(
    client: FeastClient,
    mode: str,
    names: Sequence[str],
    ids: Sequence[str] = IDS,
    request_data: Sequence[Mapping[str, Any]] = REQUEST,
) -> list[FeatureVector]:
    """The same read through each entry point: batch, async batch, single, async single."""
    if mode == "batch":
        return client.get_batch_features(ids, fi.ENTITY, names, request_data=request_data)
    if mode == "abatch":
        return await client.aget_batch_features(ids, fi.ENTITY, names, request_data=request_data)
    if mode == "one":
        return [
            client.get_features(i, fi.ENTITY, names, request_data=rd)
            for i, rd in zip(ids, request_data, strict=True)
        ]
    return [
        await client.aget_features(i, fi.ENTITY, names, request_data=rd)
        for i, rd in zip(ids, request_data, strict=True)
    ]


def expect_sums(
    vectors: Sequence[FeatureVector],
    key: str,
    field: str,
    rates: Mapping[str, float | None],
    ids: Sequence[str] = IDS,
    request_data: Sequence[Mapping[str, Any]] = REQUEST,
) -> None:
    """``key`` is each entity's conv_rate plus its ``field`` (NOT_FOUND for an unknown one)."""
    for vector, eid, rd in zip(vectors, ids, request_data, strict=True):
        assert vector.entity_id == eid
        rate = rates[eid]
        if rate is None:
            assert vector.statuses[key] is FeatureStatus.NOT_FOUND
            assert vector.features[key] is None
        else:
            assert vector.statuses[key] is FeatureStatus.PRESENT
            assert vector.features[key] == pytest.approx(rate + rd[field])


def test_the_redis_copy_reads_through_feasts_native_async_path(
    redis_client: FeastClient, sqlite_client: FeastClient
) -> None:
    assert redis_client.native_async
    assert not sqlite_client.native_async


def test_the_registry_offers_on_demand_views_and_their_services(
    sqlite_client: FeastClient,
) -> None:
    names = sqlite_client.list_features(fi.ENTITY)
    assert "transformed_conv_rate:conv_rate_plus_val1" in names
    assert f"{fi.PYTHON_VIEW}:{fi.PYTHON_FEATURE}" in names
    assert fi.PYTHON_FEATURE in names  # unique bare name
    assert "conv_rate_plus_val1" not in names  # in both pandas views: ambiguous
    assert sqlite_client.list_feature_services(fi.ENTITY) == sorted(
        [*fi.SERVICES, fi.PYTHON_SERVICE]
    )
    for service in (*fi.SERVICES, fi.PYTHON_SERVICE):
        assert sqlite_client.request_fields(fi.ENTITY, [service]) == fi.REQUEST_FIELDS
    assert sqlite_client.request_fields(fi.ENTITY, ["driver_hourly_stats:conv_rate"]) == {}


@pytest.mark.parametrize("mode", MODES)
async def test_pandas_view_refs_compute_from_each_entitys_request_data(
    client: FeastClient, rates: dict[str, float | None], mode: str
) -> None:
    names = [
        "transformed_conv_rate:conv_rate_plus_val1",
        "transformed_conv_rate:conv_rate_plus_val2",
        "driver_hourly_stats:conv_rate",
    ]
    vectors = await read(client, mode, names)
    expect_sums(vectors, names[0], "val_to_add", rates)
    expect_sums(vectors, names[1], "val_to_add_2", rates)
    assert vectors[0].features[names[0]] != vectors[2].features[names[0]]  # same driver
    assert vectors[0].features[names[2]] == pytest.approx(rates["1001"])


@pytest.mark.parametrize("mode", MODES)
async def test_python_view_computes_by_ref_and_by_bare_name(
    client: FeastClient, rates: dict[str, float | None], mode: str
) -> None:
    ref = f"{fi.PYTHON_VIEW}:{fi.PYTHON_FEATURE}"
    vectors = await read(client, mode, [ref, "driver_hourly_stats:acc_rate"])
    expect_sums(vectors, ref, "val_to_add", rates)
    assert vectors[0].statuses["driver_hourly_stats:acc_rate"] is FeatureStatus.PRESENT
    expect_sums(
        await read(client, mode, [fi.PYTHON_FEATURE]), fi.PYTHON_FEATURE, "val_to_add", rates
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", [*fi.SERVICES, fi.PYTHON_SERVICE])
async def test_feature_services_holding_on_demand_views_resolve(
    client: FeastClient, rates: dict[str, float | None], mode: str, service: str
) -> None:
    vectors = await read(client, mode, [service])
    if service == fi.PYTHON_SERVICE:
        assert set(vectors[0].features) == {"acc_rate", fi.PYTHON_FEATURE}
        expect_sums(vectors, fi.PYTHON_FEATURE, "val_to_add", rates)
        return
    keys = set(vectors[0].features)
    assert {"conv_rate", "conv_rate_plus_val1", "conv_rate_plus_val2"} <= keys
    if service != "driver_activity_v1":
        assert {"acc_rate", "avg_daily_trips", "driver_profile"} <= keys
    expect_sums(vectors, "conv_rate_plus_val1", "val_to_add", rates)
    expect_sums(vectors, "conv_rate_plus_val2", "val_to_add_2", rates)
    for vector in vectors:
        if vector.entity_id != fi.MISSING_DRIVER:
            assert vector.features["conv_rate"] == pytest.approx(rates[vector.entity_id])


def test_features_without_request_sources_need_no_request_data(
    sqlite_client: FeastClient, rates: dict[str, float | None]
) -> None:
    vector = sqlite_client.get_features("1002", fi.ENTITY, ["driver_hourly_stats:conv_rate"])
    assert vector.features["driver_hourly_stats:conv_rate"] == pytest.approx(rates["1002"])
    empty = sqlite_client.get_batch_features(
        ["1002"], fi.ENTITY, ["driver_hourly_stats:conv_rate"], request_data=[{}]
    )
    assert empty[0].features == vector.features
    assert sqlite_client.get_batch_features([], fi.ENTITY, ["driver_activity_v1"]) == []


# ----------------------------------------------------------------- errors (before any I/O)

V1 = ["driver_activity_v1"]


def test_missing_request_data_names_fields_features_and_how_to_pass_them(
    sqlite_client: FeastClient,
) -> None:
    with pytest.raises(FeatureValidationError) as info:
        sqlite_client.get_features("1001", fi.ENTITY, V1)
    assert str(info.value) == (
        "Missing request data for entity 'driver': val_to_add (Int64), val_to_add_2 (Int64), "
        "needed by the on-demand feature(s) conv_rate_plus_val1, conv_rate_plus_val2. Pass it "
        "per entity: get_features(..., request_data={'val_to_add': ..., 'val_to_add_2': ...}), "
        "or get_batch_features(..., request_data=[{'val_to_add': ..., 'val_to_add_2': ...}, "
        "...]) with one mapping per id"
    )
    with pytest.raises(FeatureValidationError, match="Missing request data for entity 'driver'"):
        sqlite_client.get_batch_features(["1001", "1002"], fi.ENTITY, V1, request_data=[{}, {}])
    with pytest.raises(
        FeatureValidationError,
        match=r"^Missing request data for driver '1002': val_to_add_2 \(Int64\), needed by the "
        r"on-demand feature\(s\) transformed_conv_rate_python:conv_rate_plus_val_py\. Pass it",
    ):
        sqlite_client.get_batch_features(
            ["1001", "1002"],
            fi.ENTITY,
            [f"{fi.PYTHON_VIEW}:{fi.PYTHON_FEATURE}"],
            request_data=[REQUEST[0], {"val_to_add": 1}],
        )


async def test_unknown_request_fields_name_the_valid_ones(sqlite_client: FeastClient) -> None:
    bad = [{**REQUEST[0], "val_to_ad": 1}]
    message = (
        r"^Unknown request data field\(s\) 'val_to_ad' for driver '1001': the requested "
        r"features take val_to_add, val_to_add_2$"
    )
    with pytest.raises(FeatureConfigError, match=message):
        sqlite_client.get_batch_features(["1001"], fi.ENTITY, V1, request_data=bad)
    with pytest.raises(FeatureConfigError, match=message):
        await sqlite_client.aget_features("1001", fi.ENTITY, V1, request_data=bad[0])
    with pytest.raises(
        FeatureConfigError,
        match=r"^Unknown request data field\(s\) 'val_to_add' for driver '1001': the requested "
        r"features take none: drop request_data$",
    ):
        sqlite_client.get_features(
            "1001", fi.ENTITY, ["driver_hourly_stats:conv_rate"], request_data={"val_to_add": 1}
        )


def test_request_data_must_be_one_mapping_per_id(sqlite_client: FeastClient) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"^request_data has 1 mapping\(s\) for 2 entity id\(s\): pass one mapping per "
        r"id, in the order of entity_ids \(\{\} for an id without any\)$",
    ):
        sqlite_client.get_batch_features(["1001", "1002"], fi.ENTITY, V1, request_data=REQUEST[:1])
    with pytest.raises(FeatureConfigError, match=r"must be a list with one mapping .* got dict"):
        sqlite_client.get_batch_features(["1001"], fi.ENTITY, V1, request_data=REQUEST[0])  # type: ignore[arg-type]
    with pytest.raises(
        FeatureConfigError, match=r"request_data for entity '1001' must be a mapping .* got int"
    ):
        sqlite_client.get_batch_features(["1001"], fi.ENTITY, V1, request_data=[5])  # type: ignore[list-item]
    with pytest.raises(
        FeatureConfigError, match=r"request_data of a single read must be one mapping .* got list"
    ):
        sqlite_client.get_features("1001", fi.ENTITY, V1, request_data=REQUEST)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            1.5,
            r"'val_to_add' for driver '1001' is Int64 in Feast: expected an integer, "
            r"got float 1\.5",
        ),
        (True, r"'val_to_add' for driver '1001' is Int64 in Feast: expected an integer, got bool"),
        ("7", r"'val_to_add' for driver '1001' is Int64 in Feast: expected an integer, got str"),
        (2**63, r"^Request field 'val_to_add': integer \d+ overflows int64 \(request data for "),
        (object(), r"^Request field 'val_to_add': unsupported type object"),
    ],
)
def test_request_values_are_validated_like_writes(
    sqlite_client: FeastClient, value: object, message: str
) -> None:
    with pytest.raises(FeatureValidationError, match=message):
        sqlite_client.get_features(
            "1001", fi.ENTITY, V1, request_data={"val_to_add": value, "val_to_add_2": 1}
        )


def test_a_python_view_read_with_colliding_bare_names_says_what_to_split(
    sqlite_client: FeastClient,
) -> None:
    with pytest.raises(FeatureConfigError) as info:
        sqlite_client.get_features(
            "1001",
            fi.ENTITY,
            [
                fi.PYTHON_FEATURE,
                "driver_hourly_stats:conv_rate",
                "driver_hourly_stats_fresh:conv_rate",
            ],
            request_data=REQUEST[0],
        )
    assert str(info.value) == (
        "Feast 0.67 drops the outputs of python-mode on-demand view(s) "
        "transformed_conv_rate_python from answers with full feature names, so this read asks "
        "for bare names, but several requested columns share one: conv_rate "
        "(driver_hourly_stats:conv_rate, driver_hourly_stats_fresh:conv_rate). Read the "
        "python-mode view's features in a separate call from the others of the same name"
    )


def test_an_ambiguous_bare_name_counts_on_demand_views(sqlite_client: FeastClient) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"^Ambiguous feature 'conv_rate_plus_val1' for entity 'driver': it is in 2 "
        r"feature views. Use one of: transformed_conv_rate:conv_rate_plus_val1, "
        r"transformed_conv_rate_fresh:conv_rate_plus_val1$",
    ):
        sqlite_client.get_features(
            "1001", fi.ENTITY, ["conv_rate_plus_val1"], request_data=REQUEST[0]
        )


def test_an_on_demand_feature_cannot_be_written(sqlite_client: FeastClient) -> None:
    with pytest.raises(FeatureValidationError, match="on-demand view 'transformed_conv_rate'"):
        sqlite_client.write_features(
            "1001", "driver", {"transformed_conv_rate:conv_rate_plus_val1": 1.5}
        )
