"""Read, write and push features through Feast's feature server (``feast serve``) over
pooled HTTP.

Many app servers can share one Feast deployment this way. The read protocol (names,
bodies, answers) is in :mod:`.protocol`, writes and pushes in :mod:`.writes`; the
connection pools, retries and error mapping are the shared
:class:`~llm_featurestore.clients.http.HttpBackend`.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import httpx

from llm_featurestore.clients.base import (
    EntityKey,
    PushableFeatureStore,
    PushMode,
    check_request,
)
from llm_featurestore.clients.feast.request_data import request_columns
from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig
from llm_featurestore.clients.feast_http.on_demand import (
    MISSING_MARKER,
    bare_names_plan,
    missing_request_data_error,
    with_request_fields,
)
from llm_featurestore.clients.feast_http.protocol import (
    PATH,
    SERVICE_NAME,
    HttpPlan,
    MissingColumnError,
    build_request,
    error_for_response,
    name_index,
    parse_response,
    resolve_http_names,
)
from llm_featurestore.clients.feast_http.writes import Flow, Read, Step, push_flow, write_flow
from llm_featurestore.clients.http.base import HttpBackend
from llm_featurestore.errors import (
    FeatureConfigError,
    unknown_entity_type,
)
from llm_featurestore.models import FeatureVector, utcnow
from llm_featurestore.settings import client_settings

__all__ = ["FeastHttpClient"]

_MAX_PLANS = 1024
_HINT = " (per FeastHttpClient(request_fields=...); views and services it omits take none)"
R = TypeVar("R")


class FeastHttpClient(HttpBackend, PushableFeatureStore):
    """Features from a Feast feature server (``feast serve``), over pooled HTTP.

    Args:
        config: The settings (:class:`FeastHttpClientConfig`), or the server's base URL
            (``FeastHttpClient("http://127.0.0.1:6566", timeout_s=...)``).
        *more: Nothing: further positional arguments are refused with a
            :class:`FeatureConfigError` (the rule of
            :func:`~llm_featurestore.settings.client_settings`).
        transport: Replaces the network for sync calls (e.g. ``httpx.MockTransport``).
        async_transport: Replaces the network for async calls.
        **fields: The settings as keyword arguments, instead of ``config``: ``url``,
            ``timeout_s``, ``max_connections``, ``retries``, ``join_keys``,
            ``ttl_seconds``, ``features``, ``request_fields``, the credentials
            ``token_env`` and ``header_env`` (names of environment variables),
            ``headers``, and the TLS and backoff settings ``ca_bundle``,
            ``client_cert``, ``client_key``, ``retry_backoff_s`` and
            ``retry_backoff_max_s`` (see :class:`FeastHttpClientConfig`).

    The HTTP clients are created on first use and released by :meth:`close` /
    :meth:`aclose`. Reads take request data for on-demand features like
    :class:`~llm_featurestore.clients.feast.FeastClient`'s (see :mod:`.on_demand`).

    Reads are retried after connection errors and 5xx answers within ``timeout_s``;
    writes and pushes only after connection errors (:mod:`~llm_featurestore.clients.http.retry`).

    Raises:
        FeatureConfigError: a setting is unknown or invalid, a TLS file cannot be used,
            or a variable named by ``token_env``/``header_env`` is unset (the message
            names it).
    """

    source = "feast_http"
    config_class = FeastHttpClientConfig
    service_name = SERVICE_NAME
    accepts_request_data: ClassVar[bool] = True
    resend_dropped: ClassVar[bool] = True
    positional_settings: ClassVar[tuple[str, ...]] = ("url",)
    config: FeastHttpClientConfig

    def __init__(
        self,
        config: FeastHttpClientConfig | str | None = None,
        /,
        *more: Any,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        **fields: Any,
    ) -> None:
        self.config = client_settings(
            FeastHttpClientConfig,
            type(self).__name__,
            (config, *more),
            fields,
            positional=self.positional_settings,
        )
        self._plans: dict[tuple[str, tuple[str, ...]], HttpPlan] = {}
        self._init_http(transport=transport, async_transport=async_transport)

    # ------------------------------------------------------------------ the shared base's hooks

    def _headers(self) -> dict[str, str]:
        return self.config.request_headers()

    def _auth_hint(self) -> str:
        return self.config.auth_hint()

    def _transient(self, response: httpx.Response) -> bool:
        """A 5xx the server also uses for request errors (unknown names, bad ids, missing
        request data) is not retried: the same read fails the same way."""
        if not super()._transient(response) or MISSING_MARKER in response.text:
            return False
        error = error_for_response(response.status_code, response.text, self.url)
        return not isinstance(error, FeatureConfigError)

    @property
    def join_keys(self) -> dict[str, str]:
        return self.config.join_keys or {}

    @property
    def ttl_seconds(self) -> dict[str, float]:
        return self.config.ttl_seconds or {}

    @property
    def features(self) -> dict[str, list[str]] | None:
        return self.config.features

    # ------------------------------------------------------------------ plans and answers

    def _plan(self, entity_type: str, feature_names: Sequence[str]) -> HttpPlan:
        key = (entity_type, tuple(feature_names))
        plan = self._plans.get(key)
        if plan is None:
            plan = resolve_http_names(entity_type, feature_names, self.features)
            plan = with_request_fields(plan, self.config.request_fields)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _join_key(self, entity_type: str) -> str:
        return self.join_keys.get(entity_type) or f"{entity_type}_id"

    def _request(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        request_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[HttpPlan, dict[str, Any]]:
        """The plan and the body of one read, every check done before any I/O."""
        check_request(entity_ids, entity_type, feature_names)
        plan = self._plan(entity_type, feature_names)
        columns = request_columns(
            plan.request_fields, entity_ids, entity_type, request_data, json_safe=True, hint=_HINT
        )
        return plan, build_request(plan, self._join_key(entity_type), entity_ids, columns)

    def _body(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        request_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> tuple[HttpPlan, str]:
        plan, doc = self._request(entity_ids, entity_type, feature_names, request_data)
        return plan, json.dumps(doc)

    def _flow(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        request_data: Sequence[Mapping[str, Any]] | None,
    ) -> Generator[str, httpx.Response, list[FeatureVector]]:
        """One read: yields request bodies, receives their answers, returns the vectors.

        A refs read answered without some of its columns is asked again once with bare
        names (:func:`bare_names_plan`), and that plan is kept for the next reads.
        """
        plan, doc = self._request(entity_ids, entity_type, feature_names, request_data)
        if not entity_ids:
            return []
        response = yield json.dumps(doc)
        try:
            return self._answer(response, plan, entity_ids, entity_type)
        except MissingColumnError:
            bare = bare_names_plan(plan, self._join_key(entity_type))
            if bare is None:
                raise
        response = yield json.dumps({**doc, "full_feature_names": False})
        vectors = self._answer(response, bare, entity_ids, entity_type)
        self._plans[(entity_type, tuple(feature_names))] = bare
        return vectors

    def _answer(
        self,
        response: httpx.Response,
        plan: HttpPlan,
        entity_ids: Sequence[str],
        entity_type: str,
    ) -> list[FeatureVector]:
        what = self._what(entity_ids, entity_type)
        if response.status_code != 200:
            raise self._refused(response, plan, entity_type, what)
        doc = self._check(response, what)
        return parse_response(
            doc, plan, entity_ids, entity_type, ttl_seconds=self.ttl_seconds, source=self.source
        )

    def _refused(
        self, response: httpx.Response, plan: HttpPlan, entity_type: str, what: str
    ) -> Exception:
        missing = missing_request_data_error(response.text, self.url, plan)
        if missing is not None:
            return missing
        error = error_for_response(
            response.status_code,
            response.text,
            self.url,
            entity_type=entity_type,
            what=what,
            auth_hint=self._auth_hint(),
        )
        features = self.features
        if (
            plan.service is not None
            and isinstance(error, FeatureConfigError)
            and features is not None
            and entity_type in features
        ):
            # A lone bare name that is neither a known feature nor a service.
            message = name_index(entity_type, features[entity_type]).unknown(plan.service)
            refused = FeatureConfigError(f"{message} (nor a feature service: {error})")
            refused.__cause__ = error
            return refused
        return error

    # ------------------------------------------------------------------ reads

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[FeatureVector]:
        """Read ``feature_names`` for every id; ``request_data`` is one mapping per id
        (see :meth:`FeastClient.get_batch_features
        <llm_featurestore.clients.feast.FeastClient.get_batch_features>`)."""
        flow = self._flow(entity_ids, entity_type, feature_names, request_data)
        try:
            body = next(flow)
            what = self._what(entity_ids, entity_type)
            while True:
                body = flow.send(self._send("POST", PATH, what, body, idempotent=True))
        except StopIteration as done:
            vectors: list[FeatureVector] = done.value
            return vectors

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[FeatureVector]:
        flow = self._flow(entity_ids, entity_type, feature_names, request_data)
        try:
            body = next(flow)
            what = self._what(entity_ids, entity_type)
            while True:
                body = flow.send(await self._asend("POST", PATH, what, body, idempotent=True))
        except StopIteration as done:
            vectors: list[FeatureVector] = done.value
            return vectors

    @staticmethod
    def _what(entity_ids: Sequence[str], entity_type: str) -> str:
        return f"a read of {len(entity_ids)} '{entity_type}' entities"

    def health_check(self) -> bool:
        """``GET /health`` answers 200 (never raises)."""
        try:
            return self.http.get("/health").status_code == 200
        except Exception:  # a health check reports, never raises
            return False

    async def ahealth_check(self) -> bool:
        try:
            return (await (await self.ahttp()).get("/health")).status_code == 200
        except Exception:  # a health check reports, never raises
            return False

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
        return name_index(entity_type, refs).available()

    # ------------------------------------------------------------------ writes and pushes

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Write one entity's features with ``POST /write-to-online-store``, one request
        per feature view (the rules: :mod:`~llm_featurestore.clients.feast_http.writes`).

        Names are refs, or bare names resolved through ``features``; each view's
        timestamp columns are ``timestamp_columns[view]`` (default ``event_timestamp``
        and ``created``). A partial write is **merged** when ``features`` lists the
        view's features: the others are read with :meth:`get_batch_features` and
        written back unchanged (read-then-write: not atomic against another writer of
        the view; the merged row gets the new event timestamp).

        Raises:
            FeatureValidationError: a value may not be stored, or the server refused the
                row; the message has the server's words and what to pass.
            FeatureConfigError: a name that cannot be resolved, a bad id, or a view the
                server does not know.
            FeatureStoreUnavailableError: the server could not be reached or failed
                (:class:`FeatureTimeoutError` when it did not answer in time).
        """
        self._drive(
            write_flow(self.config, entity_id, entity_type, features, event_timestamp, utcnow())
        )

    async def awrite_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Async twin of :meth:`write_features`."""
        await self._adrive(
            write_flow(self.config, entity_id, entity_type, features, event_timestamp, utcnow())
        )

    def push(self, push_source: str, rows: Any, *, to: PushMode = "online") -> list[EntityKey]:
        """Push rows with ``POST /push`` to the views ``push_source`` feeds.

        ``rows``: a list of row dicts or a DataFrame, every row with the same columns;
        the source's ``timestamp_columns`` (default ``event_timestamp`` and ``created``)
        are now where left out. Returns the entities touched (join key columns from
        ``join_keys``, or ``<entity type>_id``), in row order, without duplicates.

        Raises:
            FeatureValidationError: a row or value may not be pushed, or the server
                refused the rows (the message has its words and what to pass).
            FeatureConfigError: an unknown push mode (the message lists them), or a push
                source the server does not know.
            FeatureStoreUnavailableError: the server could not be reached or failed.
        """
        return self._drive(push_flow(self.config, push_source, rows, to, utcnow()))

    async def apush(
        self, push_source: str, rows: Any, *, to: PushMode = "online"
    ) -> list[EntityKey]:
        """Async twin of :meth:`push`."""
        return await self._adrive(push_flow(self.config, push_source, rows, to, utcnow()))

    def _drive(self, flow: Flow[R]) -> R:
        """Run a write flow's steps with blocking I/O."""
        try:
            step = next(flow)
            while True:
                step = flow.send(self._do(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    async def _adrive(self, flow: Flow[R]) -> R:
        """Run a write flow's steps on the event loop."""
        try:
            step = next(flow)
            while True:
                step = flow.send(await self._ado(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]

    def _do(self, step: Step) -> Any:
        if isinstance(step, Read):
            return self.get_batch_features([step.entity_id], step.entity_type, list(step.refs))[0]
        return self._send("POST", step.path, step.what, step.body)

    async def _ado(self, step: Step) -> Any:
        if isinstance(step, Read):
            ids = [step.entity_id]
            return (await self.aget_batch_features(ids, step.entity_type, list(step.refs)))[0]
        return await self._asend("POST", step.path, step.what, step.body)
