"""What a direct read of one plan fetches, and how the fetched cells become columns.

A :class:`Layout` is built once per plan (:func:`plan_layout`): the feature views the
plan reads, each with the features it needs, the encoder of the entity's keys, and
where each result key's cells are. A plan the direct path cannot read gives the
reason instead (a string, logged once by :mod:`.reads`):

* a feature of an on-demand view (computed by Feast at read time, or written by it);
* a feature of a view with ``online=False`` (Feast refuses to read it online);
* a feature service projection that renames join keys (``join_key_map``);
* a join key type Feast cannot serialize, or views keyed by different types.

Readers (:mod:`.redis_reader`, :mod:`.sqlite_reader`) fetch one :class:`ViewRows` per
view for the distinct keys; :func:`fetched_columns` lays them out per result key, in
request order, for :func:`~llm_featurestore.clients.feast.decode.decode_columns`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from llm_featurestore.clients.feast.decode import FetchedColumn
from llm_featurestore.clients.feast.direct.keys import KEY_TYPES, KeyEncoder, encoder_for
from llm_featurestore.clients.feast.plans import Column, Plan

if TYPE_CHECKING:
    from llm_featurestore.clients.feast.registry import EntityIndex

__all__ = ["Layout", "ViewLayout", "ViewRows", "fetched_columns", "plan_layout"]


@dataclass(frozen=True)
class ViewLayout:
    """One feature view a plan reads, and the features it needs of it, in first-use order."""

    name: str
    features: tuple[str, ...]


class ViewRows(NamedTuple):
    """What a reader fetched of one view, per distinct key (in the order asked)."""

    stamps: list[datetime | None]
    """The view's event time per key (``None``: none stored)."""
    cells: list[list[Any]]
    """Per feature of the view, the ``Value`` proto per key (empty for none)."""
    codes: list[list[int]]
    """Per feature of the view, Feast's ``FieldStatus`` code per key."""


@dataclass(frozen=True)
class Layout:
    """How to read one plan directly."""

    views: tuple[ViewLayout, ...]
    cells: tuple[tuple[str, Column, int, int], ...]
    """Each result key with its column, its view's index and the feature's index in it."""
    encoder: KeyEncoder


def _join_key_type(view: Any, join_key: str) -> Any:
    for column in getattr(view, "entity_columns", ()):
        if column.name == join_key:
            return column.dtype.to_value_type()
    return None


def _renamed_join_keys(plan: Plan) -> str | None:
    """The first feature service projection that renames join keys, if any."""
    for projection in getattr(plan.features, "feature_view_projections", ()):
        if projection.join_key_map:
            return str(projection.name)
    return None


def plan_layout(plan: Plan, index: EntityIndex, version: int) -> Layout | str:
    """The layout of ``plan``, or why the direct path cannot read it."""
    renamed = _renamed_join_keys(plan)
    if renamed is not None:
        return f"feature service projection '{renamed}' renames join keys"
    features: dict[str, list[str]] = {}
    key_types: set[Any] = set()
    for _, column in plan.key_columns:
        view = index.views.get(column.view)
        if view is None:
            return f"on-demand feature view '{column.view}' is computed by Feast"
        if not getattr(view, "online", True):
            return f"feature view '{column.view}' is not online (online=False)"
        key_types.add(_join_key_type(view, index.join_key))
        names = features.setdefault(column.view, [])
        if column.feature not in names:
            names.append(column.feature)
    (key_type, *others) = key_types
    if others or key_type not in KEY_TYPES:
        kinds = sorted(getattr(t, "name", str(t)) for t in key_types)
        return f"join key '{index.join_key}' of type {', '.join(kinds)} (direct: {_key_names()})"
    order = {name: i for i, name in enumerate(features)}
    cells = tuple(
        (key, column, order[column.view], features[column.view].index(column.feature))
        for key, column in plan.key_columns
    )
    views = tuple(ViewLayout(name, tuple(names)) for name, names in features.items())
    return Layout(views, cells, encoder_for(index.join_key, key_type, version))


def _key_names() -> str:
    return ", ".join(t.name.capitalize() for t in KEY_TYPES)


def fetched_columns(
    layout: Layout, rows: Sequence[ViewRows], positions: list[int] | None
) -> Iterator[FetchedColumn]:
    """Each result key's column, per requested entity.

    Args:
        layout: The plan's layout.
        rows: One :class:`ViewRows` per view of the layout, over the distinct keys.
        positions: Per requested entity, the index of its key among the distinct ones;
            ``None`` when the request had no duplicate.
    """
    if positions is None:
        for key, column, view, feature in layout.cells:
            got = rows[view]
            yield key, column, got.cells[feature], got.codes[feature], got.stamps
        return
    stamps = [[got.stamps[p] for p in positions] for got in rows]
    for key, column, view, feature in layout.cells:
        got = rows[view]
        cells, codes = got.cells[feature], got.codes[feature]
        yield (
            key,
            column,
            [cells[p] for p in positions],
            [codes[p] for p in positions],
            stamps[view],
        )
