"""FeastHttpClient against a real ``feast serve`` (SQLite test repo)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.clients.feast_http import FeastHttpClient
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureStatus
from tests.contract import harness as h
from tests.fixtures import feast_repo as fr
from tests.fixtures.feast_http import http_client_kwargs
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.integration

REFS = fr.CONTRACT_REFS


@pytest.fixture(scope="module")
def kwargs(feast_sqlite_repo: Path) -> dict[str, Any]:
    return http_client_kwargs(feast_sqlite_repo)


@pytest.fixture
def client(feast_server_url: str, kwargs: dict[str, Any]) -> Iterator[FeastHttpClient]:
    c = FeastHttpClient(feast_server_url, **kwargs)
    yield c
    c.close()


@pytest.fixture
def bare_client(feast_server_url: str) -> Iterator[FeastHttpClient]:
    """No features mapping, no ttls: only what the server itself says."""
    c = FeastHttpClient(feast_server_url)
    yield c
    c.close()


@pytest.fixture(scope="module")
def silent_port() -> Iterator[int]:
    """A TCP server that accepts connections and never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                accepted.append(server.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()


# ----------------------------------------------------------------- reads


def test_reads_refs_with_values_statuses_and_timestamps(client: FeastHttpClient) -> None:
    vectors = client.get_batch_features(["1002", "1001", h.MISSING_ID], "user", REFS)
    assert [v.entity_id for v in vectors] == ["1002", "1001", h.MISSING_ID]
    assert vectors[0].features == {f"user_stats:{k}": v for k, v in h.FRESH["1002"].items()}
    assert vectors[0].source == "feast_http"
    assert set(vectors[1].statuses.values()) == {FeatureStatus.PRESENT}
    assert vectors[1].freshness_seconds > 0
    ts = vectors[1].event_timestamps["user_stats:favorite_category"]
    assert ts is not None
    assert ts.tzinfo is not None
    assert set(vectors[2].statuses.values()) == {FeatureStatus.NOT_FOUND}
    assert vectors[2].event_timestamps == dict.fromkeys(REFS)


def test_same_answers_as_the_sdk_client(client: FeastHttpClient, feast_sqlite_repo: Path) -> None:
    ids = ["1001", h.STALE_ID, h.MISSING_ID, fr.NULL_ID, "2100"]
    names = ["favorite_category", "user_stats:avg_order_value", "loyalty_tier"]
    sdk = FeastClient(feast_sqlite_repo).get_batch_features(ids, "user", names)
    http = client.get_batch_features(ids, "user", names)
    for a, b in zip(sdk, http, strict=True):
        assert list(b.features) == names
        assert (a.features, a.statuses, a.event_timestamps) == (
            b.features,
            b.statuses,
            b.event_timestamps,
        )


def test_null_value_is_reported(client: FeastHttpClient) -> None:
    vec = client.get_features(fr.NULL_ID, "user", REFS)
    assert vec.statuses["user_stats:favorite_category"] is FeatureStatus.NULL_VALUE
    assert vec.statuses["user_stats:avg_order_value"] is FeatureStatus.PRESENT


def test_ttl_seconds_make_old_values_stale(client: FeastHttpClient) -> None:
    vec = client.get_features(h.STALE_ID, "user", REFS)
    assert set(vec.statuses.values()) == {FeatureStatus.STALE}
    assert vec.features["user_stats:favorite_category"] == "books"


def test_without_ttl_seconds_the_server_says_present(bare_client: FeastHttpClient) -> None:
    # Feast itself does not apply ttl on online reads (feast-dev/feast#6821).
    vec = bare_client.get_features(h.STALE_ID, "user", REFS)
    assert set(vec.statuses.values()) == {FeatureStatus.PRESENT}


def test_feature_service_alone(bare_client: FeastHttpClient) -> None:
    vec = bare_client.get_features("1001", "user", [fr.SERVICE])
    assert list(vec.features) == sorted(h.FEATURES)
    assert vec.features == h.FRESH["1001"]


def test_bare_names_resolve_through_the_features_mapping(client: FeastHttpClient) -> None:
    vec = client.get_features("1001", "user", ["loyalty_tier", "favorite_category"])
    assert vec.features == {"loyalty_tier": "gold", "favorite_category": "running"}


def test_bare_name_without_mapping_says_how_to_fix(bare_client: FeastHttpClient) -> None:
    with pytest.raises(FeatureConfigError, match=r"Cannot resolve the bare feature name"):
        bare_client.get_features("1001", "user", ["favorite_category", "avg_order_value"])


def test_ambiguous_bare_name_lists_candidates(client: FeastHttpClient) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"Ambiguous feature 'last_viewed_brand'.*user_extra:last_viewed_brand, "
        r"user_stats:last_viewed_brand",
    ):
        client.get_features("1001", "user", [fr.AMBIGUOUS])


def test_list_features_from_the_mapping(
    client: FeastHttpClient, bare_client: FeastHttpClient, feast_sqlite_repo: Path
) -> None:
    # Same rule as the SDK client: refs plus the unambiguous bare names.
    assert client.list_features("user") == FeastClient(feast_sqlite_repo).list_features("user")
    with pytest.raises(FeatureConfigError, match="no endpoint that lists features"):
        bare_client.list_features("user")
    with pytest.raises(FeatureConfigError, match=r"Unknown entity type 'driver'"):
        client.list_features("driver")


