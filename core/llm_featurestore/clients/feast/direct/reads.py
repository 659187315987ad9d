"""When a :class:`~llm_featurestore.clients.feast.FeastClient` read goes direct, and how.

A read goes direct when all of these hold, else through the Feast SDK:

* ``direct_reads`` is on (the default);
* the repo's online store is Redis (``redis_type: redis``, ``client: redis``) or SQLite;
* its ``entity_key_serialization_version`` is 2 or 3 and online feature view
  versioning is off;
* the plan reads stored feature views only, keyed by an Int64, Int32, String or
  Bytes join key (:func:`~.layout.plan_layout` says why not otherwise).

Each reason to use the SDK is logged once per project (INFO, logger
``llm_featurestore.clients.feast.direct``), and so is the direct reader in use. The
decision for a plan is kept on the plan (:attr:`Plan.direct`), so it costs nothing
after the first read; :meth:`FeastClient.refresh` builds new plans.

Readers are opened on first use, one per timeout (``None``: Feast's own waits);
:meth:`DirectReads.close` releases them and the next read opens them again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, cast

from llm_featurestore._deps import require
from llm_featurestore.clients.feast.decode import decode_columns
from llm_featurestore.clients.feast.direct.layout import (
    Layout,
    ViewRows,
    fetched_columns,
    plan_layout,
)
from llm_featurestore.clients.feast.plans import Plan
from llm_featurestore.clients.feast.registry import FeastRegistry
from llm_featurestore.models import FeatureVector, utcnow

_feast_sqlite = require("feast.infra.online_stores.sqlite", extra="feast")

__all__ = [
    "SERIALIZATION_VERSIONS",
    "DirectReads",
    "Reader",
    "forget_logged",
    "log_once",
    "store_support",
]

logger = logging.getLogger("llm_featurestore.clients.feast.direct")

SERIALIZATION_VERSIONS = (2, 3)
"""The ``entity_key_serialization_version`` values the direct path reads."""
_SQLITE_TYPES = ("sqlite", "feast.infra.online_stores.sqlite.SqliteOnlineStore")
_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()


class Reader(Protocol):
    """What :mod:`.redis_reader` and :mod:`.sqlite_reader` offer."""

    def prepare(self, layout: Layout) -> Any: ...

    def fetch(self, layout: Layout, prepared: Any, values: list[Any]) -> list[ViewRows]: ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...


class Route(NamedTuple):
    """A plan's direct read: its layout and what the store's reader prepared for it."""

    layout: Layout
    prepared: Any


def log_once(project: str, message: str) -> None:
    """Log ``message`` about ``project`` the first time only (per process)."""
    with _logged_lock:
        if (project, message) in _logged:
            return
        _logged.add((project, message))
    logger.info("Feast reads of project '%s' %s", project, message)


def forget_logged() -> None:
    """Forget what :func:`log_once` logged (for tests: the next occurrence logs again)."""
    with _logged_lock:
        _logged.clear()


def store_support(config: Any) -> str:
    """``"redis"`` or ``"sqlite"`` when the repo's online store has a direct reader,
    else the reason it has none (a sentence starting in lower case)."""
    online = config.online_store
    kind = str(getattr(online, "type", ""))
    if kind == "redis":
        redis_type = _value_of(getattr(online, "redis_type", "redis"))
        if redis_type != "redis":
            return f"redis_type '{redis_type}' has no direct reader (redis_type: redis has)"
        client = _value_of(getattr(online, "client", "redis"))
        if client != "redis":
            return f"client '{client}' has no direct reader (client: redis has)"
    elif kind not in _SQLITE_TYPES:
        return f"online store type '{kind}' has no direct reader (redis and sqlite have)"
    version = config.entity_key_serialization_version
    if version not in SERIALIZATION_VERSIONS:
        return f"entity_key_serialization_version {version} is not read directly (2 and 3 are)"
    if getattr(config.registry, "enable_online_feature_view_versioning", False):
        return (
            "enable_online_feature_view_versioning is on (versioned tables are not read directly)"
        )
    return "redis" if kind == "redis" else "sqlite"


def _value_of(setting: Any) -> str:
    """An enum setting's value (Feast's ``RedisType``, ``RedisClient``) as text."""
    return str(getattr(setting, "value", setting))


def _distinct(values: list[Any]) -> tuple[list[Any], list[int] | None]:
    """The distinct values, and each value's index among them (``None``: all distinct)."""
    if len(values) == 1:
        return values, None
    index: dict[Any, int] = {}
    positions = [index.setdefault(v, len(index)) for v in values]
    if len(index) == len(values):
        return values, None
    return list(index), positions


