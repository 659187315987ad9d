"""Read and write features through the real Feast SDK (``feast.FeatureStore``).

How feature names are understood, for an ``entity_type`` that is a Feast entity name:

* a Feast reference ``"view:feature"`` names one feature of one feature view;
* a bare name ``"feature"`` is looked up across the feature views of that entity;
  it must belong to exactly one of them (otherwise the error lists the candidate refs);
* a feature service is requested by passing its name **alone**
  (``["user_profile_service"]``); the result keys are then the service's features,
  as bare names where they are unique within the service and as ``view:feature``
  refs where two of its views share a name.

Otherwise the result keys are exactly the names as requested. Only feature views
keyed by that one entity are visible (views with composite keys are skipped).

Statuses and event timestamps come from the response proto (``to_dict()`` would
turn NOT_FOUND into a bare ``None``), corrected where Feast 0.67 is imprecise:

* Feast does not apply a feature view's ``ttl`` on online reads (feast-dev/feast#6821):
  a PRESENT value older than the ttl is reported STALE here (value kept);
* a stored null comes back PRESENT with an empty value: reported NULL_VALUE;
* the Redis store answers PRESENT, empty and without a timestamp for an entity it
  does not hold: reported NOT_FOUND.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.base import (
    WritableFeatureStore,
    check_request,
    ensure_aware,
    validate_feature_values,
)
from llm_featurestore.clients.feast_http import service_keys
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
    InvalidEntityIdError,
    unknown_entity_type,
    unknown_name_message,
)
from llm_featurestore.models import FeatureStatus, FeatureVector, utcnow

_feast = require("feast", extra="feast")
_feast_repo_config = require("feast.repo_config", extra="feast")
_feast_type_map = require("feast.type_map", extra="feast")
_serving_pb2 = require("feast.protos.feast.serving.ServingService_pb2", extra="feast")
ValueType = _feast.ValueType

__all__ = ["FeastClient", "clear_feature_store_cache", "shared_feature_store"]

_NOT_CACHED = datetime.min.replace(tzinfo=timezone.utc)
"""Sentinel for "not looked up yet" in timestamp caches (``None`` means no timestamp)."""
_MAX_PLANS = 1024

_STORES: dict[tuple[str, str | None], Any] = {}
_STORES_LOCK = threading.Lock()


def shared_feature_store(repo_path: str | Path, project: str | None = None) -> Any:
    """The process-wide ``feast.FeatureStore`` for ``repo_path`` (and ``project``).

    One store per resolved repo path and project, created on first use, so every
    client of one repo shares its registry cache and online-store connections.

    Raises:
        FeatureConfigError: ``repo_path`` holds no readable ``feature_store.yaml``.
    """
    path = Path(repo_path).expanduser().resolve()
    key = (str(path), project)
    store = _STORES.get(key)
    if store is not None:
        return store
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = _open_store(path, project)
    return store


def clear_feature_store_cache() -> None:
    """Forget every shared ``FeatureStore`` (the next client opens the repo again)."""
    with _STORES_LOCK:
        _STORES.clear()


def _open_store(path: Path, project: str | None) -> Any:
    yaml_file = path / "feature_store.yaml"
    if not yaml_file.is_file():
        raise FeatureConfigError(
            f"No Feast repo at {path}: {yaml_file.name} not found. Pass repo_path= the "
            "directory that holds feature_store.yaml (run `feast init` to create one)."
        )
    try:
        config = _feast_repo_config.load_repo_config(path, yaml_file)
        if project is not None:
            config.project = project
        return _feast.FeatureStore(repo_path=str(path), config=config)
    except Exception as exc:
        raise FeatureConfigError(f"Cannot load the Feast repo at {path}: {exc}") from exc


# --------------------------------------------------------------------------- values

_SCALAR_FIELDS = frozenset(
    {"string_val", "int64_val", "double_val", "int32_val", "float_val", "bool_val", "bytes_val"}
)


def _convert_value(value: Any, value_type: Any) -> Any:
    """A Feast ``Value`` proto as a Python value; ``None`` for an empty or null value."""
    which = value.WhichOneof("val")
    if which is None or which == "null_val":
        return None
    if which in _SCALAR_FIELDS:
        return getattr(value, which)
    return _feast_type_map.feast_value_type_to_python_type(value, value_type)


def _column_values(cells: Any, column: _Column) -> list[Any]:
    """Decode one response column (a repeated ``Value``) to Python values.

    For a scalar column, one C-level pass reads the declared field; only falsy results
    (an empty cell reads as ``""``/``0``/``False`` too) are decoded again in full, so
    nulls and values stored in another field stay correct. This runs once per cell.
    """
    field = column.scalar_field
    if field is None:
        return [_convert_value(v, column.value_type) for v in cells]
    values = list(map(operator.attrgetter(field), cells))
    if not all(values):
        for i, value in enumerate(values):
            if not value:
                values[i] = _convert_value(cells[i], column.value_type)
    return values


def _timestamp(
    proto_ts: Any, cache: dict[tuple[int, int], datetime | None] | None
) -> datetime | None:
    """A proto ``Timestamp`` as an aware datetime; ``None`` for the empty (epoch) one."""
    key = (proto_ts.seconds, proto_ts.nanos)
    if cache is None:
        return _timestamp_of(key, {})
    return cache[key] if key in cache else _timestamp_of(key, cache)


def _timestamp_of(
    seconds_nanos: tuple[int, int], cache: dict[tuple[int, int], datetime | None]
) -> datetime | None:
    """``(seconds, nanos)`` as an aware datetime, ``None`` for ``(0, 0)``; stored in ``cache``."""
    seconds, nanos = seconds_nanos
    ts = (
        None
        if not seconds and not nanos
        else datetime.fromtimestamp(seconds + nanos / 1e9, tz=timezone.utc)
    )
    cache[seconds_nanos] = ts
    return ts


_AGED = (FeatureStatus.PRESENT, FeatureStatus.STALE)
"""Statuses whose timestamps count towards ``freshness_seconds``."""


def _age(now: datetime, oldest: datetime | None) -> float:
    return 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)


_SCALAR_FIELD_OF: dict[Any, str] = {
    ValueType.STRING: "string_val",
    ValueType.INT64: "int64_val",
    ValueType.INT32: "int32_val",
    ValueType.DOUBLE: "double_val",
    ValueType.FLOAT: "float_val",
    ValueType.BOOL: "bool_val",
    ValueType.BYTES: "bytes_val",
}

_FS = _serving_pb2.FieldStatus
_STATUS_MAP: dict[int, FeatureStatus] = {
    _FS.PRESENT: FeatureStatus.PRESENT,
    _FS.NULL_VALUE: FeatureStatus.NULL_VALUE,
    _FS.NOT_FOUND: FeatureStatus.NOT_FOUND,
    _FS.OUTSIDE_MAX_AGE: FeatureStatus.STALE,
    _FS.INVALID: FeatureStatus.NOT_FOUND,
}
_PRESENT = _FS.PRESENT
_PRESENT_STATUS = FeatureStatus.PRESENT


def _classify(
    code: int, value: Any, ts: datetime | None, cutoff: datetime | None
) -> tuple[FeatureStatus, Any]:
    """Our status for one cell of the response, and the value to keep for it."""
    if code == _PRESENT:
        if value is None:
            # Feast's Redis store answers PRESENT, empty and without a timestamp for an
            # entity it does not hold; a stored null has a timestamp.
            return (
                (FeatureStatus.NULL_VALUE, None)
                if ts is not None
                else (FeatureStatus.NOT_FOUND, None)
            )
        if cutoff is not None and ts is not None and ts < cutoff:
            return FeatureStatus.STALE, value
        return _PRESENT_STATUS, value
    status = _STATUS_MAP.get(code, FeatureStatus.NOT_FOUND)
    return status, (value if status is FeatureStatus.STALE else None)


def _make_coercer(value_type: Any, join_key: str, entity_type: str) -> Callable[[str], Any]:
    """A function turning a string id into the join key's Python value."""
    if value_type in (ValueType.INT64, ValueType.INT32):
        limit = 2**63 if value_type == ValueType.INT64 else 2**31
        type_name = "Int64" if value_type == ValueType.INT64 else "Int32"

        def to_int(eid: str) -> int:
            digits = eid[1:] if eid[:1] == "-" else eid
            # Plain ASCII digits only: int() would also take " 7", "1_000" or non-ASCII digits.
            ok = digits.isascii() and digits.isdigit()
            out = int(eid) if ok else limit
            if not -limit <= out < limit:
                raise InvalidEntityIdError(
                    f"Entity id {eid!r} is not a valid {type_name} for join key "
                    f"'{join_key}' of entity '{entity_type}': pass the id as decimal digits, "
                    "e.g. '1001'",
                    entity_type=entity_type,
                    entity_ids=[eid],
                )
            return out

        return to_int
    if value_type == ValueType.STRING:
        return str
    if value_type == ValueType.BYTES:
        return str.encode
    if value_type in (ValueType.DOUBLE, ValueType.FLOAT):

        def to_float(eid: str) -> float:
            try:
                return float(eid)
            except ValueError:
                raise InvalidEntityIdError(
                    f"Entity id {eid!r} is not a number, as join key '{join_key}' of "
                    f"entity '{entity_type}' requires",
                    entity_type=entity_type,
                    entity_ids=[eid],
                ) from None

        return to_float
    raise FeatureConfigError(
        f"Entity '{entity_type}' has join key '{join_key}' of type {value_type.name}, which "
        "FeastClient cannot build from a string id; use an Int64, Int32, String, Bytes, "
        "Float64 or Float32 join key"
    )


