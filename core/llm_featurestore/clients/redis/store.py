"""Features kept directly in Redis: one hash per entity, read with pipelined ``HMGET``.

The key layout and the byte encoding are in :mod:`.codec`, the settings in
:mod:`.config`, the connection pools and error mapping in :mod:`.connection`, the
copy of the name registry in :mod:`.registry`.

* Reads cost one round trip whatever the number of entities: a single entity is one
  ``HMGET``; a batch is one non-transactional pipeline of ``HMGET``s. Each reply is
  judged cell by cell by the shared rule (:func:`.codec.decode_row` calls
  :func:`~llm_featurestore.clients.cells.classify`).
* Feature names are checked against a per-process copy of each type's
  ``__features__`` set, refreshed from Redis only when a requested name is not in it;
  the check is written once (:meth:`.registry.NameRegistry.check`) and driven sync or async.
* A write validates every value before the first command
  (:func:`~llm_featurestore.clients.base.check_write`), then sends ``HSET`` (values and
  timestamps), the optional ``PEXPIRE`` and the registry ``SADD``s in one
  ``MULTI``/``EXEC`` block, so readers never see half a write.

Sync calls use ``redis.Redis``; async calls use ``redis.asyncio`` natively (no threads).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from llm_featurestore.clients.base import (
    BoundedRead,
    RequestData,
    WritableFeatureStore,
    check_request,
    check_write,
    refuse_request_data,
)
from llm_featurestore.clients.cells import max_age_for
from llm_featurestore.clients.redis.codec import (
    FEATURES_SET,
    TS_PREFIX,
    check_key_parts,
    decode_row,
    encode_values,
    entity_key,
    features_key,
    hmget_fields,
    types_key,
)
from llm_featurestore.clients.redis.config import RedisFeatureStoreConfig, redact_url
from llm_featurestore.clients.redis.connection import DriverError, RedisConnections
from llm_featurestore.clients.redis.registry import NameRegistry, NamesFlow
from llm_featurestore.errors import (
    FeatureStoreUnavailableError,
    FeatureValidationError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow
from llm_featurestore.settings import MaxAgeSeconds, client_settings

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis as SyncRedis
    from redis.asyncio import Redis as AsyncRedis

__all__ = ["RedisFeatureStore"]

_NOTHING: tuple[dict[str, Any], dict[str, FeatureStatus], dict[str, datetime | None]] = ({}, {}, {})
"""What :func:`decode_row` gives for an entity the hash does not hold (never mutated)."""


class _Write(NamedTuple):
    """A validated write: the hash key and its fields, the expiry, the names it sets."""

    key: str
    entity_type: str
    fields: dict[str, str]
    ttl_ms: int | None

    @property
    def names(self) -> list[str]:
        return [f for f in self.fields if not f.startswith(TS_PREFIX)]


def _ttl_ms(ttl_seconds: float | None) -> int | None:
    if ttl_seconds is None:
        return None
    if not (ttl_seconds > 0 and math.isfinite(ttl_seconds)):
        raise FeatureValidationError(
            f"ttl_seconds must be a positive number of seconds or None, got {ttl_seconds!r}"
        )
    return max(1, round(ttl_seconds * 1000))


class RedisFeatureStore(WritableFeatureStore):
    """Read and write features in Redis hashes (see :mod:`.codec` for the layout).

    Args:
        config: The settings (:class:`RedisFeatureStoreConfig`); or, as a shorthand,
            the URL as a string. Omit it to pass the settings as keyword arguments.
        *more: Nothing: further positional arguments are refused with a
            :class:`FeatureConfigError` (the rule of
            :func:`~llm_featurestore.settings.client_settings`).
        client: A ready ``redis.Redis`` to use instead of one built from ``url``; it must
            not set ``decode_responses``. The caller keeps ownership (``close`` leaves it open).
        async_client: Likewise a ready ``redis.asyncio.Redis``; it is used from whatever
            loop calls, so it must only be used from the loop that created it.
        **fields: The fields of :class:`RedisFeatureStoreConfig` (``url``, ``namespace``,
            ``max_age_seconds``, ``socket_timeout_s``, ``retries``, ``max_connections``).

    Raises:
        FeatureConfigError: a setting is unknown or out of bounds (the message names
            it), or the URL cannot be parsed.
    """

    source = "redis"
    config_class = RedisFeatureStoreConfig
    positional_settings: ClassVar[tuple[str, ...]] = ("url",)

    def __init__(
        self,
        config: RedisFeatureStoreConfig | str | None = None,
        /,
        *more: Any,
        client: SyncRedis[bytes] | None = None,
        async_client: AsyncRedis[bytes] | None = None,
        **fields: Any,
    ) -> None:
        self.config: RedisFeatureStoreConfig = client_settings(
            RedisFeatureStoreConfig,
            type(self).__name__,
            (config, *more),
            fields,
            positional=self.positional_settings,
        )
        self._conn = RedisConnections(self.config, client, async_client)
        self._registry = NameRegistry(self.config.namespace)
        self._external_client = client is not None
        self._bounded: dict[float, RedisFeatureStore] = {}

    def __repr__(self) -> str:
        return f"RedisFeatureStore(url={redact_url(self.url)!r}, namespace={self.namespace!r})"

    @property
    def url(self) -> str:
        """The Redis URL (with its password: show :func:`redact_url` of it instead)."""
        return self.config.url

    @property
    def namespace(self) -> str:
        """The prefix of every key this store touches."""
        return self.config.namespace

    @property
    def max_age_seconds(self) -> MaxAgeSeconds:
        """Values older than this (one number, or per entity type) read as STALE."""
        return self.config.max_age_seconds

    @property
    def socket_timeout_s(self) -> float:
        """Seconds to wait for a reply or a connection."""
        return self.config.socket_timeout_s

    @property
    def client(self) -> SyncRedis[bytes]:
        """The sync ``redis.Redis`` in use (e.g. for administration in tests)."""
        return self._conn.sync

    def key(self, entity_type: str, entity_id: str) -> str:
        """The hash key holding one entity's features."""
        return entity_key(self.namespace, entity_type, entity_id)

    # ------------------------------------------------------------------ names

    def _run_names(self, flow: NamesFlow) -> frozenset[str]:
        client = self.client
        with self._conn.errors("listing features"):
            try:
                key = next(flow)
                while True:
                    key = flow.send(client.smembers(key))
            except StopIteration as done:
                known: frozenset[str] = done.value
                return known

    async def _arun_names(self, flow: NamesFlow) -> frozenset[str]:
        client = await self._conn.get_async()
        with self._conn.errors("listing features"):
            try:
                key = next(flow)
                while True:
                    key = flow.send(await client.smembers(key))
            except StopIteration as done:
                known: frozenset[str] = done.value
                return known

    def list_features(self, entity_type: str) -> list[str]:
        return sorted(self._run_names(self._registry.check(entity_type, (), refresh=True)))

    def list_entity_types(self) -> list[str]:
        """Entity types that hold at least one written feature in this namespace."""
        with self._conn.errors("listing entity types"):
            members = self.client.smembers(types_key(self.namespace))
        return sorted(t.decode("utf-8") for t in members)

    # ------------------------------------------------------------------ reads

    def _keys(self, entity_type: str, entity_ids: Sequence[str]) -> list[str]:
        # The registry set shares the key space of entities: that id is never read.
        return [self.key(entity_type, eid) for eid in entity_ids if eid != FEATURES_SET]

    def _assemble(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        replies: Iterator[Sequence[bytes | None]],
    ) -> list[FeatureVector]:
        now = utcnow()
        max_age = max_age_for(self.max_age_seconds, entity_type)
        out: list[FeatureVector] = []
        for eid in entity_ids:
            if eid == FEATURES_SET:
                values, statuses, stamps = _NOTHING
            else:
                key = self.key(entity_type, eid)
                values, statuses, stamps = decode_row(
                    next(replies), feature_names, key=key, max_age=max_age, now=now
                )
            vector = FeatureVector.build(
                entity_id=eid,
                entity_type=entity_type,
                feature_names=feature_names,
                values=values,
                statuses=statuses,
                event_timestamps=stamps,
                source=self.source,
                retrieved_at=now,
            )
            out.append(vector)
        return out

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        refuse_request_data(self, entity_ids, request_data)
        if not self._registry.knows(entity_type, feature_names):
            self._run_names(self._registry.check(entity_type, feature_names))
        fields = hmget_fields(feature_names)
        keys = self._keys(entity_type, entity_ids)
        client = self.client
        with self._conn.errors("reading %d '%s' entities", len(keys), entity_type):
            if len(keys) == 1:
                replies: list[Sequence[bytes | None]] = [client.hmget(keys[0], fields)]
            elif keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.hmget(key, fields)
                replies = pipe.execute()
            else:
                replies = []
        return self._assemble(entity_ids, entity_type, feature_names, iter(replies))

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        refuse_request_data(self, entity_ids, request_data)
        if not self._registry.knows(entity_type, feature_names):
            await self._arun_names(self._registry.check(entity_type, feature_names))
        fields = hmget_fields(feature_names)
        keys = self._keys(entity_type, entity_ids)
        client = self._conn.peek_async()
        if client is None:
            client = await self._conn.get_async()
        with self._conn.errors("reading %d '%s' entities", len(keys), entity_type):
            if len(keys) == 1:
                replies: list[Sequence[bytes | None]] = [await client.hmget(keys[0], fields)]
            elif keys:
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.hmget(key, fields)
                replies = await pipe.execute()
            else:
                replies = []
        return self._assemble(entity_ids, entity_type, feature_names, iter(replies))

    def bounded_reader(self, timeout_s: float) -> BoundedRead | None:
        """Reads whose socket waits, its retries included, give up within ``timeout_s``:
        this store's own when its ``socket_timeout_s`` already fits, else a second pool
        with ``socket_timeout_s = timeout_s / (retries + 1)`` (sharing this store's
        names). ``None`` for a caller's own ``client=``, whose timeouts are the caller's.
        """
        if self._external_client:
            return None
        store = self
        per_try = timeout_s / (self.config.retries + 1)
        if per_try < self.config.socket_timeout_s:
            found = self._bounded.get(timeout_s)
            if found is None:
                found = RedisFeatureStore(
                    self.config.model_copy(update={"socket_timeout_s": per_try})
                )
                found._registry = self._registry
                found = self._bounded.setdefault(timeout_s, found)
            store = found

        def read(
            entity_ids: Sequence[str],
            entity_type: str,
            feature_names: Sequence[str],
            request_data: Sequence[RequestData] | None,
        ) -> list[FeatureVector]:
            return store.get_batch_features(
                entity_ids, entity_type, feature_names, request_data=request_data
            )

        return read

    # ------------------------------------------------------------------ writes

    def _prepare_write(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None,
        ttl_seconds: float | None,
    ) -> _Write:
        """Validate a write before any I/O and build what it stores."""
        request = check_write(entity_id, entity_type, features, event_timestamp)
        check_key_parts(entity_id, entity_type)
        ttl_ms = _ttl_ms(ttl_seconds)
        fields = encode_values(request.values, request.event_timestamp)
        return _Write(self.key(entity_type, entity_id), entity_type, fields, ttl_ms)

    def _queue(self, pipe: Any, write: _Write) -> None:
        pipe.hset(write.key, mapping=write.fields)
        if write.ttl_ms is not None:
            pipe.pexpire(write.key, write.ttl_ms)
        pipe.sadd(features_key(self.namespace, write.entity_type), *write.names)
        pipe.sadd(types_key(self.namespace), write.entity_type)

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
        *,
        ttl_seconds: float | None = None,
    ) -> None:
        """Validate and store ``features`` for one entity, all or nothing.

        Args:
            entity_id: The entity's id (not ``"__features__"``, which is reserved).
            entity_type: E.g. ``"user"``; may not contain ``":"``.
            features: Name to value (see
                :func:`~llm_featurestore.clients.base.validate_feature_values`).
            event_timestamp: When the values were observed (naive means UTC); now when
                omitted.
            ttl_seconds: Expire the entity's whole hash this many seconds from now
                (``PEXPIRE``). ``None`` leaves any existing expiry as it is.

        Raises:
            FeatureConfigError: an empty entity id or type; nothing was written.
            FeatureValidationError: a reserved id, a ``:`` in the entity type, or a bad
                name, value or TTL; nothing was written.
            FeatureStoreUnavailableError: Redis could not be reached (nothing was written).
        """
        write = self._prepare_write(entity_id, entity_type, features, event_timestamp, ttl_seconds)
        with self._conn.errors("writing '%s' entity %r", entity_type, entity_id):
            pipe = self.client.pipeline(transaction=True)
            self._queue(pipe, write)
            pipe.execute()
        self._registry.learn(write.entity_type, write.names)

    async def awrite_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
        *,
        ttl_seconds: float | None = None,
    ) -> None:
        """Async twin of :meth:`write_features`."""
        write = self._prepare_write(entity_id, entity_type, features, event_timestamp, ttl_seconds)
        client = await self._conn.get_async()
        with self._conn.errors("writing '%s' entity %r", entity_type, entity_id):
            pipe = client.pipeline(transaction=True)
            self._queue(pipe, write)
            await pipe.execute()
        self._registry.learn(write.entity_type, write.names)

    # ------------------------------------------------------------------ health and lifecycle

    def health_check(self) -> bool:
        try:
            return bool(self.client.ping())
        except (DriverError, FeatureStoreUnavailableError):
            return False

    async def ahealth_check(self) -> bool:
        try:
            client = await self._conn.get_async()
            return bool(await client.ping())
        except DriverError:
            return False

    def close(self) -> None:
        """Release the sync connection pool (async pools close with their loops, or
        via :meth:`aclose`). Safe to call more than once."""
        self._conn.close()
        for bounded in self._bounded.values():
            bounded.close()

    async def aclose(self) -> None:
        """Release this loop's async pool and the sync pool."""
        await self._conn.aclose()
        self.close()
