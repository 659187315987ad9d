"""Requested names resolved against an entity's index: what to ask Feast and how to read it.

A :class:`Plan` is built once per (entity type, feature names) by
:class:`~llm_featurestore.clients.feast.registry.FeastRegistry` and holds:

* what goes to ``get_online_features`` (refs, or the ``FeatureService``);
* each result key with the response column that fills it;
* the request-data fields its on-demand features need (:attr:`Plan.request_fields`,
  from the on-demand views' request sources; none for views whose outputs are
  written to the online store, which Feast reads like stored views);
* whether Feast is asked for full (``view__feature``) or bare column names
  (:attr:`Plan.full_names`). Full names, unless the plan computes a ``python``-mode
  on-demand view: Feast 0.67 drops such a view's outputs from a full-names answer (it
  matches the UDF's bare output keys against full names), so those plans ask for bare
  names, which must then be unique within the request.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from llm_featurestore.clients.feast.request_data import RequestField, merge_fields
from llm_featurestore.clients.names import service_keys
from llm_featurestore.errors import FeatureConfigError

if TYPE_CHECKING:
    from llm_featurestore.clients.feast.registry import EntityIndex, FeatureInfo

__all__ = ["Column", "Plan", "build_plan", "computed_on_demand", "request_fields_of"]

_SCALAR_FIELD_OF: dict[str, str] = {
    "STRING": "string_val",
    "INT64": "int64_val",
    "INT32": "int32_val",
    "DOUBLE": "double_val",
    "FLOAT": "float_val",
    "BOOL": "bool_val",
    "BYTES": "bytes_val",
}


@dataclass(frozen=True)
class Column:
    response_name: str
    """``view__feature`` as named in a full-names answer (the feature alone in a
    bare-names one, see :attr:`Plan.full_names`)."""
    view: str
    ttl: timedelta | None
    value_type: Any
    feature: str = ""
    """The feature's own name in its view (what the online store keys it by)."""

    @functools.cached_property
    def scalar_field(self) -> str | None:
        """The ``Value`` oneof field a scalar of this type is stored in, if scalar."""
        return _SCALAR_FIELD_OF.get(getattr(self.value_type, "name", ""))


@dataclass
class Plan:
    """A resolved request: what to ask Feast for and how to read its answer."""

    features: Any
    """A list of refs, or a ``FeatureService``: passed to ``get_online_features``."""
    key_columns: tuple[tuple[str, Column], ...]
    """Each result key, in request order, with the response column that fills it."""
    join_key: str
    coerce: Callable[[str], Any]
    located: tuple[int, list[tuple[str, Column, int]]] | None = field(default=None)
    """Response width and each key with its column's index, learnt from the first answer."""
    request_fields: tuple[RequestField, ...] = ()
    """The request-data fields the plan's on-demand features need, with their types."""
    full_names: bool = True
    """The ``full_feature_names`` to ask Feast for (see the module docstring)."""
    direct: Any = field(default=None)
    """How :mod:`~llm_featurestore.clients.feast.direct` reads this plan (or why it
    cannot), decided on its first read."""


def computed_on_demand(view: Any) -> bool:
    """True for an on-demand view Feast computes at read time (not one written online)."""
    return not getattr(view, "write_to_online_store", False)


def request_fields_of(view: Any, needed_by: tuple[str, ...] = ()) -> list[RequestField]:
    """The request-data fields of an on-demand view's request sources, in schema order."""
    out: list[RequestField] = []
    for source in getattr(view, "source_request_sources", {}).values():
        schema = source.schema
        if isinstance(schema, dict):  # an old-style {name: ValueType} schema
            out += [RequestField(str(k), str(v.name), needed_by) for k, v in schema.items()]
        else:
            out += [RequestField(f.name, str(f.dtype), needed_by) for f in schema]
    return out


