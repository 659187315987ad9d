"""What the stores cannot do, and how FeatureFilteredRetriever says so: static filters
SimpleVectorStore cannot nest, FAISS (no metadata filters at all) and Qdrant's sync and
async clients. Real stores; helpers from test_llamaindex_filter_stores.py."""

from __future__ import annotations

import asyncio
from typing import Any

import faiss
import pytest
from llama_index.core import StorageContext, VectorStoreIndex
from llama_index.core.schema import NodeWithScore
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
)
from llama_index.vector_stores.faiss import FaissMapVectorStore, FaissVectorStore
from llama_index.vector_stores.qdrant import QdrantVectorStore
from qdrant_client import AsyncQdrantClient, QdrantClient

from llamaindex_featurestore.context import FeatureQueryBundle
from llamaindex_featurestore.retriever import FeatureFilteredRetriever
from llamaindex_featurestore.store_filters import (
    PROFILES,
    searches_async,
    store_profile,
    to_metadata_filters,
)
from llamaindex_featurestore.testing import HashingEmbedding
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec
from tests.filter_corpus import DOCUMENTS, SPEC, USERS, brute_force
from tests.integration.test_llamaindex_filter_stores import (
    CORPUS,
    EMBED_DIM,
    QUERY,
    TOP_K,
    build_index,
    chroma_client,
    corpus_features,
    corpus_index,
    ids,
    nodes_of,
    one_rule,
)
from tests.unit.test_llamaindex_context import cond

pytestmark = [
    pytest.mark.integration,
    # llama-index's Qdrant store always asks for a doc_id payload index; local mode says
    # it has no effect there (it filters by scanning), which is all we need.
    pytest.mark.filterwarnings(
        "ignore:Payload indexes have no effect in the local Qdrant:UserWarning"
    ),
]
__all__ = ["chroma_client", "corpus_features", "corpus_index"]  # fixtures, for pytest


# ------------------------------------------------------------------- static filters

ACME = MetadataFilters(filters=[MetadataFilter(key="brand", value="acme")])
ACME_OR_HOOLI = MetadataFilters(
    filters=[
        MetadataFilter(key="brand", value="acme", operator=FilterOperator.EQ),
        MetadataFilter(key="brand", value="hooli", operator=FilterOperator.EQ),
    ],
    condition=FilterCondition.OR,
)


@pytest.mark.parametrize(
    ("static", "brands"), [(ACME, {"acme"}), (ACME_OR_HOOLI, {"acme", "hooli"})], ids=["and", "or"]
)
def test_static_filters_combine_with_the_feature_rules(
    corpus_index: VectorStoreIndex,
    corpus_features: LocalFeatureStore,
    static: MetadataFilters,
    brands: set[str],
) -> None:
    profile = store_profile(corpus_index.vector_store)
    assert profile is not None

    def build() -> FeatureFilteredRetriever:
        return FeatureFilteredRetriever(
            corpus_index, corpus_features, SPEC, similarity_top_k=TOP_K, filters=static
        )

    if not profile.nests and static.condition is FilterCondition.OR:
        with pytest.raises(FeatureConfigError, match="SimpleVectorStore cannot nest"):
            build()  # the message: test_an_or_static_filter_on_simple_vector_store_is_refused
        return
    r = build()
    for uid in list(USERS)[:20]:
        want = {d.id for d in DOCUMENTS if d.metadata["brand"] in brands} & brute_force(uid)
        assert ids(r.retrieve(FeatureQueryBundle(QUERY, user_id=uid))) == want, uid


def test_an_or_static_filter_on_simple_vector_store_is_refused(
    corpus_features: LocalFeatureStore,
) -> None:
    index = VectorStoreIndex(nodes_of({"d": {"brand": "acme"}}), embed_model=HashingEmbedding())
    with pytest.raises(FeatureConfigError) as err:
        FeatureFilteredRetriever(index, corpus_features, SPEC, filters=ACME_OR_HOOLI)
    assert str(err.value) == (
        "SimpleVectorStore cannot nest MetadataFilters, so static filters with condition 'or' "
        "(or nested filters) cannot be combined with the feature rules; pass static filters "
        "as one AND list of MetadataFilter, or use a store that nests (ChromaVectorStore, "
        "QdrantVectorStore)"
    )
    # The same static filter alone is fine: nothing to nest it with.
    empty = FeatureFilterSpec(rules=[])
    r = FeatureFilteredRetriever(index, corpus_features, empty, filters=ACME_OR_HOOLI)
    assert ids(r.retrieve(FeatureQueryBundle(QUERY, user_id="u000"))) == {"d"}


# --------------------------------------------------------------------------- FAISS

