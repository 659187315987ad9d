"""The one rule that turns what a store holds into a :class:`FeatureVector`.

Every backend reads cells (a value, its event time, and the store's own status for
it) and hands them here; statuses, staleness, dropped values and
``freshness_seconds`` are decided in this module only:

* a value the store holds (store status PRESENT) is NULL_VALUE when it is ``None``,
  STALE when its event time is older than the cutoff (value kept), else PRESENT;
  with ``null_needs_timestamp`` a ``None`` without an event time is NOT_FOUND
  (Feast's online stores answer so for an entity they do not hold);
* any other store status stands; only STALE keeps its value;
* a requested feature with no cell is NOT_FOUND;
* ``freshness_seconds`` is the age of the oldest PRESENT or STALE value.

A backend with a faster column-wise decoder may keep it, provided it calls
:func:`classify` per cell and a test proves it equals :func:`assemble`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from llm_featurestore.models import FeatureStatus, FeatureVector

__all__ = [
    "Cell",
    "assemble",
    "classified_vector",
    "classify",
    "cutoff_for",
    "max_age_for",
    "status_for",
]

_PRESENT = FeatureStatus.PRESENT
_STALE = FeatureStatus.STALE
_NOT_FOUND = FeatureStatus.NOT_FOUND
_AGED = (_PRESENT, _STALE)


class Cell(NamedTuple):
    """One stored value as a backend read it."""

    value: Any
    event_timestamp: datetime | None = None
    status: FeatureStatus = _PRESENT
    """What the store said of it; PRESENT when it just holds the value."""


def max_age_for(
    max_age_seconds: float | Mapping[str, float] | None, entity_type: str
) -> timedelta | None:
    """Resolve a ``max_age_seconds`` setting (one number, or per entity type) to a timedelta."""
    if max_age_seconds is None:
        return None
    if isinstance(max_age_seconds, Mapping):
        seconds = max_age_seconds.get(entity_type)
        return None if seconds is None else timedelta(seconds=seconds)
    return timedelta(seconds=max_age_seconds)


def cutoff_for(max_age: timedelta | None, now: datetime) -> datetime | None:
    """The event time before which a value is STALE, or ``None`` for no limit."""
    return None if max_age is None else now - max_age


def classify(
    value: Any,
    event_timestamp: datetime | None,
    cutoff: datetime | None,
    store_status: FeatureStatus = _PRESENT,
    *,
    null_needs_timestamp: bool = False,
) -> tuple[FeatureStatus, Any]:
    """The status of one cell and the value to keep for it (see the module rules)."""
    if store_status is _PRESENT:
        if value is None:
            if null_needs_timestamp and event_timestamp is None:
                return FeatureStatus.NOT_FOUND, None
            return FeatureStatus.NULL_VALUE, None
        if cutoff is not None and event_timestamp is not None and event_timestamp < cutoff:
            return _STALE, value
        return _PRESENT, value
    return store_status, (value if store_status is _STALE else None)


def status_for(
    value: Any, event_timestamp: datetime | None, max_age: timedelta | None, now: datetime
) -> FeatureStatus:
    """PRESENT, NULL_VALUE or STALE for a value the store does hold."""
    return classify(value, event_timestamp, cutoff_for(max_age, now))[0]


def assemble(
    entity_id: str,
    entity_type: str,
    feature_names: Sequence[str],
    cells: Mapping[str, Cell],
    *,
    source: str,
    now: datetime,
    max_age: timedelta | None = None,
    null_needs_timestamp: bool = False,
) -> FeatureVector:
    """One vector with exactly ``feature_names``, from the cells the store answered."""
    cutoff = cutoff_for(max_age, now)
    values: dict[str, Any] = {}
    statuses: dict[str, FeatureStatus] = {}
    stamps: dict[str, datetime | None] = {}
    oldest: datetime | None = None
    for name in feature_names:
        cell = cells.get(name)
        if cell is None:
            values[name], statuses[name], stamps[name] = None, _NOT_FOUND, None
            continue
        ts = cell.event_timestamp
        status, values[name] = classify(
            cell.value, ts, cutoff, cell.status, null_needs_timestamp=null_needs_timestamp
        )
        statuses[name] = status
        stamps[name] = ts
        if ts is not None and status in _AGED and (oldest is None or ts < oldest):
            oldest = ts
    return classified_vector(
        entity_id, entity_type, values, statuses, stamps, oldest=oldest, source=source, now=now
    )


def classified_vector(
    entity_id: str,
    entity_type: str,
    values: dict[str, Any],
    statuses: dict[str, FeatureStatus],
    stamps: dict[str, datetime | None],
    *,
    oldest: datetime | None,
    source: str,
    now: datetime,
) -> FeatureVector:
    """A vector from cells already classified by :func:`classify`, built directly.

    For column-wise decoders on the hot path: the dicts hold exactly the requested
    names, and ``oldest`` is the event time of the oldest PRESENT or STALE value.
    """
    return FeatureVector(
        entity_id=entity_id,
        entity_type=entity_type,
        features=values,
        statuses=statuses,
        event_timestamps=stamps,
        retrieved_at=now,
        freshness_seconds=0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0),
        source=source,
    )
