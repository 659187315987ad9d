"""``FeatureLookup``: a Runnable that adds an entity's feature vector(s) to its input dict.

::

    lookup = FeatureLookup(client, feature_names=["favorite_category", "avg_order_value"])
    lookup.invoke({"question": "shoes?", "user_id": "u1"})
    # {"question": "shoes?", "user_id": "u1", "features": FeatureVector(...)}

With several entity types, the output is a mapping ``{entity_type: FeatureVector}`` (a
:class:`~llm_featurestore.reading.FeatureVectors`, which also says whether the monitor
let the read happen) that ``FeatureEnricher.enrich_from_vectors`` and
``FeatureFilteredRetriever`` consume as is::

    FeatureLookup(
        client,
        entities={"user": "user_id", "organization": "org_id"},
        feature_names={"user": ["favorite_category"], "organization": ["plan"]},
    )

Reads go through the core read flow (:class:`~llm_featurestore.reading.FeatureReader`):
the monitor's gate, coalescing, per-entity degradation and the failure table all apply.
``batch``/``abatch`` over N inputs make one backend call per entity type, not N.

Request data for on-demand features (``request_data=``, a
:class:`~llm_featurestore.request_sources.RequestDataSpec`) is resolved per input: the
source ``"query"`` is the input under ``query_key``, ``"input.<key>"`` the input dict's
key (then ``config["configurable"]``'s)::

    FeatureLookup(
        client,
        feature_names=["cart_vs_aov"],
        request_data={"user": {"cart_total": "input.cart_total"}},
    ).invoke({"question": "shoes?", "user_id": "u1", "cart_total": 120.0})
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.config import ensure_config

from langchain_featurestore._batched import BatchedRunnable
from langchain_featurestore._events import LOOKUP_EVENT, aemit, emit, vectors_summary
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import (
    FeatureReader,
    FeatureVectors,
    ReadRequest,
    entity_ids,
    warn_no_entity,
)
from llm_featurestore.request_sources import RequestDataSpec, request_data_spec

if TYPE_CHECKING:
    from llm_featurestore.monitor import FeatureMonitor

__all__ = [
    "FeatureLookup",
    "entity_id_from",
    "ids_from_input",
    "request_data_from_input",
    "vector_for",
]


def entity_id_from(value: Any, key: str) -> str | None:
    """Normalise an entity id found under ``key``: ``None``/``""`` mean "no entity".

    Raises:
        FeatureConfigError: the value is neither a string nor an integer.
    """
    return entity_ids([{key: value}], {"": key}).get("")


def ids_from_input(
    input_: Mapping[str, Any], config: RunnableConfig | None, keys: Mapping[str, str]
) -> dict[str, str]:
    """``{entity_type: id}`` from a dict input, else from ``config["configurable"]``,
    under the keys ``{entity_type: key}``."""
    configurable = ensure_config(config).get("configurable") or {}
    return entity_ids([input_, configurable], keys)


def request_data_from_input(
    spec: RequestDataSpec,
    input_: Mapping[str, Any],
    config: RunnableConfig | None,
    query_key: str,
    entity_types: Iterable[str],
) -> dict[str, dict[str, Any]]:
    """The request data ``spec`` declares, for one input: ``"query"`` is the string under
    ``query_key``, ``"input.<key>"`` the input's key, else ``config["configurable"]``'s.

    Raises:
        FeatureValidationError: a declared source is missing (named, with the keys present).
    """
    if not spec:
        return {}
    query = input_.get(query_key)
    configurable = ensure_config(config).get("configurable") or {}
    return spec.resolve(
        query=query if isinstance(query, str) else None,
        inputs=[input_, configurable],
        entity_types=entity_types,
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


def _names(
    entity_type: str,
    id_key: str | None,
    feature_names: Sequence[str] | Mapping[str, Sequence[str]],
    entities: Mapping[str, str] | None,
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Validate the constructor's arguments: ``({entity_type: id_key}, {entity_type: names})``."""
    if entities is None:
        if isinstance(feature_names, Mapping):
            raise FeatureConfigError(
                "feature_names is a mapping by entity type; pass entities="
                "{entity_type: id_key} too, or give a list of names for one entity"
            )
        entities = {entity_type: id_key or f"{entity_type}_id"}
        names: Mapping[str, Sequence[str]] = {entity_type: feature_names}
    else:
        if not entities:
            raise FeatureConfigError("entities is empty: map at least one entity type to an id key")
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
    checked: dict[str, list[str]] = {}
    for etype, etype_names in names.items():
        if isinstance(etype_names, str) or not etype_names:
            raise FeatureConfigError(
                f"feature_names for entity type '{etype}' must be a non-empty list of "
                f"names, got {etype_names!r}"
            )
        checked[etype] = list(dict.fromkeys(etype_names))
    return dict(entities), checked


