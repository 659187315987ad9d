"""Write-back after each call of personalized_rag_chain, on real Chroma and real stores
(local, and a real redis-server): the next request sees what the last one wrote, through
the serving cache; a dead store never touches the answers; 200 users at once."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_chroma import Chroma
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda

from langchain_featurestore import (
    WriteBackCallbackHandler,
    WriteBackRunnable,
    with_write_back,
)
from llm_featurestore.clients.base import WritableFeatureStore
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.serving import CacheConfig, ServingClient
from llm_featurestore.writeback import BackgroundWriter, WriteBack
from tests.fixtures.servers import free_port
from tests.integration.test_langchain_chain import Recorder
from tests.integration.test_langchain_retriever import catalog_docs, new_store
from tests.integration.writeback_support import (
    FEATURES,
    SHOES,
    WRITTEN,
    RecordingRedis,
    RestartableRedis,
    namespace,
    rag,
    seed,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop() -> Iterator[Chroma]:
    store = new_store(catalog_docs())
    yield store
    store.delete_collection()


@pytest.fixture(params=["local", "redis"])
def backend(request: pytest.FixtureRequest, redis_url: str) -> Iterator[WritableFeatureStore]:
    store: WritableFeatureStore = (
        LocalFeatureStore()
        if request.param == "local"
        else RedisFeatureStore(redis_url, namespace=namespace())
    )
    seed(store)
    yield store
    store.close()


class Runs(BaseCallbackHandler):
    """The names of every chain run a call made."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def on_chain_start(self, serialized: Any, inputs: Any, **kwargs: Any) -> None:
        self.names.append(str(kwargs.get("name")))


def system(messages: list[BaseMessage]) -> str:
    return str(messages[0].content)


async def call(chain: Runnable[Any, Any], request: dict[str, Any], mode: str, config: Any) -> Any:
    if mode == "invoke":
        return chain.invoke(request, config)
    if mode == "ainvoke":
        return await chain.ainvoke(request, config)
    if mode == "stream":
        return "".join(str(c.content) for c in chain.stream(request, config))
    if mode == "batch":
        return chain.batch([request], config)[0]
    return "".join([str(c.content) async for c in chain.astream(request, config)])


def capturing(chain: Runnable[Any, Any], wb: WriteBack, capture: str) -> Runnable[Any, Any]:
    """The chain with write-back: the tapped Runnable, or the callback handler."""
    if capture == "runnable":
        tapped = with_write_back(chain, wb)
        assert isinstance(tapped, WriteBackRunnable)
        return tapped
    return chain.with_config(callbacks=[WriteBackCallbackHandler(wb)])


@pytest.fixture(params=["runnable", "handler"])
def capture(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "stream", "astream", "batch"])
async def test_the_second_request_sees_what_the_first_wrote_through_the_cache(
    shop: Chroma, backend: WritableFeatureStore, mode: str, capture: str
) -> None:
    client = ServingClient(backend, cache=CacheConfig(ttl_seconds=300), timeout_ms=None)
    rec = Recorder()
    with WriteBack(client, **FEATURES) as wb:
        chain = capturing(rag(shop, client), wb, capture)
        config: Any = {"callbacks": [rec]}
        first = await call(
            chain, {"question": "running shoes for races", "user_id": "u1"}, mode, config
        )
        assert wb.flush(timeout=10)
        second = await call(chain, {"question": "and for trails?", "user_id": "u1"}, mode, config)
        assert wb.flush(timeout=10)
    assert [text if isinstance(text, str) else text.content for text in (first, second)] == [
        "first answer",
        "second answer",
    ]
    before, after = system(rec.prompts[0]), system(rec.prompts[1])
    assert "Last query" not in before
    written = backend.get_features("u1", "user", WRITTEN).features
    assert written["turns"] == 2
    assert written["last_query"] == "and for trails?"
    # The second prompt holds what the first turn wrote: its question and what it showed.
    assert "Last query: running shoes for races" in after
    assert "Turns: 1" in after
    shown_first = [line for line in after.splitlines() if line.startswith("- Last shown:")]
    assert len(shown_first) == 1
    ids = {i.strip() for i in shown_first[0].split(":", 1)[1].split(",")}
    assert len(ids) == 2
    assert ids <= SHOES
    assert set(written["last_shown"]) <= SHOES
    memory = written["memory"].splitlines()
    assert memory[0].startswith("User: running shoes for races | Shown: ")
    assert memory[0].endswith("| Assistant: first answer")
    assert memory[1].startswith("User: and for trails? | Shown: ")
    # Two requests, two lookups from the store: the write dropped the cached read.
    assert client.stats.cache_hits == 0
    assert client.stats.cache_misses == 2
    assert (wb.stats.written, wb.stats.failed, wb.stats.dropped) == (2, 0, 0)


