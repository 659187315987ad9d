"""On-demand views, request data and feature services over `feast serve` of `feast init`'s repo.

Two clients: ``checked`` knows the repo's refs and request fields (built from the
registry by FeastClient, as a user would) and checks request data before sending;
``plain`` knows nothing and relies on the server's answers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from tests.fixtures import feast_init_repo as fi
from tests.fixtures.servers import free_port
from tests.integration.test_feast_on_demand import IDS, MODES, REQUEST, expect_sums, read

pytestmark = pytest.mark.integration

V1 = ["driver_activity_v1"]
PANDAS_REFS = [
    "transformed_conv_rate:conv_rate_plus_val1",
    "transformed_conv_rate:conv_rate_plus_val2",
]
PYTHON_REF = f"{fi.PYTHON_VIEW}:{fi.PYTHON_FEATURE}"


def http_settings(repo: Path) -> dict[str, object]:
    """The refs and request fields of ``repo``'s driver views and services, from its registry."""
    local = FeastClient(repo)
    refs = [name for name in local.list_features(fi.ENTITY) if ":" in name]
    one_ref = {ref.partition(":")[0]: ref for ref in refs}
    asked = {view: [ref] for view, ref in one_ref.items()}
    asked.update({s: [s] for s in local.list_feature_services(fi.ENTITY)})
    request_fields = {
        name: fields
        for name, names in asked.items()
        if (fields := local.request_fields(fi.ENTITY, names))
    }
    return {"features": {fi.ENTITY: refs}, "request_fields": request_fields}


@pytest.fixture(scope="module")
def settings(feast_init_repo: Path) -> dict[str, object]:
    return http_settings(feast_init_repo)


@pytest.fixture(scope="module")
def checked(feast_init_server_url: str, settings: dict[str, object]) -> Iterator[FeastHttpClient]:
    client = FeastHttpClient(feast_init_server_url, timeout_s=30, **settings)  # type: ignore[arg-type]
    yield client
    client.close()


@pytest.fixture(scope="module")
def plain(feast_init_server_url: str) -> Iterator[FeastHttpClient]:
    client = FeastHttpClient(feast_init_server_url, timeout_s=30)
    yield client
    client.close()


@pytest.fixture(params=["checked", "plain"])
def client(request: pytest.FixtureRequest) -> FeastHttpClient:
    client: FeastHttpClient = request.getfixturevalue(request.param)
    return client


@pytest.fixture(scope="module")
def rates(feast_init_repo: Path) -> dict[str, float | None]:
    return fi.conv_rates(feast_init_repo)


def test_both_clients_take_request_data(checked: FeastHttpClient) -> None:
    assert FeastHttpClient.accepts_request_data
    assert FeastClient.accepts_request_data
    assert checked.config.request_fields is not None
    assert checked.config.request_fields[fi.PANDAS_VIEW] == fi.REQUEST_FIELDS
    assert checked.config.request_fields["driver_activity_v2"] == fi.REQUEST_FIELDS
    assert "driver_hourly_stats" not in checked.config.request_fields


@pytest.mark.parametrize("mode", MODES)
async def test_pandas_view_refs_over_http(
    client: FeastHttpClient, rates: dict[str, float | None], mode: str
) -> None:
    vectors = await read(client, mode, PANDAS_REFS)  # type: ignore[arg-type]
    expect_sums(vectors, PANDAS_REFS[0], "val_to_add", rates)
    expect_sums(vectors, PANDAS_REFS[1], "val_to_add_2", rates)
    assert vectors[0].features[PANDAS_REFS[0]] != vectors[2].features[PANDAS_REFS[0]]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("service", fi.SERVICES)
async def test_feature_services_with_on_demand_views_over_http(
    client: FeastHttpClient, rates: dict[str, float | None], mode: str, service: str
) -> None:
    vectors = await read(client, mode, [service])  # type: ignore[arg-type]
    assert {"conv_rate", "conv_rate_plus_val1", "conv_rate_plus_val2"} <= set(vectors[0].features)
    expect_sums(vectors, "conv_rate_plus_val1", "val_to_add", rates)
    expect_sums(vectors, "conv_rate_plus_val2", "val_to_add_2", rates)


@pytest.mark.parametrize("mode", MODES)
async def test_python_view_refs_are_asked_again_with_bare_names(
    feast_init_server_url: str,
    settings: dict[str, object],
    rates: dict[str, float | None],
    mode: str,
) -> None:
    names = [PYTHON_REF, "driver_hourly_stats:acc_rate"]
    for kwargs in (settings, {}):
        async with FeastHttpClient(feast_init_server_url, timeout_s=30, **kwargs) as client:  # type: ignore[arg-type]
            for _ in range(2):  # the second read goes straight to bare names
                vectors = await read(client, mode, names)  # type: ignore[arg-type]
                expect_sums(vectors, PYTHON_REF, "val_to_add", rates)
                assert vectors[0].features["driver_hourly_stats:acc_rate"] is not None
            plan = client._plans[(fi.ENTITY, tuple(names))]
            assert not plan.full_names
            assert plan.views == (fi.PYTHON_VIEW, "driver_hourly_stats")


