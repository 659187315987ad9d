"""The read flow's failure semantics against real services: Feast's Int64 join key and
its view ttl, and a Tecton server that refuses the API key."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from langchain_featurestore import FeatureLookup
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.tecton import TectonClient
from llm_featurestore.enricher import DropReason, EnricherConfig, FeatureEnricher
from llm_featurestore.errors import FeatureAuthError, InvalidEntityIdError
from llm_featurestore.models import FeatureStatus, utcnow
from llm_featurestore.serving import CoalesceConfig, ServingClient
from tests import tecton_server as ts
from tests.contract.wrappers import CountingClient
from tests.fixtures.tecton import make_tecton_client

pytestmark = pytest.mark.integration

REF = "user_stats:favorite_category"
IDS = ["1001", "1002", "abc", "1003", "1004"]


@pytest.fixture
def feast(feast_sqlite_repo: Path) -> Iterator[FeastClient]:
    with FeastClient(feast_sqlite_repo) as client:
        yield client  # type: ignore[misc]


async def test_one_malformed_id_fails_none_of_its_coalesced_neighbours(feast: FeastClient) -> None:
    backend = CountingClient(feast)
    serving = ServingClient(backend, coalesce=CoalesceConfig(window_ms=20))
    got = await asyncio.gather(*(serving.aget_features(i, "user", [REF]) for i in IDS))
    statuses = [v.statuses[REF] for v in got]
    assert statuses[2] is FeatureStatus.INVALID_ID
    assert FeatureStatus.INVALID_ID not in statuses[:2] + statuses[3:]
    assert [v.entity_id for v in got] == IDS
    assert len(backend.calls) == 2  # the batch, then the four good ids again

    strict = ServingClient(feast, coalesce=CoalesceConfig(window_ms=20), fallback_on_timeout=False)
    outcomes = await asyncio.gather(
        *(strict.aget_features(i, "user", [REF]) for i in IDS), return_exceptions=True
    )
    assert isinstance(outcomes[2], InvalidEntityIdError)
    assert "'abc' is not a valid Int64 for join key 'user_id'" in str(outcomes[2])
    assert not any(isinstance(o, Exception) for o in outcomes[:2] + outcomes[3:])


def test_feast_names_every_id_it_cannot_take(feast: FeastClient) -> None:
    with pytest.raises(InvalidEntityIdError) as info:
        feast.get_batch_features(["1001", "guest-7f3a", "x1"], "user", [REF])
    assert info.value.entity_ids == ("guest-7f3a", "x1")
    assert "(1 more invalid id(s) in this request)" in str(info.value)


async def test_a_guest_id_degrades_through_the_enricher_and_raises_without_fallback(
    feast: FeastClient,
) -> None:
    config = EnricherConfig(task_features={"t": {"user": [REF]}})
    lenient = FeatureEnricher(feast, config)
    for result in (
        lenient.enrich("q", user_id="guest-7f3a", task_type="t"),
        await lenient.aenrich("q", user_id="guest-7f3a", task_type="t"),
    ):
        assert result.enriched_prompt == "q"
        assert [p.status for p in result.provenance] == [FeatureStatus.INVALID_ID]
        assert result.store_available is True  # the store answered; the id was wrong
    strict = FeatureEnricher(feast, config, fallback=False)
    with pytest.raises(InvalidEntityIdError, match="guest-7f3a"):
        strict.enrich("q", user_id="guest-7f3a", task_type="t")


def test_by_default_the_views_ttl_decides_freshness(feast: FeastClient) -> None:
    # user_stats has a ttl of one day; these values are two hours old.
    two_hours_ago = utcnow() - timedelta(hours=2)
    feast.write_features(
        "5001",
        "user",
        {
            "favorite_category": "trail",
            "avg_order_value": 80.0,
            "purchases_30d": 2,
            "user_stats:last_viewed_brand": "zeta",
        },
        two_hours_ago,
    )
    config = EnricherConfig(task_features={"t": {"user": [REF]}})
    result = FeatureEnricher(feast, config).enrich("q", user_id="5001", task_type="t")
    assert "trail" in result.context_block
    (prov,) = result.provenance
    assert prov.status is FeatureStatus.PRESENT
    assert prov.age_seconds == pytest.approx(7200, abs=120)
    vector = feast.get_features("5001", "user", [REF])
    assert vector.freshness_seconds == pytest.approx(7200, abs=120)

    strict = EnricherConfig(task_features={"t": {"user": [REF]}}, freshness_threshold_seconds=3600)
    dropped = FeatureEnricher(feast, strict).enrich("q", user_id="5001", task_type="t")
    assert dropped.enriched_prompt == "q"
    assert dropped.provenance[0].drop_reason is DropReason.STALE


@pytest.fixture
def revoked() -> Iterator[TectonClient]:
    rows = {"1": {"user_stats.favorite_category": "running"}}
    with ts.running_tecton_server(rows) as server:
        client = make_tecton_client(server.url, api_key="revoked-key-0000")
        yield client
        client.close()


async def test_a_revoked_tecton_key_degrades_with_fallback_and_raises_without(
    revoked: TectonClient,
) -> None:
    names = ["user_stats.favorite_category"]
    lookup = FeatureLookup(revoked, feature_names=names)
    for out in (lookup.invoke({"user_id": "1"}), await lookup.ainvoke({"user_id": "1"})):
        assert out["features"].statuses == dict.fromkeys(names, FeatureStatus.UNAVAILABLE)
    strict = FeatureLookup(revoked, feature_names=names, fallback=False)
    with pytest.raises(FeatureAuthError, match=r"refused the credentials \(HTTP 401\)"):
        strict.invoke({"user_id": "1"})

    config = EnricherConfig(task_features={"t": {"user": names}})
    result = FeatureEnricher(revoked, config).enrich("q", user_id="1", task_type="t")
    assert (result.enriched_prompt, result.store_available) == ("q", False)
    with pytest.raises(FeatureAuthError):
        await FeatureEnricher(revoked, config, fallback=False).aenrich(
            "q", user_id="1", task_type="t"
        )
