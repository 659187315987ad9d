"""Filter translation cost per query, for each built-in LangChain vector store.

What a filtered retrieval adds before its search: the resolved conditions of one user
(``eq`` on a string, ``in`` on a list, ``lte`` with a factor: the corpus spec of
``tests/filter_corpus.py``) become the store's search keyword arguments through
``FilterTranslator.search_kwargs`` (a ``structured_query`` directive, then the store's
visitor). Each store's translator is chosen from a real store instance
(``translator_for``), as the retriever does.

The baseline is the core's ``chroma_where`` of the same conditions (the dict the
retriever built before translators existed), timed interleaved with each store in the
same run (``bench._timing.paired``), so ``ratio_vs_raw`` is not skewed by drift.
Target: under 20 µs per query for every store (``within_target``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench._timing import paired, percentiles, row
from langchain_featurestore.filtering import translator_for
from llm_featurestore.filters import chroma_where
from tests.filter_corpus import SPEC, USERS, vector_of
from tests.integration.langchain_stores import STORES, Stores, documents

TARGET_US = 20.0
LABELS = {
    "chroma": "Chroma",
    "memory": "InMemoryVectorStore",
    "qdrant": "Qdrant",
    "faiss": "FAISS",
    "milvus": "Milvus",
}


def _conditions() -> list[Any]:
    """The conditions of the first user for whom all three applicable rules resolve."""
    for user_id in USERS:
        conditions = SPEC.resolve(vector_of(user_id))
        if len(conditions) == 3:
            return conditions
    raise RuntimeError("the corpus has no user with three conditions")


def run(n: int = 5000) -> list[dict[str, Any]]:
    """Build one small store of each kind, then time each translator against the core's
    ``chroma_where``."""
    conditions = _conditions()
    docs = documents([("d0", "a tent", {"category": "tents", "brand": "acme", "price": 9.0})])
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench_filters_") as tmp:
        stores = Stores(Path(tmp))
        for kind in STORES:
            translator = translator_for(stores.build(kind, docs))
            raw_ns, ours_ns = paired(
                lambda: chroma_where(conditions),
                lambda t=translator: t.search_kwargs(conditions),  # type: ignore[misc]
                n,
            )
            raw_p50, raw_p99 = percentiles(raw_ns)
            if not rows:
                rows.append(row("core chroma_where (baseline)", raw_p50, raw_p99, raw_p50))
            p50, p99 = percentiles(ours_ns)
            case = f"translate 3 conditions: {LABELS[kind]}"
            rows.append(row(case, p50, p99, raw_p50, within_target=p50 < TARGET_US))
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run():
        print(r)