async def test_async_reads_equal_sync_reads(client: FeastHttpClient) -> None:
    ids = ["1001", h.STALE_ID, h.MISSING_ID, "2007"]
    sync = client.get_batch_features(ids, "user", REFS)
    async_ = await client.aget_batch_features(ids, "user", REFS)
    for a, b in zip(sync, async_, strict=True):
        assert (a.entity_id, a.features, a.statuses) == (b.entity_id, b.features, b.statuses)
    await client.aclose()


async def test_concurrent_async_reads_share_one_pooled_client(client: FeastHttpClient) -> None:
    ids = [str(i) for i in range(2000, 2040)]
    vectors = await asyncio.gather(*(client.aget_features(i, "user", REFS) for i in ids))
    assert [v.features["user_stats:favorite_category"] for v in vectors] == [
        f"cat-{i}" for i in ids
    ]
    pooled = await client.ahttp()
    assert await client.ahttp() is pooled
    await client.aclose()
    assert pooled.is_closed
    assert await client.ahttp() is not pooled  # reopens on demand


def test_async_client_follows_the_event_loop(client: FeastHttpClient) -> None:
    async def read() -> Any:
        return (await client.aget_features("1001", "user", REFS)), await client.ahttp()

    first, pooled_1 = asyncio.run(read())
    second, pooled_2 = asyncio.run(read())
    assert first.features == second.features
    assert pooled_1 is not pooled_2
    # Each loop closed its own client when it shut down.
    assert pooled_1 is not None
    assert pooled_1.is_closed
    assert pooled_2 is not None
    assert pooled_2.is_closed


def test_sync_client_is_lazy_pooled_and_closed(client: FeastHttpClient) -> None:
    assert client._client is None
    client.get_features("1001", "user", REFS)
    pooled = client.http
    client.get_features("1002", "user", REFS)
    assert client.http is pooled
    client.close()
    assert pooled.is_closed
    assert client.get_features("1001", "user", REFS).found  # reopens on demand


def test_health_check(client: FeastHttpClient) -> None:
    assert client.health_check() is True


async def test_ahealth_check(client: FeastHttpClient) -> None:
    assert await client.ahealth_check() is True
    await client.aclose()


# ----------------------------------------------------------------- error mapping


def test_unknown_feature_of_a_known_view_is_a_config_error_with_the_servers_message(
    bare_client: FeastHttpClient,
) -> None:
    with pytest.raises(
        FeatureConfigError, match=r"rejected the request: .*Feature nope not found in projection"
    ):
        bare_client.get_features("1001", "user", ["user_stats:nope"])


def test_unknown_view_is_a_config_error(bare_client: FeastHttpClient) -> None:
    with pytest.raises(
        FeatureConfigError, match=r"Feature view nope does not exist in project llmfs_test"
    ):
        bare_client.get_features("1001", "user", ["nope:x"])


def test_unknown_service_is_a_config_error(bare_client: FeastHttpClient) -> None:
    with pytest.raises(FeatureConfigError, match=r"Feature service budget does not exist"):
        bare_client.get_features("1001", "user", ["budget"])


def test_unknown_lone_name_with_mapping_lists_features(client: FeastHttpClient) -> None:
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown feature 'budget'. Available for entity 'user': avg_order_value, "
        r".*\(nor a feature service: .*does not exist",
    ):
        client.get_features("1001", "user", ["budget"])


def test_unknown_ref_with_mapping_is_rejected_before_any_request(
    kwargs: dict[str, Any],
) -> None:
    offline = FeastHttpClient(f"http://127.0.0.1:{free_port()}", **kwargs)
    with pytest.raises(FeatureConfigError, match=r"Unknown feature 'user_stats:nope'"):
        offline.get_features("1001", "user", ["user_stats:nope"])


def test_non_integer_id_is_a_config_error(bare_client: FeastHttpClient) -> None:
    with pytest.raises(FeatureConfigError, match=r"invalid literal for int"):
        bare_client.get_features("abc", "user", REFS)


def test_wrong_join_key_is_a_config_error(feast_server_url: str) -> None:
    c = FeastHttpClient(feast_server_url, join_keys={"user": "uid"})
    with pytest.raises(FeatureConfigError, match=r"Missing join key values"):
        c.get_features("1001", "user", REFS)
    c.close()


async def test_server_down_is_unavailable(kwargs: dict[str, Any]) -> None:
    dead = FeastHttpClient(f"http://127.0.0.1:{free_port()}", **kwargs)
    with pytest.raises(
        FeatureStoreUnavailableError, match=r"Cannot reach the Feast feature server"
    ) as err:
        dead.get_features("1001", "user", REFS)
    assert not isinstance(err.value, FeatureTimeoutError)
    assert err.value.__cause__ is not None
    with pytest.raises(FeatureStoreUnavailableError, match=r"Cannot reach"):
        await dead.aget_features("1001", "user", REFS)
    assert dead.health_check() is False
    assert await dead.ahealth_check() is False
    await dead.aclose()


async def test_silent_server_times_out(silent_port: int) -> None:
    slow = FeastHttpClient(f"http://127.0.0.1:{silent_port}", timeout_s=0.2)
    with pytest.raises(
        FeatureTimeoutError, match=r"did not answer a read of 1 'user' entities within 0\.2s"
    ):
        slow.get_features("1001", "user", REFS)
    with pytest.raises(FeatureTimeoutError):
        await slow.aget_features("1001", "user", REFS)
    await slow.aclose()
