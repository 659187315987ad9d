"""Personalised RAG in LCEL: one feature lookup, run beside the vector search.

The pattern (what :func:`personalized_rag_chain` builds)::

    from langchain_core.runnables import RunnableParallel

    lookup = lookup_for(retriever, enricher, task_type="product_recommendation")
    chain = (
        RunnableParallel(                                   # both branches start together
            request=lookup,                                 # ONE lookup: filter + prompt features
            candidates=retriever.as_candidates(),           # embed the query meanwhile
        )
        | retriever.as_selector()                           # filtered search, by vector
        | FeatureEnricherRunnable(enricher, output="variables")  # same vectors, no I/O
        | RunnableLambda(lambda x: {**x, "context": format_documents(x["documents"])})
        | chat_prompt
        | llm
    )
    chain.invoke({"question": "Which running shoes?", "user_id": "u1"})

Why this shape. The filter needs the user's features, so a *filtered* search cannot
start until the lookup is done; no design can overlap those two. What can overlap the
lookup is the rest of retrieval's work, chiefly embedding the query (a model call, often
10-100x the cost of the search itself). So the retrieval branch embeds the query while
the lookup runs, and the selector then runs one filtered search with that embedding.
The prompt enrichment reads the same vectors (``enrich_from_vectors``), so each request
makes exactly one lookup, and the latency is max(lookup, embedding) + search instead of
lookup + embedding + search. With ``fetch_k > 0`` on the retriever, the branch also
fetches unfiltered candidates speculatively and the selector filters them in memory,
skipping the second search when enough match (worth it only when the lookup is slow
and the filter broad). The alternative, one shared future of the lookup passed into
both branches, hides the data flow and ties each branch to threads or tasks; this is
plain LCEL, and each step can be traced and tested on its own.

Tracing: the lookup, the retrieval and the enrichment each send a custom event
(``llm_featurestore.lookup`` / ``.retrieval`` / ``.enrichment``) with the features
used, their statuses and the latencies; see :mod:`langchain_featurestore._events`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManager
from langchain_core.documents import Document
from langchain_core.runnables import Runnable, RunnableConfig, RunnableLambda, RunnableParallel
from langchain_core.runnables.config import (
    ensure_config,
    get_config_list,
    patch_config,
    set_config_context,
)

from langchain_featurestore.enrichment import FeatureEnricherRunnable
from langchain_featurestore.lookup import FeatureLookup
from langchain_featurestore.retrievers import FeatureFilteredRetriever, shared_executor
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.filters import FeatureFilterSpec

__all__ = ["format_documents", "lookup_for", "personalized_rag_chain", "personalized_retrieval"]


class _PooledParallel(RunnableParallel[Any]):
    """A ``RunnableParallel`` whose sync ``invoke`` reuses a shared thread pool.

    ``RunnableParallel.invoke`` starts a new thread pool (and threads) on every call,
    which costs about as much as a fast feature lookup. This subclass submits every
    branch but the last to a long-lived pool and runs the last one in the calling
    thread; runs, tags (``map:key:<name>``) and outputs are those of
    ``RunnableParallel``. Async is unchanged (branches are tasks). Only for branches
    that do not themselves wait on the same pool.
    """

    def invoke(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        config = ensure_config(config)
        callback_manager = CallbackManager.configure(
            inheritable_callbacks=config.get("callbacks"),
            local_callbacks=None,
            verbose=False,
            inheritable_tags=config.get("tags"),
            local_tags=None,
            inheritable_metadata=config.get("metadata"),
            local_metadata=None,
        )
        run_manager = callback_manager.on_chain_start(
            None,
            input,
            name=config.get("run_name") or self.get_name(),
            run_id=config.pop("run_id", None),
        )

        def run_step(step: Runnable[Any, Any], key: str) -> Any:
            child = patch_config(config, callbacks=run_manager.get_child(f"map:key:{key}"))
            with set_config_context(child) as context:
                return context.run(step.invoke, input, child)

        try:
            steps = list(self.steps__.items())
            futures = [shared_executor().submit(run_step, step, key) for key, step in steps[:-1]]
            last_key, last_step = steps[-1]
            last = run_step(last_step, last_key)
            output = {key: f.result() for (key, _), f in zip(steps, futures, strict=False)}
            output[last_key] = last
        except BaseException as exc:
            run_manager.on_chain_error(exc)
            raise
        run_manager.on_chain_end(output)
        return output

    def batch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[dict[str, Any]]:
        """Each branch's own ``batch`` over all inputs (the lookup: one backend call per
        entity type), branches in parallel; outputs regrouped per input."""
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        steps = list(self.steps__.items())
        futures = [
            shared_executor().submit(
                step.batch, inputs, configs, return_exceptions=return_exceptions
            )
            for _, step in steps[:-1]
        ]
        last = steps[-1][1].batch(inputs, configs, return_exceptions=return_exceptions)
        columns = [*(f.result() for f in futures), last]
        return _rows([key for key, _ in steps], columns)

    async def abatch(
        self,
        inputs: list[Any],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[dict[str, Any]]:
        """Async twin of :meth:`batch`."""
        if not inputs:
            return []
        configs = get_config_list(config, len(inputs))
        steps = list(self.steps__.items())
        columns = await asyncio.gather(
            *(s.abatch(inputs, configs, return_exceptions=return_exceptions) for _, s in steps)
        )
        return _rows([key for key, _ in steps], list(columns))


def _rows(keys: list[str], columns: list[list[Any]]) -> list[dict[str, Any]]:
    """Per-input output dicts from per-branch output lists (an error fails its input)."""
    rows: list[dict[str, Any]] = []
    for values in zip(*columns, strict=True):
        error = next((v for v in values if isinstance(v, Exception)), None)
        rows.append(error if error is not None else dict(zip(keys, values, strict=True)))  # type: ignore[arg-type]
    return rows


def format_documents(documents: Sequence[Document]) -> str:
    """Documents as text for a prompt: page contents separated by blank lines."""
    return "\n\n".join(doc.page_content for doc in documents)


def _needs(
    spec: FeatureFilterSpec, enricher: FeatureEnricher | None, task_type: str
) -> dict[str, list[str]]:
    """The filter's features and the task's, per entity type, without duplicates."""
    names: dict[str, list[str]] = {}
    if spec.feature_names:
        names[spec.entity_type] = list(spec.feature_names)
    if enricher is not None:
        for etype, etype_names in enricher.required_features(task_type).items():
            names[etype] = list(dict.fromkeys([*names.get(etype, []), *etype_names]))
    return names


def lookup_for(
    retriever: FeatureFilteredRetriever,
    enricher: FeatureEnricher | None = None,
    *,
    task_type: str = "general",
    id_keys: Mapping[str, str] | None = None,
    client: FeatureStoreClient | None = None,
    question_key: str | None = None,
) -> FeatureLookup:
    """One :class:`FeatureLookup` that fetches what the filter and the prompt need.

    Args:
        retriever: Its ``filter_spec`` features, ``id_key``, ``features_key``,
            ``client`` and ``fallback`` are used.
        enricher: Its ``required_features(task_type)`` are added.
        task_type: The enrichment task.
        id_keys: ``{entity_type: input key}``; defaults: the retriever's id key for the
            spec's entity type, else ``"<entity_type>_id"`` (``user_id``, ``driver_id``).
        client: Read from this client instead of the retriever's.
        question_key: Input key of the question (the request data source ``"query"``);
            the retriever's ``query_key`` by default.

    Returns:
        A multi-entity lookup whose output (``{entity_type: FeatureVector}``, under the
        retriever's ``features_key``) both the selector and the enricher consume. With an
        enricher, the read is gated by its monitor for ``task_type`` (one gate decision
        per request; the enrichment reuses it); otherwise by the retriever's monitor.
        Request data declared by the filter spec and by the task
        (``EnricherConfig.request_data``) is resolved per input and sent with the read.

    Raises:
        FeatureConfigError: neither the filter nor the task needs any feature, or the
            filter spec and the task give one request field different sources.
    """
    spec = retriever.filter_spec
    names = _needs(spec, enricher, task_type)
    if not names:
        raise FeatureConfigError(
            f"Nothing to look up: the filter spec has no rules and task '{task_type}' maps "
            "no features; add rules, or enable the task in the EnricherConfig"
        )
    keys = {spec.entity_type: retriever.key, **(id_keys or {})}
    task_data = None if enricher is None else enricher.config.request_data.get(task_type)
    return FeatureLookup(
        client or retriever.client,
        entities={etype: keys.get(etype, f"{etype}_id") for etype in names},
        feature_names=names,
        output_key=retriever.features_key,
        fallback=retriever.fallback,
        monitor=enricher.monitor if enricher is not None else retriever.monitor,
        task_type=task_type if enricher is not None else None,
        request_data=spec.request_data.merged(task_data),
        query_key=question_key or retriever.query_key,
    )


def personalized_retrieval(
    retriever: FeatureFilteredRetriever,
    lookup: FeatureLookup | None = None,
    *,
    question_key: str = "question",
) -> Runnable[dict[str, Any], dict[str, Any]]:
    """The first two steps of :func:`personalized_rag_chain`: lookup beside retrieval.

    Args:
        retriever: Filters by the looked-up features.
        lookup: The one lookup; :func:`lookup_for` ``(retriever)`` by default.
        question_key: Key of the question in the input dict.

    Returns:
        A Runnable from the request dict to the lookup output (the request plus the
        vectors) with ``"documents"`` added: the filtered top ``k``.
    """
    lookup = lookup or lookup_for(retriever, question_key=question_key)
    parallel: Runnable[Any, Any] = _PooledParallel(
        steps__={"request": lookup, "candidates": retriever.as_candidates(query_key=question_key)}
    ).with_config(run_name="feature_lookup_and_retrieval")
    return parallel | retriever.as_selector(features_key=lookup.output_key)


def personalized_rag_chain(
    retriever: FeatureFilteredRetriever,
    enricher: FeatureEnricher,
    prompt: Runnable[Any, Any],
    llm: Runnable[Any, Any],
    *,
    lookup: FeatureLookup | None = None,
    task_type: str = "general",
    question_key: str = "question",
    context_key: str = "context",
    format_docs: Callable[[Sequence[Document]], str] = format_documents,
) -> Runnable[dict[str, Any], Any]:
    """Build the parallel personalised RAG chain described in the module docstring.

    Args:
        retriever: Filters by the user's features.
        enricher: Adds feature facts to the prompt variables.
        prompt: A prompt template; it receives the input keys plus ``context_key`` (the
            formatted documents), ``documents``, the lookup output, and the enricher's
            variables (``feature_context``, ``features``, ...).
        llm: The model (or any Runnable) that follows the prompt.
        lookup: The one lookup; :func:`lookup_for` by default.
        task_type: The enrichment task.
        question_key: Key of the question in the input dict.
        context_key: Prompt variable that receives the formatted documents.
        format_docs: Turns the documents into that text.

    Returns:
        A Runnable from ``{question_key: ..., "user_id": ..., ...}`` to the ``llm``
        output; ``invoke``, ``ainvoke``, ``batch`` and ``stream`` all work. The user id
        may also come from ``config["configurable"]``.
    """
    lookup = lookup or lookup_for(
        retriever, enricher, task_type=task_type, question_key=question_key
    )
    enrich = FeatureEnricherRunnable(
        enricher,
        task_type=task_type,
        prompt_key=question_key,
        output="variables",
        features_key=lookup.output_key,
    )

    def with_context(variables: dict[str, Any]) -> dict[str, Any]:
        return {**variables, context_key: format_docs(variables["documents"])}

    return (
        personalized_retrieval(retriever, lookup, question_key=question_key)
        | enrich
        | RunnableLambda(with_context, name="format_context")
        | prompt
        | llm
    )