def test_the_user_id_may_come_from_the_configurable_and_the_documents_from_the_chain(
    shop: Chroma, backend: WritableFeatureStore, capture: str
) -> None:
    client = ServingClient(backend, cache=None)
    with WriteBack(client, **FEATURES) as wb:
        chain = capturing(rag(shop, client), wb, capture)
        config: Any = {"configurable": {"user_id": "u2"}}
        chain.invoke({"question": "a good novel"}, config)
        assert wb.flush(timeout=10)
    written = backend.get_features("u2", "user", WRITTEN).features
    assert written["last_query"] == "a good novel"
    assert written["last_shown"]
    assert set(written["last_shown"]) <= {"p4", "p5"}  # the books the filtered search shows


def test_a_call_that_raises_writes_nothing_and_anonymous_calls_write_nothing(
    shop: Chroma, backend: WritableFeatureStore
) -> None:
    def broken(_: Any) -> str:
        raise RuntimeError("model down")

    client = ServingClient(backend, cache=None)
    with WriteBack(client, **FEATURES) as wb:
        handler = WriteBackCallbackHandler(wb)
        chain = rag(shop, client, llm=RunnableLambda(broken)).with_config(callbacks=[handler])
        with pytest.raises(RuntimeError, match="model down"):
            chain.invoke({"question": "shoes", "user_id": "u1"})
        anonymous = rag(shop, client).with_config(callbacks=[handler])
        anonymous.invoke({"question": "shoes", "user_id": None})
        assert wb.flush(timeout=10)
        assert wb.stats.queued == 0
    # Every run the handler tracked was forgotten when its call ended.
    assert handler._calls == {}
    assert handler._root_of == {}


