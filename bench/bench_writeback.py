"""Write-back: the request path of personalized_rag_chain with write-back on, against the
same chain without it, timed interleaved in the same run (target: at most 1.02x).

Both chains share one retriever (a real embedded Chroma collection of 400 documents,
hashing embedder, k=4), one enricher, one fake chat model and one store: a local store
behind a ~2 ms network-like delay on every read and write. The serving layer runs
without a cache, so both chains read the store on every request (with a cache, the
write-back's read-your-writes invalidation would make the next read a miss: a cost of
freshness, not of the write-back's path). The write-back writes all five features
(last query, shown ids, turn count, time, an extractive memory of 200 tokens), so each
turn costs the background writer one read and one write, ~4 ms of store time.

Three comparisons, each interleaved with the plain chain:

* *noise floor*: the plain chain against itself (what the machine's noise alone gives);
* *overlapping*: requests back to back; a turn's background write runs during the
  next requests (as under load), competing for the CPU and the GIL;
* *isolated*: the writer is flushed between requests, outside the timed region: only
  what the request itself does for the write-back (capture the turn, queue it).

``cpu_us`` is the process CPU time per request, less disturbed than wall time on a
busy machine; in the isolated case it is the request path's own CPU cost.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.runnables import Runnable

from bench._timing import percentiles
from bench.bench_langchain import CONFIG, PROMPT, SPEC, HashingEmbeddings, _catalog, _requests
from langchain_featurestore import FeatureFilteredRetriever, personalized_rag_chain, with_write_back
from llm_featurestore.clients.base import WritableFeatureStore
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving import ServingClient
from llm_featurestore.writeback import WriteBack

STORE_DELAY_S = 0.002
CATEGORIES = ["shoes", "books", "hats", "apparel", "garden", "kitchen", "toys", "audio"]
FEATURES = {
    "last_query": "last_query",
    "shown_ids": "last_shown",
    "turn_count": "turns",
    "last_turn_at": "last_turn_at",
    "memory": "memory",
}


class DelayedWritableStore(WritableFeatureStore):
    """A local store answering reads and writes after ``delay_s`` (sync: a blocking
    sleep, as a sync driver would; async reads: ``asyncio.sleep``)."""

    source = "local"

    def __init__(self, inner: LocalFeatureStore, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        time.sleep(self.delay_s)
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        await asyncio.sleep(self.delay_s)
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        time.sleep(self.delay_s)
        self.inner.write_features(entity_id, entity_type, features, event_timestamp)

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return True


def _store(rng: random.Random, users: int = 50) -> LocalFeatureStore:
    store = LocalFeatureStore()
    for u in range(users):
        store.write_features(
            f"u{u}",
            "user",
            {
                "favorite_category": rng.choice(CATEGORIES),
                "avg_order_value": float(rng.randint(20, 200)),
                "tier": rng.choice(["gold", "silver", "bronze"]),
            },
        )
    return store


def _chains() -> tuple[Runnable[Any, Any], Runnable[Any, Any], WriteBack, Any]:
    import chromadb
    from langchain_chroma import Chroma

    rng = random.Random(42)
    vs = Chroma(
        collection_name=f"bench-wb-{uuid.uuid4().hex[:8]}",
        embedding_function=HashingEmbeddings(),
        client=chromadb.EphemeralClient(),
    )
    vs.add_documents(_catalog(rng))
    client = ServingClient(DelayedWritableStore(_store(rng), STORE_DELAY_S), timeout_ms=None)
    retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client, k=4)
    enricher = FeatureEnricher(client, CONFIG)
    llm = FakeListChatModel(responses=["ok"])
    plain = personalized_rag_chain(retriever, enricher, PROMPT, llm, task_type="shop")
    write_back = WriteBack(client, **FEATURES, writer={"max_queue": 10_000})
    return plain, with_write_back(plain, write_back), write_back, vs


Samples = dict[str, list[int]]
"""``{"wall": [...], "cpu": [...]}``: per call, wall time and process CPU time (ns)."""


def _samples() -> Samples:
    return {"wall": [], "cpu": []}


def _paired(
    plain: Callable[[int], Any], ours: Callable[[int], Any], after: Callable[[], Any], n: int
) -> tuple[Samples, Samples]:
    """``plain`` and ``ours`` interleaved (alternating which goes first); ``after`` runs
    untimed after each call of ``ours``."""
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    raw, mine = _samples(), _samples()
    for i in range(n):
        for fn, out in ((plain, raw), (ours, mine))[:: 1 if i % 2 else -1]:
            w0, c0 = wall(), cpu()
            fn(i)
            out["wall"].append(wall() - w0)
            out["cpu"].append(cpu() - c0)
            if fn is ours:
                after()
    return raw, mine


async def _apaired(
    plain: Callable[[int], Awaitable[Any]],
    ours: Callable[[int], Awaitable[Any]],
    after: Callable[[], Any],
    n: int,
) -> tuple[Samples, Samples]:
    """Async twin of :func:`_paired`."""
    wall, cpu = time.perf_counter_ns, time.process_time_ns
    raw, mine = _samples(), _samples()
    for i in range(n):
        for fn, out in ((plain, raw), (ours, mine))[:: 1 if i % 2 else -1]:
            w0, c0 = wall(), cpu()
            await fn(i)
            out["wall"].append(wall() - w0)
            out["cpu"].append(cpu() - c0)
            if fn is ours:
                after()
    return raw, mine


def _rows(mode: str, label: str, raw: Samples, ours: Samples) -> list[dict[str, Any]]:
    base, base_p99 = percentiles(raw["wall"])
    p50, p99 = percentiles(ours["wall"])
    base_cpu, cpu = percentiles(raw["cpu"])[0], percentiles(ours["cpu"])[0]
    return [
        {
            "case": f"{mode}: chain, write-back off",
            "p50_us": round(base, 1),
            "p99_us": round(base_p99, 1),
            "ratio_vs_raw": 1.0,
            "cpu_us": round(base_cpu, 1),
            "cpu_ratio": 1.0,
        },
        {
            "case": f"{mode}: {label}",
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "ratio_vs_raw": round(p50 / base, 3),
            "cpu_us": round(cpu, 1),
            "cpu_ratio": round(cpu / base_cpu, 3),
        },
    ]


def run(n: int = 300) -> list[dict[str, Any]]:
    """Rows ``{"case", "p50_us", "p99_us", "ratio_vs_raw", "cpu_us", "cpu_ratio"}``: per
    mode (sync, async), the plain chain against itself (the noise floor), against the
    chain with write-back (overlapping) and again with the writer flushed between
    requests (isolated). Ratios are p50 over the plain chain's p50 from the same
    interleaved run; ``cpu_us`` is the process CPU time per request (all threads), which
    a busy machine disturbs less than wall time."""
    plain, on, write_back, vs = _chains()
    reqs = _requests(64)

    def req(i: int) -> dict[str, str]:
        return reqs[i % len(reqs)]

    def nothing() -> None:
        return None

    def flush() -> None:
        write_back.flush(timeout=30)

    cases: list[tuple[str, Runnable[Any, Any], Callable[[], Any]]] = [
        ("chain, write-back off again (noise floor)", plain, nothing),
        ("chain, write-back on (overlapping)", on, nothing),
        ("chain, write-back on (isolated)", on, flush),
    ]
    rows: list[dict[str, Any]] = []
    try:
        for _ in range(20):  # warm up both chains and the writer
            plain.invoke(req(0))
            on.invoke(req(0))
        flush()
        for label, ours, after in cases:
            raw, mine = _paired(
                lambda i: plain.invoke(req(i)), lambda i, c=ours: c.invoke(req(i)), after, n
            )
            flush()
            rows.extend(_rows("sync", label, raw, mine))

        async def both(
            ours: Runnable[Any, Any], after: Callable[[], Any]
        ) -> tuple[Samples, Samples]:
            return await _apaired(
                lambda i: plain.ainvoke(req(i)), lambda i: ours.ainvoke(req(i)), after, n
            )

        for label, ours, after in cases:
            raw, mine = asyncio.run(both(ours, after))
            flush()
            rows.extend(_rows("async", label, raw, mine))
        stats = write_back.stats
        rows.append(
            {
                "case": "write-back totals (background)",
                "written": stats.written,
                "dropped": stats.dropped,
                "failed": stats.failed,
                "queue_us_per_turn": round(stats.submit_ms * 1000.0 / max(stats.queued, 1), 1),
                "background_ms_per_turn": round(stats.busy_ms / max(stats.written, 1), 2),
            }
        )
    finally:
        write_back.close()
        vs.delete_collection()
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