FAISS_ERROR = (
    "{name} (llama-index-vector-stores-faiss) cannot filter by metadata: it raises on any "
    "MetadataFilters. Use a store that can (ChromaVectorStore, QdrantVectorStore, "
    "SimpleVectorStore), or rank by features instead of filtering with "
    "FeatureRerankPostprocessor"
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: FaissVectorStore(faiss_index=faiss.IndexFlatL2(EMBED_DIM)),
        lambda: FaissMapVectorStore(faiss_index=faiss.IndexIDMap2(faiss.IndexFlatL2(EMBED_DIM))),
    ],
    ids=["FaissVectorStore", "FaissMapVectorStore"],
)
def test_faiss_is_refused_when_the_retriever_is_built(
    make: Any, corpus_features: LocalFeatureStore
) -> None:
    store = make()
    index = VectorStoreIndex(
        [],
        storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=HashingEmbedding(embed_dim=EMBED_DIM),
    )
    with pytest.raises(FeatureConfigError) as err:
        FeatureFilteredRetriever(index, corpus_features, SPEC)
    assert str(err.value) == FAISS_ERROR.format(name="FaissVectorStore")
    # Static filters alone would fail the same way, at the first query.
    with pytest.raises(FeatureConfigError, match=r"FaissVectorStore \(.*\) cannot filter"):
        FeatureFilteredRetriever(index, corpus_features, FeatureFilterSpec(rules=[]), filters=ACME)


@pytest.mark.parametrize("op", ["eq", "ne", "in", "nin", "lt", "lte", "gt", "gte"])
def test_faiss_supports_no_operator_and_raises_on_any_filter(
    op: str, chroma_client: Any, corpus_features: LocalFeatureStore
) -> None:
    index = build_index("faiss", {"d": {"n": 1}}, chroma_client)
    assert not PROFILES["llama_index.vector_stores.faiss.base.FaissVectorStore"].operators
    # What the store itself does: raise on any filter, so no silent wrong results either.
    value = [1] if op in ("in", "nin") else 1
    raw = MetadataFilters(
        filters=[
            MetadataFilter.model_construct(
                key="n", value=value, operator=FilterOperator[op.upper()]
            )
        ]
    )
    with pytest.raises(ValueError, match="Metadata filters not implemented for Faiss yet"):
        index.as_retriever(filters=raw).retrieve(QUERY)
    spec, features = one_rule(op, "n", value)
    with pytest.raises(
        FeatureConfigError, match=r"FaissVectorStore \(llama-index-vector-stores-faiss\)"
    ):
        FeatureFilteredRetriever(index, features, spec)
    with pytest.raises(FeatureConfigError, match="cannot filter by metadata"):
        to_metadata_filters([cond("n", op, value)], vector_store=index.vector_store)
    assert to_metadata_filters([], vector_store=index.vector_store) is None
    # Unfiltered search still works.
    assert ids(index.as_retriever().retrieve(QUERY)) == {"d"}


# ----------------------------------------------------------------------- async paths


def test_qdrant_searches_natively_async_only_with_an_async_client() -> None:
    sync_only = QdrantVectorStore(collection_name="c", client=QdrantClient(":memory:"))
    assert searches_async(sync_only) is False  # local mode: aretrieve uses a worker thread
    simple = VectorStoreIndex([], embed_model=HashingEmbedding()).vector_store
    assert searches_async(simple) is False


def test_qdrant_with_only_an_async_client_filters_natively_and_refuses_sync(
    corpus_features: LocalFeatureStore,
) -> None:
    store = QdrantVectorStore(collection_name="c", aclient=AsyncQdrantClient(":memory:"))
    assert searches_async(store) is True
    context = StorageContext.from_defaults(vector_store=store)
    embed = HashingEmbedding(embed_dim=EMBED_DIM)
    index = VectorStoreIndex([], storage_context=context, embed_model=embed)
    r = FeatureFilteredRetriever(index, corpus_features, SPEC, similarity_top_k=TOP_K)
    users = list(USERS)[:30]

    async def some_users() -> list[list[NodeWithScore]]:
        await index.ainsert_nodes(nodes_of(CORPUS))  # through the async client only
        return await asyncio.gather(
            *(r.aretrieve(FeatureQueryBundle(QUERY, user_id=uid)) for uid in users)
        )

    for uid, nodes in zip(users, asyncio.run(some_users()), strict=True):
        assert ids(nodes) == brute_force(uid), uid
    # Without it, llama-index fails on ``None.query_points``: say what is missing instead.
    with pytest.raises(FeatureConfigError) as err:
        r.retrieve(FeatureQueryBundle(QUERY, user_id="u001"))
    assert str(err.value) == (
        "FeatureFilteredRetriever.retrieve searches QdrantVectorStore synchronously, but the "
        "store was built with only an async client; pass client= to the store as well, or "
        "call FeatureFilteredRetriever.aretrieve"
    )
