"""Feast's feature server protocol: names to a plan, the request body, the answer's cells.

The server answers ``POST /get-online-features`` with ``{"metadata": {"feature_names":
[...]}, "results": [{"values", "statuses", "event_timestamps"}, ...]}`` (one result per
column, the join key first). Everything here is pure; the client only sends.

The server exposes no registry, so names are understood without one:

* ``"view:feature"`` refs are sent as they are;
* a name without ``:`` passed **alone** is a feature service (result keys are its
  features, sorted by view then feature: bare names where unique within the service,
  ``view:feature`` otherwise);
* other bare names resolve only through the ``features`` mapping given to the client
  (:class:`~llm_featurestore.clients.names.NameIndex`: a bare name must belong to
  exactly one view).

Answers become vectors through the shared cell rule (:mod:`~llm_featurestore.clients.cells`)
with ``null_needs_timestamp``: Feast's Redis store answers a PRESENT ``null`` without
a timestamp for an entity it does not hold. On-demand features come back PRESENT without
an event time (NOT_FOUND when the computation gives no value). Request data for them
travels as extra columns of the body's ``entities`` (:mod:`.on_demand` checks it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from llm_featurestore.clients.cells import classified_vector, classify, cutoff_for
from llm_featurestore.clients.feast.request_data import RequestField
from llm_featurestore.clients.http.errors import response_error
from llm_featurestore.clients.names import NameIndex, service_keys
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    InvalidEntityIdError,
    unknown_entity_type,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow

__all__ = [
    "PATH",
    "SERVICE_NAME",
    "HttpPlan",
    "MissingColumnError",
    "build_request",
    "error_for_response",
    "name_index",
    "parse_response",
    "resolve_http_names",
]

PATH = "/get-online-features"
SERVICE_NAME = "the Feast feature server"
AUTH_HINT = (
    "FeastHttpClient sends no credentials: set token_env to the environment variable "
    "holding a bearer token"
)
"""The hint of a client without credentials (:meth:`FeastHttpClientConfig.auth_hint`)."""
_EPOCH_STRINGS = frozenset({"1970-01-01T00:00:00Z", "", None})
_STATUS_BY_NAME: dict[str, FeatureStatus] = {
    "PRESENT": FeatureStatus.PRESENT,
    "NULL_VALUE": FeatureStatus.NULL_VALUE,
    "NOT_FOUND": FeatureStatus.NOT_FOUND,
    "OUTSIDE_MAX_AGE": FeatureStatus.STALE,
    "INVALID": FeatureStatus.NOT_FOUND,
}
_NOT_FOUND = FeatureStatus.NOT_FOUND
_AGED = frozenset({FeatureStatus.PRESENT, FeatureStatus.STALE})
"""Statuses whose event time counts towards ``freshness_seconds``."""
_ID_MARKERS = ("invalid literal", "could not convert")
"""Server messages of an id that cannot be converted to the join key's type."""
_CONFIG_MARKERS = (
    "NotFoundException",
    "does not exist",
    "not found in projection",
    "Invalid feature reference",
    "Missing join key",
    "FeatureNameCollision",
)
"""Server messages (any status code) that mean the request named something wrong."""


def name_index(entity_type: str, refs: Sequence[str]) -> NameIndex:
    """The refs one entity type offers, with their unique bare names."""
    return NameIndex(refs, scope=f"entity '{entity_type}'")


@dataclass(frozen=True)
class HttpPlan:
    """A resolved request: the body's feature list and how to read the answer.

    ``service`` is set for a feature-service request; its keys are then read from
    the response's ``metadata.feature_names``.
    """

    features: tuple[str, ...]
    service: str | None
    key_columns: tuple[tuple[str, str], ...]
    """Each result key, in request order, with its response column (``view__feature``)."""
    request_fields: tuple[RequestField, ...] | None = None
    """The request-data fields the read needs; ``None`` when not known (sent unchecked)."""
    full_names: bool = True
    """The body's ``full_feature_names``; with bare names, ``views`` holds each column's view."""
    views: tuple[str, ...] = ()
    """The view of each key column, when the column names do not say (bare names)."""


class MissingColumnError(FeatureStoreUnavailableError):
    """The answer lacks a column the plan asked for."""


