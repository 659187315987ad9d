"""The HTTP backend base: pooled sync and per-loop async clients, retries, error mapping.

:class:`HttpBackend` holds everything an HTTP feature store needs besides its
protocol: one lazily built ``httpx.Client`` for sync calls and one
``httpx.AsyncClient`` per running event loop (:class:`~llm_featurestore.clients._aio.PerLoop`),
both with the same connection limits, timeout and TLS context (:mod:`.tls`: the
process-wide one, or one built from ``ca_bundle``/``client_cert``/``client_key``); the
send loop, whose retry decisions are :class:`~.retry.Attempts` (reads: connection
errors and transient answers, with backoff inside ``timeout_s``; writes: today's
immediate resend after a connection error); the mapping of transport errors, TLS
failures and statuses to the library's errors (:mod:`.errors`, :mod:`.tls`); and
idempotent ``close``/``aclose``.

A subclass sets ``self.config`` (its settings model: ``url``, ``timeout_s``,
``max_connections``, ``retries`` and :class:`~.config.HttpClientSettings`), calls
:meth:`_init_http`, and supplies ``service_name``, :meth:`_auth_hint`, for
protocol-specific statuses :meth:`_protocol_error`, and for answers a read must not
retry :meth:`_transient`.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from typing import Any, ClassVar, Protocol

import httpx

from llm_featurestore.clients._aio import PerLoop
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.http.errors import response_error, transport_error
from llm_featurestore.clients.http.retry import TRANSIENT_STATUSES, Attempts
from llm_featurestore.clients.http.tls import tls_context, tls_error, tls_failure
from llm_featurestore.errors import FeatureStoreError, FeatureStoreUnavailableError

__all__ = ["HttpBackend", "HttpSettings"]


class HttpSettings(Protocol):
    """The settings every HTTP backend's config model has."""

    @property
    def url(self) -> str: ...
    @property
    def timeout_s(self) -> float: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def retries(self) -> int: ...
    @property
    def retry_backoff_s(self) -> float: ...
    @property
    def retry_backoff_max_s(self) -> float: ...
    @property
    def ca_bundle(self) -> str | None: ...
    @property
    def client_cert(self) -> str | None: ...
    @property
    def client_key(self) -> str | None: ...


_TRANSPORT_ERRORS = (httpx.TransportError, ssl.SSLError)
"""A request that got no answer. httpx's async TLS stream lets an alert the server sends
after the handshake (a refused client certificate) escape as a bare ``ssl.SSLError``."""


async def _aclose(client: httpx.AsyncClient) -> None:
    await client.aclose()


