"""Feast's SQLite online store, read directly: one query per feature view.

The layout is Feast's (``feast/infra/online_stores/sqlite.py``): a table per view named
``<project>_<view>`` with one row per (entity key, feature): ``entity_key`` (the
serialized key), ``feature_name``, ``value`` (the ``Value`` proto) and ``event_ts``
(whole seconds, written through Feast's datetime adapter). A view is read with the
very query Feast runs (``... WHERE entity_key IN (...) ORDER BY entity_key``), so the
rows come back in the same order and the row timestamp is the one Feast reports (its
last row's). As in Feast, an entity without rows is NOT_FOUND, and so is a feature an
entity's rows lack.

Each thread reads through its own read-only connection (:mod:`.per_thread`;
``mode=ro``: a direct read never creates or changes the database). Its ``timeout`` is
SQLite's busy timeout: a reader made for a timeout (:class:`SqliteReader` with
``timeout_s``) waits at most that long for a writer's lock, then raises
:class:`TimeoutError`, so a bounded read can run inline on the caller's thread.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from llm_featurestore._deps import require
from llm_featurestore.clients.feast.decode import timestamp_of
from llm_featurestore.clients.feast.direct.layout import Layout, ViewRows
from llm_featurestore.clients.feast.direct.per_thread import PerThread

_helpers = require("feast.infra.online_stores.helpers", extra="feast")
_Value = require("feast.protos.feast.types.Value_pb2", extra="feast").Value
_FS = require("feast.protos.feast.serving.ServingService_pb2", extra="feast").FieldStatus

__all__ = ["SqliteReader", "view_queries"]

FEAST_BUSY_TIMEOUT_S = 5.0
"""The busy timeout of Feast's own connection (``sqlite3.connect``'s default)."""
_EMPTY = _Value()
_PRESENT = _FS.PRESENT
_NOT_FOUND = _FS.NOT_FOUND
_MAX_CACHED_STAMPS = 4096


def _quote_id(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def view_queries(layout: Layout, project: str) -> list[str]:
    """Per view of ``layout``, Feast's query for its rows, up to the ``IN`` list."""
    return [
        "SELECT entity_key, feature_name, value, event_ts FROM "
        f"{_quote_id(_table_id(project, view.name))} WHERE entity_key IN "
        for view in layout.views
    ]


def _table_id(project: str, view: str) -> str:
    """Feast's table name for a view (``compute_table_id``, versioning off)."""
    return str(_helpers.compute_table_id(project, SimpleNamespace(name=view), False))


def _event_time(raw: Any, cache: dict[tuple[int, int], datetime | None]) -> datetime | None:
    """``event_ts`` as Feast reads it (local-time seconds, then marked UTC), then as
    its response proto carries it (whole seconds; ``None`` for the epoch)."""
    if raw is None:
        return None
    moment = datetime.fromtimestamp(int(raw)).replace(tzinfo=timezone.utc)
    return timestamp_of((int(moment.timestamp()), 0), cache)


def _close(conn: sqlite3.Connection) -> None:
    conn.close()


class SqliteReader:
    """Direct reads of one repo's SQLite online store.

    Args:
        path: The database file (Feast's ``online_store.path``, resolved against the repo).
        project: The Feast project (the prefix of every table).
        timeout_s: SQLite's busy timeout; ``None`` waits as Feast's own connection would
            (:data:`FEAST_BUSY_TIMEOUT_S`).
    """

    def __init__(self, path: str | Path, project: str, timeout_s: float | None) -> None:
        self._uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
        self._project = project
        self._timeout = FEAST_BUSY_TIMEOUT_S if timeout_s is None else timeout_s
        self._connections: PerThread[sqlite3.Connection] = PerThread(self._connect, _close)
        self._stamps: dict[Any, datetime | None] = {}
        self._pairs: dict[tuple[int, int], datetime | None] = {(0, 0): None}

    def prepare(self, layout: Layout) -> list[str]:
        return view_queries(layout, self._project)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self._uri, uri=True, timeout=self._timeout, check_same_thread=False)

    def _connection(self) -> sqlite3.Connection:
        """The calling thread's read-only connection."""
        return self._connections.get()

    def fetch(self, layout: Layout, queries: list[str], values: list[Any]) -> list[ViewRows]:
        """The rows of every view for the distinct join key ``values`` (a query per view).

        Raises:
            TimeoutError: a writer held the database longer than the busy timeout.
            sqlite3.Error: the database cannot be read.
        """
        keys = layout.encoder.encode(values)
        conn = self._connection()
        marks = "(" + ",".join("?" * len(keys)) + ") ORDER BY entity_key"
        out: list[ViewRows] = []
        for view, query in zip(layout.views, queries, strict=True):
            try:
                rows = conn.execute(query + marks, keys).fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise TimeoutError(
                        f"SQLite online store stayed locked by a writer for the busy "
                        f"timeout of {self._timeout}s: {exc}"
                    ) from exc
                raise
            out.append(self._view_rows(view.features, keys, rows))
        return out

    def _view_rows(
        self, features: tuple[str, ...], keys: list[bytes], rows: list[tuple[Any, ...]]
    ) -> ViewRows:
        found: dict[bytes, tuple[dict[str, bytes], datetime | None]] = {}
        for key, group in itertools.groupby(rows, key=lambda r: r[0]):
            values: dict[str, bytes] = {}
            raw_ts: Any = None
            for row in group:  # the last row's event time is the entity's, as in Feast
                values[row[1]] = row[2]
                raw_ts = row[3]
            stamp = self._stamps.get(raw_ts)
            if stamp is None:
                if len(self._stamps) >= _MAX_CACHED_STAMPS:
                    self._stamps.clear()
                    self._pairs = {(0, 0): None}
                stamp = self._stamps[raw_ts] = _event_time(raw_ts, self._pairs)
            found[key] = (values, stamp)
        nothing: tuple[dict[str, bytes], datetime | None] = ({}, None)
        entities = [found.get(key, nothing) for key in keys]
        parse = _Value.FromString
        cells: list[list[Any]] = []
        codes: list[list[int]] = []
        for name in features:
            raw = [values.get(name) for values, _ in entities]
            cells.append([_EMPTY if b is None else parse(b) for b in raw])
            codes.append([_NOT_FOUND if b is None else _PRESENT for b in raw])
        return ViewRows([stamp for _, stamp in entities], cells, codes)

    def close(self) -> None:
        """Close every thread's connection (the next read opens a new one)."""
        self._connections.close()

    async def aclose(self) -> None:
        self.close()
