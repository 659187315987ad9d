"""``FeatureEnricherRunnable``: the core ``FeatureEnricher`` as a LangChain Runnable.

::

    enrich = FeatureEnricherRunnable(enricher, task_type="product_recommendation")
    enrich.invoke({"question": "What should I buy?", "user_id": "u1"})  # -> enriched prompt

    # One lookup serving the filter and the prompt: vectors already in the input
    # (from FeatureLookup) are used as they are, with no second lookup.
    chain = lookup | FeatureEnricherRunnable(enricher, output="variables") | chat_prompt | llm

Outputs (``output=``):

- ``"prompt"``: the enriched prompt string;
- ``"variables"``: the input dict plus the enricher's template variables
  (``feature_context``, ``features``, ...), ready for a ``ChatPromptTemplate``;
- ``"result"``: the full :class:`~llm_featurestore.enricher.EnrichmentResult`.

Each call sends an ``llm_featurestore.enrichment`` custom event (features used, their
statuses, tokens added, latency) so tracing tools show it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config

from langchain_featurestore._batched import BatchedRunnable
from langchain_featurestore._events import ENRICHMENT_EVENT, aemit, emit
from langchain_featurestore.lookup import ids_from_input
from llm_featurestore.enricher import EnrichmentResult, FeatureEnricher, LookupPlan
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import warn_no_entity
from llm_featurestore.telemetry.summaries import enrichment_summary

__all__ = ["FeatureEnricherRunnable", "enrichment_event"]

Output = Literal["prompt", "variables", "result"]
_OUTPUTS = ("prompt", "variables", "result")


def enrichment_event(result: EnrichmentResult) -> dict[str, Any]:
    """The tracing payload for one enrichment (the core's shape, shared by every adapter)."""
    return enrichment_summary(result)


def _vectors(features: Any) -> Mapping[str, FeatureVector]:
    if features is None:
        return {}
    if isinstance(features, FeatureVector):
        return {features.entity_type: features}
    if isinstance(features, Mapping) and all(
        isinstance(v, FeatureVector) for v in features.values()
    ):
        return features  # a FeatureVectors keeps how its read went (skipped, recorded)
    raise FeatureConfigError(
        "features must be a FeatureVector or a mapping {entity_type: FeatureVector} "
        f"(the output of FeatureLookup), got {type(features).__name__}"
    )


@dataclass
class _Input:
    """One parsed input: the prompt, the input as a dict, and prefetched vectors or a plan."""

    prompt: str
    data: dict[str, Any]
    vectors: Mapping[str, FeatureVector] | None
    plan: LookupPlan | None


class FeatureEnricherRunnable(BatchedRunnable[Any, Any]):
    """Enrich a prompt with feature facts, reusing vectors already in the input.

    The input is the prompt string, or a dict with the prompt under ``prompt_key``.
    When a dict carries vectors under ``features_key`` (a :class:`FeatureVector`, or
    ``{entity_type: FeatureVector}`` as ``FeatureLookup`` outputs, or ``None`` for "no
    entity"), they are used as is (:meth:`FeatureEnricher.enrich_from_vectors`; a read
    the monitor refused passes through as ``monitor_disabled``); otherwise the enricher
    reads the entities itself through the core read flow, with ids taken from the dict
    or from ``config["configurable"]`` under the keys of ``id_keys``. ``batch`` and
    ``abatch`` read N inputs with one backend call per entity type.

    Args:
        enricher: The core enricher (its client, config, catalog and monitor apply).
        task_type: Selects the features and policies.
        prompt_key: Key of the prompt in a dict input.
        output: ``"prompt"``, ``"variables"`` or ``"result"`` (see the module docstring).
        features_key: Key of prefetched vectors in a dict input.
        id_keys: ``{entity_type: key}`` for the ids; by default ``"<entity_type>_id"``
            for each entity type the task reads (``user_id``, ``organization_id``, ...).

    When it reads, the task's request data (``EnricherConfig.request_data``) is resolved
    from the input: ``"query"`` is the prompt, ``"input.<key>"`` the dict input's key,
    else ``config["configurable"]``'s.

    Raises:
        FeatureConfigError: an unknown ``output`` (at construction); a missing prompt or
            malformed features or ids (at invoke).
    """

    def __init__(
        self,
        enricher: FeatureEnricher,
        *,
        task_type: str = "general",
        prompt_key: str = "question",
        output: Output = "prompt",
        features_key: str = "features",
        id_keys: Mapping[str, str] | None = None,
    ) -> None:
        if output not in _OUTPUTS:
            raise FeatureConfigError(f"output must be one of {', '.join(_OUTPUTS)}, got {output!r}")
        self.enricher = enricher
        self.task_type = task_type
        self.prompt_key = prompt_key
        self.output: Output = output
        self.features_key = features_key
        required = enricher.required_features(task_type)
        self.id_keys = dict(id_keys or {etype: f"{etype}_id" for etype in required})

    def _parse(self, input_: Any, config: RunnableConfig) -> _Input:
        if isinstance(input_, str):
            data: dict[str, Any] = {self.prompt_key: input_}
        elif isinstance(input_, Mapping):
            data = dict(input_)
        else:
            raise FeatureConfigError(
                "FeatureEnricherRunnable expects the prompt string or a dict with the prompt "
                f"under '{self.prompt_key}', got {type(input_).__name__}"
            )
        prompt = data.get(self.prompt_key)
        if not isinstance(prompt, str):
            raise FeatureConfigError(
                f"No prompt string under '{self.prompt_key}' in the input (keys: "
                f"{', '.join(map(str, data)) or 'none'}); set prompt_key to the right key"
            )
        if self.features_key in data:
            return _Input(prompt, data, _vectors(data[self.features_key]), None)
        ids = ids_from_input(data, config, self.id_keys)
        configurable = ensure_config(config).get("configurable") or {}
        plan = self.enricher.plan(
            task_type=self.task_type, context=ids, query=prompt, inputs=[data, configurable]
        )
        if plan.skipped_reason == "no_entities":
            warn_no_entity("FeatureEnricherRunnable", self.id_keys)
        return _Input(prompt, data, None, plan)

    def _results(
        self, parsed: Sequence[_Input], fetched: Sequence[EnrichmentResult]
    ) -> list[EnrichmentResult]:
        """Merge the results of the inputs that were read with those that brought vectors."""
        read = iter(fetched)
        return [
            next(read)
            if p.vectors is None
            else self.enricher.enrich_from_vectors(
                p.prompt, p.vectors, self.task_type, getattr(p.vectors, "latency_ms", 0.0)
            )
            for p in parsed
        ]

    @staticmethod
    def _to_read(parsed: Sequence[_Input]) -> tuple[list[str], list[LookupPlan]]:
        todo = [p for p in parsed if p.plan is not None]
        return [p.prompt for p in todo], [p.plan for p in todo if p.plan is not None]

    def _shape(self, data: dict[str, Any], result: EnrichmentResult) -> Any:
        if self.output == "prompt":
            return result.enriched_prompt
        if self.output == "variables":
            return {**data, **result.variables}
        return result

    def _run(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        parsed = [self._parse(i, c) for i, c in zip(inputs, configs, strict=True)]
        results = self._results(parsed, self.enricher.enrich_many(*self._to_read(parsed)))
        for result, config in zip(results, configs, strict=True):
            emit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return [self._shape(p.data, r) for p, r in zip(parsed, results, strict=True)]

    async def _arun(self, inputs: list[Any], configs: list[RunnableConfig]) -> list[Any]:
        parsed = [self._parse(i, c) for i, c in zip(inputs, configs, strict=True)]
        fetched = await self.enricher.aenrich_many(*self._to_read(parsed))
        results = self._results(parsed, fetched)
        for result, config in zip(results, configs, strict=True):
            await aemit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return [self._shape(p.data, r) for p, r in zip(parsed, results, strict=True)]
