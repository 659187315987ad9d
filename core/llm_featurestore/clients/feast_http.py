"""Read features from Feast's feature server (``feast serve``) over HTTP.

Many app servers can share one Feast deployment this way. The server answers
``POST /get-online-features`` with ``{"metadata": {"feature_names": [...]},
"results": [{"values", "statuses", "event_timestamps"}, ...]}`` (one result per
column, the join key first). Request building and response parsing are pure
functions shared by the sync (``httpx.Client``) and async (``httpx.AsyncClient``) paths.

The server exposes no registry, so names are understood without one:

* ``"view:feature"`` refs are sent as they are;
* a name without ``:`` passed **alone** is a feature service (result keys are its
  features, sorted by view then feature: bare names where unique within the service,
  ``view:feature`` otherwise);
* other bare names resolve only through the ``features`` mapping given to the
  constructor (the same rule as :class:`~llm_featurestore.clients.feast.FeastClient`:
  a bare name must belong to exactly one view).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

from llm_featurestore.clients._aio import PerLoop, shared_ssl_context
from llm_featurestore.clients.base import FeatureStoreClient, check_request
from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    InvalidEntityIdError,
    unknown_entity_type,
    unknown_name_message,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow

__all__ = [
    "FeastHttpClient",
    "build_request",
    "error_for_response",
    "parse_response",
    "resolve_http_names",
    "service_keys",
]

_PATH = "/get-online-features"
_EPOCH_STRINGS = frozenset({"1970-01-01T00:00:00Z", "", None})
_STATUS_BY_NAME: dict[str, FeatureStatus] = {
    "PRESENT": FeatureStatus.PRESENT,
    "NULL_VALUE": FeatureStatus.NULL_VALUE,
    "NOT_FOUND": FeatureStatus.NOT_FOUND,
    "OUTSIDE_MAX_AGE": FeatureStatus.STALE,
    "INVALID": FeatureStatus.NOT_FOUND,
}
# Server messages (any status code) that mean the request named something wrong.
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


def service_keys(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Result keys for a feature service's ``(view, feature)`` pairs.

    A feature's bare name when no other pair shares it, else ``"view:feature"``.

    >>> service_keys([("a", "x"), ("a", "y"), ("b", "y")])
    ['x', 'a:y', 'b:y']
    """
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{view}:{name}" for view, name in pairs]


def _available(refs: Sequence[str]) -> tuple[list[str], dict[str, list[str]]]:
    bare: dict[str, list[str]] = {}
    for ref in refs:
        bare.setdefault(ref.split(":", 1)[1], []).append(ref)
    names = sorted([*refs, *(n for n, rs in bare.items() if len(rs) == 1)])
    return names, bare


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
    refs_for_type: list[str] | None = None
    if known is not None:
        if entity_type not in known:
            raise unknown_entity_type(entity_type, known)
        refs_for_type = list(known[entity_type])
    if len(feature_names) == 1 and ":" not in feature_names[0]:
        name = feature_names[0]
        is_feature = refs_for_type is not None and any(
            r.split(":", 1)[1] == name for r in refs_for_type
        )
        if not is_feature:
            return HttpPlan(features=(), service=name, key_columns=())
    key_columns: list[tuple[str, str]] = []
    refs: list[str] = []
    for name in feature_names:
        if ":" in name:
            view, _, feat = name.partition(":")
            if not view or not feat or ":" in feat:
                raise FeatureConfigError(
                    f"Malformed Feast feature reference {name!r}: use 'view:feature'"
                )
            if refs_for_type is not None and name not in refs_for_type:
                available = _available(refs_for_type)[0]
                raise FeatureConfigError(
                    unknown_name_message(
                        "feature", name, available, scope=f"entity '{entity_type}'"
                    )
                )
            ref = name
        else:
            ref = _resolve_bare(entity_type, name, refs_for_type)
            view, _, feat = ref.partition(":")
        if ref not in refs:
            refs.append(ref)
        key_columns.append((name, f"{view}__{feat}"))
    return HttpPlan(features=tuple(refs), service=None, key_columns=tuple(key_columns))


