"""Feast's online response proto as :class:`FeatureVector`\\ s, read column-wise.

Statuses and event timestamps come from the response proto (``to_dict()`` would turn
NOT_FOUND into a bare ``None``). Every cell is classified by the shared rule,
:func:`llm_featurestore.clients.cells.classify` with ``null_needs_timestamp=True``,
which corrects Feast 0.67 where it is imprecise:

* Feast does not apply a feature view's ``ttl`` on online reads (feast-dev/feast#6821):
  a PRESENT value older than the ttl is reported STALE here (value kept);
* a stored null comes back PRESENT with an empty value: reported NULL_VALUE;
* the Redis store answers PRESENT, empty and without a timestamp for an entity it
  does not hold: reported NOT_FOUND.

This is the hot path, so it does not build :class:`~llm_featurestore.clients.cells.Cell`\\ s
for :func:`~llm_featurestore.clients.cells.assemble`: values are decoded one column at a
time, timestamps once per view, and the common column (every cell PRESENT, non-null
and fresh) skips classification. ``tests/unit/test_feast_decode_properties.py`` proves
the result equals ``assemble``'s.

The direct read path (:mod:`llm_featurestore.clients.feast.direct`) fetches the same
``Value`` protos, statuses and timestamps from the online store itself and hands them
to :func:`decode_columns`, so both paths classify through the same code.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.cells import classified_vector, classify
from llm_featurestore.clients.feast.plans import Column, Plan
from llm_featurestore.errors import FeatureStoreUnavailableError
from llm_featurestore.models import FeatureStatus, FeatureVector

_feast_type_map = require("feast.type_map", extra="feast")
_FS = require("feast.protos.feast.serving.ServingService_pb2", extra="feast").FieldStatus

__all__ = [
    "FetchedColumn",
    "decode_columns",
    "decode_vectors",
    "located_columns",
    "store_status",
    "timestamp_of",
]

_SCALAR_FIELDS = frozenset(
    {"string_val", "int64_val", "double_val", "int32_val", "float_val", "bool_val", "bytes_val"}
)
_NOT_CACHED = datetime.min.replace(tzinfo=timezone.utc)
"""Sentinel for "not looked up yet" in timestamp caches (``None`` means no timestamp)."""
_AGED = (FeatureStatus.PRESENT, FeatureStatus.STALE)
"""Statuses whose timestamps count towards ``freshness_seconds``."""
_STATUS_MAP: dict[int, FeatureStatus] = {
    _FS.PRESENT: FeatureStatus.PRESENT,
    _FS.NULL_VALUE: FeatureStatus.NULL_VALUE,
    _FS.NOT_FOUND: FeatureStatus.NOT_FOUND,
    _FS.OUTSIDE_MAX_AGE: FeatureStatus.STALE,
    _FS.INVALID: FeatureStatus.NOT_FOUND,
}
_PRESENT_CODE = _FS.PRESENT
_PRESENT = FeatureStatus.PRESENT
_NOT_FOUND = FeatureStatus.NOT_FOUND

Read = tuple[str, list[Any], list[FeatureStatus], list["datetime | None"]]
"""One column as read: its key, and per entity its value, status and event time."""
FetchedColumn = tuple[str, Column, Sequence[Any], Sequence[int], list["datetime | None"]]
"""One column as fetched: its key and column, and per entity its ``Value`` proto,
Feast ``FieldStatus`` code and event time (``None`` for none)."""


def store_status(code: int) -> FeatureStatus:
    """What Feast's ``FieldStatus`` code says, as our status (unknown codes: NOT_FOUND)."""
    return _STATUS_MAP.get(code, _NOT_FOUND)


def _classify(
    code: int, value: Any, ts: datetime | None, cutoff: datetime | None
) -> tuple[FeatureStatus, Any]:
    """Our status for one cell of the response, and the value to keep for it."""
    return classify(value, ts, cutoff, store_status(code), null_needs_timestamp=True)


def _convert_value(value: Any, value_type: Any) -> Any:
    """A Feast ``Value`` proto as a Python value; ``None`` for an empty or null value."""
    which = value.WhichOneof("val")
    if which is None or which == "null_val":
        return None
    if which in _SCALAR_FIELDS:
        return getattr(value, which)
    return _feast_type_map.feast_value_type_to_python_type(value, value_type)


def _column_values(cells: Any, column: Column) -> list[Any]:
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


def timestamp_of(
    seconds_nanos: tuple[int, int], cache: dict[tuple[int, int], datetime | None]
) -> datetime | None:
    """A proto timestamp's ``(seconds, nanos)`` as the aware datetime this decoder gives
    it (``None`` for ``(0, 0)``, Feast's "no timestamp"), looked up in and stored in ``cache``."""
    found = cache.get(seconds_nanos, _NOT_CACHED)
    return _timestamp_of(seconds_nanos, cache) if found is _NOT_CACHED else found


