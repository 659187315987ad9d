"""``FeatureFilteredRetriever``: vector search filtered by the user's features.

The retriever turns a :class:`~llm_featurestore.filters.FeatureFilterSpec` and one
entity's :class:`~llm_featurestore.models.FeatureVector` into a metadata filter for a
LangChain ``VectorStore``, through the translator chosen from the store's class (Chroma,
``InMemoryVectorStore``, Qdrant, FAISS and Milvus are built in, see
:mod:`langchain_featurestore.filtering`; others take ``filter_translator=``)::

    retriever = FeatureFilteredRetriever(vectorstore=chroma, filter_spec=spec, client=client)
    retriever.invoke("running shoes", user_id="u1")
    retriever.invoke("running shoes", config={"configurable": {"user_id": "u1"}})
    retriever.invoke({"question": "running shoes", "user_id": "u1"})
    retriever.invoke("running shoes", features=vector)  # prefetched: no lookup

How the lookup overlaps the search: a filtered search cannot start before the lookup
ends, but embedding the query (usually retrieval's most expensive part) can run beside
it, so the retriever (and :func:`~langchain_featurestore.chains.personalized_rag_chain`)
costs max(lookup, embedding) + search. With ``fetch_k > 0`` a *speculative* unfiltered
search for ``fetch_k`` documents runs beside the lookup too; the filter is applied to
them in memory (:meth:`~llm_featurestore.filters.ResolvedCondition.matches`; only for
stores whose translator is pinned to its semantics, ``in_memory_match``) and the
filtered search runs only when fewer than ``k`` match. That pays off only for a slow
lookup and a broad filter, so it is off by default (``bench/bench_langchain.py``
measures both).

Every returned document carries ``metadata["llmfs_backfill"]``: ``False`` for results
that satisfy the filter (or of an unfiltered search), ``True`` for backfill.

Size: the retriever class is about 345 lines, over the ~300 target, because a
``BaseRetriever`` must carry its fields, their documentation and the four framework
entry points (invoke, ainvoke, batch, abatch) itself; the decisions it calls are
elsewhere (the read flow, ``_search``'s candidates and selection, the filter spec).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, get_config_list
from langchain_core.vectorstores import VectorStore
from pydantic import Field, PrivateAttr, SkipValidation

from langchain_featurestore._batched import prefetched
from langchain_featurestore._events import RETRIEVAL_EVENT, aemit, emit
from langchain_featurestore._search import (
    BACKFILL_KEY,
    SearchCandidates,
    asearch,
    both,
    candidates_step,
    search,
    selection_steps,
    selector_step,
    shared_executor,
)
from langchain_featurestore.filtering import FilterTranslator, TranslatorLike, resolve_translator
from langchain_featurestore.lookup import entity_id_from
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec
from llm_featurestore.reading import FeatureReader, FeatureVectors, ReadRequest, warn_no_entity
from llm_featurestore.telemetry import hooks

__all__ = ["BACKFILL_KEY", "FeatureFilteredRetriever", "SearchCandidates", "shared_executor"]


class FeatureFilteredRetriever(BaseRetriever):
    """Retrieve from ``vectorstore`` with a metadata filter built from a user's features.

    The entity id comes, first found first used, from the invoke kwarg named by
    ``id_key`` (``"<entity_type>_id"`` of the spec by default: ``user_id``,
    ``driver_id``, ...), a dict input's ``id_key`` entry, or
    ``config["configurable"][id_key]``; a request with none logs one warning naming
    the key. Lookups go through the core read flow (monitor gate, coalescing, per-entity
    degradation); ``batch``/``abatch`` read N inputs with one backend call.
    Prefetched features (a :class:`FeatureVector` or ``{entity_type: FeatureVector}``,
    as :class:`~langchain_featurestore.lookup.FeatureLookup` outputs) may be passed as
    the ``features=`` kwarg or a dict input's ``features_key`` entry; then no lookup is
    made. With neither, the search is unfiltered. Features without a usable value drop
    their rule (see :class:`FeatureFilterSpec`); with ``fallback`` (the default) a store
    failure gives UNAVAILABLE features, so a dead store means an unfiltered search,
    never an error.

    Attributes:
        vectorstore: A LangChain vector store: a built-in one (see
            :mod:`langchain_featurestore.filtering`), or any other with
            ``filter_translator``.
        filter_spec: Rules mapping features to metadata conditions.
        client: Where features are looked up when not prefetched.
        k: Documents to return (also an invoke kwarg).
        backfill: Fill up to ``k`` with unfiltered results (marked ``llmfs_backfill``).
        id_key: Name of the entity id in kwargs, dict inputs and ``configurable``;
            ``"<filter_spec.entity_type>_id"`` when ``None``.
        fetch_k: Unfiltered candidates fetched speculatively beside the lookup; 0 (the
            default) only embeds the query beside it (see the module docstring).
        query_key: Key of the query in a dict input (``"query"`` is accepted too).
        features_key: Key of prefetched features in a dict input.
        filter_translator: ``None`` (the default): the built-in translator of the
            vector store's class (another store raises :class:`FeatureConfigError`);
            or a ``FilterTranslator``, a ``structured_query`` ``Visitor`` or a function
            of the resolved conditions (see :mod:`langchain_featurestore.filtering`).
        search_kwargs: Extra keyword arguments for every vector store search.
        fallback: Search unfiltered (logging a warning once per cause) when the store
            fails, instead of raising (see :mod:`llm_featurestore.serving.degrade`).
        monitor: A ``FeatureMonitor`` whose store gate may refuse the lookup (the search
            is then unfiltered, with no store call).

    Request data the filter spec declares (``filter_spec.request_data``) is resolved per
    request that looks features up: ``"query"`` is the query, ``"input.<key>"`` a dict
    input's key, then ``configurable``'s; a missing one raises
    :class:`~llm_featurestore.errors.FeatureValidationError` naming it.
    """

    vectorstore: VectorStore
    filter_spec: FeatureFilterSpec
    client: FeatureStoreClient
    k: int = Field(4, gt=0)
    backfill: bool = False
    id_key: str | None = None
    fetch_k: int = Field(0, ge=0)
    query_key: str = "question"
    features_key: str = "features"
    # Checked by as_translator, whose error names the accepted kinds.
    filter_translator: SkipValidation[TranslatorLike | None] = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)
    fallback: bool = True
    monitor: Any = None

    _translator: FilterTranslator | None = PrivateAttr(None)

    def model_post_init(self, context: Any, /) -> None:
        """Resolve the translator now, so an unsupported store fails at construction."""
        super().model_post_init(context)
        given, store, rules = self.filter_translator, self.vectorstore, self.filter_spec.rules
        self._translator = resolve_translator(given, store, needed=bool(rules))

    @property
    def translator(self) -> FilterTranslator | None:
        """The translator in use (``None`` when the spec has no rules and none was given)."""
        return self._translator

    @property
    def key(self) -> str:
        """The id key in use: ``id_key``, or ``"<entity_type>_id"``."""
        return self.id_key or f"{self.filter_spec.entity_type}_id"

    # -- invoke: accept dict inputs and configurable ids --------------------

    def _request(
        self,
        input: str | Mapping[str, Any],
        config: RunnableConfig | None,
        kwargs: dict[str, Any],
        *,
        with_data: bool = True,
    ) -> str:
        """Resolve the query and move ids/features from input and config into ``kwargs``
        (and, ``with_data``, the request data the filter spec declares)."""
        key = self.key
        if isinstance(input, Mapping):
            query = input.get(self.query_key, input.get("query"))
            if key in input:
                kwargs.setdefault(key, input[key])
            if self.features_key in input:
                kwargs.setdefault("features", input[self.features_key])
        else:
            query = input
        if not isinstance(query, str):
            raise FeatureConfigError(
                f"FeatureFilteredRetriever needs a query string, or a dict with the query "
                f"under '{self.query_key}' or 'query'; got {type(query).__name__}"
            )
        configurable = ensure_config(config).get("configurable") or {}
        if key not in kwargs and key in configurable:
            kwargs[key] = configurable[key]
        if key != "user_id" and key in kwargs:
            kwargs["user_id"] = kwargs.pop(key)
        spec = self.filter_spec
        if with_data and spec.request_data and kwargs.get("user_id") and "features" not in kwargs:
            sources = [input if isinstance(input, Mapping) else {}, configurable]
            kwargs.setdefault(
                "request_data",
                spec.request_data.resolve(
                    query=query, inputs=sources, entity_types=[spec.entity_type]
                ),
            )
        return query

    def invoke(
        self, input: str | Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Retrieve for a query string or a dict input; see the class docstring."""
        query = self._request(input, config, kwargs)
        return super().invoke(query, config, **kwargs)

    async def ainvoke(
        self, input: str | Mapping[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> list[Document]:
        """Async twin of :meth:`invoke`."""
        query = self._request(input, config, kwargs)
        return await super().ainvoke(query, config, **kwargs)

    # -- building blocks, also used by the parallel chain -------------------

    def _resolve_k(self, k: Any) -> int:
        if k is None:
            return self.k
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise FeatureConfigError(f"k must be a positive integer, got {k!r}")
        return k

    def _embedding_fn(self) -> Any:
        return self.vectorstore.embeddings

    def search_candidates(self, query: str, fetch_k: int | None = None) -> SearchCandidates:
        """Embed ``query`` and, when ``fetch_k`` (default: the field) > 0, fetch that many
        best documents unfiltered."""
        fetch_k = self.fetch_k if fetch_k is None else fetch_k
        embeddings = self._embedding_fn()
        embedding = None if embeddings is None else embeddings.embed_query(query)
        docs: list[Document] = []
        if fetch_k > 0:
            docs = search(self.vectorstore, self.search_kwargs, query, embedding, fetch_k, None)
        return SearchCandidates(query, embedding, docs, fetch_k)

    async def asearch_candidates(self, query: str, fetch_k: int | None = None) -> SearchCandidates:
        """Async twin of :meth:`search_candidates`."""
        fetch_k = self.fetch_k if fetch_k is None else fetch_k
        embeddings = self._embedding_fn()
        embedding = None if embeddings is None else await embeddings.aembed_query(query)
        docs: list[Document] = []
        if fetch_k > 0:
            docs = await asearch(
                self.vectorstore, self.search_kwargs, query, embedding, fetch_k, None
            )
        return SearchCandidates(query, embedding, docs, fetch_k)

    def select(
        self,
        candidates: SearchCandidates,
        features: Any,
        k: int | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> list[Document]:
        """Finish a search once the features are known.

        Runs at most one filtered search (none when the candidates already hold ``k``
        matches) and, with ``backfill``, at most one unfiltered search.

        Args:
            candidates: From :meth:`search_candidates`.
            features: A :class:`FeatureVector`, ``{entity_type: FeatureVector}`` or ``None``.
            k: Documents to return; the retriever's ``k`` when omitted.
            config: Run config; the ``llm_featurestore.retrieval`` event is sent on it.
        """
        steps = selection_steps(self, candidates, features, self._resolve_k(k))
        with hooks.span("retrieval", framework="langchain") as span:
            try:
                n, where = next(steps)
                while True:
                    found = search(self.vectorstore, self.search_kwargs, *candidates.at(n, where))
                    n, where = steps.send(found)
            except StopIteration as done:
                docs, event = done.value
            _report(span, event)
        emit(RETRIEVAL_EVENT, event, config)
        return docs  # type: ignore[no-any-return]

    async def aselect(
        self,
        candidates: SearchCandidates,
        features: Any,
        k: int | None = None,
        *,
        config: RunnableConfig | None = None,
    ) -> list[Document]:
        """Async twin of :meth:`select`."""
        steps = selection_steps(self, candidates, features, self._resolve_k(k))
        with hooks.span("retrieval", framework="langchain") as span:
            try:
                n, where = next(steps)
                while True:
                    found = await asearch(
                        self.vectorstore, self.search_kwargs, *candidates.at(n, where)
                    )
                    n, where = steps.send(found)
            except StopIteration as done:
                docs, event = done.value
            _report(span, event)
        await aemit(RETRIEVAL_EVENT, event, config)
        return docs  # type: ignore[no-any-return]

    def _reader(self) -> FeatureReader:
        return FeatureReader(self.client, monitor=self.monitor, fallback=self.fallback)

    def _read_request(self, entity_id: str, data: Mapping[str, Any] | None) -> ReadRequest:
        etype, names = self.filter_spec.entity_type, self.filter_spec.feature_names
        return ReadRequest({etype: entity_id}, {etype: names}, request_data=data or {})

    def _lookup(self, entity_id: str, data: Mapping[str, Any] | None) -> FeatureVectors:
        return self._reader().read(self._read_request(entity_id, data))

    async def _alookup(self, entity_id: str, data: Mapping[str, Any] | None) -> FeatureVectors:
        return await self._reader().aread(self._read_request(entity_id, data))

    def _entity(self, user_id: Any, features: Any) -> str | None:
        """The id to look up, or ``None`` (features given, no rules, or no id: warned)."""
        entity_id = entity_id_from(user_id, self.key)
        if features is not None or not self.filter_spec.rules:
            return None
        if entity_id is None:
            warn_no_entity("FeatureFilteredRetriever", {self.filter_spec.entity_type: self.key})
        return entity_id

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[list[Document]]:
        """Retrieve for N inputs; their lookups are one backend call per entity type."""
        configs = get_config_list(config, len(inputs))
        batch = prefetched(self, inputs, configs)
        # BaseRetriever is typed for str inputs; this class's invoke also takes dicts.
        prepared: list[Any] = batch.filled(self._reader().read_many(batch.requests))
        return super().batch(prepared, configs, return_exceptions=return_exceptions, **kwargs)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[list[Document]]:
        """Async twin of :meth:`batch`."""
        configs = get_config_list(config, len(inputs))
        batch = prefetched(self, inputs, configs)
        prepared: list[Any] = batch.filled(await self._reader().aread_many(batch.requests))
        return await super().abatch(
            prepared, configs, return_exceptions=return_exceptions, **kwargs
        )

    def as_candidates(self, *, query_key: str | None = None) -> Runnable[Any, SearchCandidates]:
        """A Runnable: a str, or a dict with the query under ``query_key`` (the
        retriever's by default) -> :class:`SearchCandidates`.

        Put it beside a :class:`FeatureLookup` in a ``RunnableParallel`` so the query
        embedding (and, with ``fetch_k > 0``, the speculative search) overlaps the
        lookup, then finish with :meth:`as_selector`.
        """
        return candidates_step(self, query_key or self.query_key)

    def as_selector(
        self,
        *,
        request_key: str = "request",
        candidates_key: str = "candidates",
        features_key: str | None = None,
    ) -> Runnable[dict[str, Any], dict[str, Any]]:
        """A Runnable: ``{request_key: lookup output, candidates_key: SearchCandidates}``
        -> the lookup output plus ``"documents"`` (the filtered top ``k``, see :meth:`select`).

        The features are read from the lookup output under ``features_key`` (the
        retriever's ``features_key`` by default).
        """
        return selector_step(self, request_key, candidates_key, features_key or self.features_key)

    # -- BaseRetriever ------------------------------------------------------

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        user_id: Any = None,
        features: Any = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        k = self._resolve_k(k)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        entity_id = self._entity(user_id, features)
        if entity_id is not None:
            pending = shared_executor().submit(self._lookup, entity_id, request_data)
            candidates = self.search_candidates(query)
            features = pending.result()
        else:
            # Features known (or not needed): nothing to overlap, so nothing speculative.
            candidates = self.search_candidates(query, fetch_k=0)
        return self.select(candidates, features, k, config=config)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        user_id: Any = None,
        features: Any = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> list[Document]:
        k = self._resolve_k(k)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        entity_id = self._entity(user_id, features)
        if entity_id is not None:
            features, candidates = await both(
                self._alookup(entity_id, request_data), self.asearch_candidates(query)
            )
        else:
            candidates = await self.asearch_candidates(query, fetch_k=0)
        return await self.aselect(candidates, features, k, config=config)


def _report(span: Any, event: Mapping[str, Any]) -> None:
    """Tell the retrieval's span what the selection did (counts only, no operands)."""
    span.set(k=event["k"], conditions=event["conditions"], filtered=event["filtered"])
    span.set(backfilled=event["backfilled"])
    statuses = Counter(event["statuses"].values())
    span.set(**{f"status.{status}": n for status, n in sorted(statuses.items())})
