"""Shared pieces of the write-back integration tests: the features, seeded stores, a
redis-server that can be killed and restarted with its data, and a store that records
(and can sabotage) what the write-back does to it."""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable

from langchain_featurestore import FeatureFilteredRetriever, personalized_rag_chain
from llm_featurestore.clients.base import WritableFeatureStore
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureVector
from tests.fixtures.servers import port_open, redis_server_binary, wait_until

FEATURES = {
    "last_query": "last_query",
    "shown_ids": "last_shown",
    "turn_count": "turns",
    "last_turn_at": "last_turn_at",
    "memory": "memory",
}
"""The write-back's settings: every value in a feature of the same (or a short) name."""
WRITTEN = list(FEATURES.values())
PROFILES: dict[str, dict[str, Any]] = {
    "u1": {"favorite_category": "shoes", "tier": "gold"},
    "u2": {"favorite_category": "books", "tier": "silver"},
}
TASK = "shop"
ENRICHER = EnricherConfig(
    task_features={
        TASK: {"user": ["tier", "favorite_category", "last_query", "last_shown", "turns"]}
    }
)
"""The prompt shows the profile and what the last turn wrote."""
SPEC = FeatureFilterSpec(rules=[FilterRule(field="category", op="eq", feature="favorite_category")])
PROMPT = ChatPromptTemplate.from_messages(
    [("system", "Facts:\n{feature_context}\nCatalog:\n{context}"), ("human", "{question}")]
)
SHOES = {"p0", "p1", "p2", "p8"}
"""The shoes of tests.integration.test_langchain_retriever's catalogue (u1's category)."""


def rag(vs: Any, client: Any, llm: Any = None) -> Runnable[Any, Any]:
    """personalized_rag_chain over ``vs`` (k=2), filtered by the favourite category."""
    retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client, k=2)
    enricher = FeatureEnricher(client, ENRICHER)
    llm = llm or FakeListChatModel(responses=["first answer", "second answer"])
    return personalized_rag_chain(retriever, enricher, PROMPT, llm, task_type=TASK)


def seed(store: WritableFeatureStore, users: Mapping[str, Mapping[str, Any]] = PROFILES) -> None:
    """Write the profiles, and register the write-back's names (local and Redis learn a
    feature on its first write; before that, reading it is an unknown-feature error)."""
    for uid, features in users.items():
        store.write_features(uid, "user", features)
    store.write_features(
        "u-schema",
        "user",
        {"last_query": "", "last_shown": [], "turns": 0, "last_turn_at": None, "memory": ""},
    )


def namespace() -> str:
    return f"wb-{uuid.uuid4().hex[:8]}"


class RestartableRedis:
    """A real redis-server on a fixed port that keeps its data across restarts (AOF)."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            redis_server_binary(),
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.workdir)),
            *("--protected-mode", "no"),
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._ready, what="redis-server")

    def _ready(self) -> bool:
        """Listening and done loading its data (a loading server answers LOADING)."""
        import redis

        client = redis.Redis(port=self.port, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        wait_until(lambda: not port_open(self.port), what="redis-server shutdown")


class RecordingRedis(RedisFeatureStore):
    """A real RedisFeatureStore that records every read and write attempt, and can run
    ``after_read`` once (e.g. kill the server between a job's read and its write)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.reads: list[tuple[str, ...]] = []
        self.writes: list[dict[str, Any]] = []
        self.after_read: Callable[[], None] | None = None

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        vectors = super().get_batch_features(entity_ids, entity_type, feature_names)
        with self.lock:
            self.reads.append(tuple(feature_names))
            hook, self.after_read = self.after_read, None
        if hook is not None:
            hook()
        return vectors

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
        **kwargs: Any,
    ) -> None:
        with self.lock:
            self.writes.append({"entity_id": entity_id, **features, "_ts": event_timestamp})
        super().write_features(entity_id, entity_type, features, event_timestamp, **kwargs)