def _request_fields(
    index: EntityIndex, key_columns: Iterable[tuple[str, Column]]
) -> tuple[RequestField, ...]:
    fields: list[RequestField] = []
    for key, column in key_columns:
        view = index.on_demand.get(column.view)
        if view is not None and computed_on_demand(view):
            fields += request_fields_of(view, (key,))
    return merge_fields(fields)


def _python_views(index: EntityIndex, key_columns: Iterable[tuple[str, Column]]) -> list[str]:
    names = {column.view for _, column in key_columns}
    return sorted(
        n
        for n in names
        if n in index.on_demand
        and computed_on_demand(index.on_demand[n])
        and getattr(index.on_demand[n], "mode", "pandas") == "python"
    )


def _bare_names(plan: Plan, python_views: list[str]) -> Plan:
    """``plan`` asking Feast for bare column names (see the module docstring).

    Raises:
        FeatureConfigError: two columns of the request share a bare name.
    """
    by_bare: dict[str, set[str]] = {plan.join_key: {f"join key {plan.join_key}"}}
    for _, column in plan.key_columns:
        view, _, bare = column.response_name.rpartition("__")
        by_bare.setdefault(bare, set()).add(f"{view}:{bare}")
    shared = {name: refs for name, refs in by_bare.items() if len(refs) > 1}
    if shared:
        listed = "; ".join(f"{n} ({', '.join(sorted(r))})" for n, r in sorted(shared.items()))
        raise FeatureConfigError(
            f"Feast 0.67 drops the outputs of python-mode on-demand view(s) "
            f"{', '.join(python_views)} from answers with full feature names, so this read "
            f"asks for bare names, but several requested columns share one: {listed}. "
            "Read the python-mode view's features in a separate call from the others "
            "of the same name"
        )
    columns = tuple(
        (key, replace(column, response_name=column.response_name.rpartition("__")[2]))
        for key, column in plan.key_columns
    )
    return replace(plan, key_columns=columns, full_names=False)


def _finish(index: EntityIndex, plan: Plan) -> Plan:
    plan.request_fields = _request_fields(index, plan.key_columns)
    python_views = _python_views(index, plan.key_columns)
    return _bare_names(plan, python_views) if python_views else plan


def _column(view_or_alias: str, info: FeatureInfo) -> Column:
    return Column(f"{view_or_alias}__{info.name}", info.view, info.ttl, info.value_type, info.name)


def _ref_plan(index: EntityIndex, names: tuple[str, ...]) -> Plan:
    key_columns: list[tuple[str, Column]] = []
    refs: list[str] = []
    for name in names:
        ref = index.to_ref(name)
        info = index.refs[ref]
        if ref not in refs:
            refs.append(ref)
        key_columns.append((name, _column(info.view, info)))
    return Plan(refs, tuple(key_columns), index.join_key, index.coerce)


def _service_plan(index: EntityIndex, service: Any) -> Plan:
    pairs: list[tuple[str, str]] = []
    infos: list[FeatureInfo] = []
    for projection in service.feature_view_projections:
        alias = projection.name_to_use()
        for feat in projection.features:
            pairs.append((alias, feat.name))
            infos.append(index.refs[f"{projection.name}:{feat.name}"])
    key_columns = tuple(
        (key, _column(view, info))
        for (view, _), key, info in zip(pairs, service_keys(pairs), infos, strict=True)
    )
    return Plan(service, key_columns, index.join_key, index.coerce)


def build_plan(index: EntityIndex, names: tuple[str, ...]) -> Plan:
    """The plan for ``names``: a feature service's name alone, else refs or bare names.

    Raises:
        FeatureConfigError: an unknown or ambiguous name (the shared messages), or a
            python-mode on-demand read whose bare column names collide.
    """
    if len(names) == 1 and names[0] in index.services and names[0] not in index.names.bare:
        return _finish(index, _service_plan(index, index.services[names[0]]))
    return _finish(index, _ref_plan(index, names))