class FeatureLookup(BatchedRunnable[dict[str, Any], dict[str, Any]]):
    """Look up feature vectors for the entity ids in the input and add them to it.

    Ids are read from the input dict (``input[id_key]``) or, when absent there, from
    ``config["configurable"][id_key]``; an input with none of the expected ids logs one
    warning naming the key expected. The output is a new dict: the input plus
    ``output_key``, which holds a :class:`FeatureVector` (``None`` when the input has
    no id, or the monitor refused the read) in single-entity mode, or a
    :class:`~llm_featurestore.reading.FeatureVectors` ``{entity_type: FeatureVector}``
    for the entity types that have an id when ``entities`` is given.

    Args:
        client: Any feature store client (a ``ServingClient`` adds timeouts, caching,
            coalescing and a circuit breaker).
        entity_type: The entity type, in single-entity mode.
        feature_names: Names to read: a list in single-entity mode, or
            ``{entity_type: [names]}`` with ``entities``.
        id_key: Input (or configurable) key holding the id, in single-entity mode;
            ``"<entity_type>_id"`` by default (``user`` -> ``user_id``).
        output_key: Key under which the vector(s) are added.
        entities: ``{entity_type: id_key}`` for several entity types.
        fallback: Degrade failed reads (see :mod:`llm_featurestore.serving.degrade`)
            instead of raising.
        monitor: Gates the reads (``should_read``) and receives their outcomes.
        task_type: The enrichment task the read serves (its quality gate and hold-out
            apply); ``None`` for a plain lookup (the store gate alone).
        request_data: Where each entity's request data comes from
            (``{entity_type: {request_field: "query" | "input.<key>"}}``), for on-demand
            features; the client must accept request data.
        query_key: Input key of the question, the source ``"query"``.

    Raises:
        FeatureConfigError: inconsistent arguments (at construction), or an input that
            is not a dict or carries a malformed id (at invoke).
        FeatureValidationError: an input lacks a declared request data source (at invoke).
    """

    def __init__(
        self,
        client: FeatureStoreClient,
        *,
        entity_type: str = "user",
        feature_names: Sequence[str] | Mapping[str, Sequence[str]],
        id_key: str | None = None,
        output_key: str = "features",
        entities: Mapping[str, str] | None = None,
        fallback: bool = True,
        monitor: FeatureMonitor | None = None,
        task_type: str | None = None,
        request_data: RequestDataSpec | Mapping[str, Mapping[str, str]] | None = None,
        query_key: str = "question",
    ) -> None:
        self.client = client
        self.request_data = request_data_spec(request_data)
        self.query_key = query_key
        self.fallback = fallback
        self.output_key = output_key
        self.multi = entities is not None
        self.task_type = task_type
        self.entities, self.feature_names = _names(entity_type, id_key, feature_names, entities)
        self.reader = FeatureReader(client, monitor=monitor, fallback=fallback)

    def _requests(
        self, inputs: Sequence[Any], configs: Sequence[RunnableConfig]
    ) -> list[ReadRequest]:
        requests = []
        for input_, config in zip(inputs, configs, strict=True):
            if not isinstance(input_, Mapping):
                raise FeatureConfigError(
                    f"FeatureLookup expects a dict input carrying ids such as "
                    f"{{'question': ..., {next(iter(self.entities.values()))!r}: ...}}, "
                    f"got {type(input_).__name__}"
                )
            ids = ids_from_input(input_, config, self.entities)
            if not ids:
                warn_no_entity("FeatureLookup", self.entities)
            data = request_data_from_input(self.request_data, input_, config, self.query_key, ids)
            requests.append(ReadRequest(ids, self.feature_names, self.task_type, request_data=data))
        return requests

    def _outputs(
        self,
        inputs: Sequence[dict[str, Any]],
        configs: Sequence[RunnableConfig],
        read: Sequence[FeatureVectors],
        lookup_ms: float,
    ) -> list[tuple[dict[str, Any], dict[str, Any], RunnableConfig]]:
        """(output, tracing event, config) per input."""
        out = []
        for input_, vectors, config in zip(inputs, read, configs, strict=True):
            value: Any = vectors if self.multi else vectors.get(next(iter(self.entities)))
            event = {"lookup_ms": lookup_ms, "entities": vectors_summary(vectors)}
            out.append(({**input_, self.output_key: value}, event, config))
        return out

    def _run(
        self, inputs: list[dict[str, Any]], configs: list[RunnableConfig]
    ) -> list[dict[str, Any]]:
        start = time.perf_counter()
        read = self.reader.read_many(self._requests(inputs, configs))
        lookup_ms = (time.perf_counter() - start) * 1000.0
        results = self._outputs(inputs, configs, read, lookup_ms)
        for _, event, config in results:
            emit(LOOKUP_EVENT, event, config)
        return [output for output, _, _ in results]

    async def _arun(
        self, inputs: list[dict[str, Any]], configs: list[RunnableConfig]
    ) -> list[dict[str, Any]]:
        start = time.perf_counter()
        read = await self.reader.aread_many(self._requests(inputs, configs))
        lookup_ms = (time.perf_counter() - start) * 1000.0
        results = self._outputs(inputs, configs, read, lookup_ms)
        for _, event, config in results:
            await aemit(LOOKUP_EVENT, event, config)
        return [output for output, _, _ in results]
