"""The write flow on the in-process local store: configuration, the values a turn writes,
read-once/compute-once, read-your-writes through the serving cache, and its errors."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from langchain_core.documents import Document
from langchain_core.messages import AIMessage
from llama_index.core.base.llms.types import CompletionResponse
from llama_index.core.base.response.schema import Response

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.prompting.tokens import get_token_counter
from llm_featurestore.serving import CacheConfig, ServingClient
from llm_featurestore.writeback import (
    BackgroundWriter,
    ConversationMemory,
    PreviousValues,
    Turn,
    WriteBack,
    WriteBackConfig,
    next_values,
    shown_ids,
    text_of,
)
from tests.unit.test_langchain_fakes import DeadBackend

FEATURES = {
    "last_query": "last_query",
    "shown_ids": "last_shown",
    "turn_count": "turns",
    "last_turn_at": "last_turn_at",
    "memory": "memory",
}
NAMES = list(FEATURES.values())
AT = datetime(2025, 3, 1, 12, 30, tzinfo=timezone.utc)


def store() -> LocalFeatureStore:
    s = LocalFeatureStore()
    s.write_features("u1", "user", {"tier": "gold"})
    return s


def test_config_needs_one_feature_and_names_every_setting() -> None:
    with pytest.raises(FeatureConfigError) as err:
        WriteBackConfig()
    assert str(err.value) == (
        "Invalid write_back:\n  write_back: Value error, no feature to write: name at least "
        "one of last_query, shown_ids, turn_count, last_turn_at, memory"
    )


def test_config_refuses_one_feature_for_two_values() -> None:
    with pytest.raises(FeatureConfigError) as err:
        WriteBackConfig(last_query="q", memory="q")
    assert "last_query and memory both name the feature 'q'" in str(err.value)


def test_config_refuses_a_name_the_stores_cannot_hold() -> None:
    with pytest.raises(FeatureConfigError) as err:
        WriteBackConfig(turn_count="turn count")
    assert "turn_count: Invalid feature name 'turn count'" in str(err.value)


def test_config_refuses_unknown_keys_and_bad_bounds() -> None:
    with pytest.raises(FeatureConfigError) as err:
        WriteBackConfig(last_query="q", shown_key="id")
    assert "shown_key: unknown key" in str(err.value)
    assert "shown_id_key" in str(err.value)
    with pytest.raises(FeatureConfigError, match=r"writer\.max_attempts: .*greater than or equal"):
        WriteBackConfig(last_query="q", writer={"max_attempts": 0})
    with pytest.raises(FeatureConfigError, match=r"memory_max_tokens: .*greater than or equal"):
        WriteBackConfig(memory="m", memory_max_tokens=0)


def test_next_values_compute_every_configured_feature_once() -> None:
    config = WriteBackConfig(**FEATURES, max_shown=2, max_query_chars=5)
    turn = Turn({"user": "u1"}, "trail shoes", ("p1", "p2", "p3"), "Try these.", AT)
    memory = ConversationMemory(get_token_counter(), max_tokens=50)
    values = next_values(config, turn, PreviousValues(turn_count=4, memory="older"), memory)
    assert values == {
        "last_query": "trail",
        "last_shown": ["p1", "p2"],
        "turns": 5,
        "last_turn_at": AT,
        "memory": "older\nUser: trail shoes | Shown: p1, p2, p3 | Assistant: Try these.",
    }
    only_query = next_values(WriteBackConfig(last_query="q"), turn, PreviousValues(), None)
    assert only_query == {"q": "trail shoes"}


def test_two_turns_read_the_first_through_the_serving_cache() -> None:
    client = ServingClient(store(), cache=CacheConfig(ttl_seconds=300))
    with WriteBack(client, **FEATURES) as wb:
        before = client.get_features("u1", "user", ["tier"])
        assert before.features == {"tier": "gold"}
        assert wb.submit(Turn({"user": "u1"}, "trail shoes?", ("p1", "p2"), "Try these.", AT))
        assert wb.flush(timeout=10)
        first = client.get_features("u1", "user", NAMES)  # cached from now on
        assert first.features["turns"] == 1
        assert wb.submit(Turn({"user": "u1"}, "waterproof ones?", ("p3",), None, AT))
        assert wb.flush(timeout=10)
        second = client.get_features("u1", "user", NAMES)  # the write dropped the entry
    assert second.features["last_query"] == "waterproof ones?"
    assert second.features["last_shown"] == ["p3"]
    assert second.features["turns"] == 2
    assert second.features["last_turn_at"] == AT.isoformat()  # local stores ISO text
    assert second.features["memory"].splitlines() == [
        "User: trail shoes? | Shown: p1, p2 | Assistant: Try these.",
        "User: waterproof ones? | Shown: p3",
    ]
    assert wb.stats.written == 2


def test_a_prepared_turn_is_computed_once_and_written_as_computed() -> None:
    s = store()
    wb = WriteBack(s, turn_count="turns", last_query="q")
    prepared = wb.prepare(Turn({"user": "u1"}, "first", at=AT))
    assert prepared.values == {"q": "first", "turns": 1}
    wb.write(prepared)
    wb.write(prepared)  # a retried write sends the same values: the count stays 1
    assert s.get_features("u1", "user", ["turns"]).features["turns"] == 1
    assert wb.process(Turn({"user": "u1"}, "second", at=AT)).values["turns"] == 2
    wb.close()


def test_a_feature_the_store_has_not_seen_yet_has_no_previous_value() -> None:
    s = store()  # knows only "tier"
    wb = WriteBack(s, turn_count="turns", memory="memory")
    assert wb.read_previous("u1") == PreviousValues()
    s.write_features("u1", "user", {"turns": 3})  # "memory" is still unknown to the store
    assert wb.read_previous("u1") == PreviousValues(turn_count=3, memory=None)
    s.write_features("u1", "user", {"turns": "not a number", "memory": 7})
    assert wb.read_previous("u1") == PreviousValues()
    wb.close()


def test_an_anonymous_turn_is_not_queued() -> None:
    wb = WriteBack(store(), last_query="q")
    assert wb.submit(Turn({}, "hello")) is False
    assert wb.submit(Turn({"organization": "acme"}, "hello")) is False
    assert wb.stats.queued == 0
    with pytest.raises(FeatureConfigError, match=r"The turn names no 'user' id \(it has: none\)"):
        wb.prepare(Turn({}, "hello"))
    wb.close()


def test_write_back_needs_a_writable_store() -> None:
    with pytest.raises(FeatureConfigError) as err:
        WriteBack(ServingClient(DeadBackend()), last_query="q")
    assert str(err.value) == (
        "Write-back needs a writable store; the DeadBackend backend is read-only "
        "(writable: local, redis, feast)"
    )
    with pytest.raises(FeatureConfigError, match="the DeadBackend backend is read-only"):
        WriteBack(DeadBackend(), last_query="q")


def test_a_summariser_without_a_memory_feature_is_refused() -> None:
    with pytest.raises(FeatureConfigError) as err:
        WriteBack(store(), last_query="q", summarizer=lambda p: p)
    assert "no memory feature is configured: set memory" in str(err.value)


def test_shown_ids_come_from_a_metadata_key_or_the_documents_own_id() -> None:
    items: list[tuple[str | None, dict[str, Any]]] = [
        ("d1", {"sku": "A"}),
        ("d2", {}),
        (None, {"sku": "B"}),
        ("d1", {"sku": "A"}),
        ("d4", {"sku": 7}),
    ]
    assert shown_ids(items, "sku", 10) == ("A", "B", "7")
    assert shown_ids(items, None, 10) == ("d1", "d2", "d4")
    assert shown_ids(items, None, 2) == ("d1", "d2")
    wb = WriteBack(store(), shown_ids="s", shown_id_key="sku", max_shown=1)
    assert wb.shown_ids_of(items) == ("A",)
    wb.close()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"),
        (AIMessage(content="from a chat model"), "from a chat model"),
        (AIMessage(content=[{"type": "text", "text": "block "}, "two"]), "block two"),
        (CompletionResponse(text="completion"), "completion"),
        (Response(response="llamaindex"), "llamaindex"),
        ({"answer": AIMessage(content="nested")}, "nested"),
        ({"messages": []}, None),
        (None, None),
        (42, None),
        (Document(page_content="not an answer"), None),
    ],
)
def test_text_of_reads_the_answer_of_every_framework(value: Any, text: str | None) -> None:
    assert text_of(value) == text


def test_the_writer_is_built_from_the_writer_section_or_given() -> None:
    wb = WriteBack(store(), last_query="q", writer={"max_queue": 2, "max_attempts": 1})
    assert (wb.writer.config.max_queue, wb.writer.config.max_attempts) == (2, 1)
    wb.close()
    mine = BackgroundWriter(max_queue=7)
    with WriteBack(store(), last_query="q", background_writer=mine) as given:
        assert given.writer is mine
    assert mine.closed


class ReportsFailures(LocalFeatureStore):
    """A store that answers a read with per-entity failure statuses instead of raising."""

    def get_batch_features(self, entity_ids: Any, entity_type: str, feature_names: Any) -> Any:
        return [
            FeatureVector(
                entity_id=eid,
                entity_type=entity_type,
                features=dict.fromkeys(feature_names),
                statuses=dict.fromkeys(feature_names, FeatureStatus.TIMED_OUT),
                event_timestamps=dict.fromkeys(feature_names),
                source="local",
            )
            for eid in entity_ids
        ]


def test_a_read_the_store_answers_as_failed_is_an_outage_to_retry() -> None:
    wb = WriteBack(ReportsFailures(), turn_count="turns", memory="memory")
    with pytest.raises(FeatureStoreUnavailableError) as err:
        wb.read_previous("u1")
    assert str(err.value) == ("Reading the previous turns, memory of user 'u1' failed (timed_out)")
    wb.close()
