"""The connections of a Redis store: one sync pool, one async pool per event loop.

``redis.asyncio`` binds connections to the loop that opened them, while a store
often outlives a loop, so async pools are kept per running loop and closed when that
loop shuts down (:class:`~llm_featurestore.clients._aio.PerLoop`). Driver errors are
mapped here, with the driver's exception chained: connection failures raise
:class:`FeatureStoreUnavailableError`, socket timeouts :class:`FeatureTimeoutError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from llm_featurestore._deps import require
from llm_featurestore.clients._aio import PerLoop
from llm_featurestore.clients.redis.config import RedisFeatureStoreConfig, redact_url
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)

redis = require("redis", extra="redis")
redis_asyncio = require("redis.asyncio", extra="redis")
_backoff = require("redis.backoff", extra="redis")
_retry = require("redis.retry", extra="redis")
_aretry = require("redis.asyncio.retry", extra="redis")

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis as SyncRedis
    from redis.asyncio import Redis as AsyncRedis

__all__ = ["DriverError", "RedisConnections"]

DriverError: type[Exception] = redis.RedisError
"""The root of the driver's exceptions."""


class RedisConnections:
    """The sync client and the per-loop async clients of one store.

    Args:
        config: The store's settings (URL, timeouts, retries, pool size).
        client: A ready ``redis.Redis`` to use instead of one built from the URL; the
            caller keeps ownership (:meth:`close` leaves it open).
        async_client: A ready ``redis.asyncio.Redis``, used from whatever loop calls.
    """

    def __init__(
        self,
        config: RedisFeatureStoreConfig,
        client: SyncRedis[bytes] | None = None,
        async_client: AsyncRedis[bytes] | None = None,
    ) -> None:
        self._config = config
        self._owns_client = client is None
        self._client: SyncRedis[bytes] | None = client
        self.async_client = async_client
        """The caller's async client, or ``None`` to use one pool per event loop."""
        self._async = PerLoop(self._make_async, self._close_async)
        if client is None:
            self._client = self._make_sync()

    def _pool_kwargs(self) -> dict[str, float | int]:
        timeout = self._config.socket_timeout_s
        return {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "max_connections": self._config.max_connections,
        }

    def _make_sync(self) -> SyncRedis[bytes]:
        url = self._config.url
        try:
            client: SyncRedis[bytes] = redis.Redis.from_url(
                url,
                retry=_retry.Retry(_backoff.NoBackoff(), self._config.retries),
                **self._pool_kwargs(),
            )
        except ValueError as exc:
            raise FeatureConfigError(
                f"Invalid Redis URL {redact_url(url)!r} (setting url): {exc}. "
                "Use redis://host:port/db, rediss://... or unix:///path.sock"
            ) from exc
        return client

    def _make_async(self) -> AsyncRedis[bytes]:
        if self.async_client is not None:
            return self.async_client
        client: AsyncRedis[bytes] = redis_asyncio.Redis.from_url(
            self._config.url,
            retry=_aretry.Retry(_backoff.NoBackoff(), self._config.retries),
            **self._pool_kwargs(),
        )
        return client

    async def _close_async(self, client: AsyncRedis[bytes]) -> None:
        if client is not self.async_client:
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate aclose

    @property
    def sync(self) -> SyncRedis[bytes]:
        """The sync client.

        Raises:
            FeatureStoreUnavailableError: the connections were closed.
        """
        if self._client is None:
            raise FeatureStoreUnavailableError("This RedisFeatureStore is closed")
        return self._client

    def peek_async(self) -> AsyncRedis[bytes] | None:
        """The async client of the running loop, if there is one yet (no await)."""
        return self.async_client if self.async_client is not None else self._async.peek()

    async def get_async(self) -> AsyncRedis[bytes]:
        """The async client of the running loop, opened on first use."""
        client = self.peek_async()
        return client if client is not None else await self._async.get()

    @contextmanager
    def errors(self, action: str, *args: object) -> Iterator[None]:
        """Map driver errors; ``action % args`` (formatted only on error) says what failed."""
        try:
            yield
        except redis.TimeoutError as exc:
            raise FeatureTimeoutError(
                f"Redis at {redact_url(self._config.url)} did not answer within "
                f"{self._config.socket_timeout_s}s while {action % args}; check the "
                "server's load or raise socket_timeout_s"
            ) from exc
        except redis.ConnectionError as exc:
            raise FeatureStoreUnavailableError(
                f"Cannot reach Redis at {redact_url(self._config.url)} while {action % args}: "
                f"{str(exc).rstrip('.')}. "
                "Check that redis-server is running and the URL (host, port, password) is right"
            ) from exc
        except redis.RedisError as exc:
            raise FeatureStoreUnavailableError(
                f"Redis at {redact_url(self._config.url)} failed while {action % args}: {exc}"
            ) from exc

    def close(self) -> None:
        """Release the sync pool (unless the caller owns it). Safe to call more than once."""
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Release the running loop's async pool now (others close with their loops)."""
        await self._async.aclose()
