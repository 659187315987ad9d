"""Features kept directly in Redis: one hash per entity, read with pipelined ``HMGET``.

Layout (``ns`` is the ``namespace``)::

    {ns}:{entity_type}:{entity_id}     hash   name -> JSON value, "__ts__:" + name -> event time
    {ns}:{entity_type}:__features__    set    every feature name ever written for the type
    {ns}:__entity_types__              set    every entity type ever written

* Values are JSON text, so types round-trip exactly: ``3`` stays an int, ``3.0`` a float,
  lists and flat dicts come back as written, and JSON ``null`` is reported as NULL_VALUE.
  Datetimes are stored as ISO-8601 text (see :func:`validate_feature_values`).
* Each feature carries its own event time (``__ts__:<name>``, integer microseconds since
  the Unix epoch), because writes may be partial: freshness and STALE are per feature.
* A value that is not valid JSON (written by another tool, e.g. ``HSET k name alice``) is
  returned as its raw text with status PRESENT and a logged warning, so plain-string
  writers interoperate; a field with no ``__ts__`` companion has no event time.
* Reads cost one round trip whatever the number of entities: a single entity is one
  ``HMGET``; a batch is one non-transactional pipeline of ``HMGET``s. Feature names are
  checked against a per-process copy of the ``__features__`` set, refreshed from Redis
  only when a requested name is not in it.
* A write validates every value before the first command, then sends ``HSET`` (values
  and timestamps), the optional ``PEXPIRE`` and the registry ``SADD``s in one
  ``MULTI``/``EXEC`` block, so readers never see half a write.

Sync calls use ``redis.Redis``; async calls use ``redis.asyncio`` natively (no threads),
one connection pool per running event loop, closed when that loop shuts down. Connection
failures raise :class:`FeatureStoreUnavailableError`, socket timeouts
:class:`FeatureTimeoutError`, with the driver's exception chained.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from llm_featurestore._deps import require
from llm_featurestore.clients._aio import PerLoop
from llm_featurestore.clients.base import (
    WritableFeatureStore,
    check_request,
    ensure_aware,
    max_age_for,
    validate_feature_values,
)
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
    unknown_entity_type,
    unknown_name_message,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow

redis = require("redis", extra="redis")
redis_asyncio = require("redis.asyncio", extra="redis")
_backoff = require("redis.backoff", extra="redis")
_retry = require("redis.retry", extra="redis")
_aretry = require("redis.asyncio.retry", extra="redis")

if TYPE_CHECKING:  # pragma: no cover
    from redis import Redis as SyncRedis
    from redis.asyncio import Redis as AsyncRedis

__all__ = ["RedisFeatureStore", "decode_row", "encode_features"]

logger = logging.getLogger(__name__)

TS_PREFIX = "__ts__:"
"""Hash field prefix holding a feature's event time (integer microseconds since the epoch)."""
FEATURES_SET = "__features__"
ENTITY_TYPES_SET = "__entity_types__"
_NONE: frozenset[str] = frozenset()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

T = TypeVar("T")


# --------------------------------------------------------------------------- pure helpers


