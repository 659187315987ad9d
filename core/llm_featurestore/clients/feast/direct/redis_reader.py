"""Feast's Redis online store, read directly: one ``HMGET`` per entity, one pipeline per batch.

The layout is Feast's (``feast/infra/online_stores/redis.py``): one hash per entity at
``serialize_entity_key(key) + project``, holding per feature the ``Value`` proto at
field ``_mmh3("<view>:<feature>")`` and per view the ``Timestamp`` proto of its row at
``_ts:<view>``. All views of an entity live in its one hash, so an entity costs one
``HMGET`` of every field the plan needs, and a batch one pipeline of them: the
commands are packed and written at once and the replies read back in order
(redis-py's ``Connection`` API, under the connection's own retry policy), without the
per-command bookkeeping of redis-py's client and ``Pipeline``.

As in Feast, a field the hash lacks reads as PRESENT with an empty value, and a
missing ``_ts`` field as no timestamp; the shared rule then answers NOT_FOUND (no
timestamp) or NULL_VALUE (see :mod:`~llm_featurestore.clients.feast.decode`).

Connections are built from the repo's ``connection_string`` with Feast's own parser
and its keyword arguments; a reader made for a timeout (:class:`RedisReader` with
``timeout_s``) sets ``socket_timeout`` and ``socket_connect_timeout`` to half of it
and retries once without backoff, so the driver gives up within ``timeout_s``.
Sync reads go through one connection per reading thread (:mod:`.per_thread`; made
like the pool's of a ``redis.Redis``, with its settings and retry policy), async
reads through ``redis.asyncio``'s pool (one client per event loop); neither uses a
thread.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from llm_featurestore._deps import require
from llm_featurestore.clients._aio import PerLoop
from llm_featurestore.clients.feast.decode import timestamp_of
from llm_featurestore.clients.feast.direct.layout import Layout, ViewRows
from llm_featurestore.clients.feast.direct.per_thread import PerThread

redis = require("redis", extra="redis")
redis_asyncio = require("redis.asyncio", extra="redis")
_backoff = require("redis.backoff", extra="redis")
_retry = require("redis.retry", extra="redis")
_aretry = require("redis.asyncio.retry", extra="redis")
_feast_redis = require("feast.infra.online_stores.redis", extra="feast")
_helpers = require("feast.infra.online_stores.helpers", extra="feast")
_Value = require("feast.protos.feast.types.Value_pb2", extra="feast").Value
_FS = require("feast.protos.feast.serving.ServingService_pb2", extra="feast").FieldStatus
_Timestamp = require("google.protobuf.timestamp_pb2", extra="feast").Timestamp

__all__ = ["RedisFields", "RedisReader"]

_EMPTY = _Value()
_PRESENT = _FS.PRESENT
_MAX_CACHED_STAMPS = 4096


def _bulk(data: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%s\r\n" % (len(data), data)


class RedisFields(NamedTuple):
    """The hash fields one plan reads, where each view's are, and its ``HMGET`` in RESP."""

    fields: list[bytes]
    """Every view's feature fields, then its ``_ts`` field."""
    offsets: list[tuple[int, int]]
    """Per view of the layout: the index of its first field, and its feature count."""
    head: bytes
    """The RESP array header and ``HMGET`` of the command, before the key."""
    tail: bytes
    """The RESP of the fields, after the key."""

    @classmethod
    def of(cls, layout: Layout) -> RedisFields:
        fields: list[bytes] = []
        offsets: list[tuple[int, int]] = []
        for view in layout.views:
            offsets.append((len(fields), len(view.features)))
            fields += [_helpers._mmh3(f"{view.name}:{name}") for name in view.features]
            fields.append(f"_ts:{view.name}".encode())
        head = b"*%d\r\n" % (len(fields) + 2) + _bulk(b"HMGET")
        return cls(fields, offsets, head, b"".join(map(_bulk, fields)))

    def packed(self, keys: list[bytes]) -> bytes:
        """One ``HMGET`` per key, as the bytes to write (RESP requests are arrays of
        bulk strings whatever the protocol version; checked against redis-py's packer
        by :meth:`RedisReader.fetch` on first use)."""
        head, tail = self.head, self.tail
        return b"".join([head + _bulk(key) + tail for key in keys])


def connection_kwargs(connection_string: str, timeout_s: float | None) -> dict[str, Any]:
    """``redis.Redis`` keyword arguments for Feast's ``connection_string`` (one node).

    With ``timeout_s``, every wait is bounded so that a read (one retry included)
    gives up within it.
    """
    nodes, params = _feast_redis.RedisOnlineStore._parse_connection_string(connection_string)
    kwargs: dict[str, Any] = {**params, "host": nodes[0]["host"], "port": int(nodes[0]["port"])}
    if timeout_s is not None:
        wait = timeout_s / 2
        for name in ("socket_timeout", "socket_connect_timeout"):
            given = kwargs.get(name)
            kwargs[name] = wait if given is None else min(float(given), wait)
    return kwargs