def resolve_http_names(
    entity_type: str,
    feature_names: Sequence[str],
    known: Mapping[str, Sequence[str]] | None,
) -> HttpPlan:
    """Resolve requested names to an :class:`HttpPlan` (see the module docstring).

    With ``known`` (entity type to refs), names are checked against it before any
    request; without it, refs go to the server unchecked.

    Raises:
        FeatureConfigError: a malformed ref; a bare name with no ``known`` mapping to
            resolve it; with ``known``: an unknown entity type, or a name that is not
            in it or is ambiguous there. Messages list the available names.
    """
    index: NameIndex | None = None
    if known is not None:
        if entity_type not in known:
            raise unknown_entity_type(entity_type, known)
        index = name_index(entity_type, known[entity_type])
    lone = feature_names[0] if len(feature_names) == 1 else ":"
    if ":" not in lone and (index is None or lone not in index.bare):
        return HttpPlan(features=(), service=lone, key_columns=())
    key_columns: list[tuple[str, str]] = []
    refs: dict[str, None] = {}
    for name in feature_names:
        if ":" in name:
            view, _, feat = name.partition(":")
            if not view or not feat or ":" in feat:
                raise FeatureConfigError(
                    f"Malformed Feast feature reference {name!r}: use 'view:feature'"
                )
        if index is not None:
            ref = index.resolve(name)
        elif ":" in name:
            ref = name
        else:
            raise FeatureConfigError(
                f"Cannot resolve the bare feature name '{name}': the Feast feature server has "
                "no registry listing. Use a 'view:feature' ref, pass a feature service name "
                f"alone, or give FeastHttpClient(features={{'{entity_type}': "
                "['view:feature', ...]}})"
            )
        refs[ref] = None
        view, _, feat = ref.partition(":")
        key_columns.append((name, f"{view}__{feat}"))
    return HttpPlan(features=tuple(refs), service=None, key_columns=tuple(key_columns))