def test_a_turn_that_cannot_be_read_is_logged_once_and_the_answer_is_unaffected(
    shop: Chroma,
    backend: WritableFeatureStore,
    capture: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = ServingClient(backend, cache=None)
    # The write-back is keyed by session; this chain's sessions are floats, not ids.
    with WriteBack(client, entity_type="session", last_query="last_query") as wb:
        chain = capturing(rag(shop, client), wb, capture)
        request = {"question": "shoes", "user_id": "u1", "session_id": 1.5}
        with caplog.at_level(logging.WARNING, logger="llm_featurestore.writeback"):
            answers = [chain.invoke(request).content for _ in range(2)]
        assert wb.flush(timeout=10)
    assert answers == ["first answer", "second answer"]
    assert wb.stats.queued == 0
    (message,) = [r.getMessage() for r in caplog.records]
    assert message.startswith("Write-back could not read the chain's turn (FeatureConfigError: ")
    assert "Entity id under 'session_id' must be a string or an integer, got float 1.5" in message
    assert message.endswith("; nothing is written for it")


def test_the_runnable_path_writes_nothing_for_a_call_that_raises(
    shop: Chroma, backend: WritableFeatureStore
) -> None:
    def broken(_: Any) -> str:
        raise RuntimeError("model down")

    client = ServingClient(backend, cache=None)
    with WriteBack(client, **FEATURES) as wb:
        chain = with_write_back(rag(shop, client, llm=RunnableLambda(broken)), wb)
        with pytest.raises(RuntimeError, match="model down"):
            chain.invoke({"question": "shoes", "user_id": "u1"})
        assert wb.flush(timeout=10)
        assert wb.stats.queued == 0


def test_the_tap_adds_no_run_and_other_runnables_get_the_handler(
    shop: Chroma, backend: WritableFeatureStore
) -> None:
    client = ServingClient(backend, cache=None)
    chain = rag(shop, client)
    with WriteBack(client, **FEATURES) as wb:
        plain_runs, tapped_runs = Runs(), Runs()
        request = {"question": "shoes", "user_id": "u1"}
        chain.invoke(request, {"callbacks": [plain_runs]})
        with_write_back(chain, wb).invoke(request, {"callbacks": [tapped_runs]})
        assert wb.flush(timeout=10)
        assert sorted(tapped_runs.names) == sorted(plain_runs.names)  # the same runs
        assert len(plain_runs.names) > 5
        bound = with_write_back(chain.with_config(tags=["x"]), wb)  # not a sequence
        assert not isinstance(bound, WriteBackRunnable)
        bound.invoke(request)
        assert wb.flush(timeout=10)
        assert wb.stats.written == 2


def test_a_pluggable_summariser_writes_the_memory(
    shop: Chroma, backend: WritableFeatureStore
) -> None:
    summariser = FakeListChatModel(responses=["Wants road shoes.", "Wants road and trail shoes."])
    client = ServingClient(backend, cache=None)
    with WriteBack(client, memory="memory", turn_count="turns", summarizer=summariser) as wb:
        chain = with_write_back(rag(shop, client), wb)
        chain.invoke({"question": "road shoes", "user_id": "u1"})
        assert wb.flush(timeout=10)
        assert (
            backend.get_features("u1", "user", ["memory"]).features["memory"] == "Wants road shoes."
        )
        chain.invoke({"question": "trail shoes", "user_id": "u1"})
        assert wb.flush(timeout=10)
    assert backend.get_features("u1", "user", ["memory"]).features["memory"] == (
        "Wants road and trail shoes."
    )


# ----------------------------------------------------------- a store that dies


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RestartableRedis]:
    server = RestartableRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def test_killed_store_answers_unaffected_drops_and_retries_counted_nothing_written_twice(
    shop: Chroma, redis_server: RestartableRedis, caplog: pytest.LogCaptureFixture
) -> None:
    store = RecordingRedis(redis_server.url, namespace=namespace(), socket_timeout_s=0.5, retries=0)
    seed(store)
    client = ServingClient(store, cache=CacheConfig(ttl_seconds=300), timeout_ms=2000)
    submitted = threading.Event()
    restart_at: list[int] = []  # restart the server on the n-th backoff wait

    def sleep(seconds: float) -> None:
        submitted.wait(10)  # hold the retry until every turn of the outage was submitted
        if restart_at and len(sleeps) + 1 == restart_at[0]:
            redis_server.start()
        sleeps.append(seconds)

    sleeps: list[float] = []
    writer = BackgroundWriter(max_queue=3, max_attempts=3, backoff_s=0.05, sleep=sleep)
    wb = WriteBack(client, **FEATURES, background_writer=writer)
    llm = FakeListChatModel(responses=[f"answer {i}" for i in range(20)])
    chain = with_write_back(rag(shop, client, llm=llm), wb)

    assert chain.invoke({"question": "q0", "user_id": "u1"}).content == "answer 0"
    assert wb.flush(timeout=10)
    # Turn 1 is written. Kill the store; the next six turns happen during the outage.
    redis_server.stop()
    restart_at.append(2)  # the first job's second retry finds the store back
    with caplog.at_level(logging.WARNING):
        answers = [chain.invoke({"question": f"q{i}", "user_id": "u1"}) for i in range(1, 7)]
        submitted.set()
        assert wb.flush(timeout=30)
    # The chain answered every request, in order, as if nothing happened.
    assert [a.content for a in answers] == [f"answer {i}" for i in range(1, 7)]
    stats = wb.stats
    # q1's job was running (retrying); q2, q3 were dropped (oldest first) for q4-q6.
    assert stats.dropped == 2
    assert stats.retried == 2  # two failed tries while down; the third finds it back
    assert (stats.written, stats.failed, stats.queued) == (5, 0, 7)
    written = store.get_features("u1", "user", WRITTEN).features
    assert written["turns"] == 5  # one count per turn written, none counted twice
    assert written["last_query"] == "q6"
    lines = written["memory"].splitlines()
    assert [line.split(" | ")[0] for line in lines] == [f"User: q{i}" for i in (0, 1, 4, 5, 6)]
    full = [r for r in caplog.records if "is full" in r.getMessage()]
    assert len(full) == 1

    # Now kill it for good: every retry fails, the turns count as failed, nothing changes.
    restart_at.clear()
    redis_server.stop()
    submitted.clear()
    chain.invoke({"question": "q7", "user_id": "u1"})
    submitted.set()
    assert wb.flush(timeout=30)
    assert wb.stats.failed == 1
    redis_server.start()
    assert store.get_features("u1", "user", ["turns"]).features["turns"] == 5
    wb.close()


