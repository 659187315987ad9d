"""The library's worker pools: sizes from the environment or from code, shutdown and reuse,
context copying, the serving lanes, and the read flow's hand-offs."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator, Sequence

import pytest

from llm_featurestore import workers
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import FeatureReader, ReadRequest
from llm_featurestore.serving import ServingClient


@pytest.fixture(autouse=True)
def fresh_pools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(workers.WORKERS_ENV, raising=False)
    workers.configure_workers()
    yield
    monkeypatch.delenv(workers.WORKERS_ENV, raising=False)
    workers.configure_workers()


def test_default_sizes() -> None:
    assert workers.shared_pool()._max_workers == 16
    assert workers.pool("backend")._max_workers == 16
    assert workers.pool("blocking")._max_workers == 16
    assert workers.pool("tasks")._max_workers == 32


def test_size_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(workers.WORKERS_ENV, "3")
    assert workers.worker_settings().workers == 3
    assert workers.shared_pool()._max_workers == 3
    assert workers.pool("tasks")._max_workers == 6


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("many", "LLM_FEATURESTORE_WORKERS must be a positive integer, got 'many'"),
        ("-2", "LLM_FEATURESTORE_WORKERS must be a positive integer, got '-2'"),
        ("0", r"Invalid workers \(\$LLM_FEATURESTORE_WORKERS\):\n  workers: Input should be"),
    ],
)
def test_bad_sizes_in_the_environment_are_named(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv(workers.WORKERS_ENV, raw)
    with pytest.raises(FeatureConfigError, match=message):
        workers.shared_pool()


def test_configure_workers_overrides_the_environment_and_resizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(workers.WORKERS_ENV, "3")
    before = workers.shared_pool()
    config = workers.configure_workers(5, serving_lane_workers=2)
    assert (config.workers, config.serving_lane_workers) == (5, 2)
    after = workers.shared_pool()
    assert after is not before
    assert after._max_workers == 5
    with pytest.raises(RuntimeError):
        before.submit(int)  # the old pool was shut down
    lane = workers.Lane("test")
    assert lane.executor()._max_workers == 2
    assert workers.configure_workers().workers == 3  # back to the environment


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"workers": 0}, "workers"),
        ({"workers": "lots"}, "workers"),
        ({"serving_lane_workers": -1}, "serving_lane_workers"),
    ],
)
def test_bad_sizes_in_code_are_named(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(FeatureConfigError, match=rf"Invalid workers:\n  {key}: "):
        workers.configure_workers(**kwargs)  # type: ignore[arg-type]
    assert workers.worker_settings().workers == 16  # nothing changed


def test_unknown_purpose_is_named() -> None:
    with pytest.raises(FeatureConfigError, match="Unknown worker pool 'io'; valid: tasks"):
        workers.pool("io")  # type: ignore[arg-type]


def test_shutdown_then_reuse() -> None:
    pools = [workers.pool(p) for p in ("tasks", "reads", "blocking", "backend")]
    lane = workers.Lane("test", max_workers=1)
    assert lane.submit(lambda: 41 + 1).result() == 42
    workers.shutdown()
    workers.shutdown()  # idempotent
    assert not lane.running
    for old in pools:
        with pytest.raises(RuntimeError):
            old.submit(int)
    assert workers.shared_pool() is not pools[1]
    assert workers.shared_pool().submit(lambda: 7).result() == 7
    assert lane.submit(lambda: 8).result() == 8  # a lane starts again too
    assert lane.running


async def test_to_thread_runs_on_the_blocking_pool_with_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    var.set("task")

    def where(suffix: str, *, sep: str) -> str:
        return f"{threading.current_thread().name}{sep}{var.get()}{sep}{suffix}"

    name, value, suffix = (await workers.to_thread(where, "x", sep="|")).split("|")
    assert name.startswith("llmfs-blocking")
    assert (value, suffix) == ("task", "x")


def test_tasks_run_in_a_copy_of_the_callers_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    token = var.set("caller")
    try:
        assert workers.pool("tasks").submit(var.get).result() == "caller"
        assert workers.Lane("test").submit(var.get).result() == "caller"
    finally:
        var.reset(token)


class ThreadRecorder(FeatureStoreClient):
    """A store that may block, recording the thread of every call."""

    source = "custom"

    def __init__(self, inner: FeatureStoreClient) -> None:
        self.inner = inner
        self.threads: list[str] = []

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.threads.append(threading.current_thread().name)
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return True


@pytest.fixture
def recorder() -> ThreadRecorder:
    local = LocalFeatureStore()
    local.write_features("u1", "user", {"tier": "gold"})
    local.write_features("p1", "product", {"price": 3})
    return ThreadRecorder(local)


def test_a_single_backend_call_makes_one_hand_off_at_most(recorder: ThreadRecorder) -> None:
    request = ReadRequest(entities={"user": "u1"}, features={"user": ["tier"]})
    FeatureReader(recorder).read(request)
    assert recorder.threads == [threading.current_thread().name]  # no hand-off
    serving = ServingClient(recorder, timeout_ms=5_000)
    FeatureReader(serving).read(request)
    assert recorder.threads[1].startswith("llmfs-serving-custom")  # one: the lane
    serving.close()


def test_several_entity_types_use_the_reads_pool_beside_the_caller(
    recorder: ThreadRecorder,
) -> None:
    request = ReadRequest(
        entities={"user": "u1", "product": "p1"},
        features={"user": ["tier"], "product": ["price"]},
    )
    vectors = FeatureReader(recorder).read(request)
    assert vectors["product"].features == {"price": 3}
    caller = threading.current_thread().name
    assert len(recorder.threads) == 2
    assert caller in recorder.threads
    assert next(t for t in recorder.threads if t != caller).startswith("llmfs-reads")


def test_each_serving_client_has_its_own_lane(recorder: ThreadRecorder) -> None:
    first, second = ServingClient(recorder), ServingClient(recorder)
    first.get_features("u1", "user", ["tier"])
    second.get_features("u1", "user", ["tier"])
    assert first._lane is not second._lane
    assert first._lane.executor() is not second._lane.executor()
    first.close()
    assert not first._lane.running
    assert second._lane.running
    assert first.get_features("u1", "user", ["tier"]).features == {"tier": "gold"}
    second.close()