def build_request(
    plan: HttpPlan,
    join_key: str,
    entity_ids: Sequence[str],
    request_columns: Mapping[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /get-online-features`` (ids are sent as strings; the
    server converts them to the join key's type). Request data goes into ``entities``
    as one column per field, aligned with the ids."""
    entities: dict[str, list[Any]] = {**(request_columns or {}), join_key: list(entity_ids)}
    body: dict[str, Any] = {"entities": entities, "full_feature_names": plan.full_names}
    if plan.service is not None:
        body["feature_service"] = plan.service
    else:
        body["features"] = list(plan.features)
    return body


def _parse_ts(text: str | None, cache: dict[str | None, datetime | None]) -> datetime | None:
    if text in cache:
        return cache[text]
    ts: datetime | None
    if text in _EPOCH_STRINGS:
        ts = None
    else:
        assert text is not None
        core = text[:-1] if text.endswith("Z") else text
        if "." in core:  # at most microseconds for datetime
            head, _, frac = core.partition(".")
            core = f"{head}.{frac[:6]}"
        ts = datetime.fromisoformat(core).replace(tzinfo=timezone.utc)
    cache[text] = ts
    return ts


def _columns(
    doc: Mapping[str, Any], plan: HttpPlan
) -> tuple[tuple[tuple[str, str], ...], dict[str, Mapping[str, Any]]]:
    """The plan's (key, column) pairs (a service's from the answer) and the answer's columns."""
    try:
        names: list[str] = doc["metadata"]["feature_names"]
        results: list[Mapping[str, Any]] = doc["results"]
    except (KeyError, TypeError) as exc:
        raise FeatureStoreUnavailableError(
            f"Unexpected answer from the Feast feature server (no metadata/results): {exc!r}"
        ) from exc
    key_columns = plan.key_columns
    if plan.service is not None:
        # The server's column order varies between processes: sort for stable keys.
        pairs = sorted((v, f) for v, _, f in (n.partition("__") for n in names) if f)
        keys = service_keys(pairs)
        key_columns = tuple((k, f"{v}__{f}") for (v, f), k in zip(pairs, keys, strict=True))
    if len(names) != len(results):
        raise FeatureStoreUnavailableError(
            f"Feast feature server answered {len(results)} result columns for "
            f"{len(names)} feature names"
        )
    return key_columns, dict(zip(names, results, strict=True))


def _column(
    key: str,
    column: str,
    result: Mapping[str, Any] | None,
    n: int,
    cutoff: datetime | None,
    ts_cache: dict[str | None, datetime | None],
) -> list[tuple[FeatureStatus, Any, datetime | None]]:
    """One answer column, each cell through :func:`classify`: (status, value, time) per id."""
    if result is None:
        raise MissingColumnError(
            f"Feast feature server answered without column '{column}' for '{key}'"
        )
    values = result.get("values") or []
    statuses = result.get("statuses") or []
    stamps = result.get("event_timestamps") or [None] * len(values)
    if not len(values) == len(statuses) == len(stamps) == n:
        raise FeatureStoreUnavailableError(
            f"Feast feature server answered {len(values)} values for column "
            f"'{column}' but {n} entities were requested"
        )
    out = []
    for value, raw, text in zip(values, statuses, stamps, strict=True):
        ts = _parse_ts(text, ts_cache)
        status, kept = classify(
            value, ts, cutoff, _STATUS_BY_NAME.get(raw, _NOT_FOUND), null_needs_timestamp=True
        )
        out.append((status, kept, ts))
    return out


def parse_response(
    doc: Mapping[str, Any],
    plan: HttpPlan,
    entity_ids: Sequence[str],
    entity_type: str,
    *,
    ttl_seconds: Mapping[str, float] | None = None,
    now: datetime | None = None,
    source: str = "feast_http",
) -> list[FeatureVector]:
    """Turn a ``/get-online-features`` answer into one vector per requested id.

    Each view's ``ttl_seconds`` is its max age: older PRESENT values become STALE
    (value kept). PRESENT ``null`` values become NULL_VALUE, or NOT_FOUND when they
    carry no timestamp. OUTSIDE_MAX_AGE is STALE; INVALID is NOT_FOUND. Decoded
    column by column (one :func:`classify` per cell), as :func:`assemble` would.

    Raises:
        FeatureStoreUnavailableError: the answer does not have the documented shape.
    """
    now = now or utcnow()
    key_columns, by_name = _columns(doc, plan)
    ttl = ttl_seconds or {}
    views = plan.views or tuple(column.partition("__")[0] for _, column in key_columns)
    ts_cache: dict[str | None, datetime | None] = {}
    columns: list[tuple[str, list[tuple[FeatureStatus, Any, datetime | None]]]] = []
    for (key, column), view in zip(key_columns, views, strict=True):
        seconds = ttl.get(view)
        cutoff = cutoff_for(timedelta(seconds=seconds) if seconds else None, now)
        cells = _column(key, column, by_name.get(column), len(entity_ids), cutoff, ts_cache)
        columns.append((key, cells))
    return [_vector(eid, entity_type, columns, i, now, source) for i, eid in enumerate(entity_ids)]


def _vector(
    entity_id: str,
    entity_type: str,
    columns: Sequence[tuple[str, Sequence[tuple[FeatureStatus, Any, datetime | None]]]],
    row: int,
    now: datetime,
    source: str,
) -> FeatureVector:
    """Row ``row`` of the classified columns as a vector, built directly (the hot path of
    a batch): the fields :meth:`FeatureVector.build` would give, without its re-checks."""
    values: dict[str, Any] = {}
    statuses: dict[str, FeatureStatus] = {}
    stamps: dict[str, datetime | None] = {}
    oldest: datetime | None = None
    for key, cells in columns:
        status, value, ts = cells[row]
        values[key], statuses[key], stamps[key] = value, status, ts
        if ts is not None and status in _AGED and (oldest is None or ts < oldest):
            oldest = ts
    return classified_vector(
        entity_id, entity_type, values, statuses, stamps, oldest=oldest, source=source, now=now
    )


def error_for_response(
    status_code: int,
    text: str,
    url: str,
    *,
    entity_type: str = "",
    what: str = "the request",
    auth_hint: str = AUTH_HINT,
) -> FeatureStoreError:
    """Map an error answer to our exception.

    401/403 are :class:`FeatureAuthError`; unknown features, views, services or join
    keys and malformed ids (Feast answers these with 404, 422 or 500) are
    :class:`FeatureConfigError` carrying the server's message, and so is any other
    4xx; 504 is :class:`FeatureTimeoutError`; other 5xx are
    :class:`FeatureStoreUnavailableError` (the shared rule of
    :func:`~llm_featurestore.clients.http.errors.response_error`).
    """

    def feast_errors(code: int, raw: str, message: str) -> FeatureStoreError | None:
        if any(m in raw for m in _ID_MARKERS):
            # The server does not say which id it could not convert: entity_ids=None.
            return InvalidEntityIdError(
                f"The Feast feature server at {url} could not use an entity id of "
                f"'{entity_type or 'this entity'}' as its join key: {message}",
                entity_type=entity_type,
                entity_ids=None,
            )
        if 400 <= code < 500 or any(m in raw for m in _CONFIG_MARKERS):
            return FeatureConfigError(
                f"The Feast feature server at {url} rejected the request: {message}"
            )
        return None

    return response_error(
        SERVICE_NAME,
        url,
        status_code,
        text,
        what=what,
        auth_hint=auth_hint,
        protocol=feast_errors,
    )
