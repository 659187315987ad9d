"""Read features from a Tecton feature service over its HTTP API.

The protocol (bodies, answers, names) is in :mod:`.protocol`; the connection pools,
retries and error mapping are the shared :class:`~llm_featurestore.clients.http.HttpBackend`.

Why not the official ``tecton-client`` package (0.4.0)? It has no ``get-features-batch``
call (batch is our primitive), reports no serving status or effective time in a typed
form, keeps the API key as a plain string, lets connection errors and timeouts escape
as raw ``httpx`` exceptions, fails with a JSON error on non-JSON error bodies, and binds
its async client to a single event loop. Its request building and parsing are a few
lines, so this package speaks the HTTP API directly over ``httpx``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, ClassVar, NamedTuple

from llm_featurestore._deps import require

require("httpx", extra="tecton")  # first: names the extra when httpx is missing

import httpx  # noqa: E402

from llm_featurestore.clients.base import (  # noqa: E402
    RequestData,
    check_request,
    check_request_data,
    freeze_request_data,
)
from llm_featurestore.clients.cells import Cell, assemble, max_age_for  # noqa: E402
from llm_featurestore.clients.http.base import HttpBackend  # noqa: E402
from llm_featurestore.clients.http.fanout import map_beside  # noqa: E402
from llm_featurestore.clients.tecton.config import TectonClientConfig  # noqa: E402
from llm_featurestore.clients.tecton.protocol import (  # noqa: E402
    METADATA_PATH,
    TectonService,
    build_get_features_request,
    error_for_status,
    metadata_request,
    parse_features_response,
    parse_metadata_response,
    row_contexts,
)
from llm_featurestore.errors import (  # noqa: E402
    FeatureConfigError,
    FeatureStoreError,
    UnknownEntityTypeError,
    unknown_entity_type,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow  # noqa: E402
from llm_featurestore.settings import MaxAgeSeconds, client_settings  # noqa: E402

__all__ = ["TectonClient"]

_MISSING = Cell(None, None, FeatureStatus.UNAVAILABLE)
"""A requested feature the answer lacks (the service changed since its metadata)."""


_Row = tuple[str, tuple[Hashable, ...]]
"""One row Tecton is asked for: an id and its frozen request context."""


class _Request(NamedTuple):
    path: str
    body: str
    rows: list[_Row]


class _Plan(NamedTuple):
    """A read: the resolved names, each position's row, and the requests to send."""

    resolved: dict[str, str]
    rows: list[_Row]
    requests: list[_Request]