def test_a_write_that_fails_after_its_read_is_retried_with_the_same_values(
    shop: Chroma, redis_server: RestartableRedis
) -> None:
    store = RecordingRedis(redis_server.url, namespace=namespace(), socket_timeout_s=0.5, retries=0)
    seed(store)
    client = ServingClient(store, cache=CacheConfig(ttl_seconds=300))
    writer = BackgroundWriter(
        max_attempts=5, sleep=lambda s: redis_server.proc or redis_server.start()
    )
    with WriteBack(client, **FEATURES, background_writer=writer) as wb:
        chain = with_write_back(rag(shop, client), wb)
        chain.invoke({"question": "first", "user_id": "u1"})
        assert wb.flush(timeout=10)
        gate = threading.Event()

        def hold() -> None:
            gate.wait(10)

        writer.submit(hold)  # the worker waits here while the chain runs
        chain.invoke({"question": "second", "user_id": "u1"})  # its lookup reads the store
        store.reads.clear()
        store.writes.clear()
        store.after_read = redis_server.stop  # the job reads, then the store dies
        gate.set()
        assert wb.flush(timeout=30)
    assert store.reads == [("turns", "memory")]  # the previous values: read once
    assert len(store.writes) >= 2  # the first attempt hit the dead store, a retry succeeded
    assert all(w == store.writes[0] for w in store.writes)  # same values, same event time
    assert store.writes[0]["turns"] == 2
    assert store.writes[0]["last_query"] == "second"
    assert store.get_features("u1", "user", ["turns"]).features["turns"] == 2
    assert wb.stats.retried >= 1


# ----------------------------------------------------------- many users at once


async def test_200_concurrent_users_each_get_only_their_own_activity(
    shop: Chroma, redis_url: str
) -> None:
    users = {f"c{i:03d}": ("shoes" if i % 2 else "books") for i in range(200)}
    # Room for every concurrent lookup (the default pool of 64 would degrade some reads).
    store = RedisFeatureStore(redis_url, namespace=namespace(), max_connections=256)
    seed(store, {uid: {"favorite_category": cat, "tier": "gold"} for uid, cat in users.items()})
    client = ServingClient(store, cache=CacheConfig(ttl_seconds=300), timeout_ms=None)
    llm = RunnableLambda(lambda messages: AIMessage(content=f"answer for {_user_of(messages)}"))
    with WriteBack(client, **FEATURES) as wb:
        chain = with_write_back(rag(shop, client, llm=llm), wb)
        for turn in (1, 2):
            await asyncio.gather(
                *(
                    chain.ainvoke({"question": f"{uid} asks #{turn}", "user_id": uid})
                    for uid in users
                )
            )
        assert wb.flush(timeout=120)
        assert (wb.stats.written, wb.stats.dropped, wb.stats.failed) == (400, 0, 0)
    books, shoes = {"p4", "p5"}, SHOES
    for uid, category in users.items():
        got = store.get_features(uid, "user", WRITTEN).features
        assert got["turns"] == 2, uid
        assert got["last_query"] == f"{uid} asks #2"
        assert set(got["last_shown"]) <= (shoes if category == "shoes" else books)
        lines = got["memory"].splitlines()
        assert [line.split(" | ")[0] for line in lines] == [
            f"User: {uid} asks #1",
            f"User: {uid} asks #2",
        ]
        assert all(line.endswith(f"Assistant: answer for {uid}") for line in lines)
    store.close()


def _user_of(messages: Any) -> str:
    """The asking user, read back from the human message (``"<uid> asks #n"``)."""
    return str(messages.to_messages()[-1].content).split(" ", 1)[0]