def coerce_all(
    coerce: Callable[[str], Any], entity_ids: Sequence[str], entity_type: str
) -> list[Any]:
    """Every id as a join key value.

    Raises:
        InvalidEntityIdError: naming every id that cannot be coerced (not only the first),
            so a caller can serve the others.
    """
    try:
        return [coerce(eid) for eid in entity_ids]
    except InvalidEntityIdError as first:
        bad: list[str] = []
        for eid in entity_ids:
            try:
                coerce(eid)
            except InvalidEntityIdError:
                bad.append(eid)
        more = f" ({len(bad) - 1} more invalid id(s) in this request)" if len(bad) > 1 else ""
        raise InvalidEntityIdError(
            f"{first}{more}", entity_type=entity_type, entity_ids=bad
        ) from None


# --------------------------------------------------------------------------- registry index


@dataclass(frozen=True)
class _FeatureInfo:
    view: str
    name: str
    ttl: timedelta | None
    value_type: Any


@dataclass
class _EntityIndex:
    """Everything about one entity type that name resolution needs, from the registry."""

    entity_type: str
    join_key: str
    coerce: Callable[[str], Any]
    refs: dict[str, _FeatureInfo]
    bare: dict[str, list[str]]
    services: dict[str, Any]
    views: dict[str, Any]

    def available(self) -> list[str]:
        """Refs plus the bare names that resolve to exactly one ref (see list_features)."""
        return sorted([*self.refs, *(n for n, refs in self.bare.items() if len(refs) == 1)])

    def to_ref(self, name: str) -> str:
        """Resolve one ref or bare name to its ``view:feature`` ref."""
        if name in self.refs:
            return name
        candidates = self.bare.get(name)
        if candidates is not None and len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise FeatureConfigError(
                f"Ambiguous feature '{name}' for entity '{self.entity_type}': it is in "
                f"{len(candidates)} feature views. Use one of: {', '.join(sorted(candidates))}"
            )
        available = self.available()
        if self.services:
            hint = f" (feature services, passed alone: {', '.join(sorted(self.services))})"
        else:
            hint = ""
        raise FeatureConfigError(
            unknown_name_message("feature", name, available, scope=f"entity '{self.entity_type}'")
            + hint
        )