class TectonClient(HttpBackend):
    """Read features from a Tecton feature service over its HTTP API.

    Args:
        config: The settings (:class:`TectonClientConfig`), or the cluster URL followed
            by the workspace and feature service names as positional arguments
            (``TectonClient(url, workspace, feature_service, ...)``).
        transport: Replaces the network for sync calls (e.g. ``httpx.MockTransport``).
        async_transport: Replaces the network for async calls.
        **fields: The settings as keyword arguments, instead of ``config`` (see
            :class:`TectonClientConfig`): ``url``, ``workspace``, ``feature_service``,
            ``api_key`` or ``api_key_env`` (read once, here), ``join_key``,
            ``request_context`` (the fixed ``request_context_map``; each read's
            ``request_data`` is merged over it, per entity), ``max_age_seconds``, ``timeout_s``,
            ``micro_batch_size`` (larger reads are split into requests sent
            concurrently: sync on the library's worker pool, async with
            ``asyncio.gather``), ``max_connections``, ``retries`` (resends after a
            connection error or a 5xx answer, with backoff within ``timeout_s``, never
            after a timeout; every call is a read, so resending is safe; 0: none),
            ``retry_backoff_s``/``retry_backoff_max_s``, and the TLS files ``ca_bundle``,
            ``client_cert`` and ``client_key``.

    Raises:
        FeatureConfigError: no API key (the message names the variable), or a setting
            is unknown or invalid (the message names it).
    """

    source = "tecton"
    accepts_request_data = True
    config_class = TectonClientConfig
    service_name = "Tecton"
    positional_settings: ClassVar[tuple[str, ...]] = ("url", "workspace", "feature_service")
    config: TectonClientConfig

    metadata_refresh_s: float = 60.0
    """A request naming a feature the cached metadata lacks refetches it, at most this often
    (so features deployed after the client started become usable without a restart)."""

    def __init__(
        self,
        config: TectonClientConfig | str | None = None,
        /,
        *names: str,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        **fields: Any,
    ) -> None:
        self.config = client_settings(
            TectonClientConfig,
            type(self).__name__,
            (config, *names),
            fields,
            positional=self.positional_settings,
        )
        self._api_key = self.config.resolved_key()
        self._service: TectonService | None = None
        self._service_at = 0.0
        self._init_http(transport=transport, async_transport=async_transport)
        # The pool object is built now (about 15 ms on first use of httpx, paid here
        # rather than by the first, possibly deadline-bound, read); connections open lazily.
        _ = self.http

    def __repr__(self) -> str:
        return (
            f"TectonClient(url={self.url!r}, workspace={self.workspace!r}, "
            f"feature_service={self.feature_service!r}, api_key_env={self.api_key_env!r})"
        )

    # ------------------------------------------------------------------ settings

    @property
    def workspace(self) -> str:
        return self.config.workspace

    @property
    def feature_service(self) -> str:
        return self.config.feature_service

    @property
    def api_key_env(self) -> str:
        return self.config.api_key_env

    @property
    def join_key(self) -> str | dict[str, str] | None:
        return self.config.join_key

    @property
    def request_context(self) -> dict[str, Any]:
        return self.config.request_context or {}

    @property
    def max_age_seconds(self) -> MaxAgeSeconds:
        return self.config.max_age_seconds

    @property
    def micro_batch_size(self) -> int:
        return self.config.micro_batch_size

    # ------------------------------------------------------------------ the shared base's hooks

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Tecton-key {self._api_key.get_secret_value()}"}

    def _auth_hint(self) -> str:
        source = "api_key" if self.config.api_key is not None else self.api_key_env
        return (
            f"check {source} holds a valid key with read access to workspace "
            f"'{self.workspace}' (feature service '{self.feature_service}')"
        )

    def _protocol_error(self, code: int, text: str, detail: str) -> FeatureStoreError | None:
        return error_for_status(code, detail, self.workspace, self.feature_service)

    # ------------------------------------------------------------------ metadata and names

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

    def _metadata(self, what: str) -> Any:
        body = json.dumps(metadata_request(self.workspace, self.feature_service))
        return self._check(self._send("POST", METADATA_PATH, what, body, idempotent=True), what)

    async def _ametadata(self, what: str) -> Any:
        body = json.dumps(metadata_request(self.workspace, self.feature_service))
        return self._check(
            await self._asend("POST", METADATA_PATH, what, body, idempotent=True), what
        )

    def service(self, feature_names: Sequence[str] | None = None) -> TectonService:
        """The feature service's names and join keys, fetched on first use and cached.

        Args:
            feature_names: Names about to be requested; when one is unknown to the
                cache and the cache is older than :attr:`metadata_refresh_s`, it is
                fetched again.
        """
        if self._stale_for(feature_names):
            return self._remember(self._metadata("the metadata request"))
        assert self._service is not None
        return self._service

    async def aservice(self, feature_names: Sequence[str] | None = None) -> TectonService:
        """Async twin of :meth:`service`."""
        if self._stale_for(feature_names):
            return self._remember(await self._ametadata("the metadata request"))
        assert self._service is not None
        return self._service

    def _join_key(self, service: TectonService, entity_type: str) -> str:
        join_key = self.join_key
        if isinstance(join_key, str):
            return join_key
        if join_key is not None:
            if entity_type not in join_key:
                error = unknown_entity_type(entity_type, join_key, scope="this TectonClient")
                raise UnknownEntityTypeError(
                    f"{error}. Add it to join_key={{entity_type: join_key}}",
                    entity_type=entity_type,
                )
            return join_key[entity_type]
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
        request_data: Sequence[RequestData] | None,
    ) -> _Plan:
        """Resolve names and contexts (before any read) and split the unique rows (an id
        with its request context) into requests."""
        resolved = {name: service.resolve(name) for name in feature_names}
        join_key = self._join_key(service, entity_type)
        contexts = row_contexts(
            service, self.feature_service, self.request_context, entity_ids, request_data
        )
        rows = [(e, freeze_request_data(c)) for e, c in zip(entity_ids, contexts, strict=True)]
        unique: dict[_Row, tuple[str, Mapping[str, Any]]] = {}
        for row, eid, context in zip(rows, entity_ids, contexts, strict=True):
            unique.setdefault(row, (eid, context))
        todo = list(unique.items())
        size = self.micro_batch_size
        requests = []
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            path, body = build_get_features_request(
                self.workspace,
                self.feature_service,
                join_key,
                [eid for _, (eid, _) in chunk],
                request_contexts=[context for _, (_, context) in chunk],
            )
            requests.append(_Request(path, json.dumps(body), [row for row, _ in chunk]))
        return _Plan(resolved, rows, requests)

    def _vectors(
        self,
        entity_type: str,
        feature_names: Sequence[str],
        plan: _Plan,
        answers: Sequence[Any],
    ) -> list[FeatureVector]:
        """One vector per position from the answers, through the shared cell rule."""
        cells_of: dict[_Row, dict[str, Cell]] = {}
        for request, answer in zip(plan.requests, answers, strict=True):
            cells = parse_features_response(answer, len(request.rows))
            cells_of.update(zip(request.rows, cells, strict=True))
        now = utcnow()
        max_age = max_age_for(self.max_age_seconds, entity_type)
        return [
            assemble(
                row[0],
                entity_type,
                feature_names,
                {name: cells_of[row].get(full, _MISSING) for name, full in plan.resolved.items()},
                source=self.source,
                now=now,
                max_age=max_age,
            )
            for row in plan.rows
        ]

    def _read(self, request: _Request, entity_type: str) -> Any:
        what = f"a read of {len(request.rows)} '{entity_type}' entities"
        return self._check(
            self._send("POST", request.path, what, request.body, idempotent=True), what
        )

    async def _aread(self, request: _Request, entity_type: str) -> Any:
        what = f"a read of {len(request.rows)} '{entity_type}' entities"
        return self._check(
            await self._asend("POST", request.path, what, request.body, idempotent=True), what
        )

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        """Read ``feature_names`` for ``entity_ids``; each id's ``request_data`` is merged
        over the fixed ``request_context`` into its row's ``request_context_map``, and an
        id asked for with different request data is a row of its own."""
        check_request(entity_ids, entity_type, feature_names)
        data = check_request_data(entity_ids, request_data)
        service = self.service(feature_names)
        plan = self._plan(service, entity_ids, entity_type, feature_names, data)
        answers = map_beside(lambda request: self._read(request, entity_type), plan.requests)
        return self._vectors(entity_type, feature_names, plan, answers)

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        data = check_request_data(entity_ids, request_data)
        service = await self.aservice(feature_names)
        plan = self._plan(service, entity_ids, entity_type, feature_names, data)
        answers = await asyncio.gather(*(self._aread(r, entity_type) for r in plan.requests))
        return self._vectors(entity_type, feature_names, plan, answers)

    # ------------------------------------------------------------------ health

    def health_check(self) -> bool:
        """True when the metadata endpoint answers 200 with this key (never raises)."""
        try:
            self._remember(self._metadata("a health check"))
            return True
        except Exception:  # a health check reports, never raises
            return False

    async def ahealth_check(self) -> bool:
        try:
            self._remember(await self._ametadata("a health check"))
            return True
        except Exception:  # a health check reports, never raises
            return False