def _to_micros(ts: datetime) -> int:
    delta = ensure_aware(ts) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def encode_features(features: Mapping[str, Any], event_timestamp: datetime) -> dict[str, str]:
    """Validate ``features`` and build the hash fields to store: values and their timestamps.

    Returns:
        ``{name: json_text, "__ts__:" + name: micros}`` for every feature.

    Raises:
        FeatureValidationError: a name or value may not be stored (nothing is returned).
    """
    clean = validate_feature_values(features)
    micros = str(_to_micros(event_timestamp))
    fields: dict[str, str] = {}
    for name, value in clean.items():
        if name.startswith(TS_PREFIX):
            raise FeatureValidationError(
                f"Invalid feature name {name!r}: the prefix {TS_PREFIX!r} is reserved "
                "for timestamps; rename the feature"
            )
        fields[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        fields[TS_PREFIX + name] = micros
    return fields


_JSON = json.JSONDecoder()

_fast_loads: Callable[[bytes], Any] | None
try:  # An optional accelerator: several times faster than the json module on small values.
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is usually present, but not required
    _fast_loads = None


# orjson turns integers beyond 64 bits into floats; such long digit runs go to json.
_LONG_DIGITS = re.compile(rb"\d{20,}")


def _decode_value(raw: bytes, key: str, name: str) -> Any:
    if _fast_loads is not None and not _LONG_DIGITS.search(raw):
        with contextlib.suppress(ValueError):  # e.g. NaN, which the json module accepts
            return _fast_loads(raw)
    try:
        # Decoding to str first skips json.loads' encoding sniffing of bytes.
        return _JSON.decode(raw.decode("utf-8"))
    except ValueError:
        text = raw.decode("utf-8", "replace")
        logger.warning(
            "Redis field %r of %r is not JSON; returning it as raw text. Write it with "
            "RedisFeatureStore.write_features to store typed values.",
            name,
            key,
        )
        return text


def _decode_ts(raw: bytes | None, key: str, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        return _EPOCH + timedelta(microseconds=int(raw))
    except (ValueError, OverflowError):
        logger.warning(
            "Redis field %r of %r holds no valid timestamp: %r", TS_PREFIX + name, key, raw
        )
        return None


def decode_row(
    raw: Sequence[bytes | None],
    feature_names: Sequence[str],
    *,
    key: str,
    max_age: timedelta | None,
    now: datetime,
) -> tuple[dict[str, Any], dict[str, FeatureStatus], dict[str, datetime | None]]:
    """Turn one ``HMGET`` reply into values, statuses and event times.

    Args:
        raw: The reply for fields ``feature_names + ["__ts__:" + n for n in feature_names]``.
        feature_names: The requested names, in order.
        key: The hash key (for log messages).
        max_age: Values older than this are STALE; ``None`` disables the check.
        now: The retrieval time staleness is measured against.

    Returns:
        ``(values, statuses, timestamps)`` for the features the hash holds; absent
        features are left out (the vector builder marks them NOT_FOUND).
    """
    n = len(feature_names)
    values: dict[str, Any] = {}
    statuses: dict[str, FeatureStatus] = {}
    stamps: dict[str, datetime | None] = {}
    last_raw_ts: bytes | None = None
    ts: datetime | None = None
    for i, name in enumerate(feature_names):
        blob = raw[i]
        if blob is None:
            continue
        value = _decode_value(blob, key, name)
        raw_ts = raw[n + i]
        if raw_ts != last_raw_ts or ts is None:  # features written together share one time
            ts = _decode_ts(raw_ts, key, name)
            last_raw_ts = raw_ts
        values[name] = value
        stamps[name] = ts
        if value is None:
            statuses[name] = FeatureStatus.NULL_VALUE
        elif max_age is not None and ts is not None and now - ts > max_age:
            statuses[name] = FeatureStatus.STALE
        else:
            statuses[name] = FeatureStatus.PRESENT
    return values, statuses, stamps


def _redact(url: str) -> str:
    """The URL without its password, for messages and repr."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


# --------------------------------------------------------------------------- the client


class RedisFeatureStore(WritableFeatureStore):
    """Read and write features in Redis hashes (see the module docstring for the layout).

    Args:
        url: ``redis://[[user]:password@]host:port/db`` (or ``rediss://``, ``unix://``).
        namespace: Prefix of every key this store touches; use one per application or test.
        max_age_seconds: Values whose event time is older than this (one number, or per
            entity type) are returned with status STALE.
        socket_timeout_s: Seconds to wait for a reply (and for a connection) before
            raising :class:`FeatureTimeoutError`.
        retries: Times a command is retried, without backoff, after a connection error
            (e.g. a pooled connection the server closed).
        max_connections: Size of each connection pool (sync, and async per event loop).
        client: A ready ``redis.Redis`` to use instead of one built from ``url``; it must
            not set ``decode_responses``. The caller keeps ownership (``close`` leaves it open).
        async_client: Likewise a ready ``redis.asyncio.Redis``; it is used from whatever
            loop calls, so it must only be used from the loop that created it.
    """

    source = "redis"

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "llmfs",
        max_age_seconds: float | Mapping[str, float] | None = None,
        socket_timeout_s: float = 1.0,
        retries: int = 1,
        max_connections: int = 64,
        client: SyncRedis[bytes] | None = None,
        async_client: AsyncRedis[bytes] | None = None,
    ) -> None:
        if not namespace or not isinstance(namespace, str):
            raise FeatureConfigError(f"namespace must be a non-empty string, got {namespace!r}")
        if not (socket_timeout_s > 0 and math.isfinite(socket_timeout_s)):
            raise FeatureConfigError(
                f"socket_timeout_s must be a positive number of seconds, got {socket_timeout_s!r}"
            )
        if retries < 0:
            raise FeatureConfigError(f"retries must be 0 or more, got {retries!r}")
        self.url = url
        self.namespace = namespace
        self.max_age_seconds = max_age_seconds
        self.socket_timeout_s = socket_timeout_s
        self._retries = retries
        self._max_connections = max_connections
        self._owns_client = client is None
        self._client: SyncRedis[bytes] | None = client
        self._async_client = async_client
        self._async = PerLoop(self._make_async_client, self._close_async_client)
        self._names: dict[str, frozenset[str]] = {}
        if client is None:
            self._client = self._make_sync_client()

    def __repr__(self) -> str:
        return f"RedisFeatureStore(url={_redact(self.url)!r}, namespace={self.namespace!r})"

    def _connection_kwargs(self) -> dict[str, Any]:
        return {
            "socket_timeout": self.socket_timeout_s,
            "socket_connect_timeout": self.socket_timeout_s,
            "max_connections": self._max_connections,
        }

    def _make_sync_client(self) -> SyncRedis[bytes]:
        try:
            client: SyncRedis[bytes] = redis.Redis.from_url(
                self.url,
                retry=_retry.Retry(_backoff.NoBackoff(), self._retries),
                **self._connection_kwargs(),
            )
        except ValueError as exc:
            raise FeatureConfigError(
                f"Invalid Redis URL {_redact(self.url)!r}: {exc}. "
                "Use redis://host:port/db, rediss://... or unix:///path.sock"
            ) from exc
        return client

    def _make_async_client(self) -> AsyncRedis[bytes]:
        if self._async_client is not None:
            return self._async_client
        client: AsyncRedis[bytes] = redis_asyncio.Redis.from_url(
            self.url,
            retry=_aretry.Retry(_backoff.NoBackoff(), self._retries),
            **self._connection_kwargs(),
        )
        return client

    async def _close_async_client(self, client: AsyncRedis[bytes]) -> None:
        if client is not self._async_client:
            await client.aclose()  # type: ignore[attr-defined]  # stubs predate aclose

    async def _aclient(self) -> AsyncRedis[bytes]:
        if self._async_client is not None:
            return self._async_client
        client = self._async.peek()
        return client if client is not None else await self._async.get()

    @property
    def client(self) -> SyncRedis[bytes]:
        """The sync ``redis.Redis`` in use (e.g. for administration in tests)."""
        if self._client is None:
            raise FeatureStoreUnavailableError("This RedisFeatureStore is closed")
        return self._client

    # ------------------------------------------------------------------ keys and errors

    def key(self, entity_type: str, entity_id: str) -> str:
        """The hash key holding one entity's features."""
        return f"{self.namespace}:{entity_type}:{entity_id}"

    def _features_key(self, entity_type: str) -> str:
        return f"{self.namespace}:{entity_type}:{FEATURES_SET}"

    def _types_key(self) -> str:
        return f"{self.namespace}:{ENTITY_TYPES_SET}"

    @contextmanager
    def _errors(self, action: str, *args: object) -> Iterator[None]:
        """Map driver errors; ``action % args`` (formatted only on error) says what failed."""
        try:
            yield
        except redis.TimeoutError as exc:
            action = action % args
            raise FeatureTimeoutError(
                f"Redis at {_redact(self.url)} did not answer within {self.socket_timeout_s}s "
                f"while {action}; check the server's load or raise socket_timeout_s"
            ) from exc
        except redis.ConnectionError as exc:
            action = action % args
            raise FeatureStoreUnavailableError(
                f"Cannot reach Redis at {_redact(self.url)} while {action}: "
                f"{str(exc).rstrip('.')}. "
                "Check that redis-server is running and the URL (host, port, password) is right"
            ) from exc
        except redis.RedisError as exc:
            action = action % args
            raise FeatureStoreUnavailableError(
                f"Redis at {_redact(self.url)} failed while {action}: {exc}"
            ) from exc

    @staticmethod
    def _check_write(entity_id: str, entity_type: str) -> None:
        check_request([entity_id], entity_type, ["_"])
        if ":" in entity_type:
            raise FeatureValidationError(
                f"entity_type {entity_type!r} may not contain ':' (it separates key parts)"
            )
        if entity_id == FEATURES_SET:
            raise FeatureValidationError(
                f"entity id {entity_id!r} is reserved for the feature registry; use another id"
            )

    # ------------------------------------------------------------------ names

    def _unknown(
        self, entity_type: str, feature_names: Sequence[str], known: frozenset[str]
    ) -> list[str]:
        return [n for n in feature_names if n not in known]

    def _raise_unknown(
        self,
        entity_type: str,
        missing: list[str],
        known: frozenset[str],
        types: Sequence[bytes],
    ) -> None:
        if not known:
            raise unknown_entity_type(
                entity_type,
                (t.decode("utf-8", "replace") for t in types),
                scope=f"Redis namespace '{self.namespace}'",
            )
        raise FeatureConfigError(
            unknown_name_message("feature", missing[0], known, scope=f"entity '{entity_type}'")
        )

    def _remember(self, entity_type: str, members: set[bytes]) -> frozenset[str]:
        known = frozenset(m.decode("utf-8") for m in members)
        if known:
            self._names[entity_type] = known
        return known

    def _check_names(self, entity_type: str, feature_names: Sequence[str]) -> None:
        known = self._names.get(entity_type, frozenset())
        missing = self._unknown(entity_type, feature_names, known)
        if not missing:
            return
        with self._errors("listing features"):
            known = self._remember(
                entity_type, self.client.smembers(self._features_key(entity_type))
            )
            missing = self._unknown(entity_type, feature_names, known)
            if missing:
                types = [] if known else self.client.smembers(self._types_key())
                self._raise_unknown(entity_type, missing, known, sorted(types))

    async def _acheck_names(self, entity_type: str, feature_names: Sequence[str]) -> None:
        known = self._names.get(entity_type, frozenset())
        missing = self._unknown(entity_type, feature_names, known)
        if not missing:
            return
        client = await self._aclient()
        with self._errors("listing features"):
            members = await client.smembers(self._features_key(entity_type))
            known = self._remember(entity_type, members)
            missing = self._unknown(entity_type, feature_names, known)
            if missing:
                types = [] if known else await client.smembers(self._types_key())
                self._raise_unknown(entity_type, missing, known, sorted(types))

    def list_features(self, entity_type: str) -> list[str]:
        with self._errors("listing features"):
            known = self._remember(
                entity_type, self.client.smembers(self._features_key(entity_type))
            )
            if not known:
                types = self.client.smembers(self._types_key())
                self._raise_unknown(entity_type, [], known, sorted(types))
        return sorted(known)

    def list_entity_types(self) -> list[str]:
        """Entity types that hold at least one written feature in this namespace."""
        with self._errors("listing entity types"):
            return sorted(t.decode("utf-8") for t in self.client.smembers(self._types_key()))

    # ------------------------------------------------------------------ reads

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
            key = self.key(entity_type, eid)
            if eid == FEATURES_SET:
                values: dict[str, Any] = {}
                statuses: dict[str, FeatureStatus] = {}
                stamps: dict[str, datetime | None] = {}
            else:
                values, statuses, stamps = decode_row(
                    next(replies), feature_names, key=key, max_age=max_age, now=now
                )
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

    @staticmethod
    def _fields(feature_names: Sequence[str]) -> list[str]:
        return [*feature_names, *(TS_PREFIX + n for n in feature_names)]

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        self._check_names(entity_type, feature_names)
        fields = self._fields(feature_names)
        keys = [self.key(entity_type, eid) for eid in entity_ids if eid != FEATURES_SET]
        client = self.client
        with self._errors("reading %d '%s' entities", len(keys), entity_type):
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
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        if self._unknown(entity_type, feature_names, self._names.get(entity_type, _NONE)):
            await self._acheck_names(entity_type, feature_names)
        fields = self._fields(feature_names)
        keys = [self.key(entity_type, eid) for eid in entity_ids if eid != FEATURES_SET]
        client = self._async_client if self._async_client is not None else self._async.peek()
        if client is None:
            client = await self._aclient()
        with self._errors("reading %d '%s' entities", len(keys), entity_type):
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

    # ------------------------------------------------------------------ writes

    def _prepare_write(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None,
        ttl_seconds: float | None,
    ) -> tuple[str, dict[str, str], int | None]:
        self._check_write(entity_id, entity_type)
        if ttl_seconds is not None and not (ttl_seconds > 0 and math.isfinite(ttl_seconds)):
            raise FeatureValidationError(
                f"ttl_seconds must be a positive number of seconds or None, got {ttl_seconds!r}"
            )
        fields = encode_features(features, event_timestamp or utcnow())
        ttl_ms = None if ttl_seconds is None else max(1, round(ttl_seconds * 1000))
        return self.key(entity_type, entity_id), fields, ttl_ms

    def _queue_write(
        self, pipe: Any, entity_type: str, key: str, fields: dict[str, str], ttl_ms: int | None
    ) -> list[str]:
        names = [f for f in fields if not f.startswith(TS_PREFIX)]
        pipe.hset(key, mapping=fields)
        if ttl_ms is not None:
            pipe.pexpire(key, ttl_ms)
        pipe.sadd(self._features_key(entity_type), *names)
        pipe.sadd(self._types_key(), entity_type)
        return names

    def _learn(self, entity_type: str, names: list[str]) -> None:
        known = self._names.get(entity_type)
        if known is not None:
            self._names[entity_type] = known | frozenset(names)

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
            features: Name to value (see :func:`validate_feature_values`).
            event_timestamp: When the values were observed; now when omitted.
            ttl_seconds: Expire the entity's whole hash this many seconds from now
                (``PEXPIRE``). ``None`` leaves any existing expiry as it is.

        Raises:
            FeatureConfigError: an empty entity id or type; nothing was written.
            FeatureValidationError: a reserved id, a ``:`` in the entity type, or a bad
                name, value or TTL; nothing was written.
            FeatureStoreUnavailableError: Redis could not be reached (nothing was written).
        """
        key, fields, ttl_ms = self._prepare_write(
            entity_id, entity_type, features, event_timestamp, ttl_seconds
        )
        with self._errors("writing '%s' entity %r", entity_type, entity_id):
            pipe = self.client.pipeline(transaction=True)
            names = self._queue_write(pipe, entity_type, key, fields, ttl_ms)
            pipe.execute()
        self._learn(entity_type, names)

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
        key, fields, ttl_ms = self._prepare_write(
            entity_id, entity_type, features, event_timestamp, ttl_seconds
        )
        client = await self._aclient()
        with self._errors("writing '%s' entity %r", entity_type, entity_id):
            pipe = client.pipeline(transaction=True)
            names = self._queue_write(pipe, entity_type, key, fields, ttl_ms)
            await pipe.execute()
        self._learn(entity_type, names)

    # ------------------------------------------------------------------ health and lifecycle

    def health_check(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.RedisError, FeatureStoreUnavailableError):
            return False

    async def ahealth_check(self) -> bool:
        try:
            client = await self._aclient()
            return bool(await client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        """Release the sync connection pool (async pools close with their loops, or
        via :meth:`aclose`). Safe to call more than once."""
        if self._client is not None and self._owns_client:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Release this loop's async pool and the sync pool."""
        await self._async.aclose()
        self.close()
