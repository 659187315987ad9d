"""TectonClient decoding the response samples of Tecton's HTTP API (tests/data/tecton/),
served by the local Tecton server: every documented serving status, every value type.

A cached value is a value: ``CACHED_PRESENT`` and ``CACHED`` read as PRESENT with their
value; ``MISSING_DATA`` and ``CACHED_MISSING_DATA`` as NOT_FOUND; ``UNKNOWN``,
``UNKNOWN_STATUS`` and ``CACHED_UNKNOWN`` as UNAVAILABLE; ``TIME_OUT`` as TIMED_OUT.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.clients.tecton.protocol import (
    GET_FEATURES_BATCH_PATH,
    GET_FEATURES_PATH,
    METADATA_PATH,
)
from llm_featurestore.models import FeatureStatus
from tests import tecton_server as ts
from tests.fixtures.tecton import make_tecton_client

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "tecton"
P, NF, NA, TO = (
    FeatureStatus.PRESENT,
    FeatureStatus.NOT_FOUND,
    FeatureStatus.UNAVAILABLE,
    FeatureStatus.TIMED_OUT,
)
HIGH = "amount_is_high.amount_is_high"
FRAUD_1D = "merchant_fraud_rate.fraud_mean_1d"
FRAUD_30D = "merchant_fraud_rate.fraud_mean_30d"
COUNT_30D = "user_transaction_counts.count_30d"
COUNT_90D = "user_transaction_counts.count_90d"
MERCHANTS = "user_recent_merchants.merchant_ids"
HOME = "user_profile.home"
SEGMENT = "user_profile.segment"
NAMES = [HIGH, FRAUD_1D, FRAUD_30D, COUNT_30D, COUNT_90D, MERCHANTS, HOME, SEGMENT]


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def server() -> Iterator[ts.TectonTestServer]:
    with ts.running_tecton_server({}) as srv:
        srv.canned = {
            METADATA_PATH: sample("metadata.json"),
            GET_FEATURES_PATH: sample("get_features.json"),
            GET_FEATURES_BATCH_PATH: sample("get_features_batch.json"),
        }
        yield srv


@pytest.fixture
def client(server: ts.TectonTestServer) -> Iterator[TectonClient]:
    made = make_tecton_client(server.url, request_context={"amount": 120.0})
    yield made
    made.close()


def test_the_metadata_sample_gives_names_join_key_and_request_context(
    client: TectonClient,
) -> None:
    service = client.service()
    assert service.feature_names == tuple(NAMES)
    assert (service.join_keys, service.request_context_keys) == (("user_id",), ("amount",))
    assert client.list_features("user") == sorted(NAMES)


@pytest.mark.parametrize("use_async", [False, True])
async def test_the_get_features_sample(
    server: ts.TectonTestServer, client: TectonClient, use_async: bool
) -> None:
    read = client.aget_features if use_async else None
    vector = await read("u-1", "user", NAMES) if read else client.get_features("u-1", "user", NAMES)
    assert vector.features == {
        HIGH: True,
        FRAUD_1D: None,
        FRAUD_30D: 0.0125,  # CACHED_PRESENT: the cached value is kept
        COUNT_30D: 418,  # int64, sent as a decimal string
        COUNT_90D: None,
        MERCHANTS: ["m-7f3a", "m-0b21", "m-c9d4"],
        HOME: {"city": "Lyon", "zip": 69002},  # a struct, sent as a list; CACHED
        SEGMENT: None,
    }
    assert vector.statuses == {
        HIGH: P,
        FRAUD_1D: NF,
        FRAUD_30D: P,
        COUNT_30D: P,
        COUNT_90D: NF,  # CACHED_MISSING_DATA
        MERCHANTS: P,
        HOME: P,
        SEGMENT: TO,
    }
    assert vector.event_timestamps[FRAUD_30D] == datetime(2024, 5, 3, tzinfo=timezone.utc)
    assert vector.event_timestamps[HIGH] is None  # an on-demand value has no effective time
    path, body = server.requests[-1]
    assert path == GET_FEATURES_PATH
    assert body["params"]["join_key_map"] == {"user_id": "u-1"}
    assert body["params"]["request_context_map"] == {"amount": 120.0}
    await client.aclose()


@pytest.mark.parametrize("use_async", [False, True])
async def test_the_get_features_batch_sample(client: TectonClient, use_async: bool) -> None:
    ids = ["u-1", "u-2", "u-3"]
    names = ["amount_is_high", *NAMES[1:7], "segment"]  # bare names where unique
    if use_async:
        vectors = await client.aget_batch_features(ids, "user", names)
    else:
        vectors = client.get_batch_features(ids, "user", names)
    paris, nantes = {"city": "Paris", "zip": 75011}, {"city": "Nantes", "zip": 44000}
    expected = [
        ([False, 0.0031, 0.0027, 12, 40, ["m-1a2b"], paris, "loyal"], [P, P, P, P, P, P, P, P]),
        ([True, None, 0.0, None, None, [], None, "new"], [P, NF, P, NA, NF, P, NF, P]),
        ([None, 0.5, 0.25, 7, 21, None, nantes, None], [NA, P, P, P, P, NA, P, TO]),
    ]
    for vector, (values, statuses) in zip(vectors, expected, strict=True):
        assert vector.features == dict(zip(names, values, strict=True))
        assert vector.statuses == dict(zip(names, statuses, strict=True))
    # One effectiveTime per feature in a batch: every row gets the view's serving time.
    assert {v.event_timestamps[COUNT_30D] for v in vectors} == {
        datetime(2024, 5, 3, tzinfo=timezone.utc)
    }
    await client.aclose()


def test_every_status_of_the_samples_is_one_the_client_maps() -> None:
    from llm_featurestore.clients.tecton.protocol import STATUS_MAP

    used: set[str] = set()
    for name in ("get_features.json", "get_features_batch.json"):
        for meta in sample(name)["metadata"]["features"]:
            status = meta["status"]
            used.update(status if isinstance(status, list) else [status])
    documented = {"PRESENT", "MISSING_DATA", "UNKNOWN", "CACHED_PRESENT"}
    documented |= {"CACHED_MISSING_DATA", "CACHED_UNKNOWN", "TIME_OUT"}
    assert documented <= used <= set(STATUS_MAP)
