"""Pushes through Feast's push sources: rows checked against the views a source feeds.

A push source feeds every feature view (and stream feature view) whose
``stream_source`` it is (:func:`find_target`, cached per source by :class:`PushTargets`).
:func:`plan_push` checks the rows before anything is sent:

* each row has the join key of every entity of those views, coercible to its type
  (as reads coerce ids: :mod:`~llm_featurestore.clients.feast.ids`);
* each row has every feature of every view the source feeds (a push writes whole rows;
  ``None`` pushes a null) and no column those views do not take;
* values pass :func:`~llm_featurestore.clients.base.validate_feature_values` and the
  features' Feast types;
* the source's timestamp columns are filled where a row leaves them out: its
  ``timestamp_field`` and ``created_timestamp_column`` with now;
* an offline push (``"offline"``, ``"online_and_offline"``) must carry exactly the
  columns of the batch source, which Feast appends to (the file offline store needs
  the batch source's parquet file to exist, with those columns).

The returned :class:`~llm_featurestore.clients.base.EntityKey` list names each entity
the rows touched (its entity type and the id as text), for cache invalidation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.base import EntityKey, validate_feature_values
from llm_featurestore.clients.feast.ids import make_coercer
from llm_featurestore.clients.feast.registry import read_registry
from llm_featurestore.clients.feast.store import provider_of
from llm_featurestore.clients.feast.writes import check_type, join_value_type, timestamp_columns
from llm_featurestore.clients.push_rows import push_records, row_timestamp
from llm_featurestore.clients.values import check_entity_id
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureValidationError,
    InvalidEntityIdError,
    unknown_name_message,
)

__all__ = [
    "OFFLINE_MODES",
    "PushEntity",
    "PushPlan",
    "PushTarget",
    "PushTargets",
    "feast_push_mode",
    "find_target",
    "plan_push",
]

_DUMMY_ENTITY = "__dummy"
OFFLINE_MODES: frozenset[str] = frozenset({"offline", "online_and_offline"})
"""The push modes that append to the offline store."""


def feast_push_mode(mode: str) -> Any:
    """Feast's ``PushMode`` for one of :data:`~llm_featurestore.clients.base.PUSH_MODES`."""
    from feast.data_source import PushMode as FeastPushMode

    return FeastPushMode[mode.upper()]


@dataclass(frozen=True)
class PushEntity:
    """One entity of the views a push source feeds: its join key and how to coerce ids."""

    entity_type: str
    join_key: str
    coerce: Callable[[str], Any]


@dataclass
class PushTarget:
    """A push source and what its rows must hold (see the module rules)."""

    name: str
    views: tuple[Any, ...]
    entities: tuple[PushEntity, ...]
    features: dict[str, Any]
    """Feature name to Feast ``ValueType``, over every view the source feeds."""
    timestamp_field: str
    created_column: str | None
    batch_source: Any
    offline_columns: tuple[str, ...] | None = field(default=None)
    """The batch source's columns, read on the first offline push."""

    @property
    def view_names(self) -> str:
        return ", ".join(sorted(v.name for v in self.views))

    def columns(self) -> list[str]:
        """The columns an online push takes, in frame order."""
        stamps = [self.timestamp_field] + ([self.created_column] if self.created_column else [])
        return [e.join_key for e in self.entities] + list(self.features) + stamps


def _push_source_names(store: Any) -> list[str]:
    from feast.data_source import PushSource

    return sorted(
        s.name for s in store.list_data_sources(allow_cache=True) if isinstance(s, PushSource)
    )


def _fed_by(view: Any, name: str) -> bool:
    from feast.data_source import PushSource

    source = getattr(view, "stream_source", None)
    return isinstance(source, PushSource) and source.name == name


def find_target(store: Any, name: str) -> PushTarget:
    """The push source ``name`` of ``store``'s project, and the views it feeds.

    Raises:
        FeatureConfigError: no push source of that name (the message lists them), or
            it feeds no feature view.
        FeatureStoreUnavailableError: the registry cannot be read.
    """
    snapshot = read_registry(store, stream_views=True)
    views = tuple(v for v in snapshot.views.values() if _fed_by(v, name))
    if not views:
        names = _push_source_names(store)
        if name in names:
            raise FeatureConfigError(
                f"Push source '{name}' feeds no feature view in Feast project "
                f"'{snapshot.project}': give a FeatureView source={name} and run `feast apply`"
            )
        raise FeatureConfigError(
            unknown_name_message(
                "push source", name, names, scope=f"Feast project '{snapshot.project}'"
            )
        )
    entities: dict[str, PushEntity] = {}
    features: dict[str, Any] = {}
    for view in views:
        for entity_name in view.entities:
            if entity_name == _DUMMY_ENTITY or entity_name in entities:
                continue
            join_key = snapshot.entities[entity_name].join_key
            value_type = join_value_type(view, join_key, "")
            entities[entity_name] = PushEntity(
                entity_name, join_key, make_coercer(value_type, join_key, entity_name)
            )
        for feature in view.features:
            features.setdefault(feature.name, feature.dtype.to_value_type())
    ts_field, created = timestamp_columns(views[0].batch_source)
    return PushTarget(
        name, views, tuple(entities.values()), features, ts_field, created, views[0].batch_source
    )


