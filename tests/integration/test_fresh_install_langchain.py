"""A new venv with only ``llm-featurestore[langchain]`` (no Chroma, no vector store
package): the adapter imports, and the filtered retriever runs on LangChain's own
``InMemoryVectorStore`` (issue 12: the extras depend only on their framework's core).

``InMemoryVectorStore`` itself needs numpy, which langchain-core does not declare (its
error says ``pip install numpy``); the test installs it as a user would, and checks
that nothing else is needed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fixtures.fresh_venv import FreshVenv, pip_install

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = """
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_featurestore import FeatureFilteredRetriever
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.filters import FeatureFilterSpec, FilterRule

store = LocalFeatureStore()
store.write_features("u1", "user", {"favorite_category": "shoes", "budget": 100.0})
spec = FeatureFilterSpec(rules=[
    FilterRule(field="category", op="eq", feature="favorite_category"),
    FilterRule(field="price", op="lte", feature="budget"),
])
vs = InMemoryVectorStore(DeterministicFakeEmbedding(size=32))
vs.add_texts(
    ["cheap shoes", "fancy shoes", "a hat"],
    metadatas=[
        {"category": "shoes", "price": 50.0},
        {"category": "shoes", "price": 500.0},
        {"category": "hats", "price": 20.0},
    ],
)
retriever = FeatureFilteredRetriever(vectorstore=vs, filter_spec=spec, client=store, k=3)
print(sorted(d.page_content for d in retriever.invoke({"query": "shoes", "user_id": "u1"})))
"""


def test_only_the_langchain_extra_runs_the_retriever_on_in_memory_vectors(
    fresh_venv: Callable[..., FreshVenv],
) -> None:
    venv = fresh_venv("langchain")
    installed = venv.distributions()
    assert "langchain-core" in installed
    assert not {"chromadb", "langchain-chroma", "llama-index-core"} & installed
    pip_install(["numpy"], cwd=venv.workdir, into=venv.python)  # LangChain's own need
    done = venv.python_code(SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['cheap shoes']"
