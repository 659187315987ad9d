"""``FeatureLookup``: a Runnable that adds an entity's feature vector(s) to its input dict.

::

    lookup = FeatureLookup(client, feature_names=["favorite_category", "avg_order_value"])
    lookup.invoke({"question": "shoes?", "user_id": "u1"})
    # {"question": "shoes?", "user_id": "u1", "features": FeatureVector(...)}

With several entity types, the output is a dict ``{entity_type: FeatureVector}`` that
``FeatureEnricher.enrich_from_vectors`` and ``FeatureFilteredRetriever`` consume as is::

    FeatureLookup(
        client,
        entities={"user": "user_id", "organization": "org_id"},
        feature_names={"user": ["favorite_category"], "organization": ["plan"]},
    )

``batch``/``abatch`` over N inputs make one backend call per entity type, not N.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForChainRun,
    CallbackManagerForChainRun,
)
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, get_config_list

from langchain_featurestore._events import LOOKUP_EVENT, aemit, emit, vectors_summary
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector

__all__ = ["FeatureLookup", "aread_vectors", "entity_id_from", "read_vectors", "vector_for"]

logger = logging.getLogger(__name__)


def _degraded(
    client: FeatureStoreClient,
    entity_ids: Sequence[str],
    entity_type: str,
    feature_names: Sequence[str],
    exc: FeatureStoreUnavailableError,
) -> list[FeatureVector]:
    status = (
        FeatureStatus.TIMED_OUT
        if isinstance(exc, FeatureTimeoutError)
        else FeatureStatus.UNAVAILABLE
    )
    logger.warning(
        "Feature lookup for %d %s entities failed (%s); continuing without features: %s",
        len(entity_ids),
        entity_type,
        status.value,
        exc,
    )
    source = getattr(client, "source", "custom")
    return [
        FeatureVector.unavailable(eid, entity_type, feature_names, status=status, source=source)
        for eid in entity_ids
    ]


def read_vectors(
    client: FeatureStoreClient,
    entity_ids: Sequence[str],
    entity_type: str,
    feature_names: Sequence[str],
    *,
    fallback: bool,
) -> list[FeatureVector]:
    """``client.get_batch_features``; with ``fallback``, a store failure gives vectors
    marked TIMED_OUT/UNAVAILABLE (and a logged warning) instead of an exception.

    Raises:
        FeatureConfigError: always, for unknown names or entity types.
        FeatureStoreUnavailableError: the store failed and ``fallback`` is off.
    """
    try:
        return client.get_batch_features(entity_ids, entity_type, feature_names)
    except FeatureStoreUnavailableError as exc:
        if not fallback:
            raise
        return _degraded(client, entity_ids, entity_type, feature_names, exc)


async def aread_vectors(
    client: FeatureStoreClient,
    entity_ids: Sequence[str],
    entity_type: str,
    feature_names: Sequence[str],
    *,
    fallback: bool,
) -> list[FeatureVector]:
    """Async twin of :func:`read_vectors`."""
    try:
        return await client.aget_batch_features(entity_ids, entity_type, feature_names)
    except FeatureStoreUnavailableError as exc:
        if not fallback:
            raise
        return _degraded(client, entity_ids, entity_type, feature_names, exc)


def entity_id_from(value: Any, key: str) -> str | None:
    """Normalise an entity id found under ``key``: ``None``/``""`` mean "no entity".

    Raises:
        FeatureConfigError: the value is neither a string nor an integer.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FeatureConfigError(
        f"Entity id under '{key}' must be a string or an integer, got "
        f"{type(value).__name__} {value!r}"
    )


def vector_for(features: Any, entity_type: str) -> FeatureVector | None:
    """Pick the vector of ``entity_type`` from a :class:`FeatureLookup` output value.

    Accepts one :class:`FeatureVector`, a mapping ``{entity_type: FeatureVector}`` or
    ``None``. A single vector of another entity type is returned unchanged so that the
    consumer can report the mismatch.

    Raises:
        FeatureConfigError: ``features`` is none of the accepted shapes.
    """
    if features is None or isinstance(features, FeatureVector):
        return features
    if isinstance(features, Mapping):
        picked = features.get(entity_type)
        if picked is None or isinstance(picked, FeatureVector):
            return picked
    raise FeatureConfigError(
        "features must be a FeatureVector, a mapping {entity_type: FeatureVector} or None "
        f"(the output of FeatureLookup), got {type(features).__name__}"
    )