class HttpBackend(FeatureStoreClient):
    """A feature store spoken to over HTTP (see the module docstring)."""

    resend_dropped: ClassVar[bool] = False
    """Resend once after a pooled connection the server had closed, even with
    ``retries=0`` (``feast serve`` closes its connection after every error answer)."""

    service_name: ClassVar[str] = "the HTTP feature server"
    """How messages name the server, as in "Cannot reach <service_name> at <url>"."""

    config: HttpSettings

    def _init_http(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Prepare the (lazily opened) connection pools; ``transport``s replace the network.

        The TLS context is built and the credential headers are read here, so a bad
        ``ca_bundle``, ``client_cert`` or ``client_key``, or an unset variable holding a
        credential, fails when the client is built (:class:`FeatureConfigError`).
        """
        self._ssl_context = tls_context(self.config)
        self._headers()  # credentials from the environment: a missing one fails now
        self._transport = transport
        self._async_transport = async_transport
        self._client: httpx.Client | None = None
        self._client_lock = threading.Lock()
        self._async: PerLoop[httpx.AsyncClient] = PerLoop(self._new_async_client, _aclose)

    # ------------------------------------------------------------------ settings

    @property
    def url(self) -> str:
        """The server's base URL, without a trailing slash."""
        return self.config.url

    @property
    def timeout_s(self) -> float:
        return self.config.timeout_s

    @property
    def max_connections(self) -> int:
        return self.config.max_connections

    @property
    def retries(self) -> int:
        return self.config.retries

    def _headers(self) -> dict[str, str]:
        """Headers of every request besides ``Content-Type: application/json`` (built per
        pool, so secrets stay out of ``vars()``)."""
        return {}

    def _auth_hint(self) -> str:
        """What to check when the server refuses the credentials (names the setting)."""
        return f"{type(self).__name__} sends no credentials; the server at {self.url} wants some"

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.url,
            "headers": {"Content-Type": "application/json", **self._headers()},
            "timeout": httpx.Timeout(self.timeout_s),
            "verify": self._ssl_context,
            "limits": httpx.Limits(
                max_connections=self.max_connections,
                max_keepalive_connections=self.max_connections,
            ),
        }

    # ------------------------------------------------------------------ pools

    @property
    def http(self) -> httpx.Client:
        """The pooled sync client (created on first use, again after :meth:`close`)."""
        client = self._client
        if client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = httpx.Client(transport=self._transport, **self._client_kwargs())
                client = self._client
        return client

    def _new_async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self._async_transport, **self._client_kwargs())

    async def ahttp(self) -> httpx.AsyncClient:
        """The pooled async client of the running event loop (created on first use).

        An ``httpx.AsyncClient`` only works on the loop it was created on, so there is
        one per loop, closed when that loop shuts down (see :class:`PerLoop`).
        """
        return self._async.peek() or await self._async.get()

    def close(self) -> None:
        """Close the sync pool (async pools close with their loops). Safe to repeat."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        """Close this loop's async pool and the sync pool. Safe to repeat."""
        await self._async.aclose()
        self.close()

    # ------------------------------------------------------------------ exchanges

    def _attempts(self, idempotent: bool) -> Attempts:
        """The retry policy of one request (see :mod:`.retry`)."""
        config = self.config
        return Attempts(
            retries=config.retries,
            timeout_s=config.timeout_s,
            backoff_s=config.retry_backoff_s,
            backoff_max_s=config.retry_backoff_max_s,
            idempotent=idempotent,
            resend_dropped=self.resend_dropped,
        )

    def _transient(self, response: httpx.Response) -> bool:
        """Whether a read may be retried after ``response`` (500, 502, 503 and 504 by
        default; a backend excludes answers it knows to be request errors)."""
        return response.status_code in TRANSIENT_STATUSES

    @staticmethod
    def _timeout(attempts: Attempts) -> Any:
        seconds = attempts.timeout()
        return httpx.USE_CLIENT_DEFAULT if seconds is None else httpx.Timeout(seconds)

    def _send(
        self,
        method: str,
        path: str,
        what: str,
        content: str | None = None,
        *,
        idempotent: bool = False,
    ) -> httpx.Response:
        """One request and its retries (:mod:`.retry`; ``idempotent``: a read); the last
        answer is returned, whatever its status; transport errors become ours."""
        attempts = self._attempts(idempotent)
        while True:
            try:
                response = self.http.request(
                    method, path, content=content, timeout=self._timeout(attempts)
                )
            except _TRANSPORT_ERRORS as exc:
                wait = attempts.after_error(exc)
                if wait is None:
                    raise self._transport_error(exc, what) from exc
            else:
                wait = attempts.after_answer(self._transient(response))
                if wait is None:
                    return response
            time.sleep(wait)

    async def _asend(
        self,
        method: str,
        path: str,
        what: str,
        content: str | None = None,
        *,
        idempotent: bool = False,
    ) -> httpx.Response:
        """Async twin of :meth:`_send`."""
        client = await self.ahttp()
        attempts = self._attempts(idempotent)
        while True:
            try:
                response = await client.request(
                    method, path, content=content, timeout=self._timeout(attempts)
                )
            except _TRANSPORT_ERRORS as exc:
                wait = attempts.after_error(exc)
                if wait is None:
                    raise self._transport_error(exc, what) from exc
            else:
                wait = attempts.after_answer(self._transient(response))
                if wait is None:
                    return response
            await asyncio.sleep(wait)

    def _transport_error(self, exc: Exception, what: str) -> FeatureStoreUnavailableError:
        failure = tls_failure(exc)
        if failure is not None:
            return tls_error(self.service_name, self.url, what, failure, self.config)
        assert isinstance(exc, httpx.HTTPError)
        return transport_error(self.service_name, self.url, exc, what, self.timeout_s)

    def _check(self, response: httpx.Response, what: str) -> Any:
        """A 200 answer's JSON body; any other answer raises the mapped error."""
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError as exc:
                raise FeatureStoreUnavailableError(
                    f"{self.service_name[:1].upper()}{self.service_name[1:]} at {self.url} "
                    f"answered {what} with a body that is not JSON: {response.text[:200]!r}"
                ) from exc
        raise self._status_error(response.status_code, response.text, what)

    def _status_error(self, code: int, text: str, what: str) -> FeatureStoreError:
        return response_error(
            self.service_name,
            self.url,
            code,
            text,
            what=what,
            auth_hint=self._auth_hint(),
            protocol=self._protocol_error,
        )

    def _protocol_error(self, code: int, text: str, detail: str) -> FeatureStoreError | None:
        """The backend's own reading of an error status, or ``None`` for the shared one."""
        return None
