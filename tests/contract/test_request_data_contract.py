"""What every backend does with request data, sync and async: one suite over real stores.

A backend that takes none (``accepts_request_data = False``) refuses non-empty request
data with a FeatureConfigError naming itself and the backends that take it; every
backend reads as usual with ``None`` or only empty mappings. Of the backends that take
it, Tecton and FeastHttpClient without ``request_fields`` pass fields their features
do not need along (the servers ignore them), while FeastClient, which knows the
registry, refuses them before any I/O, naming the field (a typo would otherwise be
silently lost); ``tests/integration/test_feast_on_demand.py`` reads real on-demand views.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from tests.contract import harness as h

pytestmark = pytest.mark.integration

BACKENDS = ["local", "feast_sqlite", "feast_redis", "feast_http", "redis", "tecton"]
STRICT = {"FeastClient"}
"""Backends that refuse request fields no requested feature needs."""


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> h.ContractHarness:
    return request.getfixturevalue(f"contract_{request.param}")  # type: ignore[no-any-return]


@pytest.fixture(params=["sync", "async"])
def use_async(request: pytest.FixtureRequest) -> bool:
    return request.param == "async"


async def read(
    client: FeatureStoreClient,
    use_async: bool,
    ids: Sequence[str],
    names: Sequence[str],
    request_data: Any,
) -> list[FeatureVector]:
    if use_async:
        return await client.aget_batch_features(
            ids, h.ENTITY_TYPE, names, request_data=request_data
        )
    return client.get_batch_features(ids, h.ENTITY_TYPE, names, request_data=request_data)


async def test_no_request_data_reads_as_before(harness: h.ContractHarness, use_async: bool) -> None:
    ids = ["1001", h.MISSING_ID]
    plain = await read(harness.client, use_async, ids, harness.feature_names, None)
    empty = await read(harness.client, use_async, ids, harness.feature_names, [{}, {}])
    assert [v.features for v in empty] == [v.features for v in plain]
    assert [v.statuses for v in empty] == [v.statuses for v in plain]


async def test_request_data_is_refused_or_taken(
    harness: h.ContractHarness, use_async: bool
) -> None:
    client = harness.client
    data = [{"cart_total": 12.0}]
    if client.accepts_request_data and type(client).__name__ not in STRICT:
        (vector,) = await read(client, use_async, ["1001"], harness.feature_names, data)
        assert list(vector.features) == harness.feature_names
        return
    if client.accepts_request_data:
        with pytest.raises(FeatureConfigError, match="cart_total") as unneeded:
            await read(client, use_async, ["1001"], harness.feature_names, data)
        assert "does not take request data" not in str(unneeded.value)
        return
    with pytest.raises(FeatureConfigError) as caught:
        await read(client, use_async, ["1001"], harness.feature_names, data)
    message = str(caught.value)
    assert f"The {type(client).__name__} backend does not take request data" in message
    assert "cart_total" in message
    assert "feast, feast_http, tecton" in message


async def test_misaligned_request_data_is_a_usage_error(
    harness: h.ContractHarness, use_async: bool
) -> None:
    with pytest.raises(FeatureConfigError, match=r"1 mapping\(s\) for 2 entity id\(s\)"):
        await read(harness.client, use_async, ["1001", "1002"], harness.feature_names, [{}])
