"""Tecton's FeatureService HTTP API: ``get-features``, ``get-features-batch`` and ``metadata``.

Requests (``POST {url}/api/v1/feature-service/...``, header ``Authorization: Tecton-key
<key>``) carry ``{"params": {"workspace_name", "feature_service_name", "join_key_map",
"request_context_map", "metadata_options"}}``; a batch replaces the maps with
``"request_data": [{"join_key_map": ..., "request_context_map": ...}, ...]``. Responses
hold ``result.features`` (one list per row in a batch) in the order of
``metadata.features``, whose items give ``name`` (``view.feature``), ``dataType``,
``effectiveTime`` and ``status``.

How Tecton's answer becomes a :class:`FeatureVector`:

* ``PRESENT`` (or ``CACHED_PRESENT``) is PRESENT, NULL_VALUE when the value is null, and
  STALE when ``max_age_seconds`` is set and ``effectiveTime`` is older than that.
  Tecton enforces a feature view's TTL itself (expired values come back as
  ``MISSING_DATA``); ``max_age_seconds`` adds a client-side freshness limit on top.
* ``MISSING_DATA`` is NOT_FOUND; ``UNKNOWN`` or any unrecognised status is UNAVAILABLE.
* Without serving statuses in the response, a null is NOT_FOUND and a value PRESENT.
* Int64 values, which Tecton sends as decimal strings, become ``int``; structs, sent
  as lists, become dicts keyed by their field names.
* In a batch, ``status`` is a list with one entry per row; ``effectiveTime`` may be one
  string for every row (Tecton's serving time for the feature view) or a per-row list.

Feature names may be given in full (``user_stats.favorite_category``) or bare
(``favorite_category``) when only one view of the service has that feature; an unknown
or ambiguous name raises :class:`FeatureConfigError` listing the choices. Names and
join keys come from the ``metadata`` endpoint, fetched once per client.

Why not the official ``tecton-client`` package (0.4.0)? It has no ``get-features-batch``
call (batch is our primitive), reports no serving status or effective time in a typed
form, keeps the API key as a plain string, lets connection errors and timeouts escape
as raw ``httpx`` exceptions, fails with a JSON error on non-JSON error bodies, and binds
its async client to a single event loop. Its request building and parsing are a few
lines, so this module speaks the HTTP API directly over ``httpx`` (a core dependency):
one pooled ``httpx.Client`` for sync calls, one ``httpx.AsyncClient`` per running event
loop for async calls (created on first use in that loop), both opening connections lazily
and sharing pure request/response functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import SecretStr

from llm_featurestore._deps import require
from llm_featurestore.clients._aio import PerLoop, shared_ssl_context
from llm_featurestore.clients.base import (
    FeatureStoreClient,
    check_request,
    ensure_aware,
    max_age_for,
)
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    UnknownEntityTypeError,
    unknown_entity_type,
    unknown_name_message,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow

httpx = require("httpx", extra="tecton")

__all__ = [
    "TectonClient",
    "TectonService",
    "build_get_features_request",
    "parse_features_response",
    "parse_metadata_response",
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

_STATUS_MAP = {
    "PRESENT": FeatureStatus.PRESENT,
    "CACHED_PRESENT": FeatureStatus.PRESENT,
    "MISSING_DATA": FeatureStatus.NOT_FOUND,
    "CACHED_MISSING_DATA": FeatureStatus.NOT_FOUND,
}

T = TypeVar("T")


# --------------------------------------------------------------------------- pure parts


@dataclass(frozen=True)
class TectonService:
    """What the ``metadata`` endpoint says about a feature service."""

    feature_names: tuple[str, ...]
    """Full feature names (``view.feature``), in response order."""
    join_keys: tuple[str, ...]
    """Names of the join keys the service expects."""

    def knows(self, name: str) -> bool:
        """True when ``name`` is a full name or the bare name of at least one feature."""
        return name in self.feature_names or any(
            full.split(".", 1)[-1] == name for full in self.feature_names
        )

    def resolve(self, name: str) -> str:
        """The full name for ``name`` (full, or bare when only one view has it).

        Raises:
            FeatureConfigError: unknown, or bare and shared by several views.
        """
        if name in self.feature_names:
            return name
        candidates = [full for full in self.feature_names if full.split(".", 1)[-1] == name]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise FeatureConfigError(
                f"Ambiguous feature '{name}': it is in several feature views "
                f"({', '.join(sorted(candidates))}); use the full view.feature name"
            )
        raise FeatureConfigError(
            unknown_name_message("feature", name, self.feature_names, scope="this feature service")
        )


def parse_metadata_response(body: Any) -> TectonService:
    """Read feature names and join keys from a ``metadata`` response.

    Accepts ``featureValues``/``inputJoinKeys`` and their snake_case spellings.

    Raises:
        FeatureStoreUnavailableError: the body does not have that shape.
    """
    try:
        values = _pick(body, "featureValues", "feature_values")
        keys = _pick(body, "inputJoinKeys", "input_join_keys", default=[])
        return TectonService(
            feature_names=tuple(str(item["name"]) for item in values),
            join_keys=tuple(str(item["name"]) for item in keys),
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
) -> tuple[str, dict[str, Any]]:
    """The path and JSON body that read ``entity_ids`` (one: get-features; more: batch)."""
    params: dict[str, Any] = {
        "workspace_name": workspace,
        "feature_service_name": feature_service,
        "metadata_options": dict(METADATA_OPTIONS),
    }
    context = dict(request_context or {})
    if len(entity_ids) == 1:
        params["join_key_map"] = {join_key: entity_ids[0]}
        params["request_context_map"] = context
        return GET_FEATURES_PATH, {"params": params}
    params["request_data"] = [
        {"join_key_map": {join_key: eid}, "request_context_map": context} for eid in entity_ids
    ]
    return GET_FEATURES_BATCH_PATH, {"params": params}


@dataclass(frozen=True)
class _Cell:
    value: Any
    status: FeatureStatus
    effective_time: datetime | None


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


def _status(raw: Any, value: Any) -> FeatureStatus:
    if raw is None:
        return FeatureStatus.NOT_FOUND if value is None else FeatureStatus.PRESENT
    status = _STATUS_MAP.get(str(raw), FeatureStatus.UNAVAILABLE)
    if status is FeatureStatus.PRESENT and value is None:
        return FeatureStatus.NULL_VALUE
    return status


def parse_features_response(body: Any, n_rows: int) -> list[dict[str, _Cell]]:
    """Split a get-features (one row) or get-features-batch response into cells.

    Returns:
        One dict per row, in request order, mapping each full feature name to its
        converted value, mapped status and effective time.

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
        out: list[dict[str, _Cell]] = []
        for r, row in enumerate(rows):
            features = row["features"]
            if len(features) != len(metas):
                raise ValueError(f"{len(features)} values for {len(metas)} metadata entries")
            cells: dict[str, _Cell] = {}
            for meta, raw in zip(metas, features, strict=True):
                value = _convert(raw, meta.get("dataType"))
                cells[str(meta["name"])] = _Cell(
                    value=value,
                    status=_status(_per_row(meta.get("status"), r), value),
                    effective_time=_parse_time(_per_row(meta.get("effectiveTime"), r)),
                )
            out.append(cells)
        return out
    except (KeyError, TypeError, IndexError, ValueError) as exc:
        raise FeatureStoreUnavailableError(
            f"Tecton's get-features response has an unexpected shape: {exc}"
        ) from exc