def test_a_feature_service_with_a_python_view_loses_its_outputs_over_http(
    checked: FeastHttpClient,
) -> None:
    """The documented limit: Feast 0.67 drops them and the columns are not known in
    advance (FeastClient reads this service whole)."""
    vector = checked.get_features("1001", fi.ENTITY, [fi.PYTHON_SERVICE], request_data=REQUEST[0])
    assert set(vector.features) == {"acc_rate"}


# ----------------------------------------------------------------- errors


def test_the_servers_missing_request_data_refusal_says_how_to_pass_it(
    plain: FeastHttpClient,
) -> None:
    with pytest.raises(FeatureValidationError) as info:
        plain.get_features("1001", fi.ENTITY, V1)
    assert str(info.value) == (
        f"Missing request data: the Feast feature server at {plain.url} needs val_to_add, "
        "val_to_add_2 to compute the on-demand features of driver_activity_v1. Pass it per "
        "entity: get_features(..., request_data={'val_to_add': ..., 'val_to_add_2': ...}), or "
        "get_batch_features(..., request_data=[{'val_to_add': ..., 'val_to_add_2': ...}, ...]) "
        "with one mapping per id; FeastHttpClient(request_fields=...) checks it before sending"
    )
    with pytest.raises(
        FeatureValidationError,
        match=r"needs val_to_add_2 to compute the on-demand features of "
        r"transformed_conv_rate:conv_rate_plus_val1\. Pass it",
    ):
        plain.get_batch_features(
            ["1001"], fi.ENTITY, PANDAS_REFS[:1], request_data=[{"val_to_add": 1}]
        )
    with pytest.raises(
        FeatureValidationError,
        match=r"^Request data for driver '1002' lacks val_to_add_2, which other entities of "
        r"this read carry: give every entity the same request fields$",
    ):
        plain.get_batch_features(
            ["1001", "1002"], fi.ENTITY, V1, request_data=[REQUEST[0], {"val_to_add": 1}]
        )


async def test_a_checked_client_refuses_bad_request_data_before_any_io(
    settings: dict[str, object],
) -> None:
    dead = FeastHttpClient(f"http://127.0.0.1:{free_port()}", timeout_s=1, **settings)  # type: ignore[arg-type]
    with pytest.raises(FeatureValidationError, match=r"^Missing request data for entity 'driver'"):
        dead.get_features("1001", fi.ENTITY, V1)
    with pytest.raises(
        FeatureValidationError,
        match=r"^Missing request data for driver '1001': val_to_add_2 \(Int64\), needed by "
        r"the on-demand feature\(s\) driver_activity_v2\. Pass it per entity",
    ):
        await dead.aget_features(
            "1001", fi.ENTITY, ["driver_activity_v2"], request_data={"val_to_add": 1}
        )
    with pytest.raises(
        FeatureConfigError,
        match=r"^Unknown request data field\(s\) 'val_to_ad' for driver '1001': the requested "
        r"features take val_to_add, val_to_add_2 \(per FeastHttpClient\(request_fields=\.\.\.\); "
        r"views and services it omits take none\)$",
    ):
        dead.get_features("1001", fi.ENTITY, V1, request_data={**REQUEST[0], "val_to_ad": 1})
    with pytest.raises(
        FeatureValidationError,
        match=r"'val_to_add' for driver '1001' is Int64 in Feast: expected an integer, got float",
    ):
        dead.get_features(
            "1001", fi.ENTITY, V1, request_data={"val_to_add": 1.5, "val_to_add_2": 1}
        )
    with pytest.raises(FeatureConfigError, match=r"request_data has 4 mapping\(s\) for 1 entity"):
        await dead.aget_batch_features(["1001"], fi.ENTITY, V1, request_data=REQUEST)
    assert dead._client is None  # nothing was sent
    assert dead._async.peek() is None
    dead.close()


@pytest.mark.parametrize("mode", ["batch", "abatch"])
async def test_a_read_after_a_refused_one_succeeds_on_the_same_client(
    feast_init_server_url: str, rates: dict[str, float | None], mode: str
) -> None:
    """``feast serve`` closes the connection after an error answer: the next read resends."""
    async with FeastHttpClient(feast_init_server_url, timeout_s=30) as client:
        for _ in range(3):
            with pytest.raises(FeatureValidationError):
                await read(client, mode, V1, IDS[:1], [{}])  # type: ignore[arg-type]
            vectors = await read(client, mode, V1, IDS[:1], REQUEST[:1])  # type: ignore[arg-type]
            expect_sums(vectors, "conv_rate_plus_val1", "val_to_add", rates, IDS[:1], REQUEST[:1])


def test_request_data_travels_in_the_entities_columns(settings: dict[str, object]) -> None:
    client = FeastHttpClient("http://127.0.0.1:1", **settings)  # type: ignore[arg-type]
    _, body = client._request(IDS[:2], fi.ENTITY, V1, REQUEST[:2])
    assert body["entities"] == {
        "val_to_add": [1, 2],
        "val_to_add_2": [10, 20],
        "driver_id": ["1001", "1002"],
    }
    assert body["feature_service"] == "driver_activity_v1"
