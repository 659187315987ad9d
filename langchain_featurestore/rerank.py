"""``FeatureRerankCompressor``: boost and demote retrieved documents by the user's features.

The LangChain twin of LlamaIndex's
:class:`~llamaindex_featurestore.rerank.FeatureRerankPostprocessor`: the same
:class:`~llm_featurestore.filters.FeatureFilterSpec` that hard-filters a search works as
a soft preference, each rule adding its weight to the score of every document whose
metadata satisfies it. The decision (weights, ``top_n``, which vector may be used, the
re-scoring) is :mod:`llm_featurestore.reranking`'s, shared by both adapters; the reads
go through the core read flow (monitor gate, fallback, degradation)::

    compressor = FeatureRerankCompressor(client=client, spec=spec, weights=[0.5, -1.0], top_n=4)
    compressor.compress_documents(docs, "running shoes")  # in a run: configurable's user_id

    # ContextualCompressionRetriever's shape, without langchain-classic:
    retriever = FeatureRerankRetriever(
        base_retriever=vectorstore.as_retriever(search_kwargs={"k": 20}),
        base_compressor=compressor,
    )
    retriever.invoke("running shoes", config={"configurable": {"user_id": "u1"}})

    # LCEL: after any retriever, or after personalized_retrieval (its vectors, no 2nd read)
    chain = vectorstore.as_retriever() | compressor.as_runnable()
    chain = personalized_retrieval(filtered, lookup) | compressor.as_runnable()

    compressor.rerank_documents(docs, vector)  # vectors already read: no I/O

Whose features: the id under ``id_key`` (``"<entity_type>_id"`` of the spec by default)
in a dict input of :meth:`~FeatureRerankCompressor.as_runnable`, else in the run's
``config["configurable"]``, else the compressor's ``user_id``; never the documents'
content. A document's score is ``metadata[score_key]`` (``"relevance_score"``, as
LangChain's rerankers write it; 0.0 when absent, so the boost alone orders documents a
retriever returned without scores, ties in retrieval order). Re-scored documents are
copies whose metadata records the boost under ``"llmfs_rerank_boost"`` and the new score
under ``score_key``; the inputs are not modified. With no user, a degraded read or a
read the monitor refused, documents keep their order (``top_n`` still applies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
    Callbacks,
)
from langchain_core.documents import Document
from langchain_core.documents.compressor import BaseDocumentCompressor
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, patch_config, set_config_context
from langchain_core.runnables.utils import coro_with_context
from pydantic import ConfigDict, ValidationInfo, field_validator, model_validator

from langchain_featurestore._batched import BatchedRunnable
from langchain_featurestore._runtime import runtime_ids
from langchain_featurestore.lookup import vector_for
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.models import FeatureVector
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest, warn_no_entity
from llm_featurestore.reranking import (
    CONTEXT_KEY,
    RERANK_KEY,
    FeatureReranker,
    Rescored,
    check_top_n,
    check_weights,
)

__all__ = ["CONTEXT_KEY", "RERANK_KEY", "FeatureRerankCompressor", "FeatureRerankRetriever"]


class FeatureRerankCompressor(BaseDocumentCompressor):
    """Boost or demote documents by rules on the user's features, instead of filtering.

    See the module docstring for where the user comes from and what comes back.

    Attributes:
        client: Where features are read.
        spec: The rules, over one entity type.
        weights: One weight per rule, in rule order (positive boosts, negative demotes);
            1.0 for every rule when ``None``.
        top_n: Keep at most this many documents (context documents, marked
            ``metadata["llmfs_context"]``, excepted: they stay first, untouched).
        user_id: Default id of the spec's entity, used when the run names none.
        id_key: Key of the id in dict inputs and ``configurable``;
            ``"<spec.entity_type>_id"`` when ``None``.
        score_key: Metadata key of a document's score, read and written.
        documents_key: Key of the documents in a dict input of :meth:`as_runnable`.
        features_key: Key of vectors already read (a :class:`FeatureVector` or
            ``{entity_type: FeatureVector}``) in such a dict input.
        fallback: Degrade store failures (logged once per cause): documents keep their
            order; ``False`` raises.
        monitor: Gates the read (its store gate) and receives its outcome.

    Raises:
        FeatureConfigError: ``weights`` does not have one finite number per rule, or
            ``top_n`` is not an integer of at least 1 (the messages of
            :class:`~llamaindex_featurestore.rerank.FeatureRerankPostprocessor`).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    client: FeatureStoreClient
    spec: FeatureFilterSpec
    weights: list[float] | None = None
    top_n: int | None = None
    user_id: str | None = None
    id_key: str | None = None
    score_key: str = "relevance_score"
    documents_key: str = "documents"
    features_key: str = "features"
    fallback: bool = True
    monitor: FeatureMonitor | None = None

    @field_validator("weights", mode="before")
    @classmethod
    def _check_weights(cls, weights: Any, info: ValidationInfo) -> Any:
        spec = info.data.get("spec")  # absent when the spec itself was refused
        return weights if spec is None else check_weights(spec, weights)

    @field_validator("top_n", mode="before")
    @classmethod
    def _check_top_n(cls, top_n: Any) -> Any:
        return check_top_n(top_n)

    @model_validator(mode="after")
    def _check(self) -> FeatureRerankCompressor:
        self.weights = list(self._reranker().weights)  # None: 1.0 per rule
        return self

    @property
    def key(self) -> str:
        """The id key in use: ``id_key``, or ``"<entity_type>_id"``."""
        return self.id_key or f"{self.spec.entity_type}_id"

    def required_features(self) -> dict[str, list[str]]:
        """Features this compressor reads, per entity type (for a lookup's names)."""
        return self._reranker().required_features()

    def _reranker(self) -> FeatureReranker:
        return FeatureReranker(self.spec, weights=self.weights, top_n=self.top_n)

    # -- translation: ids in, documents out -----------------------------------

    def _request(
        self,
        source: Mapping[str, Any] | None,
        config: RunnableConfig | None,
        features: Any = None,
        *,
        query: str | None = None,
    ) -> ReadRequest:
        """The read for one call: the entity from ``source`` (a dict input), the run's
        ``configurable`` or ``user_id``; vectors given in ``features`` are reused (their
        entity wins) and only what they lack is read. The spec's request data comes from
        ``query`` and from ``source`` then ``configurable``."""
        etype = self.spec.entity_type
        defaults = {etype: self.user_id} if self.user_id else {}
        config = ensure_config(config)
        ids = runtime_ids({etype: self.key}, state=source, config=config, defaults=defaults)
        known = _known(features, etype, self.features_key)
        if etype in known:
            ids[etype] = known[etype].entity_id
        if self.spec.rules and etype not in ids:
            warn_no_entity("FeatureRerankCompressor", {etype: self.key})
        inputs = [source or {}, config.get("configurable") or {}]
        return self._reranker().request(ids, known, query=query, inputs=inputs)

    def _score(self, document: Document) -> float:
        value = document.metadata.get(self.score_key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        return 0.0

    def _documents(self, ranked: Sequence[Rescored[Document]]) -> list[Document]:
        """Documents as they came when not re-scored, else copies with boost and score."""
        out = []
        for r in ranked:
            if r.boost is None:
                out.append(r.item)
                continue
            metadata = {**r.item.metadata, RERANK_KEY: r.boost, self.score_key: r.score}
            out.append(r.item.model_copy(update={"metadata": metadata}))
        return out

    def _ranked(
        self, documents: Sequence[Document], vector: FeatureVector | None
    ) -> list[Document]:
        ranked = self._reranker().rerank(
            documents, vector, metadata=lambda d: d.metadata, score=self._score
        )
        return self._documents(ranked)

    def _finish(self, documents: Sequence[Document], vectors: FeatureVectors) -> list[Document]:
        return self._ranked(documents, self._reranker().vector(vectors))

    def _reader(self) -> FeatureReader:
        return FeatureReader(self.client, monitor=self.monitor, fallback=self.fallback)

    # -- BaseDocumentCompressor -------------------------------------------------

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> list[Document]:
        """Re-rank ``documents`` for the run's user; ``query`` feeds only request data
        the spec declares as ``"query"`` (the rules read the user's features)."""
        if not documents:
            return []
        request = self._request(None, None, query=query)
        return self._finish(documents, self._reader().read(request))

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> list[Document]:
        """Async twin of :meth:`compress_documents`."""
        if not documents:
            return []
        request = self._request(None, None, query=query)
        return self._finish(documents, await self._reader().aread(request))

    def rerank_documents(self, documents: Sequence[Document], features: Any) -> list[Document]:
        """Re-rank with vectors already read; no I/O.

        Args:
            documents: In retrieval order.
            features: A :class:`FeatureVector`, ``{entity_type: FeatureVector}`` (a
                :class:`~langchain_featurestore.FeatureLookup` output) or ``None`` (no
                user: documents keep their order).

        Raises:
            FeatureConfigError: ``features`` is none of those shapes, is of another
                entity type, or lacks a feature the rules read.
        """
        return self._ranked(documents, vector_for(features, self.spec.entity_type))

    # -- LCEL -------------------------------------------------------------------

    def as_runnable(self) -> Runnable[Any, Any]:
        """A Runnable re-ranking a list of documents (``retriever | it``), or a dict
        holding them under ``documents_key`` (``personalized_retrieval(...) | it``): the
        dict comes back with them re-ranked, and its vectors under ``features_key`` are
        reused, so an entity they cover is not read again. ``batch`` over N inputs
        reads with one backend call per entity type."""
        return _RerankStep(self)

    def _unpack(self, input: Any) -> tuple[list[Document], Mapping[str, Any] | None]:
        if isinstance(input, Mapping) and self.documents_key in input:
            documents = input[self.documents_key]
            source: Mapping[str, Any] | None = input
        else:
            documents, source = input, None
        if isinstance(documents, Sequence) and all(isinstance(d, Document) for d in documents):
            return list(documents), source
        raise FeatureConfigError(
            "FeatureRerankCompressor expects a list of Documents, or a dict holding them "
            f"under '{self.documents_key}' (and vectors already read under "
            f"'{self.features_key}'), got {type(input).__name__}"
        )

    def _prepare(
        self, input: Any, config: RunnableConfig
    ) -> tuple[list[Document], ReadRequest | None]:
        """The documents of ``input`` and the read they need (``None``: no documents)."""
        documents, source = self._unpack(input)
        if not documents:
            return documents, None
        return documents, self._request(source, config, (source or {}).get(self.features_key))

    def _outputs(
        self,
        inputs: Sequence[Any],
        prepared: Sequence[tuple[list[Document], ReadRequest | None]],
        read: Sequence[FeatureVectors],
    ) -> list[Any]:
        """Each input with its documents re-ranked by its read (in order, one per request)."""
        reads = iter(read)
        out = []
        for input_, (documents, request) in zip(inputs, prepared, strict=True):
            vectors = FeatureVectors() if request is None else next(reads)
            ranked = self._finish(documents, vectors)
            out.append(
                {**input_, self.documents_key: ranked} if isinstance(input_, Mapping) else ranked
            )
        return out


class _RerankStep(BatchedRunnable[Any, Any]):
    """:meth:`FeatureRerankCompressor.as_runnable`: N inputs, one read flow call."""

    def __init__(self, compressor: FeatureRerankCompressor) -> None:
        self.compressor = compressor
        self.name = "FeatureRerankCompressor"

    def _run(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        c = self.compressor
        prepared = [c._prepare(i, config) for i, config in zip(inputs, configs, strict=True)]
        read = c._reader().read_many([r for _, r in prepared if r is not None])
        return c._outputs(inputs, prepared, read)

    async def _arun(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        c = self.compressor
        prepared = [c._prepare(i, config) for i, config in zip(inputs, configs, strict=True)]
        read = await c._reader().aread_many([r for _, r in prepared if r is not None])
        return c._outputs(inputs, prepared, read)


def _known(features: Any, entity_type: str, key: str) -> Mapping[str, FeatureVector]:
    """Vectors already read, as ``{entity_type: FeatureVector}``; a lookup's mapping is
    kept as it is, so its outcome carries over (a refused read stays refused).

    Raises:
        FeatureConfigError: ``features`` is not one of :func:`vector_for`'s shapes, or
            is one vector of another entity type.
    """
    vector = vector_for(features, entity_type)
    if isinstance(features, Mapping):
        return features
    if vector is not None and vector.entity_type != entity_type:
        raise FeatureConfigError(
            f"The vector under '{key}' is for entity type '{vector.entity_type}' (id "
            f"'{vector.entity_id}'), but the rerank spec reads '{entity_type}'; pass the "
            f"'{entity_type}' vector, or a mapping {{entity_type: FeatureVector}}"
        )
    return {} if vector is None else {entity_type: vector}


class FeatureRerankRetriever(BaseRetriever):
    """Retrieve with ``base_retriever``, then re-rank with ``base_compressor``.

    ``langchain-classic``'s ``ContextualCompressionRetriever`` composes the same way;
    this one is in ``langchain-core``'s terms and passes the run's config (its
    ``configurable`` ids, callbacks) to both parts, so
    ``retriever.invoke(q, config={"configurable": {"user_id": "u1"}})`` re-ranks for u1.

    Attributes:
        base_retriever: Any retriever (or Runnable from a query to documents).
        base_compressor: A :class:`FeatureRerankCompressor`, or any document compressor.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    base_retriever: Runnable[str, list[Document]]
    base_compressor: BaseDocumentCompressor

    def invoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Retrieve then re-rank ``input``; see the class docstring."""
        config = ensure_config(config)
        return super().invoke(input, config, run_config=config, **kwargs)

    async def ainvoke(
        self, input: str, config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`invoke`."""
        config = ensure_config(config)
        return await super().ainvoke(input, config, run_config=config, **kwargs)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        run_config: RunnableConfig | None = None,
    ) -> list[Document]:
        child = patch_config(run_config, callbacks=run_manager.get_child())
        documents = self.base_retriever.invoke(query, child)
        with set_config_context(child) as context:  # the compressor's ensure_config()
            ranked = context.run(
                self.base_compressor.compress_documents, documents, query, child["callbacks"]
            )
        return list(ranked)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        run_config: RunnableConfig | None = None,
    ) -> list[Document]:
        child = patch_config(run_config, callbacks=run_manager.get_child())
        documents = await self.base_retriever.ainvoke(query, child)
        with set_config_context(child) as context:
            compress = self.base_compressor.acompress_documents(
                documents, query, child["callbacks"]
            )
            ranked = await coro_with_context(compress, context)
        return list(ranked)
