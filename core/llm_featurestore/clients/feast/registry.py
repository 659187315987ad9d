"""What a Feast registry offers per entity type, and requests resolved against it.

The one reading of Feast's registry for :class:`FeastClient` and
:meth:`FeatureCatalog.from_feast <llm_featurestore.catalog.FeatureCatalog.from_feast>`:

* a feature view belongs to an entity type when it is keyed by that one entity
  (views with composite keys, or none, are skipped: :func:`entity_of`);
* an on-demand feature view belongs to the entity type of its source feature views,
  when they all have the same one (:func:`on_demand_entity`); its features are refs
  like any other (``transformed_conv_rate:conv_rate_plus_val1``) and count when a
  bare name must be unique;
* a view's ``ttl`` counts when positive (:func:`ttl_of`); on-demand views have none;
* a feature service belongs to an entity type when every view it projects does
  (on-demand views included);
* names resolve through :class:`~llm_featurestore.clients.names.NameIndex`
  (``view:feature`` refs and unique bare names; the shared unknown/ambiguous messages).

A feature service is requested by passing its name alone; its result keys are
:func:`~llm_featurestore.clients.names.service_keys` of its features. How a request
becomes a :class:`Plan` (request-data fields included) is :mod:`.plans`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.feast.ids import make_coercer, probe_id
from llm_featurestore.clients.feast.plans import Column, Plan, build_plan
from llm_featurestore.clients.names import NameIndex
from llm_featurestore.errors import FeatureStoreUnavailableError, unknown_entity_type

ValueType = require("feast", extra="feast").ValueType

__all__ = [
    "Column",
    "EntityIndex",
    "FeastRegistry",
    "FeatureInfo",
    "Plan",
    "RegistrySnapshot",
    "entity_of",
    "on_demand_entity",
    "push_targets",
    "read_data_sources",
    "read_registry",
    "services_by_feature",
    "ttl_of",
]

_MAX_PLANS = 1024
_DUMMY_ENTITY = "__dummy"


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry objects of one project, as listed once."""

    project: str
    entities: dict[str, Any]
    views: dict[str, Any]
    """Feature views by name (stream feature views too, when asked for)."""
    services: list[Any]
    on_demand: dict[str, Any] = field(default_factory=dict)
    """On-demand feature views by name."""

    def views_of(self, entity_type: str) -> dict[str, Any]:
        """The views keyed by ``entity_type`` alone, by name."""
        return {n: v for n, v in self.views.items() if entity_of(v) == entity_type}

    def on_demand_of(self, entity_type: str) -> dict[str, Any]:
        """The on-demand views of ``entity_type`` (:func:`on_demand_entity`), by name."""
        return {
            n: v
            for n, v in self.on_demand.items()
            if on_demand_entity(v, self.views) == entity_type
        }


def read_registry(
    store: Any, *, allow_cache: bool = True, stream_views: bool = False
) -> RegistrySnapshot:
    """List ``store``'s entities, feature views, on-demand views and feature services.

    Raises:
        FeatureStoreUnavailableError: the registry cannot be read.
    """
    project = getattr(store, "project", None)
    try:
        views = {v.name: v for v in store.list_feature_views(allow_cache=allow_cache)}
        if stream_views:
            for view in store.list_stream_feature_views(allow_cache=allow_cache):
                views.setdefault(view.name, view)
        entities = {e.name: e for e in store.list_entities(allow_cache=allow_cache)}
        services = list(store.list_feature_services())
        on_demand = {v.name: v for v in store.list_on_demand_feature_views(allow_cache=allow_cache)}
    except Exception as exc:
        of = f" of project '{project}'" if project else ""
        raise FeatureStoreUnavailableError(f"Cannot read the Feast registry{of}: {exc}") from exc
    return RegistrySnapshot(str(project), entities, views, services, on_demand)


def read_data_sources(store: Any, *, allow_cache: bool = True) -> tuple[list[Any], list[Any]]:
    """``store``'s data sources, and its label views (views a push source may feed that
    ``list_feature_views`` leaves out; none before Feast had them).

    Raises:
        FeatureStoreUnavailableError: the registry cannot be read.
    """
    try:
        sources = list(store.list_data_sources(allow_cache=allow_cache))
        list_label_views = getattr(store, "list_label_views", None)
        labels = list(list_label_views(allow_cache=allow_cache)) if list_label_views else []
    except Exception as exc:
        raise FeatureStoreUnavailableError(f"Cannot read the Feast data sources: {exc}") from exc
    return sources, labels


def push_targets(views: Iterable[Any]) -> dict[str, list[str]]:
    """Push source name -> the names of the ``views`` it feeds (their stream source), sorted."""
    out: dict[str, list[str]] = {}
    for view in views:
        source = getattr(view, "stream_source", None)
        if source is not None and type(source).__name__ == "PushSource":
            out.setdefault(source.name, []).append(view.name)
    return {name: sorted(set(names)) for name, names in out.items()}


def entity_of(view: Any) -> str | None:
    """The entity a view is keyed by, or ``None`` for composite or entity-less keys."""
    entities = list(getattr(view, "entities", ()) or ())
    if len(entities) != 1 or entities[0] == _DUMMY_ENTITY:
        return None
    return str(entities[0])


def on_demand_entity(view: Any, views: Mapping[str, Any]) -> str | None:
    """The entity type of an on-demand view: its own single entity when it declares one
    (views written to the online store do), else the one entity of all its source
    feature views (``None`` when they have none, several, or are not in ``views``)."""
    own = entity_of(view)
    if own is not None:
        return own
    projections = getattr(view, "source_feature_view_projections", {}).values()
    types = {entity_of(views[p.name]) if p.name in views else None for p in projections}
    return types.pop() if len(types) == 1 else None