class RedisReader:
    """Direct reads of one repo's Redis online store.

    Args:
        connection_string: The repo's ``online_store.connection_string``.
        project: The Feast project (the suffix of every key).
        timeout_s: Bound every read by this many seconds (see the module docstring);
            ``None`` waits as Feast's own client would.
    """

    def __init__(self, connection_string: str, project: str, timeout_s: float | None) -> None:
        self._kwargs = connection_kwargs(connection_string, timeout_s)
        self._bounded = timeout_s is not None
        self._project = project.encode("utf-8")
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._connections: PerThread[Any] = PerThread(self._connect, _disconnect)
        self._async: PerLoop[Any] = PerLoop(self._make_async, _aclose)
        self._stamps: dict[bytes, datetime | None] = {}
        self._pairs: dict[tuple[int, int], datetime | None] = {(0, 0): None}
        self._own_packing: bool | None = None

    def prepare(self, layout: Layout) -> RedisFields:
        return RedisFields.of(layout)

    def _sync(self) -> Any:
        client = self._client
        if client is None:
            with self._client_lock:
                client = self._client
                if client is None:
                    extra = (
                        {"retry": _retry.Retry(_backoff.NoBackoff(), 1)} if self._bounded else {}
                    )
                    client = self._client = redis.Redis(**{**self._kwargs, **extra})
        return client

    def _make_async(self) -> Any:
        extra = {"retry": _aretry.Retry(_backoff.NoBackoff(), 1)} if self._bounded else {}
        return redis_asyncio.Redis(**{**self._kwargs, **extra})

    def _packed(self, conn: Any, prepared: RedisFields, keys: list[bytes]) -> list[bytes]:
        """The ``HMGET``s of ``keys``, as chunks to write: packed here once the
        connection's own packer has been seen to pack them alike (else by it)."""
        if self._own_packing is None:
            theirs = b"".join(conn.pack_command("HMGET", keys[0], *prepared.fields))
            self._own_packing = theirs == prepared.packed(keys[:1])
        if self._own_packing:
            return [prepared.packed(keys)]
        chunks: list[bytes] = conn.pack_commands([("HMGET", k, *prepared.fields) for k in keys])
        return chunks

    def _keys(self, layout: Layout, values: list[Any]) -> list[bytes]:
        project = self._project
        return [key + project for key in layout.encoder.encode(values)]

    def fetch(self, layout: Layout, prepared: RedisFields, values: list[Any]) -> list[ViewRows]:
        """The rows of every view for the distinct join key ``values`` (one round trip)."""
        keys = self._keys(layout, values)
        conn = self._connections.get()
        try:
            packed = self._packed(conn, prepared, keys)

            def exchange() -> list[Any]:
                conn.send_packed_command(packed)  # connects first when it is not connected
                return [conn.read_response() for _ in keys]

            try:
                replies = exchange()
            except redis.ConnectionError:
                # A kept connection the server has closed: reconnect at once, as the pool
                # would, then follow the connection's own retry policy.
                conn.disconnect()
                replies = conn.retry.call_with_retry(exchange, lambda _error: conn.disconnect())
        except BaseException:
            conn.disconnect()  # replies may be left unread on it
            raise
        return self._rows(prepared, replies)

    def _connect(self) -> Any:
        """A new connection, made like the pool's own (its settings and retry policy)."""
        pool = self._sync().connection_pool
        return pool.connection_class(**pool.connection_kwargs)

    async def afetch(
        self, layout: Layout, prepared: RedisFields, values: list[Any]
    ) -> list[ViewRows]:
        """Async twin of :meth:`fetch` (``redis.asyncio``, no thread)."""
        keys = self._keys(layout, values)
        client = self._async.peek()
        if client is None:
            client = await self._async.get()
        pool = client.connection_pool
        conn = await pool.get_connection()
        try:
            packed = self._packed(conn, prepared, keys)

            async def exchange() -> list[Any]:
                await conn.send_packed_command(packed)
                return [await conn.read_response() for _ in keys]

            async def reset(_error: Exception) -> None:
                await conn.disconnect()

            replies = await conn.retry.call_with_retry(exchange, reset)
        except BaseException:
            await conn.disconnect()
            raise
        finally:
            await pool.release(conn)
        return self._rows(prepared, replies)

    def _stamp(self, raw: bytes | None) -> datetime | None:
        if not raw:
            return None
        stamp = self._stamps.get(raw)
        if stamp is None:
            if len(self._stamps) >= _MAX_CACHED_STAMPS:
                self._stamps.clear()
                self._pairs = {(0, 0): None}
            proto = _Timestamp.FromString(raw)
            stamp = self._stamps[raw] = timestamp_of((proto.seconds, proto.nanos), self._pairs)
        return stamp

    def _rows(
        self, prepared: RedisFields, replies: Sequence[Sequence[bytes | None]]
    ) -> list[ViewRows]:
        parse = _Value.FromString
        present = [_PRESENT] * len(replies)
        out: list[ViewRows] = []
        for start, count in prepared.offsets:
            stamps = [self._stamp(reply[start + count]) for reply in replies]
            cells = [
                [_EMPTY if (raw := reply[i]) is None else parse(raw) for reply in replies]
                for i in range(start, start + count)
            ]
            out.append(ViewRows(stamps, cells, [present] * count))
        return out

    def close(self) -> None:
        """Close every thread's connection and the sync pool (async pools close with
        their loops, or :meth:`aclose`); the next read connects again."""
        self._connections.close()
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        await self._async.aclose()
        self.close()


def _disconnect(conn: Any) -> None:
    conn.disconnect()


async def _aclose(client: Any) -> None:
    await client.aclose()