class PushTargets:
    """The push targets of one ``FeatureStore``, looked up once each; :meth:`clear`
    forgets them (after ``feast apply``)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._targets: dict[str, PushTarget] = {}

    def clear(self) -> None:
        self._targets.clear()

    def get(self, name: str) -> PushTarget:
        target = self._targets.get(name)
        if target is None:
            target = self._targets[name] = find_target(self.store, name)
        return target

    def offline_columns(self, target: PushTarget) -> tuple[str, ...]:
        """The batch source's columns (Feast appends offline pushes to it).

        Raises:
            FeatureConfigError: the batch source's file does not exist.
        """
        if target.offline_columns is None:
            try:
                pairs = provider_of(self.store).get_table_column_names_and_types_from_data_source(
                    self.store.config, target.batch_source
                )
            except FileNotFoundError as exc:
                raise FeatureConfigError(
                    f"Offline push to '{target.name}' needs its batch source "
                    f"'{target.batch_source.name}' to exist: {exc}. Feast appends to it; "
                    "create it with the source's columns first"
                ) from exc
            target.offline_columns = tuple(column for column, _ in pairs)
        return target.offline_columns


@dataclass(frozen=True)
class PushPlan:
    """A checked push: the frame to hand to ``FeatureStore.push`` and the entities it touches."""

    frame: Any
    keys: list[EntityKey]


def _join(entity: PushEntity, value: Any, index: int, source: str) -> tuple[Any, str]:
    """A row's join key value as the key's type, and as the id text of its EntityKey."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise FeatureValidationError(
            f"Row {index} of the push to '{source}': join key '{entity.join_key}' of entity "
            f"'{entity.entity_type}' must be an id (a string or a number), got "
            f"{type(value).__name__} {value!r}"
        )
    text = value if isinstance(value, str) else str(value)
    check_entity_id(text, f"Row {index} of the push to '{source}': ")
    try:
        return entity.coerce(text), text
    except InvalidEntityIdError as exc:
        raise FeatureValidationError(f"Row {index} of the push to '{source}': {exc}") from None


def _check_columns(
    target: PushTarget, row: Mapping[str, Any], index: int, allowed: set[str], extra: list[str]
) -> None:
    unknown = sorted(k for k in row if k not in allowed)
    if unknown:
        raise FeatureValidationError(
            f"Row {index} of the push to '{target.name}' has column(s) {', '.join(unknown)} "
            f"that its feature views ({target.view_names}) do not take. Columns: "
            f"{', '.join(sorted(allowed))}"
        )
    for entity in target.entities:
        if row.get(entity.join_key) is None:
            raise FeatureValidationError(
                f"Row {index} of the push to '{target.name}' lacks the join key "
                f"'{entity.join_key}' of entity '{entity.entity_type}'"
            )
    missing = [name for name in target.features if name not in row]
    if missing:
        raise FeatureValidationError(
            f"Row {index} of the push to '{target.name}' lacks feature column(s) "
            f"{', '.join(missing)} of its feature views ({target.view_names}): a push writes "
            "whole rows (None pushes a null; write_features merges part of a row)"
        )
    lacking = [c for c in extra if c not in row]
    if lacking:
        raise FeatureValidationError(
            f"Row {index} of the offline push to '{target.name}' lacks column(s) "
            f"{', '.join(lacking)} of its batch source '{target.batch_source.name}': Feast "
            "appends rows with exactly the source's columns"
        )


def _check_values(target: PushTarget, row: Mapping[str, Any], index: int) -> None:
    values = {name: row[name] for name in target.features}
    try:
        validate_feature_values(values)
        for name, value_type in target.features.items():
            check_type(name, values[name], value_type)
    except FeatureValidationError as exc:
        raise FeatureValidationError(f"Row {index} of the push to '{target.name}': {exc}") from None


def _offline_extra(target: PushTarget, offline_columns: Sequence[str]) -> list[str]:
    """The batch source's columns besides the target's, which rows must carry too.

    Raises:
        FeatureConfigError: the batch source lacks a column the push writes.
    """
    absent = [c for c in target.columns() if c not in offline_columns]
    if absent:
        raise FeatureConfigError(
            f"Offline push to '{target.name}': its batch source '{target.batch_source.name}' "
            f"has no column(s) {', '.join(absent)} (its columns: {', '.join(offline_columns)}); "
            "Feast appends rows with exactly the source's columns, so add them to the source"
        )
    return [c for c in offline_columns if c not in target.columns()]


def plan_push(
    target: PushTarget,
    rows: Any,
    now: datetime,
    offline_columns: Sequence[str] | None = None,
) -> PushPlan:
    """Check ``rows`` against ``target`` and build the frame to push.

    Args:
        target: The push source.
        rows: A list of row dicts or a pandas DataFrame.
        now: The time filled into timestamp columns a row leaves out.
        offline_columns: The batch source's columns, for an offline push: rows must
            carry those beyond the views' own columns too.

    Raises:
        FeatureValidationError: a row or value may not be pushed (see the module rules).
        FeatureConfigError: the batch source of an offline push lacks a column the
            views need.
    """
    pd = require("pandas", extra="feast")
    records = push_records(rows, target.name)
    extra = _offline_extra(target, offline_columns) if offline_columns is not None else []
    columns = target.columns() + extra
    allowed = set(columns)
    data: dict[str, list[Any]] = {c: [] for c in columns}
    keys: dict[EntityKey, None] = {}
    stamps = [target.timestamp_field] + ([target.created_column] if target.created_column else [])
    for i, row in enumerate(records):
        _check_columns(target, row, i, allowed, extra)
        _check_values(target, row, i)
        for entity in target.entities:
            value, text = _join(entity, row[entity.join_key], i, target.name)
            data[entity.join_key].append(value)
            keys[EntityKey(entity.entity_type, text)] = None
        for name in target.features:
            data[name].append(row[name])
        for column in stamps:
            data[column].append(row_timestamp(row, column, i, target.name, now))
        for column in extra:
            data[column].append(row[column])
    return PushPlan(pd.DataFrame(data), list(keys))
