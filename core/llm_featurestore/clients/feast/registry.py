"""What a Feast registry offers per entity type, and requests resolved against it.

The one reading of Feast's registry for :class:`FeastClient` and
:meth:`FeatureCatalog.from_feast <llm_featurestore.catalog.FeatureCatalog.from_feast>`:

* a feature view belongs to an entity type when it is keyed by that one entity
  (views with composite keys, or none, are skipped: :func:`entity_of`);
* a view's ``ttl`` counts when positive (:func:`ttl_of`);
* a feature service belongs to an entity type when every view it projects does;
* names resolve through :class:`~llm_featurestore.clients.names.NameIndex`
  (``view:feature`` refs and unique bare names; the shared unknown/ambiguous messages).

A feature service is requested by passing its name alone; its result keys are
:func:`~llm_featurestore.clients.names.service_keys` of its features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.clients.feast.ids import make_coercer, probe_id
from llm_featurestore.clients.names import NameIndex, service_keys
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
    "read_registry",
    "services_by_feature",
    "ttl_of",
]

_MAX_PLANS = 1024
_DUMMY_ENTITY = "__dummy"

_SCALAR_FIELD_OF: dict[Any, str] = {
    ValueType.STRING: "string_val",
    ValueType.INT64: "int64_val",
    ValueType.INT32: "int32_val",
    ValueType.DOUBLE: "double_val",
    ValueType.FLOAT: "float_val",
    ValueType.BOOL: "bool_val",
    ValueType.BYTES: "bytes_val",
}


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry objects of one project, as listed once."""

    project: str
    entities: dict[str, Any]
    views: dict[str, Any]
    """Feature views by name (stream feature views too, when asked for)."""
    services: list[Any]

    def views_of(self, entity_type: str) -> dict[str, Any]:
        """The views keyed by ``entity_type`` alone, by name."""
        return {n: v for n, v in self.views.items() if entity_of(v) == entity_type}


def read_registry(
    store: Any, *, allow_cache: bool = True, stream_views: bool = False
) -> RegistrySnapshot:
    """List ``store``'s entities, feature views and feature services.

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
    except Exception as exc:
        of = f" of project '{project}'" if project else ""
        raise FeatureStoreUnavailableError(f"Cannot read the Feast registry{of}: {exc}") from exc
    return RegistrySnapshot(str(project), entities, views, services)


def entity_of(view: Any) -> str | None:
    """The entity a view is keyed by, or ``None`` for composite or entity-less keys."""
    entities = list(getattr(view, "entities", ()) or ())
    if len(entities) != 1 or entities[0] == _DUMMY_ENTITY:
        return None
    return str(entities[0])


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


@dataclass(frozen=True)
class Column:
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
class EntityIndex:
    """Everything about one entity type that name resolution needs, from the registry."""

    entity_type: str
    join_key: str
    coerce: Callable[[str], Any]
    refs: dict[str, FeatureInfo]
    names: NameIndex
    services: dict[str, Any]
    views: dict[str, Any]

    def to_ref(self, name: str) -> str:
        """Resolve one ref or bare name to its ``view:feature`` ref (see ``NameIndex``)."""
        return self.names.resolve(name)


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
    join_key = entity.join_key
    refs: dict[str, FeatureInfo] = {}
    for view in own_views.values():
        ttl = ttl_of(view)
        for feat in view.features:
            info = FeatureInfo(view.name, feat.name, ttl, feat.dtype.to_value_type())
            refs[f"{view.name}:{feat.name}"] = info
    own_services = {
        s.name: s
        for s in snapshot.services
        if s.feature_view_projections
        and all(p.name in own_views for p in s.feature_view_projections)
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


def _ref_plan(index: EntityIndex, names: tuple[str, ...]) -> Plan:
    key_columns: list[tuple[str, Column]] = []
    refs: list[str] = []
    for name in names:
        ref = index.to_ref(name)
        info = index.refs[ref]
        if ref not in refs:
            refs.append(ref)
        column = Column(f"{info.view}__{info.name}", info.view, info.ttl, info.value_type)
        key_columns.append((name, column))
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
        (key, Column(f"{view}__{name}", info.view, info.ttl, info.value_type))
        for (view, name), key, info in zip(pairs, service_keys(pairs), infos, strict=True)
    )
    return Plan(service, key_columns, index.join_key, index.coerce)


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
            index = self.index(entity_type)
            names = key[1]
            if len(names) == 1 and names[0] in index.services and names[0] not in index.names.bare:
                plan = _service_plan(index, index.services[names[0]])
            else:
                plan = _ref_plan(index, names)
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