def ttl_of(view: Any) -> timedelta | None:
    """A view's ``ttl``, or ``None`` when it has none (Feast's zero ttl: never expires)."""
    ttl = getattr(view, "ttl", None)
    if not ttl or ttl <= timedelta(0):
        return None
    return ttl  # type: ignore[no-any-return]


def services_by_feature(services: Sequence[Any]) -> dict[tuple[str, str], list[str]]:
    """``(view, feature)`` -> names of the feature services that project it."""
    out: dict[tuple[str, str], list[str]] = {}
    for service in services:
        for projection in service.feature_view_projections:
            for feature in projection.features:
                out.setdefault((projection.name, feature.name), []).append(service.name)
    return out


@dataclass(frozen=True)
class FeatureInfo:
    view: str
    name: str
    ttl: timedelta | None
    value_type: Any
    on_demand: bool = False
    """True for a feature of an on-demand view (computed at read time, not writable)."""


@dataclass
class EntityIndex:
    """Everything about one entity type that name resolution needs, from the registry."""

    entity_type: str
    join_key: str
    coerce: Callable[[str], Any]
    refs: dict[str, FeatureInfo]
    names: NameIndex
    services: dict[str, Any]
    views: dict[str, Any]
    """The stored feature views, by name."""
    on_demand: dict[str, Any] = field(default_factory=dict)
    """The on-demand feature views, by name."""

    def to_ref(self, name: str) -> str:
        """Resolve one ref or bare name to its ``view:feature`` ref (see ``NameIndex``)."""
        return self.names.resolve(name)


def build_index(snapshot: RegistrySnapshot, entity_type: str) -> EntityIndex:
    """The index of ``entity_type``.

    Raises:
        UnknownEntityTypeError: the project has no such entity (lists the ones it has).
        FeatureConfigError: the entity's join key type cannot be built from a string.
    """
    entity = snapshot.entities.get(entity_type)
    if entity is None:
        raise unknown_entity_type(
            entity_type, snapshot.entities, scope=f"Feast project '{snapshot.project}'"
        )
    own_views = snapshot.views_of(entity_type)
    own_on_demand = snapshot.on_demand_of(entity_type)
    join_key = entity.join_key
    refs: dict[str, FeatureInfo] = {}
    for view in own_views.values():
        ttl = ttl_of(view)
        for feat in view.features:
            info = FeatureInfo(view.name, feat.name, ttl, feat.dtype.to_value_type())
            refs[f"{view.name}:{feat.name}"] = info
    for odfv in own_on_demand.values():
        for feat in odfv.features:
            value_type = feat.dtype.to_value_type()
            refs[f"{odfv.name}:{feat.name}"] = FeatureInfo(
                odfv.name, feat.name, None, value_type, on_demand=True
            )
    own_services = {
        s.name: s
        for s in snapshot.services
        if s.feature_view_projections
        and all(p.name in own_views or p.name in own_on_demand for p in s.feature_view_projections)
    }
    hint = (
        f" (feature services, passed alone: {', '.join(sorted(own_services))})"
        if own_services
        else ""
    )
    return EntityIndex(
        entity_type=entity_type,
        join_key=join_key,
        coerce=make_coercer(_join_key_type(entity, own_views), join_key, entity_type),
        refs=refs,
        names=NameIndex(refs, scope=f"entity '{entity_type}'", hint=hint),
        services=own_services,
        views=own_views,
        on_demand=own_on_demand,
    )


def _join_key_type(entity: Any, views: Mapping[str, Any]) -> Any:
    """The entity's value type, else the type its views declare for the join key."""
    value_type = entity.value_type
    if value_type == ValueType.UNKNOWN:
        for view in views.values():
            for col in view.entity_columns:
                if col.name == entity.join_key:
                    value_type = col.dtype.to_value_type()
    return value_type


class FeastRegistry:
    """The entity indexes and resolved plans of one ``FeatureStore``, cached.

    Registry lookups happen once per entity type and once per (entity type, feature
    names); :meth:`clear` forgets them (after ``feast apply``).
    """

    def __init__(self, store: Any) -> None:
        self.store = store
        self._indexes: dict[str, EntityIndex] = {}
        self._plans: dict[tuple[str, tuple[str, ...]], Plan] = {}
        self._probe: tuple[list[str], dict[str, list[Any]]] | None = None

    def clear(self) -> None:
        self._indexes.clear()
        self._plans.clear()
        self._probe = None

    def index(self, entity_type: str) -> EntityIndex:
        index = self._indexes.get(entity_type)
        if index is None:
            snapshot = read_registry(self.store)
            index = self._indexes[entity_type] = build_index(snapshot, entity_type)
        return index

    def has_plan(self, entity_type: str, feature_names: Sequence[str]) -> bool:
        return (entity_type, tuple(feature_names)) in self._plans

    def plan(self, entity_type: str, feature_names: Sequence[str]) -> Plan:
        """The plan for these names, resolved once (see the module rules)."""
        key = (entity_type, tuple(feature_names))
        plan = self._plans.get(key)
        if plan is None:
            plan = build_plan(self.index(entity_type), key[1])
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def probe(self) -> tuple[list[str], dict[str, list[Any]]]:
        """One feature ref and one entity row to read in a health check (none if no view)."""
        if self._probe is None:
            self._probe = ([], {})
            for view in self.store.list_feature_views(allow_cache=True):
                if len(view.entity_columns) == 1 and view.features:
                    col = view.entity_columns[0]
                    self._probe = (
                        [f"{view.name}:{view.features[0].name}"],
                        {col.name: [probe_id(col.dtype.to_value_type())]},
                    )
                    break
        return self._probe
