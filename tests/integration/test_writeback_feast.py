"""Write-back into a real Feast repo (SQLite online store): a dedicated session view that
the write-back fills entirely, every Feast type it uses, and the next request of a
personalized_rag_chain reading what the last one wrote through the serving cache."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from langchain_chroma import Chroma
from langchain_core.language_models.fake_chat_models import FakeListChatModel

from langchain_featurestore import with_write_back
from llm_featurestore.clients.feast import FeastClient
from llm_featurestore.models import FeatureStatus
from llm_featurestore.serving import CacheConfig, ServingClient
from llm_featurestore.writeback import Turn, WriteBack
from tests.fixtures import feast_repo
from tests.integration.test_langchain_chain import Recorder
from tests.integration.test_langchain_retriever import catalog_docs, new_store
from tests.integration.writeback_support import FEATURES, SHOES, WRITTEN, rag

pytestmark = pytest.mark.integration

SESSION_VIEW = "session_activity"


def objects(directory: Path) -> list[Any]:
    """A profile view and the session view the write-back owns (sources with only an
    event timestamp: a write sets every column the view's source declares)."""
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.types import Array, Int64, String, UnixTimestamp

    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING)

    def source(name: str) -> FileSource:
        return FileSource(
            name=f"{name}_source",
            path=str(directory / f"{name}.parquet"),
            timestamp_field="event_timestamp",
        )

    profile = FeatureView(
        name="user_profile",
        entities=[user],
        ttl=timedelta(days=1),
        schema=[Field(name="favorite_category", dtype=String), Field(name="tier", dtype=String)],
        source=source("user_profile"),
        online=True,
    )
    session = FeatureView(
        name=SESSION_VIEW,
        entities=[user],
        ttl=timedelta(days=1),
        schema=[
            Field(name="last_query", dtype=String),
            Field(name="last_shown", dtype=Array(String)),
            Field(name="turns", dtype=Int64),
            Field(name="last_turn_at", dtype=UnixTimestamp),
            Field(name="memory", dtype=String),
        ],
        source=source(SESSION_VIEW),
        online=True,
    )
    return [user, profile, session]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from feast import FeatureStore

    directory = tmp_path_factory.mktemp("feast_writeback")
    feast_repo.write_config(directory, feast_repo.sqlite_online_store(directory), project="wb")
    FeatureStore(repo_path=str(directory)).apply(objects(directory))
    store = FeastClient(directory)
    store.write_features("u1", "user", {"favorite_category": "shoes", "tier": "gold"})
    store.write_features("u2", "user", {"favorite_category": "books", "tier": "silver"})
    return directory


@pytest.fixture(scope="module")
def shop() -> Iterator[Chroma]:
    vs = new_store(catalog_docs())
    yield vs
    vs.delete_collection()


def test_the_write_back_fills_the_session_view_with_feast_types(repo: Path) -> None:
    store = FeastClient(repo)
    with WriteBack(store, **FEATURES) as wb:
        first = wb.process(Turn({"user": "u2"}, "a good novel", ("p4", "p5"), "Try this one."))
        second = wb.process(Turn({"user": "u2"}, "shorter?", ()))
    assert first.values["turns"] == 1
    assert second.values["turns"] == 2
    got = store.get_features("u2", "user", WRITTEN)
    assert all(got.statuses[n] is FeatureStatus.PRESENT for n in WRITTEN)
    assert got.features["last_query"] == "shorter?"
    assert got.features["last_shown"] == []
    assert got.features["turns"] == 2
    assert isinstance(got.features["last_turn_at"], datetime)
    assert got.features["memory"].splitlines() == [
        "User: a good novel | Shown: p4, p5 | Assistant: Try this one.",
        "User: shorter?",
    ]


def test_a_write_back_of_part_of_a_view_merges_with_its_row(repo: Path) -> None:
    """FeastClient merges a partial write with the online row (issue 11, item 1), so a
    write-back may name only some features of a view; the others keep their values."""
    store = FeastClient(repo)
    store.write_features(
        "u7",
        "user",
        {"last_query": "old", "last_shown": ["sku-1"], "turns": 3}
        | {"last_turn_at": datetime(2026, 1, 1), "memory": "m"},
    )
    with WriteBack(store, last_query="last_query") as wb:
        wb.submit(Turn({"user": "u7"}, "trail shoes"))
        assert wb.flush(timeout=30)
    assert (wb.stats.written, wb.stats.failed, wb.stats.retried) == (1, 0, 0)
    row = store.get_features("u7", "user", WRITTEN).features
    assert row["last_query"] == "trail shoes"
    assert (row["turns"], row["last_shown"], row["memory"]) == (3, ["sku-1"], "m")


def test_the_next_request_reads_what_the_last_one_wrote_through_the_cache(
    repo: Path, shop: Chroma
) -> None:
    client = ServingClient(FeastClient(repo), cache=CacheConfig(ttl_seconds=300), timeout_ms=None)
    rec = Recorder()
    llm = FakeListChatModel(responses=["first answer", "second answer"])
    with WriteBack(client, **FEATURES) as wb:
        chain = with_write_back(rag(shop, client, llm=llm), wb)
        config: Any = {"callbacks": [rec]}
        chain.invoke({"question": "running shoes for races", "user_id": "u1"}, config)
        assert wb.flush(timeout=30)
        chain.invoke({"question": "and for trails?", "user_id": "u1"}, config)
        assert wb.flush(timeout=30)
    assert "Last query" not in str(rec.prompts[0][0].content)
    after = str(rec.prompts[1][0].content)
    assert "Last query: running shoes for races" in after
    assert "Turns: 1" in after
    written = client.backend.get_features("u1", "user", WRITTEN).features
    assert written["turns"] == 2
    assert set(written["last_shown"]) <= SHOES
    assert client.stats.cache_hits == 0
    assert (wb.stats.written, wb.stats.failed) == (2, 0)