def _resolve_bare(entity_type: str, name: str, refs: list[str] | None) -> str:
    if refs is None:
        raise FeatureConfigError(
            f"Cannot resolve the bare feature name '{name}': the Feast feature server has no "
            "registry listing. Use a 'view:feature' ref, pass a feature service name alone, "
            f"or give FeastHttpClient(features={{'{entity_type}': ['view:feature', ...]}})"
        )
    available, bare = _available(refs)
    candidates = bare.get(name, [])
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise FeatureConfigError(
            f"Ambiguous feature '{name}' for entity '{entity_type}': it is in "
            f"{len(candidates)} feature views. Use one of: {', '.join(sorted(candidates))}"
        )
    raise FeatureConfigError(
        unknown_name_message("feature", name, available, scope=f"entity '{entity_type}'")
    )


def build_request(plan: HttpPlan, join_key: str, entity_ids: Sequence[str]) -> dict[str, Any]:
    """The JSON body of ``POST /get-online-features`` (ids are sent as strings; the
    server converts them to the join key's type)."""
    body: dict[str, Any] = {"entities": {join_key: list(entity_ids)}, "full_feature_names": True}
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

    PRESENT values older than their view's ``ttl_seconds`` become STALE (value kept);
    PRESENT ``null`` values become NULL_VALUE, or NOT_FOUND when they carry no
    timestamp (Feast's Redis store answers so for an entity it does not hold).

    Raises:
        FeatureStoreUnavailableError: the answer does not have the documented shape.
    """
    now = now or utcnow()
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
        skeys = service_keys(pairs)
        key_columns = tuple((k, f"{v}__{f}") for (v, f), k in zip(pairs, skeys, strict=True))
    if len(names) != len(results):
        raise FeatureStoreUnavailableError(
            f"Feast feature server answered {len(results)} result columns for "
            f"{len(names)} feature names"
        )
    by_name = dict(zip(names, results, strict=True))
    n = len(entity_ids)
    ts_cache: dict[str | None, datetime | None] = {}
    columns: list[tuple[str, list[Any], list[str], list[datetime | None], datetime | None]] = []
    for key, column in key_columns:
        result = by_name.get(column)
        if result is None:
            raise FeatureStoreUnavailableError(
                f"Feast feature server answered without column '{column}' for '{key}'"
            )
        col_values = result.get("values") or []
        col_statuses = result.get("statuses") or []
        col_stamps = result.get("event_timestamps") or [None] * len(col_values)
        if not len(col_values) == len(col_statuses) == len(col_stamps) == n:
            raise FeatureStoreUnavailableError(
                f"Feast feature server answered {len(col_values)} values for column "
                f"'{column}' but {n} entities were requested"
            )
        seconds = ttl_seconds.get(column.partition("__")[0]) if ttl_seconds else None
        cutoff = now - timedelta(seconds=seconds) if seconds else None
        stamps = [_parse_ts(t, ts_cache) for t in col_stamps]
        columns.append((key, col_values, col_statuses, stamps, cutoff))
    present, null, stale, not_found = (
        FeatureStatus.PRESENT,
        FeatureStatus.NULL_VALUE,
        FeatureStatus.STALE,
        FeatureStatus.NOT_FOUND,
    )
    out: list[FeatureVector] = []
    aged = (present, stale)
    for i, eid in enumerate(entity_ids):
        feats: dict[str, Any] = {}
        statuses: dict[str, FeatureStatus] = {}
        stamps_i: dict[str, datetime | None] = {}
        oldest: datetime | None = None
        for key, col_values, col_statuses, stamps, cutoff in columns:
            value = col_values[i]
            ts = stamps[i]
            status = _STATUS_BY_NAME.get(col_statuses[i], not_found)
            if status is present:
                if value is None:
                    # No timestamp: Feast's Redis store answering for an unknown entity.
                    status = null if ts is not None else not_found
                elif cutoff is not None and ts is not None and ts < cutoff:
                    status = stale
            elif status is not stale:
                value = None
            if status in aged and ts is not None and (oldest is None or ts < oldest):
                oldest = ts
            feats[key] = value
            statuses[key] = status
            stamps_i[key] = ts
        out.append(
            FeatureVector(
                entity_id=eid,
                entity_type=entity_type,
                features=feats,
                statuses=statuses,
                event_timestamps=stamps_i,
                retrieved_at=now,
                freshness_seconds=(
                    0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
                ),
                source=source,
            )
        )
    return out


def _server_message(text: str) -> str:
    """The server's error text, unwrapped from Feast's JSON-in-JSON error bodies."""
    message: Any = text
    for _ in range(2):
        if not isinstance(message, str):
            break
        try:
            message = json.loads(message)
        except ValueError:
            break
    if isinstance(message, Mapping):
        inner = message.get("message") or message.get("detail") or message
        return str(inner)
    return str(message).strip()


def error_for_response(
    status_code: int, text: str, url: str, *, entity_type: str = ""
) -> FeatureStoreError:
    """Map an error answer to our exception.

    Unknown features, views, services or join keys and malformed ids (Feast answers
    these with 404, 422 or 500) are :class:`FeatureConfigError` carrying the server's
    message; any other 4xx also; other 5xx are :class:`FeatureStoreUnavailableError`.
    """
    message = _server_message(text)
    if status_code in (401, 403):
        return FeatureAuthError(
            f"Feast feature server at {url} refused the credentials (HTTP {status_code}): {message}"
        )
    if any(m in text for m in _ID_MARKERS):
        # The server does not say which id it could not convert: entity_ids=None.
        return InvalidEntityIdError(
            f"Feast feature server at {url} could not use an entity id of "
            f"'{entity_type or 'this entity'}' as its join key: {message}",
            entity_type=entity_type,
            entity_ids=None,
        )
    if 400 <= status_code < 500 or any(m in text for m in _CONFIG_MARKERS):
        return FeatureConfigError(f"Feast feature server at {url} rejected the request: {message}")
    return FeatureStoreUnavailableError(
        f"Feast feature server at {url} failed with HTTP {status_code}: {message}"
    )


async def _close_async_client(client: httpx.AsyncClient) -> None:
    await client.aclose()


class FeastHttpClient(FeatureStoreClient):
    """Features from a Feast feature server (``feast serve``), over pooled HTTP.

    Args:
        url: The server's base URL, e.g. ``"http://127.0.0.1:6566"``.
        timeout_s: Per-request timeout (connect, read and write), seconds.
        max_connections: Size of the connection pool (sync and async each).
        join_keys: Entity type to join key; default ``"{entity_type}_id"``.
        ttl_seconds: Feature view name to ttl in seconds: older PRESENT values are
            returned STALE (Feast itself does not apply ttl on online reads).
        features: Entity type to the ``view:feature`` refs it offers. Used by
            :meth:`list_features` (the server has no listing endpoint) and to resolve
            bare names; without it, only refs and feature services can be requested.

    The HTTP clients are created on first use and released by :meth:`close` /
    :meth:`aclose`.
    """

    source = "feast_http"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        max_connections: int = 100,
        join_keys: Mapping[str, str] | None = None,
        ttl_seconds: Mapping[str, float] | None = None,
        features: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise FeatureConfigError(
                f"FeastHttpClient url must start with http:// or https://, got {url!r}"
            )
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.join_keys = dict(join_keys or {})
        self.ttl_seconds = dict(ttl_seconds or {})
        self.features = {k: list(v) for k, v in features.items()} if features is not None else None
        self._plans: dict[tuple[str, tuple[str, ...]], HttpPlan] = {}
        self._client: httpx.Client | None = None
        self._async: PerLoop[httpx.AsyncClient] = PerLoop(
            lambda: httpx.AsyncClient(**self._limits()), _close_async_client
        )

    # ------------------------------------------------------------------ pure helpers

    def _plan(self, entity_type: str, feature_names: Sequence[str]) -> HttpPlan:
        key = (entity_type, tuple(feature_names))
        plan = self._plans.get(key)
        if plan is None:
            plan = resolve_http_names(entity_type, feature_names, self.features)
            if len(self._plans) >= 1024:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _body(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> tuple[HttpPlan, dict[str, Any]]:
        check_request(entity_ids, entity_type, feature_names)
        plan = self._plan(entity_type, feature_names)
        join_key = self.join_keys.get(entity_type) or f"{entity_type}_id"
        return plan, build_request(plan, join_key, entity_ids)

    def _answer(
        self,
        response: httpx.Response,
        plan: HttpPlan,
        entity_ids: Sequence[str],
        entity_type: str,
    ) -> list[FeatureVector]:
        if response.status_code != 200:
            error = error_for_response(
                response.status_code, response.text, self.url, entity_type=entity_type
            )
            if (
                plan.service is not None
                and isinstance(error, FeatureConfigError)
                and self.features is not None
                and entity_type in self.features
            ):
                # A lone bare name that is neither a known feature nor a service.
                available = _available(self.features[entity_type])[0]
                raise FeatureConfigError(
                    unknown_name_message(
                        "feature", plan.service, available, scope=f"entity '{entity_type}'"
                    )
                    + f" (nor a feature service: {error})"
                ) from error
            raise error
        try:
            doc = response.json()
        except ValueError as exc:
            raise FeatureStoreUnavailableError(
                f"Feast feature server at {self.url} answered with invalid JSON: {exc}"
            ) from exc
        return parse_response(
            doc, plan, entity_ids, entity_type, ttl_seconds=self.ttl_seconds, source=self.source
        )

    def _transport_error(self, exc: httpx.HTTPError) -> FeatureStoreError:
        if isinstance(exc, httpx.TimeoutException):
            return FeatureTimeoutError(
                f"Feast feature server at {self.url} did not answer within {self.timeout_s}s: "
                f"{type(exc).__name__}"
            )
        return FeatureStoreUnavailableError(
            f"Cannot reach the Feast feature server at {self.url}: {type(exc).__name__}: {exc}"
        )

    def _limits(self) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "verify": shared_ssl_context(),
            "timeout": httpx.Timeout(self.timeout_s),
            "limits": httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            ),
        }

    # ------------------------------------------------------------------ sync

    @property
    def http(self) -> httpx.Client:
        """The pooled sync client (created on first use)."""
        if self._client is None:
            self._client = httpx.Client(**self._limits())
        return self._client

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        plan, body = self._body(entity_ids, entity_type, feature_names)
        if not entity_ids:
            return []
        try:
            response = self.http.post(_PATH, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        return self._answer(response, plan, entity_ids, entity_type)

    def health_check(self) -> bool:
        """``GET /health`` answers 200."""
        try:
            return self.http.get("/health").status_code == 200
        except Exception:
            return False

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ async

    async def ahttp(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop (created on first use).

        An ``httpx.AsyncClient`` only works on the loop it was created on, so there is
        one per loop, closed when that loop shuts down (see :class:`PerLoop`).
        """
        return self._async.peek() or await self._async.get()

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        plan, body = self._body(entity_ids, entity_type, feature_names)
        if not entity_ids:
            return []
        try:
            response = await (await self.ahttp()).post(_PATH, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(exc) from exc
        return self._answer(response, plan, entity_ids, entity_type)

    async def ahealth_check(self) -> bool:
        try:
            return (await (await self.ahttp()).get("/health")).status_code == 200
        except Exception:
            return False

    async def aclose(self) -> None:
        await self._async.aclose()
        self.close()

    # ------------------------------------------------------------------ listing

    def list_features(self, entity_type: str) -> list[str]:
        """Sorted refs from the ``features`` mapping plus its unambiguous bare names.

        Raises:
            FeatureConfigError: no ``features`` mapping was given, or it lacks ``entity_type``.
        """
        if self.features is None:
            raise FeatureConfigError(
                "The Feast feature server has no endpoint that lists features: give "
                "FeastHttpClient(features={entity_type: ['view:feature', ...]}) to list them"
            )
        refs = self.features.get(entity_type)
        if refs is None:
            raise unknown_entity_type(entity_type, self.features)
        return _available(refs)[0]