def _error_text(response: Any) -> str:
    with contextlib.suppress(ValueError):  # not JSON: fall back to the raw text
        body = response.json()
        if isinstance(body, Mapping):
            return str(body.get("message") or body.get("error") or body)[:300]
    return str(response.text)[:300]


# --------------------------------------------------------------------------- the client


class TectonClient(FeatureStoreClient):
    """Read features from a Tecton feature service over its HTTP API.

    Args:
        url: The cluster, e.g. ``https://yourco.tecton.ai``.
        workspace: The workspace holding the feature service.
        feature_service: The feature service to read.
        api_key_env: Environment variable holding the API key; read once, here.
        join_key: The join key the entity id is sent as: one name for every entity type,
            or a mapping ``{entity_type: join_key}`` (which also limits the entity types
            accepted). When ``None``, the service's only join key is used, or
            ``{entity_type}_id`` when it has several.
        request_context: A ``request_context_map`` sent with every row.
        max_age_seconds: Values whose ``effectiveTime`` is older than this (one number,
            or per entity type) are STALE. ``None`` trusts Tecton's own TTL.
        timeout_s: Seconds allowed for each HTTP request (connect, write, read).
        micro_batch_size: Entities per ``get-features-batch`` request; larger batches are
            split into requests sent concurrently (sync: up to 8 worker threads; async:
            ``asyncio.gather``).
        max_connections: Size of the HTTP connection pool.
        retries: Times a request is resent after a connection error (not after a timeout
            or an HTTP error status); every call is a read, so resending is safe.

    Raises:
        FeatureConfigError: the API key variable is unset or empty, or a setting is invalid.
    """

    source = "tecton"

    def __init__(
        self,
        url: str,
        workspace: str,
        feature_service: str,
        *,
        api_key_env: str = "TECTON_API_KEY",
        join_key: str | Mapping[str, str] | None = None,
        request_context: Mapping[str, Any] | None = None,
        max_age_seconds: float | Mapping[str, float] | None = None,
        timeout_s: float = 2.0,
        micro_batch_size: int = 5,
        max_connections: int = 32,
        retries: int = 1,
    ) -> None:
        for label, value in (("url", url), ("workspace", workspace)):
            if not value or not isinstance(value, str):
                raise FeatureConfigError(f"{label} must be a non-empty string, got {value!r}")
        if not feature_service or not isinstance(feature_service, str):
            raise FeatureConfigError(
                f"feature_service must be a non-empty string, got {feature_service!r}"
            )
        if not url.startswith(("http://", "https://")):
            raise FeatureConfigError(
                f"url must start with https:// (or http://), got {url!r}; "
                "e.g. https://yourco.tecton.ai"
            )
        if not (timeout_s > 0 and math.isfinite(timeout_s)):
            raise FeatureConfigError(f"timeout_s must be a positive number, got {timeout_s!r}")
        if retries < 0:
            raise FeatureConfigError(f"retries must be 0 or more, got {retries!r}")
        if micro_batch_size < 1:
            raise FeatureConfigError(f"micro_batch_size must be 1 or more, got {micro_batch_size}")
        key = os.environ.get(api_key_env, "").strip()
        if not key:
            raise FeatureConfigError(
                f"No Tecton API key: the environment variable {api_key_env} is unset or empty. "
                f"Set {api_key_env} to a service-account key with read access to workspace "
                f"'{workspace}', or pass api_key_env='OTHER_VAR'"
            )
        self.url = url.rstrip("/")
        self.workspace = workspace
        self.feature_service = feature_service
        self.api_key_env = api_key_env
        self._api_key = SecretStr(key)
        self.join_key = (
            join_key if join_key is None or isinstance(join_key, str) else dict(join_key)
        )
        self.request_context = dict(request_context or {})
        self.max_age_seconds = max_age_seconds
        self.timeout_s = timeout_s
        self.micro_batch_size = micro_batch_size
        self.max_connections = max_connections
        self.retries = retries
        self._service: TectonService | None = None
        self._service_at = 0.0
        self._lock = threading.Lock()
        self._client: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._async = PerLoop(self._make_async_client, self._close_async_client)
        self._ssl = shared_ssl_context()
        # The pool object is built now (about 15 ms on first use of httpx, paid here
        # rather than by the first, possibly deadline-bound, read); connections open lazily.
        self._sync_client()

    def __repr__(self) -> str:
        return (
            f"TectonClient(url={self.url!r}, workspace={self.workspace!r}, "
            f"feature_service={self.feature_service!r}, api_key_env={self.api_key_env!r})"
        )

    # ------------------------------------------------------------------ transport

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "headers": {
                "Authorization": f"Tecton-key {self._api_key.get_secret_value()}",
                "Content-Type": "application/json",
            },
            "timeout": httpx.Timeout(self.timeout_s),
            "verify": self._ssl,
            "limits": httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            ),
        }

    def _sync_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = httpx.Client(**self._client_kwargs())
        return self._client

    def _make_async_client(self) -> Any:
        return httpx.AsyncClient(**self._client_kwargs())

    @staticmethod
    async def _close_async_client(client: Any) -> None:
        await client.aclose()

    def _check(self, response: Any, what: str) -> Any:
        """Map an HTTP response to its JSON body or to one of our errors."""
        code = response.status_code
        if code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise FeatureStoreUnavailableError(
                    f"Tecton answered {what} with a body that is not JSON: {response.text[:200]!r}"
                ) from exc
        detail = _error_text(response)
        where = f"feature service '{self.feature_service}' in workspace '{self.workspace}'"
        if code in (401, 403):
            raise FeatureAuthError(
                f"Tecton rejected the API key ({code}) for {where}: check {self.api_key_env} "
                f"holds a valid key with read access to that workspace. Server said: {detail}"
            )
        if code == 404:
            raise FeatureConfigError(
                f"Tecton has no {where} (404): check the feature_service and workspace "
                f"names. Server said: {detail}"
            )
        if code == 400:
            raise FeatureConfigError(
                f"Tecton rejected the request for {where} (400): {detail}. Check join_key "
                "and request_context"
            )
        if code == 504:
            raise FeatureTimeoutError(f"Tecton timed out serving {what} (504): {detail}")
        raise FeatureStoreUnavailableError(f"Tecton failed while serving {what} ({code}): {detail}")

    def _transport_error(self, exc: Exception, what: str) -> FeatureStoreUnavailableError:
        if isinstance(exc, httpx.TimeoutException):
            return FeatureTimeoutError(
                f"Tecton at {self.url} did not answer {what} within {self.timeout_s}s; "
                "check the cluster's health or raise timeout_s"
            )
        return FeatureStoreUnavailableError(
            f"Cannot reach Tecton at {self.url} for {what}: {exc!r}. Check the url and the network"
        )

    def _retryable(self, exc: Exception, attempt: int) -> bool:
        # Every call is a read, so resending is safe: a pooled connection the server or a
        # load balancer closed while idle fails once, then a fresh one succeeds.
        return attempt < self.retries and not isinstance(exc, httpx.TimeoutException)

    def _post(self, path: str, body: Mapping[str, Any], what: str) -> Any:
        content = json.dumps(body)
        attempt = 0
        while True:
            try:
                response = self._sync_client().post(path, content=content)
                break
            except httpx.TransportError as exc:
                if not self._retryable(exc, attempt):
                    raise self._transport_error(exc, what) from exc
                attempt += 1
        return self._check(response, what)

    async def _apost(self, path: str, body: Mapping[str, Any], what: str) -> Any:
        client = self._async.peek()
        if client is None:
            client = await self._async.get()
        content = json.dumps(body)
        attempt = 0
        while True:
            try:
                response = await client.post(path, content=content)
                break
            except httpx.TransportError as exc:
                if not self._retryable(exc, attempt):
                    raise self._transport_error(exc, what) from exc
                attempt += 1
        return self._check(response, what)

    # ------------------------------------------------------------------ metadata and names

    def _metadata_body(self) -> dict[str, Any]:
        return {
            "params": {
                "workspace_name": self.workspace,
                "feature_service_name": self.feature_service,
            }
        }

    metadata_refresh_s: float = 60.0
    """A request naming a feature the cached metadata lacks refetches it, at most this often
    (so features deployed after the client started become usable without a restart)."""

    def _stale_for(self, feature_names: Sequence[str] | None) -> bool:
        if self._service is None:
            return True
        if feature_names is None or all(self._service.knows(n) for n in feature_names):
            return False
        return time.monotonic() - self._service_at >= self.metadata_refresh_s

    def _remember(self, body: Any) -> TectonService:
        self._service = parse_metadata_response(body)
        self._service_at = time.monotonic()
        return self._service

    def service(self, feature_names: Sequence[str] | None = None) -> TectonService:
        """The feature service's names and join keys, fetched on first use and cached.

        Args:
            feature_names: Names about to be requested; when one is unknown to the
                cache and the cache is older than :attr:`metadata_refresh_s`, it is
                fetched again.
        """
        if self._stale_for(feature_names):
            return self._remember(
                self._post(METADATA_PATH, self._metadata_body(), "the metadata request")
            )
        assert self._service is not None
        return self._service

    async def aservice(self, feature_names: Sequence[str] | None = None) -> TectonService:
        """Async twin of :meth:`service`."""
        if self._stale_for(feature_names):
            return self._remember(
                await self._apost(METADATA_PATH, self._metadata_body(), "the metadata request")
            )
        assert self._service is not None
        return self._service

    def _join_key(self, service: TectonService, entity_type: str) -> str:
        if isinstance(self.join_key, str):
            return self.join_key
        if isinstance(self.join_key, Mapping):
            if entity_type not in self.join_key:
                error = unknown_entity_type(entity_type, self.join_key, scope="this TectonClient")
                raise UnknownEntityTypeError(
                    f"{error}. Add it to join_key={{entity_type: join_key}}",
                    entity_type=entity_type,
                )
            return self.join_key[entity_type]
        if len(service.join_keys) == 1:
            return service.join_keys[0]
        guess = f"{entity_type}_id"
        if guess in service.join_keys:
            return guess
        raise FeatureConfigError(
            f"Cannot tell which join key of feature service '{self.feature_service}' "
            f"holds '{entity_type}' ids: it expects {', '.join(service.join_keys) or '(none)'}. "
            "Pass join_key='name' or join_key={entity_type: name}"
        )

    def list_features(self, entity_type: str) -> list[str]:
        service = self.service()
        self._join_key(service, entity_type)
        return sorted(service.feature_names)

    # ------------------------------------------------------------------ reads

    def _plan(
        self,
        service: TectonService,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
    ) -> tuple[dict[str, str], list[tuple[str, dict[str, Any], list[str]]]]:
        """Resolve names and split the unique ids into requests (path, body, ids)."""
        resolved = {name: service.resolve(name) for name in feature_names}
        join_key = self._join_key(service, entity_type)
        unique = list(dict.fromkeys(entity_ids))
        size = self.micro_batch_size
        requests = []
        for start in range(0, len(unique), size):
            chunk = unique[start : start + size]
            path, body = build_get_features_request(
                self.workspace, self.feature_service, join_key, chunk, self.request_context
            )
            requests.append((path, body, chunk))
        return resolved, requests

    def _assemble(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        resolved: Mapping[str, str],
        rows: Mapping[str, dict[str, _Cell]],
    ) -> list[FeatureVector]:
        now = utcnow()
        max_age = max_age_for(self.max_age_seconds, entity_type)
        out = []
        for eid in entity_ids:
            cells = rows[eid]
            values: dict[str, Any] = {}
            statuses: dict[str, FeatureStatus] = {}
            stamps: dict[str, datetime | None] = {}
            for name in feature_names:
                cell = cells.get(resolved[name])
                if cell is None:
                    statuses[name] = FeatureStatus.UNAVAILABLE
                    continue
                status = cell.status
                ts = cell.effective_time
                if status is FeatureStatus.PRESENT and _older(ts, max_age, now):
                    status = FeatureStatus.STALE
                values[name] = cell.value
                statuses[name] = status
                stamps[name] = ts
            out.append(
                FeatureVector.build(
                    entity_id=eid,
                    entity_type=entity_type,
                    feature_names=feature_names,
                    values=values,
                    statuses=statuses,
                    event_timestamps=stamps,
                    source=self.source,
                    retrieved_at=now,
                )
            )
        return out

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        service = self.service(feature_names)
        resolved, requests = self._plan(service, entity_ids, entity_type, feature_names)

        def send(request: tuple[str, dict[str, Any], list[str]]) -> Any:
            path, body, chunk = request
            return self._post(path, body, f"{len(chunk)} '{entity_type}' entities")

        if len(requests) == 1:
            answers = [send(requests[0])]
        else:  # micro-batches go out concurrently over the shared pool
            answers = list(self._executor().map(send, requests))
        rows: dict[str, dict[str, _Cell]] = {}
        for (_, _, chunk), answer in zip(requests, answers, strict=True):
            rows.update(zip(chunk, parse_features_response(answer, len(chunk)), strict=True))
        return self._assemble(entity_ids, entity_type, feature_names, resolved, rows)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=min(8, self.max_connections), thread_name_prefix="tecton"
                )
            return self._pool

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        service = await self.aservice(feature_names)
        resolved, requests = self._plan(service, entity_ids, entity_type, feature_names)
        answers = await asyncio.gather(
            *(
                self._apost(path, body, f"{len(chunk)} '{entity_type}' entities")
                for path, body, chunk in requests
            )
        )
        rows: dict[str, dict[str, _Cell]] = {}
        for (_, _, chunk), answer in zip(requests, answers, strict=True):
            rows.update(zip(chunk, parse_features_response(answer, len(chunk)), strict=True))
        return self._assemble(entity_ids, entity_type, feature_names, resolved, rows)

    # ------------------------------------------------------------------ health and lifecycle

    def health_check(self) -> bool:
        """True when the metadata endpoint answers 200 with this key (never raises)."""
        try:
            body = self._post(METADATA_PATH, self._metadata_body(), "a health check")
            self._remember(body)
            return True
        except Exception:  # a health check reports, never raises
            return False

    async def ahealth_check(self) -> bool:
        try:
            body = await self._apost(METADATA_PATH, self._metadata_body(), "a health check")
            self._remember(body)
            return True
        except Exception:  # a health check reports, never raises
            return False

    def close(self) -> None:
        """Close the sync connection pool (async pools close with their loops). Idempotent."""
        with self._lock:
            client, self._client = self._client, None
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close this loop's async pool and the sync pool."""
        await self._async.aclose()
        self.close()


def _older(ts: datetime | None, max_age: timedelta | None, now: datetime) -> bool:
    return max_age is not None and ts is not None and now - ts > max_age