class DirectReads:
    """The direct read path of one client (see the module docstring).

    Args:
        store: The client's ``feast.FeatureStore``.
        registry: The client's registry (its entity indexes).
        enabled: The ``direct_reads`` setting.
    """

    def __init__(self, store: Any, registry: FeastRegistry, enabled: bool) -> None:
        self._store = store
        self._registry = registry
        self._enabled = enabled
        self._kind: str | None = None
        self._readers: dict[float | None, Reader] = {}
        self._lock = threading.Lock()

    @property
    def project(self) -> str:
        return str(self._store.project)

    @property
    def kind(self) -> str | None:
        """``"redis"`` or ``"sqlite"`` when reads of this repo may go direct, else ``None``."""
        if self._kind is None:
            support = store_support(self._store.config) if self._enabled else "direct_reads: off"
            if support in ("redis", "sqlite"):
                log_once(self.project, f"read the {support} online store directly when they can")
            else:
                log_once(self.project, f"use the Feast SDK: {support}")
            self._kind = support
        return self._kind if self._kind in ("redis", "sqlite") else None

    def route(self, plan: Plan, entity_type: str) -> Route | None:
        """How to read ``plan`` directly, or ``None`` for the SDK (decided once per plan)."""
        route = plan.direct
        if route is None:
            if self.kind is None:
                route = plan.direct = "the online store has no direct reader"
            else:
                layout = plan_layout(
                    plan,
                    self._registry.index(entity_type),
                    self._store.config.entity_key_serialization_version,
                )
                if isinstance(layout, str):
                    log_once(self.project, f"use the Feast SDK when {layout}")
                    route = plan.direct = layout
                else:
                    route = plan.direct = Route(layout, self.reader(None).prepare(layout))
        return route if isinstance(route, Route) else None

    def reader(self, timeout_s: float | None) -> Reader:
        """The reader bounded by ``timeout_s`` (``None``: Feast's waits), opened on first use."""
        reader = self._readers.get(timeout_s)
        if reader is None:
            with self._lock:
                reader = self._readers.get(timeout_s)
                if reader is None:
                    reader = self._readers[timeout_s] = self._open(timeout_s)
        return reader

    def _open(self, timeout_s: float | None) -> Reader:
        config = self._store.config
        if self.kind == "redis":
            from llm_featurestore.clients.feast.direct.redis_reader import RedisReader

            return RedisReader(config.online_store.connection_string, self.project, timeout_s)
        from llm_featurestore.clients.feast.direct.sqlite_reader import SqliteReader

        path = _feast_sqlite.SqliteOnlineStore._get_db_path(config)
        return SqliteReader(path, self.project, timeout_s)

    def read(
        self,
        plan: Plan,
        entity_ids: Sequence[str],
        values: list[Any],
        entity_type: str,
        *,
        source: str,
        timeout_s: float | None = None,
    ) -> list[FeatureVector] | None:
        """The vectors of ``entity_ids`` (join key ``values``) read directly, or ``None``
        (before any I/O) when the plan goes through the SDK."""
        route = self.route(plan, entity_type)
        if route is None:
            return None
        distinct, positions = _distinct(values)
        rows = self.reader(timeout_s).fetch(route.layout, route.prepared, distinct)
        columns = fetched_columns(route.layout, rows, positions)
        return decode_columns(columns, entity_ids, entity_type, source=source, now=utcnow())

    async def aread(
        self,
        plan: Plan,
        entity_ids: Sequence[str],
        values: list[Any],
        entity_type: str,
        *,
        source: str,
    ) -> list[FeatureVector] | None:
        """Async twin of :meth:`read` (Redis only, natively async; ``None`` otherwise)."""
        route = self.route(plan, entity_type) if self.kind == "redis" else None
        if route is None:
            return None
        from llm_featurestore.clients.feast.direct.redis_reader import RedisReader

        reader = cast(RedisReader, self.reader(None))
        distinct, positions = _distinct(values)
        rows = await reader.afetch(route.layout, route.prepared, distinct)
        columns = fetched_columns(route.layout, rows, positions)
        return decode_columns(columns, entity_ids, entity_type, source=source, now=utcnow())

    def close(self) -> None:
        """Release every reader's connections (the next read opens them again)."""
        with self._lock:
            readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            reader.close()

    async def aclose(self) -> None:
        with self._lock:
            readers, self._readers = list(self._readers.values()), {}
        for reader in readers:
            await reader.aclose()
