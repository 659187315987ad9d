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

import time
from collections.abc import Mapping
from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config

from langchain_featurestore._events import ENRICHMENT_EVENT, aemit, emit
from langchain_featurestore.lookup import entity_id_from
from llm_featurestore.enricher import EnrichmentResult, FeatureEnricher
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector

__all__ = ["FeatureEnricherRunnable", "enrichment_event"]

Output = Literal["prompt", "variables", "result"]
_OUTPUTS = ("prompt", "variables", "result")


def enrichment_event(result: EnrichmentResult) -> dict[str, Any]:
    """The tracing payload for one enrichment (no feature values: they may be sensitive)."""
    return {
        "task_type": result.task_type,
        "features_used": list(result.features_used),
        "statuses": {f"{p.entity_type}.{p.feature}": p.status.value for p in result.provenance},
        "dropped": {
            f"{p.entity_type}.{p.feature}": p.drop_reason.value
            for p in result.provenance
            if p.drop_reason is not None
        },
        "feature_tokens_added": result.feature_tokens_added,
        "enrichment_latency_ms": result.enrichment_latency_ms,
        "store_available": result.store_available,
        "skipped_reason": result.skipped_reason,
    }


def _vectors(features: Any) -> dict[str, FeatureVector]:
    if isinstance(features, FeatureVector):
        return {features.entity_type: features}
    if isinstance(features, Mapping) and all(
        isinstance(v, FeatureVector) for v in features.values()
    ):
        return {etype: v for etype, v in features.items() if v is not None}
    raise FeatureConfigError(
        "features must be a FeatureVector or a mapping {entity_type: FeatureVector} "
        f"(the output of FeatureLookup), got {type(features).__name__}"
    )


class FeatureEnricherRunnable(Runnable[Any, Any]):
    """Enrich a prompt with feature facts, reusing vectors already in the input.

    The input is the prompt string, or a dict with the prompt under ``prompt_key``.
    When a dict carries vectors under ``features_key`` (a :class:`FeatureVector`, or
    ``{entity_type: FeatureVector}`` as ``FeatureLookup`` outputs, or ``None`` for "no
    entity"), they are used as is (:meth:`FeatureEnricher.enrich_from_vectors`);
    otherwise the enricher looks the entities up itself, with ids taken from the dict
    or from ``config["configurable"]`` under the keys of ``id_keys``.

    Args:
        enricher: The core enricher (its client, config, catalog and monitor apply).
        task_type: Selects the features and policies.
        prompt_key: Key of the prompt in a dict input.
        output: ``"prompt"``, ``"variables"`` or ``"result"`` (see the module docstring).
        features_key: Key of prefetched vectors in a dict input.
        id_keys: ``{entity_type: key}`` for the ids; by default ``user`` from
            ``"user_id"`` and ``organization`` from ``"organization_id"``.

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
        self.id_keys = dict(id_keys or {"user": "user_id", "organization": "organization_id"})

    # -- pure helpers -------------------------------------------------------

    def _parse(
        self, input_: Any, config: RunnableConfig
    ) -> tuple[str, dict[str, Any], dict[str, FeatureVector] | None, dict[str, str]]:
        """(prompt, input as dict, prefetched vectors or None, entity ids)."""
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
        vectors: dict[str, FeatureVector] | None = None
        if self.features_key in data:
            features = data[self.features_key]
            vectors = {} if features is None else _vectors(features)
        configurable = config.get("configurable") or {}
        ids: dict[str, str] = {}
        for etype, key in self.id_keys.items():
            raw = data[key] if key in data else configurable.get(key)
            entity_id = entity_id_from(raw, key)
            if entity_id is not None:
                ids[etype] = entity_id
        return prompt, data, vectors, ids

    def _from_vectors(self, prompt: str, vectors: dict[str, FeatureVector]) -> EnrichmentResult:
        start = time.perf_counter()
        monitor = self.enricher.monitor
        if vectors and monitor is not None and not monitor.should_enrich(self.task_type):
            return EnrichmentResult(
                original_prompt=prompt,
                enriched_prompt=prompt,
                task_type=self.task_type,
                features_used=[],
                feature_tokens_added=0,
                enrichment_latency_ms=(time.perf_counter() - start) * 1000,
                features_available=False,
                variables={"feature_context": "", "features": {}, "features_by_name": {}},
                skipped_reason="monitor_disabled",
            )
        return self.enricher.enrich_from_vectors(prompt, vectors, self.task_type)

    def _shape(self, data: dict[str, Any], result: EnrichmentResult) -> Any:
        if self.output == "prompt":
            return result.enriched_prompt
        if self.output == "variables":
            return {**data, **result.variables}
        return result

    # -- Runnable interface -------------------------------------------------

    def _run(
        self, input_: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        prompt, data, vectors, ids = self._parse(input_, config)
        if vectors is not None:
            result = self._from_vectors(prompt, vectors)
        else:
            result = self.enricher.enrich(prompt, task_type=self.task_type, context=ids)
        emit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return self._shape(data, result)

    async def _arun(
        self, input_: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
    ) -> Any:
        prompt, data, vectors, ids = self._parse(input_, config)
        if vectors is not None:
            result = self._from_vectors(prompt, vectors)
        else:
            result = await self.enricher.aenrich(prompt, task_type=self.task_type, context=ids)
        await aemit(ENRICHMENT_EVENT, enrichment_event(result), config)
        return self._shape(data, result)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Enrich one input; the output depends on ``output``."""
        return self._call_with_config(self._run, input, ensure_config(config))

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async twin of :meth:`invoke` (the enricher's native async lookups)."""
        return await self._acall_with_config(self._arun, input, ensure_config(config))
