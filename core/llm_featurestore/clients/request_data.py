"""Request data: the per-entity, request-time inputs of on-demand features.

A read may carry, for each entity id, a mapping of request field to value (Feast's
request sources, Tecton's ``request_context_map``). The rules every backend and the
serving layer share live here: :func:`check_request_data` validates it before any I/O,
backends that take none refuse it with :func:`refuse_request_data` (naming themselves
and those that do), and :func:`freeze_request_data` gives the hashable form a cache
key or a de-duplication needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from llm_featurestore.clients.values import validate_values
from llm_featurestore.errors import FeatureConfigError

__all__ = [
    "REQUEST_DATA_BACKENDS",
    "RequestData",
    "check_request_data",
    "freeze_request_data",
    "refuse_request_data",
    "request_data_kwargs",
    "request_data_refused",
    "request_data_rows",
]

RequestData = Mapping[str, Any]
"""One entity's request-time values for on-demand features: request field -> value."""
REQUEST_DATA_BACKENDS = ("feast", "feast_http", "tecton")
"""The built-in backends whose reads take request data (named in refusals)."""


def request_data_kwargs(request_data: RequestData | None) -> dict[str, Any]:
    """The ``request_data=`` of the batch of one behind a single read; none when empty,
    so subclasses written before request data keep working."""
    if request_data is None:
        return {}
    if not isinstance(request_data, Mapping):
        raise FeatureConfigError(
            "request_data of a single read must be one mapping of request field to value, "
            f"got {type(request_data).__name__}"
        )
    return {"request_data": [request_data]} if request_data else {}


def check_request_data(
    entity_ids: Sequence[str], request_data: Sequence[RequestData] | None
) -> list[dict[str, Any]] | None:
    """Validate a read's request data before any I/O.

    Args:
        entity_ids: The read's ids.
        request_data: One mapping per id (request field -> value), or ``None``.

    Returns:
        JSON-safe copies, one per id; ``None`` when there is no request data at all
        (``None``, or every mapping empty).

    Raises:
        FeatureConfigError: ``request_data`` is not a list of mappings, or its length
            differs from ``entity_ids``'.
        FeatureValidationError: a field name or value may not be sent (the rule of
            :func:`validate_feature_values`); the message names the field and the id.
    """
    rows = request_data_rows(entity_ids, request_data)
    if rows is None:
        return None
    clean = [
        validate_values(values, "Request field", f" (entity {eid!r})")
        for eid, values in zip(entity_ids, rows, strict=True)
    ]
    return clean if any(clean) else None


def request_data_rows(
    entity_ids: Sequence[str], request_data: Sequence[RequestData] | None
) -> list[RequestData] | None:
    """The shape of a read's request data: one mapping per id, values not yet checked;
    ``None`` when there is none at all (``None``, or every mapping empty).

    Raises:
        FeatureConfigError: ``request_data`` is not a list of mappings, or its length
            differs from ``entity_ids``'.
    """
    if request_data is None:
        return None
    if isinstance(request_data, (str, bytes, Mapping)) or not isinstance(request_data, Sequence):
        raise FeatureConfigError(
            "request_data must be a list with one mapping (request field -> value) per "
            f"entity id, got {type(request_data).__name__}; for one entity use "
            "get_features(..., request_data={...})"
        )
    if len(request_data) != len(entity_ids):
        raise FeatureConfigError(
            f"request_data has {len(request_data)} mapping(s) for {len(entity_ids)} entity "
            "id(s): pass one mapping per id, in the order of entity_ids ({} for an id "
            "without any)"
        )
    for eid, values in zip(entity_ids, request_data, strict=True):
        if not isinstance(values, Mapping):
            raise FeatureConfigError(
                f"request_data for entity {eid!r} must be a mapping of request field to "
                f"value, got {type(values).__name__}"
            )
    return list(request_data) if any(request_data) else None


def request_data_refused(
    backend: object, request_data: Sequence[RequestData]
) -> FeatureConfigError:
    """The error of a backend that takes no request data, naming it and those that do."""
    fields = sorted({name for values in request_data for name in values})
    return FeatureConfigError(
        f"The {type(backend).__name__} backend does not take request data (got "
        f"{', '.join(fields)}); on-demand features are read through a backend that does "
        f"({', '.join(REQUEST_DATA_BACKENDS)}), or drop request_data"
    )


def refuse_request_data(
    backend: object, entity_ids: Sequence[str], request_data: Sequence[RequestData] | None
) -> None:
    """For backends that take no request data: accept none (or only empty mappings).

    Raises:
        FeatureConfigError: malformed request data (:func:`check_request_data`), or any
            non-empty mapping (:func:`request_data_refused`).
        FeatureValidationError: as :func:`check_request_data`.
    """
    clean = check_request_data(entity_ids, request_data)
    if clean is not None:
        raise request_data_refused(backend, clean)


def _frozen(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return ("dict", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_frozen(v) for v in value))
    try:
        hash(value)
    except TypeError:  # not a valid value (the check refuses it); still give it a key
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)  # 1, 1.0 and True are different request data


def freeze_request_data(values: RequestData | None) -> tuple[Hashable, ...]:
    """A hashable, order-independent form of one entity's request data (``()`` for none):
    what a cache key or a de-duplication needs so that no vector computed for other
    request data is ever served."""
    if not values:
        return ()
    return tuple(sorted((name, _frozen(value)) for name, value in values.items()))
