"""Tecton's FeatureService HTTP API: ``get-features``, ``get-features-batch`` and ``metadata``.

Requests (``POST {url}/api/v1/feature-service/...``, header ``Authorization: Tecton-key
<key>``) carry ``{"params": {"workspace_name", "feature_service_name", "join_key_map",
"request_context_map", "metadata_options"}}``; a batch replaces the maps with
``"request_data": [{"join_key_map": ..., "request_context_map": ...}, ...]``. The
``request_context_map`` holds the inputs of the service's on-demand features (the
metadata's ``inputRequestContextKeys``): the client's fixed ``request_context`` with each
row's own request data merged over it. Responses
hold ``result.features`` (one list per row in a batch) in the order of
``metadata.features``, whose items give ``name`` (``view.feature``), ``dataType``,
``effectiveTime`` and ``status``.

How Tecton's answer becomes a :class:`FeatureVector`:

* The serving statuses Tecton documents, each also served from its feature serving
  cache (``CACHED_...``; a cached value is a value):

  =============================================  ===========================================
  ``PRESENT``, ``CACHED_PRESENT``, ``CACHED``    PRESENT (NULL_VALUE when null, STALE past
                                                 ``max_age_seconds``)
  ``MISSING_DATA``, ``CACHED_MISSING_DATA``      NOT_FOUND (no row, or past the view's TTL)
  ``UNKNOWN``, ``UNKNOWN_STATUS``,               UNAVAILABLE (retrieval failed)
  ``CACHED_UNKNOWN``
  ``TIME_OUT``                                   TIMED_OUT (a partial answer)
  =============================================  ===========================================

  Tecton enforces a feature view's TTL itself (expired values come back as
  ``MISSING_DATA``); ``max_age_seconds`` adds a client-side freshness limit on top. A
  status Tecton may add later is UNAVAILABLE (the value is not trusted), logged once.
* Without serving statuses in the response, a null is NOT_FOUND and a value PRESENT.
* Int64 values, which Tecton sends as decimal strings, become ``int``; structs, sent
  as lists, become dicts keyed by their field names.
* In a batch, ``status`` is a list with one entry per row; ``effectiveTime`` may be one
  string for every row (Tecton's serving time for the feature view) or a per-row list.

Feature names may be given in full (``user_stats.favorite_category``) or bare
(``favorite_category``) when only one view of the service has that feature; an unknown
or ambiguous name raises :class:`FeatureConfigError` listing the choices. Names and
join keys come from the ``metadata`` endpoint, fetched once per client.

Everything here is pure: the client only sends what it builds and hands over what it reads.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from llm_featurestore.clients.base import ensure_aware
from llm_featurestore.clients.cells import Cell
from llm_featurestore.clients.names import NameIndex
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
)
from llm_featurestore.models import FeatureStatus

__all__ = [
    "GET_FEATURES_BATCH_PATH",
    "GET_FEATURES_PATH",
    "METADATA_PATH",
    "STATUS_MAP",
    "TectonService",
    "build_get_features_request",
    "error_for_status",
    "metadata_request",
    "parse_features_response",
    "parse_metadata_response",
    "row_contexts",
]

logger = logging.getLogger(__name__)

GET_FEATURES_PATH = "/api/v1/feature-service/get-features"
GET_FEATURES_BATCH_PATH = "/api/v1/feature-service/get-features-batch"
METADATA_PATH = "/api/v1/feature-service/metadata"

METADATA_OPTIONS = {
    "include_names": True,
    "include_data_types": True,
    "include_effective_times": True,
    "include_serving_status": True,
}

STATUS_MAP: dict[str, FeatureStatus] = {
    "PRESENT": FeatureStatus.PRESENT,
    "CACHED_PRESENT": FeatureStatus.PRESENT,
    "CACHED": FeatureStatus.PRESENT,
    "MISSING_DATA": FeatureStatus.NOT_FOUND,
    "CACHED_MISSING_DATA": FeatureStatus.NOT_FOUND,
    "UNKNOWN": FeatureStatus.UNAVAILABLE,
    "UNKNOWN_STATUS": FeatureStatus.UNAVAILABLE,
    "CACHED_UNKNOWN": FeatureStatus.UNAVAILABLE,
    "TIME_OUT": FeatureStatus.TIMED_OUT,
}
"""Every serving status Tecton documents (its API's ``Status`` enum), as ours."""
_unmapped_logged: set[str] = set()


@dataclass(frozen=True)
class TectonService:
    """What the ``metadata`` endpoint says about a feature service."""

    feature_names: tuple[str, ...]
    """Full feature names (``view.feature``), in response order."""
    join_keys: tuple[str, ...]
    """Names of the join keys the service expects."""
    request_context_keys: tuple[str, ...] = ()
    """Names of the request context keys its on-demand features need (every row must
    carry each of them in its ``request_context_map``)."""
    names: NameIndex = field(init=False, repr=False, compare=False)
    """The shared name rule over ``feature_names`` (``view.feature`` refs)."""

    def __post_init__(self) -> None:
        index = NameIndex(self.feature_names, scope="this feature service", sep=".")
        object.__setattr__(self, "names", index)

    def knows(self, name: str) -> bool:
        """True when ``name`` is a full name or the bare name of at least one feature."""
        return self.names.knows(name)

    def resolve(self, name: str) -> str:
        """The full name for ``name`` (full, or bare when only one view has it).

        Raises:
            FeatureConfigError: unknown, or bare and shared by several views.
        """
        return self.names.resolve(name)


def parse_metadata_response(body: Any) -> TectonService:
    """Read feature names and join keys from a ``metadata`` response.

    Accepts ``featureValues``/``inputJoinKeys``/``inputRequestContextKeys`` and their
    snake_case spellings.

    Raises:
        FeatureStoreUnavailableError: the body does not have that shape.
    """
    try:
        values = _pick(body, "featureValues", "feature_values")
        keys = _pick(body, "inputJoinKeys", "input_join_keys", default=[])
        context = _pick(body, "inputRequestContextKeys", "input_request_context_keys", default=[])
        return TectonService(
            feature_names=tuple(str(item["name"]) for item in values),
            join_keys=tuple(str(item["name"]) for item in keys or []),
            request_context_keys=tuple(str(item["name"]) for item in context or []),
        )
    except (KeyError, TypeError) as exc:
        raise FeatureStoreUnavailableError(
            f"Tecton's metadata response has an unexpected shape ({exc!r}); "
            "expected featureValues: [{name, dataType}, ...]"
        ) from exc


def build_get_features_request(
    workspace: str,
    feature_service: str,
    join_key: str,
    entity_ids: Sequence[str],
    request_context: Mapping[str, Any] | None = None,
    *,
    request_contexts: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[str, dict[str, Any]]:
    """The path and JSON body that read ``entity_ids`` (one: get-features; more: batch).

    Args:
        workspace: The workspace name.
        feature_service: The feature service name.
        join_key: The join key the ids are values of.
        entity_ids: The ids, one row each.
        request_context: The ``request_context_map`` of every row.
        request_contexts: Per row, aligned with ``entity_ids``: fields merged over
            ``request_context`` (a row's own value wins).
    """
    params: dict[str, Any] = {
        "workspace_name": workspace,
        "feature_service_name": feature_service,
        "metadata_options": dict(METADATA_OPTIONS),
    }
    rows = request_contexts if request_contexts is not None else [{}] * len(entity_ids)
    if len(rows) != len(entity_ids):
        raise ValueError(f"{len(rows)} request contexts for {len(entity_ids)} entity ids")
    contexts = [{**(request_context or {}), **row} for row in rows]
    if len(entity_ids) == 1:
        params["join_key_map"] = {join_key: entity_ids[0]}
        params["request_context_map"] = contexts[0]
        return GET_FEATURES_PATH, {"params": params}
    params["request_data"] = [
        {"join_key_map": {join_key: eid}, "request_context_map": context}
        for eid, context in zip(entity_ids, contexts, strict=True)
    ]
    return GET_FEATURES_BATCH_PATH, {"params": params}


def row_contexts(
    service: TectonService,
    feature_service: str,
    fixed: Mapping[str, Any],
    entity_ids: Sequence[str],
    request_data: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Each row's ``request_context_map``: ``fixed`` with the row's request data over it.

    Raises:
        FeatureConfigError: a row lacks a request context key the service needs (the
            message names the keys, the entity and how to pass them).
    """
    rows = [{**fixed, **data} for data in request_data or [{}] * len(entity_ids)]
    needed = service.request_context_keys
    for eid, context in zip(entity_ids, rows, strict=True):
        missing = [key for key in needed if key not in context]
        if missing:
            raise FeatureConfigError(
                f"Feature service '{feature_service}' needs request context "
                f"{', '.join(needed)}; the read of '{eid}' lacks {', '.join(missing)}. "
                "Pass them as request_data of the read (or a fixed request_context)"
            )
    return rows


def metadata_request(workspace: str, feature_service: str) -> dict[str, Any]:
    """The JSON body of a ``metadata`` request."""
    return {"params": {"workspace_name": workspace, "feature_service_name": feature_service}}


def _pick(obj: Any, *names: str, default: Any = KeyError) -> Any:
    for name in names:
        if name in obj:
            return obj[name]
    if default is KeyError:
        raise KeyError(names[0])
    return default


def _per_row(item: Any, row: int) -> Any:
    return item[row] if isinstance(item, list) else item


def _parse_time(raw: Any) -> datetime | None:
    if not raw or not isinstance(raw, str):
        return None
    try:
        return ensure_aware(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        logger.warning("Tecton returned an unreadable effectiveTime: %r", raw)
        return None


def _convert(value: Any, data_type: Any) -> Any:
    """Apply Tecton's JSON encoding rules: int64 as strings, structs as lists."""
    if value is None or not isinstance(data_type, Mapping):
        return value
    kind = data_type.get("type")
    if kind == "int64" and isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "array" and isinstance(value, list):
        element = data_type.get("elementType")
        return [_convert(v, element) for v in value]
    if kind == "struct" and isinstance(value, list):
        fields = data_type.get("fields") or []
        if len(fields) == len(value):
            return {
                str(f.get("name")): _convert(v, f.get("dataType"))
                for f, v in zip(fields, value, strict=True)
            }
    if kind == "map" and isinstance(value, Mapping):
        vtype = data_type.get("valueType")
        return {k: _convert(v, vtype) for k, v in value.items()}
    return value


def _store_status(raw: Any, value: Any) -> FeatureStatus:
    """What Tecton said of a value; without serving statuses, a null is NOT_FOUND."""
    if raw is None:
        return FeatureStatus.NOT_FOUND if value is None else FeatureStatus.PRESENT
    status = STATUS_MAP.get(str(raw))
    if status is None:
        if str(raw) not in _unmapped_logged and len(_unmapped_logged) < 64:
            _unmapped_logged.add(str(raw))
            logger.warning(
                "Tecton answered the serving status %r, which this client does not know; "
                "its values read as UNAVAILABLE (known: %s)",
                str(raw)[:80],
                ", ".join(STATUS_MAP),
            )
        return FeatureStatus.UNAVAILABLE
    return status


def parse_features_response(body: Any, n_rows: int) -> list[dict[str, Cell]]:
    """Split a get-features (one row) or get-features-batch response into cells.

    Returns:
        One dict per row, in request order, mapping each full feature name to a
        :class:`~llm_featurestore.clients.cells.Cell`: the converted value, its
        effective time and Tecton's status for it (PRESENT for a present null: the
        shared cell rule makes that NULL_VALUE).

    Raises:
        FeatureStoreUnavailableError: the body does not have the documented shape or
            holds a different number of rows or features than expected.
    """
    try:
        result = body["result"]
        rows = result if isinstance(result, list) else [result]
        metas = body["metadata"]["features"]
        if len(rows) != n_rows:
            raise ValueError(f"{len(rows)} rows for {n_rows} requested entities")
        out: list[dict[str, Cell]] = []
        for r, row in enumerate(rows):
            features = row["features"]
            if len(features) != len(metas):
                raise ValueError(f"{len(features)} values for {len(metas)} metadata entries")
            cells: dict[str, Cell] = {}
            for meta, raw in zip(metas, features, strict=True):
                value = _convert(raw, meta.get("dataType"))
                cells[str(meta["name"])] = Cell(
                    value,
                    _parse_time(_per_row(meta.get("effectiveTime"), r)),
                    _store_status(_per_row(meta.get("status"), r), value),
                )
            out.append(cells)
        return out
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise FeatureStoreUnavailableError(
            f"Tecton's get-features response has an unexpected shape: {exc}"
        ) from exc


def error_for_status(
    code: int, detail: str, workspace: str, feature_service: str
) -> FeatureStoreError | None:
    """Tecton's own statuses: 404 (no such workspace or service) and 400 (a bad request)
    are :class:`FeatureConfigError`; others are left to the shared HTTP rule (``None``)."""
    where = f"feature service '{feature_service}' in workspace '{workspace}'"
    if code == 404:
        return FeatureConfigError(
            f"Tecton has no {where} (HTTP 404): check the feature_service and workspace "
            f"names. Server said: {detail}"
        )
    if code == 400:
        return FeatureConfigError(
            f"Tecton rejected the request for {where} (HTTP 400): {detail}. Check join_key, "
            "request_context and the request data passed with the read"
        )
    return None
