"""FeastClient against a real Feast repo (SQLite and Redis online stores)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.feast import (
    FeastClient,
    clear_feature_store_cache,
    shared_feature_store,
)
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureValidationError,
)
from llm_featurestore.models import FeatureStatus
from tests.contract import harness as h
from tests.fixtures import feast_repo as fr

pytestmark = pytest.mark.integration

REFS = fr.CONTRACT_REFS


def as_refs(features: dict[str, Any]) -> dict[str, Any]:
    """Contract data keyed by ``user_stats:`` refs."""
    return {f"user_stats:{k}": v for k, v in features.items()}


@pytest.fixture(params=["sqlite", "redis"])
def repo(request: pytest.FixtureRequest) -> Path:
    """Each test runs on both online stores."""
    return request.getfixturevalue(f"feast_{request.param}_repo")  # type: ignore[no-any-return]


@pytest.fixture
def client(repo: Path) -> Iterator[FeastClient]:
    with FeastClient(repo) as c:
        yield c  # type: ignore[misc]


# ----------------------------------------------------------------- name resolution


def test_refs_bare_names_and_mixed_spellings_give_keys_as_requested(client: FeastClient) -> None:
    names = ["user_stats:favorite_category", "avg_order_value", "loyalty_tier"]
    vec = client.get_features("1001", "user", names)
    assert list(vec.features) == names
    assert vec.features == {
        "user_stats:favorite_category": "running",
        "avg_order_value": 120.5,
        "loyalty_tier": "gold",
    }
    assert all(s is FeatureStatus.PRESENT for s in vec.statuses.values())


def test_same_feature_by_ref_and_bare_name_fills_both_keys(client: FeastClient) -> None:
    vec = client.get_features("1001", "user", ["favorite_category", "user_stats:favorite_category"])
    assert vec.features == {
        "favorite_category": "running",
        "user_stats:favorite_category": "running",
    }


def test_both_ambiguous_refs_resolve_to_their_own_view(client: FeastClient) -> None:
    vec = client.get_features(
        "1001", "user", ["user_stats:last_viewed_brand", "user_extra:last_viewed_brand"]
    )
    # 1001 has no brand in user_stats (written as null) but one in user_extra.
    assert vec.statuses["user_stats:last_viewed_brand"] is FeatureStatus.NULL_VALUE
    assert vec.features["user_extra:last_viewed_brand"] == "acme-extra"


def test_feature_service_name_alone_expands_to_its_features(client: FeastClient) -> None:
    vec = client.get_features("1001", "user", [fr.SERVICE])
    assert list(vec.features) == h.FEATURES
    assert vec.features == h.FRESH["1001"]
    assert client.list_feature_services("user") == [fr.SERVICE]


def test_feature_service_mixed_with_other_names_is_unknown(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'user_profile_service'"):
        client.get_features("1001", "user", [fr.SERVICE, "favorite_category"])


def test_unknown_name_lists_available_names_and_services(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError) as err:
        client.get_features("1001", "user", ["budget"])
    message = str(err.value)
    assert "Unknown feature 'budget'" in message
    assert "favorite_category" in message
    assert "user_stats:purchases_30d" in message
    assert "feature services, passed alone: user_profile_service" in message


def test_ambiguous_bare_name_lists_candidate_refs(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError) as err:
        client.get_features("1001", "user", [fr.AMBIGUOUS])
    assert str(err.value) == (
        "Ambiguous feature 'last_viewed_brand' for entity 'user': it is in 2 feature views. "
        "Use one of: user_extra:last_viewed_brand, user_stats:last_viewed_brand"
    )


def test_ref_to_a_view_of_another_entity_is_unknown(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'product_info:title'"):
        client.get_features("1001", "user", ["product_info:title"])


def test_unknown_entity_type_lists_entities(client: FeastClient) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown entity type 'driver'. Available for Feast project 'llmfs_test': "
        r"product, user",
    ):
        client.get_features("1", "driver", ["x"])


def test_list_features_gives_refs_and_unambiguous_bare_names(client: FeastClient) -> None:
    assert client.list_features("user") == [
        "avg_order_value",
        "favorite_category",
        "loyalty_tier",
        "purchases_30d",
        "user_extra:last_viewed_brand",
        "user_extra:loyalty_tier",
        "user_stats:avg_order_value",
        "user_stats:favorite_category",
        "user_stats:last_viewed_brand",
        "user_stats:purchases_30d",
    ]
    assert client.list_features("product") == [
        "price",
        "product_info:price",
        "product_info:title",
        "title",
    ]


def test_resolution_is_cached_so_the_hot_path_skips_the_registry(
    client: FeastClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client.get_features("1001", "user", REFS)

    def no_registry(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("registry listed on the hot path")

    monkeypatch.setattr(client.store, "list_feature_views", no_registry)
    monkeypatch.setattr(client.store, "list_entities", no_registry)
    monkeypatch.setattr(client.store, "list_feature_services", no_registry)
    assert client.get_features("1002", "user", REFS).features == as_refs(h.FRESH["1002"])


# ----------------------------------------------------------------- ids


def test_string_ids_are_coerced_to_the_int64_join_key(client: FeastClient) -> None:
    vectors = client.get_batch_features(["1002", "1001", "1002"], "user", REFS)
    assert [v.entity_id for v in vectors] == ["1002", "1001", "1002"]
    assert [v.features["user_stats:purchases_30d"] for v in vectors] == [0, 3, 0]


@pytest.mark.parametrize("bad_id", ["abc", "1.5", str(2**63)])
def test_non_integer_id_for_int64_join_key_is_a_config_error(
    client: FeastClient, bad_id: str
) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=rf"Entity id '{bad_id}' is not a valid Int64 for join key 'user_id' of entity 'user'",
    ):
        client.get_features(bad_id, "user", REFS)


def test_string_join_key_keeps_the_id(client: FeastClient) -> None:
    vec = client.get_features("sku-1", "product", ["title", "price"])
    assert vec.features == {"title": "Trail shoe", "price": 99.0}


def test_empty_id_list_reads_nothing_but_still_checks_names(client: FeastClient) -> None:
    assert client.get_batch_features([], "user", REFS) == []
    with pytest.raises(FeatureConfigError):
        client.get_batch_features([], "user", ["budget"])


# ----------------------------------------------------------------- statuses


def test_statuses_come_from_the_proto(client: FeastClient) -> None:
    present, missing, null = client.get_batch_features(
        ["1001", h.MISSING_ID, fr.NULL_ID], "user", REFS
    )
    assert set(present.statuses.values()) == {FeatureStatus.PRESENT}
    assert set(missing.statuses.values()) == {FeatureStatus.NOT_FOUND}
    assert missing.features == dict.fromkeys(REFS)
    assert missing.event_timestamps == dict.fromkeys(REFS)
    # Feast answers PRESENT with an empty value for a stored null: we say NULL_VALUE.
    assert null.statuses == {
        "user_stats:favorite_category": FeatureStatus.NULL_VALUE,
        "user_stats:avg_order_value": FeatureStatus.PRESENT,
        "user_stats:purchases_30d": FeatureStatus.PRESENT,
    }
    assert null.features["user_stats:favorite_category"] is None


def test_event_timestamps_and_freshness_come_from_the_proto(client: FeastClient) -> None:
    vec = client.get_features("1001", "user", REFS)
    stamps = set(vec.event_timestamps.values())
    assert len(stamps) == 1
    (ts,) = stamps
    assert ts is not None
    assert ts.tzinfo is not None
    assert timedelta(0) <= vec.retrieved_at - ts < timedelta(hours=1)
    assert vec.freshness_seconds == pytest.approx((vec.retrieved_at - ts).total_seconds())


def test_ttl_is_applied_values_older_than_it_are_stale_and_kept(client: FeastClient) -> None:
    vec = client.get_features(h.STALE_ID, "user", REFS)
    assert set(vec.statuses.values()) == {FeatureStatus.STALE}
    assert vec.features == as_refs(h.STALE)
    assert vec.usable == {}
    ts = vec.event_timestamps["user_stats:favorite_category"]
    assert ts is not None
    assert abs((ts - h.STALE_TIMESTAMP).total_seconds()) < 1
    # freshness_seconds is the real age of the oldest value returned, stale ones included.
    assert vec.freshness_seconds == pytest.approx((vec.retrieved_at - ts).total_seconds(), abs=1)


def test_view_without_ttl_never_goes_stale(client: FeastClient) -> None:
    old = datetime.now(timezone.utc) - timedelta(days=400)
    client.write_features(
        "7001", "user", {"user_extra:last_viewed_brand": "b", "loyalty_tier": "t"}, old
    )
    vec = client.get_features("7001", "user", ["loyalty_tier"])
    assert vec.statuses == {"loyalty_tier": FeatureStatus.PRESENT}
    assert vec.freshness_seconds > 399 * 86400


# ----------------------------------------------------------------- writes


def test_write_then_read_back_by_bare_names(client: FeastClient) -> None:
    feats = {
        "favorite_category": "hiking",
        "avg_order_value": 42.0,
        "purchases_30d": 5,
        "user_stats:last_viewed_brand": None,
    }
    client.write_features("7002", "user", feats)
    vec = client.get_features("7002", "user", list(feats))
    assert vec.features == feats
    assert vec.statuses["user_stats:last_viewed_brand"] is FeatureStatus.NULL_VALUE


async def test_awrite_features_writes(client: FeastClient) -> None:
    await client.awrite_features(
        "7003", "user", {"user_extra:last_viewed_brand": "z", "loyalty_tier": "silver"}
    )
    vec = await client.aget_features("7003", "user", ["loyalty_tier"])
    assert vec.features == {"loyalty_tier": "silver"}


def test_write_rejects_values_that_fail_validation(client: FeastClient) -> None:
    with pytest.raises(FeatureValidationError, match="not a finite number"):
        client.write_features("7004", "user", {"avg_order_value": float("nan")})


def test_write_rejects_unknown_and_ambiguous_names_with_listings(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'budget'.*favorite_category"):
        client.write_features("7004", "user", {"budget": 1})
    with pytest.raises(FeatureConfigError, match=r"Ambiguous feature 'last_viewed_brand'"):
        client.write_features("7004", "user", {"last_viewed_brand": "x"})


def test_write_rejects_a_value_of_the_wrong_feast_type(client: FeastClient) -> None:
    with pytest.raises(
        FeatureValidationError,
        match=r"Feature 'user_stats:purchases_30d' is INT64 in Feast: expected an integer, "
        r"got str 'three'",
    ):
        client.write_features(
            "7004",
            "user",
            {
                "favorite_category": "x",
                "avg_order_value": 1.0,
                "purchases_30d": "three",
                "user_stats:last_viewed_brand": None,
            },
        )


def test_a_partial_write_merges_the_current_row_of_each_view(client: FeastClient) -> None:
    hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
    client.write_features(
        "7005",
        "user",
        {
            "favorite_category": "trail",
            "avg_order_value": 10.0,
            "purchases_30d": 1,
            "user_stats:last_viewed_brand": "acme",
        },
        hour_ago,
    )
    client.write_features("7005", "user", {"favorite_category": "road", "loyalty_tier": "t"})
    names = [*REFS, "user_stats:last_viewed_brand", "loyalty_tier", "user_extra:last_viewed_brand"]
    vec = client.get_features("7005", "user", names)
    assert vec.features == {
        "user_stats:favorite_category": "road",
        "user_stats:avg_order_value": 10.0,
        "user_stats:purchases_30d": 1,
        "user_stats:last_viewed_brand": "acme",
        "loyalty_tier": "t",
        "user_extra:last_viewed_brand": None,  # user_extra had no row: a null
    }
    assert vec.statuses["user_extra:last_viewed_brand"] is FeatureStatus.NULL_VALUE
    # The merged row carries the new event time, kept values included.
    stamp = vec.event_timestamps["user_stats:avg_order_value"]
    assert stamp is not None
    assert stamp > hour_ago


def test_a_write_that_fails_validation_writes_no_view(client: FeastClient) -> None:
    with pytest.raises(FeatureValidationError, match="'user_stats:purchases_30d' is INT64"):
        client.write_features("7007", "user", {"loyalty_tier": "t", "purchases_30d": "three"})
    assert not client.get_features("7007", "user", ["loyalty_tier"]).found


def test_write_of_only_nulls_is_rejected(client: FeastClient) -> None:
    with pytest.raises(FeatureValidationError, match="Every value written to feature view"):
        client.write_features(
            "7006", "user", {"user_extra:last_viewed_brand": None, "loyalty_tier": None}
        )


def test_write_with_bad_id_is_a_config_error(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError, match="not a valid Int64"):
        client.write_features(
            "x1", "user", {"user_extra:last_viewed_brand": "b", "loyalty_tier": "t"}
        )


# ----------------------------------------------------------------- async


async def test_async_on_redis_uses_feasts_native_async_read(
    feast_redis_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = FeastClient(feast_redis_repo, direct_reads=False)  # the SDK path
    assert client.native_async is True
    calls: list[str] = []
    store = client.store
    native = store.get_online_features_async

    async def spy_async(*args: Any, **kwargs: Any) -> Any:
        calls.append("async")
        return await native(*args, **kwargs)

    def no_sync(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("sync read used on the async path")

    client.get_features("1001", "user", REFS)  # resolve names first
    monkeypatch.setattr(store, "get_online_features_async", spy_async)
    monkeypatch.setattr(store, "get_online_features", no_sync)
    vectors = await client.aget_batch_features(["1001", "1002"], "user", REFS)
    assert calls == ["async"]
    assert [v.features["user_stats:favorite_category"] for v in vectors] == ["running", "outerwear"]


async def test_async_on_sqlite_runs_the_sync_read_in_a_worker_thread(
    feast_sqlite_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    client = FeastClient(feast_sqlite_repo, direct_reads=False)  # the SDK path
    assert client.native_async is False
    store = client.store
    sync = store.get_online_features
    threads: list[threading.Thread] = []

    def spy_sync(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return sync(*args, **kwargs)

    async def no_async(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("SQLite has no async read")

    monkeypatch.setattr(store, "get_online_features", spy_sync)
    monkeypatch.setattr(store, "get_online_features_async", no_async)
    vec = await client.aget_features("1001", "user", REFS)
    assert vec.features["user_stats:favorite_category"] == "running"
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


async def test_async_results_equal_sync_results(client: FeastClient) -> None:
    ids = ["1001", h.STALE_ID, h.MISSING_ID, "2005"]
    sync = client.get_batch_features(ids, "user", REFS)
    async_ = await client.aget_batch_features(ids, "user", REFS)
    for s, a in zip(sync, async_, strict=True):
        assert (s.entity_id, s.features, s.statuses) == (a.entity_id, a.features, a.statuses)


async def test_async_name_errors_are_raised_before_any_read(client: FeastClient) -> None:
    with pytest.raises(FeatureConfigError, match="Ambiguous feature"):
        await client.aget_features("1001", "user", [fr.AMBIGUOUS])


async def test_many_concurrent_async_reads_each_get_their_own_entity(client: FeastClient) -> None:
    ids = [str(i) for i in range(2000, 2050)]
    vectors = await asyncio.gather(*(client.aget_features(i, "user", REFS) for i in ids))
    for eid, vec in zip(ids, vectors, strict=True):
        assert vec.entity_id == eid
        assert vec.features["user_stats:favorite_category"] == f"cat-{eid}"


# ----------------------------------------------------------------- store sharing, failures


def test_clients_of_one_repo_share_one_feature_store(repo: Path) -> None:
    assert FeastClient(repo).store is FeastClient(str(repo) + "/").store
    assert FeastClient(repo).store is shared_feature_store(repo)


def test_a_config_model_or_its_fields_build_the_same_client(feast_sqlite_repo: Path) -> None:
    from llm_featurestore.clients.feast import FeastClientConfig

    by_model = FeastClient(FeastClientConfig(repo_path=str(feast_sqlite_repo)))
    by_fields = FeastClient(repo_path=str(feast_sqlite_repo), project=None)
    assert by_model.store is by_fields.store is shared_feature_store(feast_sqlite_repo)
    assert by_model.config == by_fields.config
    assert by_model.get_features("1001", "user", REFS).found


def test_project_override_and_explicit_store(feast_sqlite_repo: Path) -> None:
    other = FeastClient(feast_sqlite_repo, project="other_project")
    assert other.store is not FeastClient(feast_sqlite_repo).store
    assert other.store.project == "other_project"
    with pytest.raises(FeatureConfigError, match=r"Unknown entity type 'user'"):
        other.get_features("1001", "user", REFS)
    own = FeastClient(store=FeastClient(feast_sqlite_repo).store)
    assert own.get_features("1001", "user", REFS).found


def test_not_a_repo_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(FeatureConfigError, match=r"feature_store\.yaml not found"):
        FeastClient(tmp_path)
    with pytest.raises(FeatureConfigError, match="needs repo_path= or store="):
        FeastClient()


def test_broken_config_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "feature_store.yaml").write_text("project: [unclosed\n")
    with pytest.raises(FeatureConfigError, match="Cannot load the Feast repo"):
        FeastClient(tmp_path)
    clear_feature_store_cache()


def test_health_check_true_on_a_live_store(client: FeastClient) -> None:
    assert client.health_check() is True


async def test_ahealth_check_true_on_a_live_store(client: FeastClient) -> None:
    assert await client.ahealth_check() is True


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_dead_online_store_is_unavailable_and_unhealthy(
    backend: str, request: pytest.FixtureRequest
) -> None:
    dead = FeastClient(request.getfixturevalue(f"feast_{backend}_dead_repo"))
    assert dead.health_check() is False
    assert await dead.ahealth_check() is False
    with pytest.raises(
        FeatureStoreUnavailableError, match=r"Feast online read for entity 'user'"
    ) as err:
        dead.get_features("1001", "user", REFS)
    assert err.value.__cause__ is not None
    with pytest.raises(FeatureStoreUnavailableError):
        await dead.aget_features("1001", "user", REFS)
    with pytest.raises(FeatureStoreUnavailableError, match="Feast write to feature view"):
        dead.write_features(
            "1001", "user", {"user_extra:last_viewed_brand": "b", "loyalty_tier": "t"}
        )


def test_refresh_picks_up_registry_changes(tmp_path: Path) -> None:
    from feast import FeatureView, Field, FileSource
    from feast.types import Int64

    repo = fr.build_repo(tmp_path, fr.sqlite_online_store(tmp_path), project="refresh_test")
    client = FeastClient(repo)
    assert "sessions_7d" not in client.list_features("user")
    user = client.store.get_entity("user")
    client.store.apply(
        [
            user,
            FeatureView(
                name="user_sessions",
                entities=[user],
                schema=[Field(name="sessions_7d", dtype=Int64)],
                source=FileSource(path=str(tmp_path / "s.parquet"), timestamp_field="ts"),
            ),
        ]
    )
    # Resolution is cached until refresh().
    with pytest.raises(FeatureConfigError, match="Unknown feature 'sessions_7d'"):
        client.get_features("1001", "user", ["sessions_7d"])
    client.refresh()
    assert "user_sessions:sessions_7d" in client.list_features("user")
    client.write_features("1001", "user", {"sessions_7d": 4})
    assert client.get_features("1001", "user", ["sessions_7d"]).features == {"sessions_7d": 4}