class FeatureLookup(Runnable[dict[str, Any], dict[str, Any]]):
    """Look up feature vectors for the entity ids in the input and add them to it.

    Ids are read from the input dict (``input[id_key]``) or, when absent there, from
    ``config["configurable"][id_key]``. The output is a new dict: the input plus
    ``output_key``, which holds a :class:`FeatureVector` (``None`` when the input has
    no id) in single-entity mode, or ``{entity_type: FeatureVector}`` for the entity
    types that have an id when ``entities`` is given.

    With ``fallback`` (the default) a store failure never fails the chain: the vectors
    come back with every feature UNAVAILABLE (or TIMED_OUT) and a warning is logged,
    as the core's ``ServingClient`` does; wrap the backend in a ``ServingClient`` for
    timeouts, caching and a circuit breaker too. Unknown feature names always raise.

    Args:
        client: Any feature store client.
        entity_type: The entity type, in single-entity mode.
        feature_names: Names to read: a list in single-entity mode, or
            ``{entity_type: [names]}`` with ``entities``.
        id_key: Input (or configurable) key holding the id, in single-entity mode.
        output_key: Key under which the vector(s) are added.
        entities: ``{entity_type: id_key}`` for several entity types.
        fallback: Degrade to UNAVAILABLE vectors instead of raising
            :class:`FeatureStoreUnavailableError`.

    Raises:
        FeatureConfigError: inconsistent arguments (at construction), or an input that
            is not a dict or carries a malformed id (at invoke).
    """

    def __init__(
        self,
        client: FeatureStoreClient,
        *,
        entity_type: str = "user",
        feature_names: Sequence[str] | Mapping[str, Sequence[str]],
        id_key: str = "user_id",
        output_key: str = "features",
        entities: Mapping[str, str] | None = None,
        fallback: bool = True,
    ) -> None:
        self.client = client
        self.fallback = fallback
        self.output_key = output_key
        self.multi = entities is not None
        if entities is None:
            if isinstance(feature_names, Mapping):
                raise FeatureConfigError(
                    "feature_names is a mapping by entity type; pass entities="
                    "{entity_type: id_key} too, or give a list of names for one entity"
                )
            entities = {entity_type: id_key}
            names: Mapping[str, Sequence[str]] = {entity_type: feature_names}
        else:
            if not entities:
                raise FeatureConfigError(
                    "entities is empty: map at least one entity type to an id key"
                )
            if not isinstance(feature_names, Mapping):
                raise FeatureConfigError(
                    "With entities=..., feature_names must map each entity type to its "
                    f"names, e.g. {{{next(iter(entities))!r}: ['feature_a']}}"
                )
            missing = [etype for etype in entities if etype not in feature_names]
            extra = [etype for etype in feature_names if etype not in entities]
            if missing or extra:
                raise FeatureConfigError(
                    "entities and feature_names must name the same entity types; "
                    f"without feature names: {missing or '-'}, without an id key: {extra or '-'}"
                )
            names = feature_names
        self.entities: dict[str, str] = dict(entities)
        self.feature_names: dict[str, list[str]] = {}
        for etype, etype_names in names.items():
            if isinstance(etype_names, str) or not etype_names:
                raise FeatureConfigError(
                    f"feature_names for entity type '{etype}' must be a non-empty list of "
                    f"names, got {etype_names!r}"
                )
            self.feature_names[etype] = list(dict.fromkeys(etype_names))

    # -- pure helpers -------------------------------------------------------

    def _ids(self, input_: Any, config: RunnableConfig) -> dict[str, str]:
        if not isinstance(input_, Mapping):
            raise FeatureConfigError(
                f"FeatureLookup expects a dict input carrying ids such as "
                f"{{'question': ..., {next(iter(self.entities.values()))!r}: ...}}, "
                f"got {type(input_).__name__}"
            )
        configurable = config.get("configurable") or {}
        ids: dict[str, str] = {}
        for etype, key in self.entities.items():
            raw = input_[key] if key in input_ else configurable.get(key)
            entity_id = entity_id_from(raw, key)
            if entity_id is not None:
                ids[etype] = entity_id
        return ids

    def _output(
        self, input_: Mapping[str, Any], vectors: dict[str, FeatureVector]
    ) -> dict[str, Any]:
        if self.multi:
            value: Any = vectors
        else:
            value = vectors.get(next(iter(self.entities)))
        return {**input_, self.output_key: value}

    def _plan(
        self, inputs: Sequence[Any], configs: Sequence[RunnableConfig]
    ) -> tuple[list[dict[str, str]], dict[str, list[str]]]:
        """Ids per input, and the unique ids to read per entity type."""
        per_input = [self._ids(i, c) for i, c in zip(inputs, configs, strict=True)]
        unique: dict[str, dict[str, None]] = {}
        for ids in per_input:
            for etype, entity_id in ids.items():
                unique.setdefault(etype, {})[entity_id] = None
        return per_input, {etype: list(ids) for etype, ids in unique.items()}

    @staticmethod
    def _assemble(
        per_input: list[dict[str, str]], read: dict[str, dict[str, FeatureVector]]
    ) -> list[dict[str, FeatureVector]]:
        return [
            {etype: read[etype][entity_id] for etype, entity_id in ids.items()} for ids in per_input
        ]

    # -- I/O ----------------------------------------------------------------

    def _lookup(
        self,
        inputs: list[dict[str, Any]],
        run_manager: list[CallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[Any]:
        per_input, unique = self._plan(inputs, config)
        start = time.perf_counter()
        read = {
            etype: dict(
                zip(
                    ids,
                    read_vectors(
                        self.client, ids, etype, self.feature_names[etype], fallback=self.fallback
                    ),
                    strict=True,
                )
            )
            for etype, ids in unique.items()
        }
        lookup_ms = (time.perf_counter() - start) * 1000.0
        vectors = self._assemble(per_input, read)
        for vecs, cfg in zip(vectors, config, strict=True):
            emit(LOOKUP_EVENT, {"lookup_ms": lookup_ms, "entities": vectors_summary(vecs)}, cfg)
        return [self._output(i, v) for i, v in zip(inputs, vectors, strict=True)]

    async def _alookup(
        self,
        inputs: list[dict[str, Any]],
        run_manager: list[AsyncCallbackManagerForChainRun],
        config: list[RunnableConfig],
    ) -> list[Any]:
        per_input, unique = self._plan(inputs, config)
        start = time.perf_counter()
        results = await asyncio.gather(
            *(
                aread_vectors(
                    self.client, ids, etype, self.feature_names[etype], fallback=self.fallback
                )
                for etype, ids in unique.items()
            )
        )
        read = {
            etype: dict(zip(ids, vecs, strict=True))
            for (etype, ids), vecs in zip(unique.items(), results, strict=True)
        }
        lookup_ms = (time.perf_counter() - start) * 1000.0
        vectors = self._assemble(per_input, read)
        for vecs, cfg in zip(vectors, config, strict=True):
            await aemit(
                LOOKUP_EVENT, {"lookup_ms": lookup_ms, "entities": vectors_summary(vecs)}, cfg
            )
        return [self._output(i, v) for i, v in zip(inputs, vectors, strict=True)]

    # -- Runnable interface -------------------------------------------------

    def invoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Add the vector(s) for the ids in ``input`` (see the class docstring)."""
        return self._call_with_config(
            lambda i, run_manager, config: self._lookup([i], [run_manager], [config])[0],
            input,
            ensure_config(config),
        )

    async def ainvoke(
        self, input: dict[str, Any], config: RunnableConfig | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        """Async twin of :meth:`invoke`, on the client's native async path."""

        async def one(
            i: dict[str, Any], run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
        ) -> dict[str, Any]:
            return dict((await self._alookup([i], [run_manager], [config]))[0])

        return await self._acall_with_config(one, input, ensure_config(config))

    def batch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[dict[str, Any]]:
        """Look up all inputs with one backend batch call per entity type."""
        if not inputs:
            return []
        return self._batch_with_config(
            self._lookup,
            inputs,
            get_config_list(config, len(inputs)),
            return_exceptions=return_exceptions,
        )

    async def abatch(
        self,
        inputs: list[dict[str, Any]],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[dict[str, Any]]:
        """Async twin of :meth:`batch`."""
        if not inputs:
            return []
        return await self._abatch_with_config(
            self._alookup,
            inputs,
            get_config_list(config, len(inputs)),
            return_exceptions=return_exceptions,
        )