def located_columns(plan: Plan, names: Any) -> list[tuple[str, Column, int]]:
    """Each key of ``plan`` with its column and that column's index in the response.

    Feast orders the columns by its own grouping, stable for one request, so the
    indexes learnt from the first answer are reused and checked on every call.

    Raises:
        FeatureStoreUnavailableError: the response lacks a column of the plan.
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


def decode_vectors(
    response: Any,
    plan: Plan,
    entity_ids: Sequence[str],
    entity_type: str,
    *,
    source: str,
    now: datetime,
) -> list[FeatureVector]:
    """One vector per entity of ``response`` (a Feast ``OnlineResponse``), in request order.

    Raises:
        FeatureStoreUnavailableError: the response does not match the request's shape.
    """
    proto = response.proto
    columns = located_columns(plan, proto.metadata.feature_names.val)
    if len(entity_ids) == 1:
        fetched = _one_answer(proto.results, columns)
        return [_one_vector(fetched, entity_ids[0], entity_type, source, now)]
    read = _read_columns(proto.results, columns, len(entity_ids), now)
    return _vectors_of(read, entity_ids, entity_type, source, now)


def _read_columns(
    results: Any, columns: list[tuple[str, Column, int]], n: int, now: datetime
) -> list[Read]:
    """Every column of an ``n``-entity answer, classified (see the module docstring)."""
    stamps_by_view: dict[str, list[datetime | None]] = {}
    ts_cache: dict[tuple[int, int], datetime | None] = {(0, 0): None}

    def fetched() -> Iterator[FetchedColumn]:
        for key, column, pos in columns:
            result = results[pos]
            stamps = stamps_by_view.get(column.view)
            if stamps is None:
                pairs = [(t.seconds, t.nanos) for t in result.event_timestamps]
                stamps = stamps_by_view[column.view] = [
                    ts_cache[p] if p in ts_cache else _timestamp_of(p, ts_cache) for p in pairs
                ]
            yield key, column, result.values, result.statuses, stamps

    return _classified(fetched(), n, now)


def decode_columns(
    columns: Iterable[FetchedColumn],
    entity_ids: Sequence[str],
    entity_type: str,
    *,
    source: str,
    now: datetime,
) -> list[FeatureVector]:
    """One vector per entity from columns fetched without the SDK (the direct read path),
    classified exactly as :func:`decode_vectors` classifies Feast's answer.

    Raises:
        FeatureStoreUnavailableError: a column's length is not the number of entities.
    """
    if len(entity_ids) == 1:
        return [_one_vector(columns, entity_ids[0], entity_type, source, now)]
    read = _classified(columns, len(entity_ids), now)
    return _vectors_of(read, entity_ids, entity_type, source, now)


def _classified(columns: Iterable[FetchedColumn], n: int, now: datetime) -> list[Read]:
    """Each column's values decoded and every cell classified by the shared rule."""
    stale_by_view: dict[str, bool] = {}
    read: list[Read] = []
    for key, column, cells, store_codes, stamps in columns:
        cutoff = None if column.ttl is None else now - column.ttl
        may_be_stale = stale_by_view.get(column.view)
        if may_be_stale is None:
            known = [t for t in stamps if t is not None]
            # Whether any value of this view can be stale, decided once per view.
            may_be_stale = stale_by_view[column.view] = (
                cutoff is not None and bool(known) and min(known) < cutoff
            )
        values = _column_values(cells, column)
        codes = list(store_codes)
        if not len(values) == len(codes) == len(stamps) == n:
            raise FeatureStoreUnavailableError(
                f"Feast answered {len(values)} rows for '{key}' but {n} entities were requested"
            )
        if not may_be_stale and codes.count(_PRESENT_CODE) == n and None not in values:
            statuses = [_PRESENT] * n  # the common case: every value present and fresh
        else:
            status_of = _STATUS_MAP.get
            classified = [
                classify(v, t, cutoff, status_of(c, _NOT_FOUND), null_needs_timestamp=True)
                for c, v, t in zip(codes, values, stamps, strict=True)
            ]
            statuses = [cell[0] for cell in classified]
            values = [cell[1] for cell in classified]
        read.append((key, values, statuses, stamps))
    return read


def _vectors_of(
    read: list[Read], entity_ids: Sequence[str], entity_type: str, source: str, now: datetime
) -> list[FeatureVector]:
    """Transpose the columns read into one vector per entity."""
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
            classified_vector(
                eid, entity_type, feats, statuses_i, stamps_i, oldest=oldest, source=source, now=now
            )
        )
    return out


def _one_answer(results: Any, columns: list[tuple[str, Column, int]]) -> Iterator[FetchedColumn]:
    """The columns of a one-entity answer, each view's timestamp converted once."""
    by_view: dict[str, list[datetime | None]] = {}
    for key, column, pos in columns:
        result = results[pos]
        stamps = by_view.get(column.view)
        if stamps is None:
            given = result.event_timestamps
            stamps = by_view[column.view] = [_timestamp(given[0], None) if given else None]
        yield key, column, result.values, result.statuses, stamps


def _one_vector(
    columns: Iterable[FetchedColumn],
    entity_id: str,
    entity_type: str,
    source: str,
    now: datetime,
) -> FeatureVector:
    """The vector of one entity: no per-column lists to build."""
    feats: dict[str, Any] = {}
    statuses: dict[str, FeatureStatus] = {}
    stamps: dict[str, datetime | None] = {}
    oldest: datetime | None = None
    for key, column, cells, codes, column_stamps in columns:
        if len(cells) != 1:
            raise FeatureStoreUnavailableError(
                f"Feast answered {len(cells)} rows for '{key}' but 1 entity was requested"
            )
        ts = column_stamps[0]
        cutoff = None if column.ttl is None else now - column.ttl
        status, feats[key] = classify(
            _convert_value(cells[0], column.value_type),
            ts,
            cutoff,
            _STATUS_MAP.get(codes[0], _NOT_FOUND),
            null_needs_timestamp=True,
        )
        statuses[key] = status
        stamps[key] = ts
        if ts is not None and status in _AGED and (oldest is None or ts < oldest):
            oldest = ts
    return classified_vector(
        entity_id, entity_type, feats, statuses, stamps, oldest=oldest, source=source, now=now
    )