@dataclass(frozen=True)
class _Column:
    response_name: str
    """``view__feature``, as named in the response with ``full_feature_names=True``."""
    view: str
    ttl: timedelta | None
    value_type: Any

    @property
    def scalar_field(self) -> str | None:
        """The ``Value`` oneof field a scalar of this type is stored in, if scalar."""
        return _SCALAR_FIELD_OF.get(self.value_type)


@dataclass
class _Plan:
    """A resolved request: what to ask Feast for and how to read its answer."""

    features: Any
    """A list of refs, or a ``FeatureService``: passed to ``get_online_features``."""
    key_columns: tuple[tuple[str, _Column], ...]
    """Each result key, in request order, with the response column that fills it."""
    join_key: str
    coerce: Callable[[str], Any]
    located: tuple[int, list[tuple[str, _Column, int]]] | None = None
    """Response width and each key with its column's index, learnt from the first answer."""


def _ttl(view: Any) -> timedelta | None:
    ttl = getattr(view, "ttl", None)
    if not ttl or ttl <= timedelta(0):
        return None
    return ttl  # type: ignore[no-any-return]


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError"


class FeastClient(WritableFeatureStore):
    """Features from a Feast repo's online store, through the Feast SDK.

    Args:
        repo_path: Directory holding ``feature_store.yaml``. Ignored when ``store``
            is given (may then be ``None``).
        project: Feast project to use instead of the one in ``feature_store.yaml``.
        store: An existing ``feast.FeatureStore`` to use; by default one shared
            store per repo path and project (:func:`shared_feature_store`).

    Registry lookups happen once per (entity type, feature names) and are cached; call
    :meth:`refresh` after ``feast apply`` changes the repo. The async methods use
    Feast's native ``get_online_features_async`` when the online store reads async
    (Redis; see :attr:`native_async`) and a worker thread otherwise (SQLite).
    Connection and store failures raise :class:`FeatureStoreUnavailableError`
    (:class:`FeatureTimeoutError` for timeouts), with the Feast error chained.

    Raises:
        FeatureConfigError: ``repo_path`` is not a Feast repo.
    """

    source = "feast"

    def __init__(
        self,
        repo_path: str | Path | None = None,
        project: str | None = None,
        *,
        store: Any = None,
    ) -> None:
        if store is None:
            if repo_path is None:
                raise FeatureConfigError("FeastClient needs repo_path= or store=")
            store = shared_feature_store(repo_path, project)
        self.store = store
        self._indexes: dict[str, _EntityIndex] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan] = {}
        self._native_async: bool | None = None
        self._probe: tuple[list[str], dict[str, list[Any]]] | None = None

    # ------------------------------------------------------------------ registry

    def refresh(self) -> None:
        """Reload the registry and forget resolved names (after ``feast apply``)."""
        try:
            self.store.refresh_registry()
        except Exception as exc:
            raise FeatureStoreUnavailableError(f"Cannot refresh the Feast registry: {exc}") from exc
        self._indexes.clear()
        self._plans.clear()
        self._probe = None

    def _index(self, entity_type: str) -> _EntityIndex:
        index = self._indexes.get(entity_type)
        if index is None:
            index = self._indexes[entity_type] = self._build_index(entity_type)
        return index

    def _build_index(self, entity_type: str) -> _EntityIndex:
        store = self.store
        try:
            entities = {e.name: e for e in store.list_entities(allow_cache=True)}
            views = list(store.list_feature_views(allow_cache=True))
            services = list(store.list_feature_services())
        except Exception as exc:
            raise FeatureStoreUnavailableError(
                f"Cannot read the Feast registry of project '{store.project}': {exc}"
            ) from exc
        entity = entities.get(entity_type)
        if entity is None:
            raise unknown_entity_type(
                entity_type, entities, scope=f"Feast project '{store.project}'"
            )
        join_key = entity.join_key
        own_views = {v.name: v for v in views if list(v.entities) == [entity_type]}
        value_type = entity.value_type
        if value_type == ValueType.UNKNOWN:
            for view in own_views.values():
                for col in view.entity_columns:
                    if col.name == join_key:
                        value_type = col.dtype.to_value_type()
        refs: dict[str, _FeatureInfo] = {}
        bare: dict[str, list[str]] = {}
        for view in own_views.values():
            ttl = _ttl(view)
            for feat in view.features:
                ref = f"{view.name}:{feat.name}"
                refs[ref] = _FeatureInfo(view.name, feat.name, ttl, feat.dtype.to_value_type())
                bare.setdefault(feat.name, []).append(ref)
        own_services = {
            s.name: s
            for s in services
            if s.feature_view_projections
            and all(p.name in own_views for p in s.feature_view_projections)
        }
        return _EntityIndex(
            entity_type=entity_type,
            join_key=join_key,
            coerce=_make_coercer(value_type, join_key, entity_type),
            refs=refs,
            bare=bare,
            services=own_services,
            views=own_views,
        )

    def _plan(self, entity_type: str, feature_names: Sequence[str]) -> _Plan:
        key = (entity_type, tuple(feature_names))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._build_plan(entity_type, key[1])
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _build_plan(self, entity_type: str, names: tuple[str, ...]) -> _Plan:
        index = self._index(entity_type)
        if len(names) == 1 and names[0] in index.services and names[0] not in index.bare:
            return self._service_plan(index, index.services[names[0]])
        key_columns: list[tuple[str, _Column]] = []
        refs: list[str] = []
        for name in names:
            ref = index.to_ref(name)
            info = index.refs[ref]
            if ref not in refs:
                refs.append(ref)
            column = _Column(f"{info.view}__{info.name}", info.view, info.ttl, info.value_type)
            key_columns.append((name, column))
        return _Plan(
            features=refs,
            key_columns=tuple(key_columns),
            join_key=index.join_key,
            coerce=index.coerce,
        )

    def _service_plan(self, index: _EntityIndex, service: Any) -> _Plan:
        pairs: list[tuple[str, str]] = []
        infos: list[_FeatureInfo] = []
        for projection in service.feature_view_projections:
            alias = projection.name_to_use()
            for feat in projection.features:
                pairs.append((alias, feat.name))
                base = index.refs[f"{projection.name}:{feat.name}"]
                infos.append(base)
        keys = service_keys(pairs)
        return _Plan(
            features=service,
            key_columns=tuple(
                (key, _Column(f"{view}__{name}", info.view, info.ttl, info.value_type))
                for (view, name), key, info in zip(pairs, keys, infos, strict=True)
            ),
            join_key=index.join_key,
            coerce=index.coerce,
        )

    # ------------------------------------------------------------------ reads

    def _prepare(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> tuple[_Plan, dict[str, list[Any]]]:
        check_request(entity_ids, entity_type, feature_names)
        plan = self._plan(entity_type, feature_names)
        return plan, {plan.join_key: coerce_all(plan.coerce, entity_ids, entity_type)}

    def _vectors(
        self, response: Any, plan: _Plan, entity_ids: Sequence[str], entity_type: str
    ) -> list[FeatureVector]:
        """Turn the response proto into one vector per entity, in request order.

        Equivalent to :meth:`FeatureVector.build` (same statuses, dropped values and
        ``freshness_seconds``) but read column-wise from the proto in one pass, with a
        leaner path for a single entity: this is the hot path.
        """
        proto = response.proto
        results = proto.results
        columns = self._located_columns(plan, proto.metadata.feature_names.val)
        now = utcnow()
        n = len(entity_ids)
        if n == 1:
            return [self._one_vector(results, columns, entity_ids[0], entity_type, now)]
        stamps_by_view: dict[str, tuple[list[datetime | None], bool]] = {}
        ts_cache: dict[tuple[int, int], datetime | None] = {(0, 0): None}
        present = _PRESENT_STATUS
        read: list[tuple[str, list[Any], list[FeatureStatus], list[datetime | None]]] = []
        for key, column, pos in columns:
            result = results[pos]
            cutoff = None if column.ttl is None else now - column.ttl
            seen = stamps_by_view.get(column.view)
            if seen is None:
                pairs = [(t.seconds, t.nanos) for t in result.event_timestamps]
                stamps = [
                    ts_cache[p] if p in ts_cache else _timestamp_of(p, ts_cache) for p in pairs
                ]
                known = [t for t in stamps if t is not None]
                # Whether any value of this view can be stale, decided once per view.
                seen = stamps_by_view[column.view] = (
                    stamps,
                    cutoff is not None and bool(known) and min(known) < cutoff,
                )
            stamps, may_be_stale = seen
            values = _column_values(result.values, column)
            codes = list(result.statuses)
            if not len(values) == len(codes) == len(stamps) == n:
                raise FeatureStoreUnavailableError(
                    f"Feast answered {len(values)} rows for '{key}' but {n} entities were requested"
                )
            if not may_be_stale and codes.count(_PRESENT) == n and None not in values:
                statuses = [present] * n  # the common case: every value present and fresh
            else:
                cells = [
                    _classify(c, v, t, cutoff)
                    for c, v, t in zip(codes, values, stamps, strict=True)
                ]
                statuses = [cell[0] for cell in cells]
                values = [cell[1] for cell in cells]
            read.append((key, values, statuses, stamps))
        source = self.source
        out: list[FeatureVector] = []
        for i, eid in enumerate(entity_ids):
            feats: dict[str, Any] = {}
            statuses_i: dict[str, FeatureStatus] = {}
            stamps_i: dict[str, datetime | None] = {}
            oldest: datetime | None = None
            for key, values, statuses, stamps in read:
                ts = stamps[i]
                status = statuses[i]
                feats[key] = values[i]
                statuses_i[key] = status
                stamps_i[key] = ts
                if ts is not None and status in _AGED and (oldest is None or ts < oldest):
                    oldest = ts
            out.append(
                FeatureVector(
                    entity_id=eid,
                    entity_type=entity_type,
                    features=feats,
                    statuses=statuses_i,
                    event_timestamps=stamps_i,
                    retrieved_at=now,
                    freshness_seconds=_age(now, oldest),
                    source=source,
                )
            )
        return out

    def _one_vector(
        self,
        results: Any,
        columns: list[tuple[str, _Column, int]],
        entity_id: str,
        entity_type: str,
        now: datetime,
    ) -> FeatureVector:
        feats: dict[str, Any] = {}
        statuses: dict[str, FeatureStatus] = {}
        stamps: dict[str, datetime | None] = {}
        by_view: dict[str, datetime | None] = {}
        oldest: datetime | None = None
        for key, column, pos in columns:
            result = results[pos]
            if len(result.values) != 1:
                raise FeatureStoreUnavailableError(
                    f"Feast answered {len(result.values)} rows for '{key}' but 1 entity was "
                    "requested"
                )
            ts = by_view.get(column.view, _NOT_CACHED)
            if ts is _NOT_CACHED:
                ts = by_view[column.view] = _timestamp(result.event_timestamps[0], None)
            cutoff = None if column.ttl is None else now - column.ttl
            status, feats[key] = _classify(
                result.statuses[0], _convert_value(result.values[0], column.value_type), ts, cutoff
            )
            statuses[key] = status
            stamps[key] = ts
            if ts is not None and status in _AGED and (oldest is None or ts < oldest):
                oldest = ts
        return FeatureVector(
            entity_id=entity_id,
            entity_type=entity_type,
            features=feats,
            statuses=statuses,
            event_timestamps=stamps,
            retrieved_at=now,
            freshness_seconds=_age(now, oldest),
            source=self.source,
        )

    @staticmethod
    def _located_columns(plan: _Plan, names: Any) -> list[tuple[str, _Column, int]]:
        """Each key of ``plan`` with its column and that column's index in the response.

        Feast orders the columns by its own grouping, stable for one request, so the
        indexes learnt from the first answer are reused and checked on every call.
        """
        located = plan.located
        if located is not None and len(names) == located[0]:
            for key_column_pos in located[1]:
                if names[key_column_pos[2]] != key_column_pos[1].response_name:
                    break
            else:
                return located[1]
        index = {name: pos for pos, name in enumerate(names)}
        missing = [c.response_name for _, c in plan.key_columns if c.response_name not in index]
        if missing:
            raise FeatureStoreUnavailableError(
                f"Feast answered without the columns {', '.join(missing)}"
            )
        columns = [(key, c, index[c.response_name]) for key, c in plan.key_columns]
        plan.located = (len(names), columns)
        return columns

    def _read_error(self, exc: Exception, entity_type: str) -> FeatureStoreError:
        if isinstance(exc, FeatureStoreError):
            return exc
        where = f"Feast online read for entity '{entity_type}' (project '{self.store.project}')"
        if _is_timeout(exc):
            return FeatureTimeoutError(f"{where} timed out: {exc}")
        return FeatureStoreUnavailableError(f"{where} failed: {type(exc).__name__}: {exc}")

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        plan, rows = self._prepare(entity_ids, entity_type, feature_names)
        if not entity_ids:
            return []
        try:
            response = self.store.get_online_features(
                features=plan.features, entity_rows=rows, full_feature_names=True
            )
        except Exception as exc:
            raise self._read_error(exc, entity_type) from exc
        return self._vectors(response, plan, entity_ids, entity_type)

    @property
    def native_async(self) -> bool:
        """True when the online store reads natively async (Redis), False when a thread is used."""
        if self._native_async is None:
            try:
                provider = self.store._get_provider()
                self._native_async = bool(provider.async_supported.online.read)
            except Exception:
                self._native_async = False
        return self._native_async

    async def _use_running_loop(self) -> None:
        """Bind Feast's cached async online-store client to the running event loop.

        Feast's Redis store creates one ``redis.asyncio`` client and keeps it, but that
        client only works on the loop it was created on. So the shared store is bound
        to one loop at a time: on a new loop the cached client is dropped (Feast then
        makes a fresh one), and an async generator registered with the loop closes
        the client when the loop shuts down (``asyncio.run`` and ``asyncio.Runner``
        finalise async generators before closing the loop), so no connection leaks.
        """
        loop = asyncio.get_running_loop()
        online = self.store._get_provider().online_store
        state = getattr(online, "_llmfs_loop_state", None)
        if state is not None and state[0]() is loop:
            return
        if getattr(online, "_client_async", None) is not None:
            online._client_async = None
        closer = _close_async_client_at_loop_end(online, loop)
        online._llmfs_loop_state = (weakref.ref(loop), closer)
        await closer.__anext__()

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        if not self.native_async:
            return await asyncio.to_thread(
                self.get_batch_features, entity_ids, entity_type, feature_names
            )
        check_request(entity_ids, entity_type, feature_names)
        if (entity_type, tuple(feature_names)) not in self._plans:
            # The first resolution reads the registry (file or network I/O): use a thread.
            await asyncio.to_thread(self._plan, entity_type, feature_names)
        plan, rows = self._prepare(entity_ids, entity_type, feature_names)
        if not entity_ids:
            return []
        try:
            await self._use_running_loop()
            response = await self.store.get_online_features_async(
                features=plan.features, entity_rows=rows, full_feature_names=True
            )
        except Exception as exc:
            raise self._read_error(exc, entity_type) from exc
        return self._vectors(response, plan, entity_ids, entity_type)

    def list_features(self, entity_type: str) -> list[str]:
        """Sorted ``view:feature`` refs of ``entity_type``, plus the bare names that are
        unambiguous (in exactly one of its feature views). Feature services are not
        listed here; see :meth:`list_feature_services`.
        """
        return self._index(entity_type).available()

    def list_feature_services(self, entity_type: str) -> list[str]:
        """Names of the feature services whose views are all keyed by ``entity_type``."""
        return sorted(self._index(entity_type).services)

    # ------------------------------------------------------------------ health

    def _probe_request(self) -> tuple[list[str], dict[str, list[Any]]]:
        if self._probe is None:
            views = self.store.list_feature_views(allow_cache=True)
            for view in views:
                if len(view.entity_columns) == 1 and view.features:
                    col = view.entity_columns[0]
                    vt = col.dtype.to_value_type()
                    probe_id: Any = 0 if vt in (ValueType.INT64, ValueType.INT32) else ""
                    self._probe = (
                        [f"{view.name}:{view.features[0].name}"],
                        {col.name: [probe_id]},
                    )
                    break
            else:
                self._probe = ([], {})
        return self._probe

    def health_check(self) -> bool:
        """Read one feature of a probe entity from the online store; False on any failure."""
        try:
            features, rows = self._probe_request()
            if features:
                self.store.get_online_features(features=features, entity_rows=rows)
            return True
        except Exception:
            return False

    async def ahealth_check(self) -> bool:
        if not self.native_async:
            return await asyncio.to_thread(self.health_check)
        try:
            features, rows = await asyncio.to_thread(self._probe_request)
            if features:
                await self._use_running_loop()
                await self.store.get_online_features_async(features=features, entity_rows=rows)
            return True
        except Exception:
            return False

    # ------------------------------------------------------------------ writes

    def _write_frames(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None,
    ) -> list[tuple[str, Any]]:
        """Validate a write and build one DataFrame per feature view it touches."""
        pd = require("pandas", extra="feast")
        check_request([entity_id], entity_type, ["_"])
        validate_feature_values(features)
        index = self._index(entity_type)
        by_view: dict[str, dict[str, Any]] = {}
        for name, value in features.items():
            ref = index.to_ref(name)
            info = index.refs[ref]
            _check_type(ref, value, info.value_type)
            by_view.setdefault(info.view, {})[info.name] = value
        ts = ensure_aware(event_timestamp) if event_timestamp is not None else utcnow()
        eid = index.coerce(entity_id)
        frames: list[tuple[str, Any]] = []
        for view_name, values in by_view.items():
            view = index.views[view_name]
            all_names = [f.name for f in view.features]
            missing = [n for n in all_names if n not in values]
            if missing:
                raise FeatureValidationError(
                    f"Feast stores one row per feature view: a write to '{view_name}' must set "
                    f"all its features; missing: {', '.join(missing)} (pass None to store a null)"
                )
            if all(v is None for v in values.values()):
                raise FeatureValidationError(
                    f"Every value written to feature view '{view_name}' is None; "
                    "Feast would skip the row. Write at least one value."
                )
            ts_column = view.batch_source.timestamp_field or "event_timestamp"
            frame = pd.DataFrame(
                {
                    index.join_key: [eid],
                    **{n: [values[n]] for n in all_names},
                    ts_column: [ts],
                }
            )
            frames.append((view_name, frame))
        return frames

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Write one entity's features to the online store, one row per feature view.

        Names resolve like reads (refs or unambiguous bare names). Feast keeps one
        row and one event timestamp per (entity, feature view), so a write must set
        every feature of each view it touches (``None`` stores a null). All checks
        happen before anything is written; a write spanning several views is not
        atomic across them.

        Raises:
            FeatureValidationError: a value fails :func:`validate_feature_values`, does
                not match the feature's Feast type, or a view's features are incomplete.
            FeatureConfigError: an unknown or ambiguous feature name, or a bad entity id.
            FeatureStoreUnavailableError: the online store rejected the write.
        """
        frames = self._write_frames(entity_id, entity_type, features, event_timestamp)
        for view_name, frame in frames:
            try:
                self.store.write_to_online_store(view_name, df=frame)
            except Exception as exc:
                raise FeatureStoreUnavailableError(
                    f"Feast write to feature view '{view_name}' failed: {exc}"
                ) from exc

    def close(self) -> None:
        """Nothing to release: the shared ``FeatureStore`` outlives its clients."""


async def _close_async_client_at_loop_end(
    online: Any, loop: asyncio.AbstractEventLoop
) -> AsyncIterator[None]:
    """Suspend until ``loop`` finalises its async generators, then close the client."""
    try:
        yield
    finally:
        state = getattr(online, "_llmfs_loop_state", None)
        if state is not None and state[0]() is loop:
            client = getattr(online, "_client_async", None)
            online._client_async = None
            online._llmfs_loop_state = None
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()


_TYPE_CHECKS: dict[Any, tuple[tuple[type, ...], str]] = {
    ValueType.STRING: ((str,), "a string"),
    ValueType.INT64: ((int,), "an integer"),
    ValueType.INT32: ((int,), "an integer"),
    ValueType.DOUBLE: ((int, float), "a number"),
    ValueType.FLOAT: ((int, float), "a number"),
    ValueType.BOOL: ((bool,), "a bool"),
}


def _check_type(ref: str, value: Any, value_type: Any) -> None:
    check = _TYPE_CHECKS.get(value_type)
    if value is None or check is None:
        return
    kinds, label = check
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise FeatureValidationError(
            f"Feature '{ref}' is {value_type.name} in Feast: expected {label}, "
            f"got {type(value).__name__} {value!r}"
        )
