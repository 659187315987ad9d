"""Read features from Feast's feature server (``feast serve``) over pooled HTTP.

Many app servers can share one Feast deployment this way. The protocol (names,
bodies, answers) is in :mod:`.protocol`; the connection pools, retries and error
mapping are the shared :class:`~llm_featurestore.clients.http.HttpBackend`.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar

import httpx

from llm_featurestore.clients.base import check_request
from llm_featurestore.clients.feast.request_data import request_columns, single_request_data
from llm_featurestore.clients.feast_http.config import FeastHttpClientConfig
from llm_featurestore.clients.feast_http.on_demand import (
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
from llm_featurestore.clients.http.base import HttpBackend, positional_settings
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    unknown_entity_type,
)
from llm_featurestore.models import FeatureVector
from llm_featurestore.settings import settings_from

__all__ = ["FeastHttpClient"]

_MAX_PLANS = 1024
_HINT = " (per FeastHttpClient(request_fields=...); views and services it omits take none)"
_DROPPED = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)
"""How a pooled connection the server closed fails when reused."""


def _dropped(exc: FeatureStoreUnavailableError) -> bool:
    """Whether a read failed on a connection the server had closed.

    ``feast serve`` closes the connection after every error answer (Starlette re-raises
    the exception its handler answered), so the read after a refused one may find its
    pooled connection gone. Reads are safe to resend, once.
    """
    return isinstance(exc.__cause__, _DROPPED)


class FeastHttpClient(HttpBackend):
    """Features from a Feast feature server (``feast serve``), over pooled HTTP.

    Args:
        config: The settings (:class:`FeastHttpClientConfig`), or the server's base URL
            (``FeastHttpClient("http://127.0.0.1:6566", timeout_s=...)``).
        transport: Replaces the network for sync calls (e.g. ``httpx.MockTransport``).
        async_transport: Replaces the network for async calls.
        **fields: The settings as keyword arguments, instead of ``config``: ``url``,
            ``timeout_s``, ``max_connections``, ``retries``, ``join_keys``,
            ``ttl_seconds``, ``features`` and ``request_fields`` (see
            :class:`FeastHttpClientConfig`).

    The HTTP clients are created on first use and released by :meth:`close` /
    :meth:`aclose`. Reads take request data for on-demand features like
    :class:`~llm_featurestore.clients.feast.FeastClient`'s (see :mod:`.on_demand`).

    Raises:
        FeatureConfigError: a setting is unknown or invalid (the message names it).
    """

    source = "feast_http"
    config_class = FeastHttpClientConfig
    service_name = SERVICE_NAME
    accepts_request_data: ClassVar[bool] = True
    config: FeastHttpClientConfig

    def __init__(
        self,
        config: FeastHttpClientConfig | str | None = None,
        /,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        **fields: Any,
    ) -> None:
        if isinstance(config, str):
            fields = positional_settings("FeastHttpClient", ("url",), (config,), fields)
            config = None
        self.config = settings_from(FeastHttpClientConfig, config, fields)
        self._plans: dict[tuple[str, tuple[str, ...]], HttpPlan] = {}
        self._init_http(transport=transport, async_transport=async_transport)

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
            response.status_code, response.text, self.url, entity_type=entity_type, what=what
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
                body = flow.send(self._post(what, body))
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
                body = flow.send(await self._apost(what, body))
        except StopIteration as done:
            vectors: list[FeatureVector] = done.value
            return vectors

    def get_features(
        self,
        entity_id: str,
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Mapping[str, Any] | None = None,
    ) -> FeatureVector:
        """One entity's features; ``request_data`` is its one mapping."""
        batch = single_request_data(request_data)
        return self.get_batch_features([entity_id], entity_type, feature_names, request_data=batch)[
            0
        ]

    async def aget_features(
        self,
        entity_id: str,
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Mapping[str, Any] | None = None,
    ) -> FeatureVector:
        batch = single_request_data(request_data)
        vectors = await self.aget_batch_features(
            [entity_id], entity_type, feature_names, request_data=batch
        )
        return vectors[0]

    def _post(self, what: str, body: str) -> httpx.Response:
        """``POST /get-online-features``, resent once on a dropped connection."""
        try:
            return self._send("POST", PATH, what, body)
        except FeatureStoreUnavailableError as exc:
            if not _dropped(exc):
                raise
        return self._send("POST", PATH, what, body)

    async def _apost(self, what: str, body: str) -> httpx.Response:
        """Async twin of :meth:`_post`."""
        try:
            return await self._asend("POST", PATH, what, body)
        except FeatureStoreUnavailableError as exc:
            if not _dropped(exc):
                raise
        return await self._asend("POST", PATH, what, body)

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
