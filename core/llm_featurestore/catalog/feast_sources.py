"""The on-demand views, request sources and push sources of a Feast registry, for the catalog.

Read by :func:`~llm_featurestore.catalog.loaders.load_feast` with the Feast client's
own rules (:mod:`llm_featurestore.clients.feast.registry`): an on-demand view belongs
to the one entity of its source feature views, and a push source feeds the views
(stored, stream and label views) whose stream source it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from llm_featurestore.catalog.definitions import FeatureDefinition
from llm_featurestore.catalog.sources import (
    OnDemandViewDefinition,
    PushSourceDefinition,
    RequestSourceDefinition,
)

if TYPE_CHECKING:
    from llm_featurestore.catalog.collection import FeatureCatalog

__all__ = ["add_feast_sources", "on_demand_definition"]


def _names(values: Any) -> list[str]:
    return sorted(str(v) for v in values)


def on_demand_definition(
    view: Any, entity_type: str | None, services: list[str]
) -> OnDemandViewDefinition:
    """The catalog entry of one Feast ``OnDemandFeatureView``."""
    return OnDemandViewDefinition(
        name=view.name,
        entity_type=entity_type,
        mode=str(getattr(view, "mode", "pandas") or "pandas"),
        features=[f.name for f in view.features],
        feature_views=_names(p.name for p in view.source_feature_view_projections.values()),
        request_sources=_names(view.source_request_sources),
        write_to_online_store=bool(getattr(view, "write_to_online_store", False)),
        feature_services=sorted(set(services)),
        description=view.description or "",
        owner=view.owner or None,
        tags=dict(view.tags or {}),
    )


def _request_source(source: Any, needed_by: list[str]) -> RequestSourceDefinition:
    schema = source.schema
    fields = (
        {str(k): str(v.name) for k, v in schema.items()}
        if isinstance(schema, dict)
        else {f.name: str(f.dtype) for f in schema}
    )
    return RequestSourceDefinition(
        name=source.name,
        fields=fields,
        on_demand_views=sorted(set(needed_by)),
        description=source.description or "",
        owner=source.owner or None,
        tags=dict(source.tags or {}),
    )


def _push_source(source: Any, views: list[str]) -> PushSourceDefinition:
    batch = getattr(source, "batch_source", None)
    return PushSourceDefinition(
        name=source.name,
        batch_source=(batch.name or None) if batch is not None else None,
        feature_views=views,
        description=source.description or "",
        owner=source.owner or None,
        tags=dict(source.tags or {}),
    )


def add_feast_sources(
    catalog: FeatureCatalog,
    store: Any,
    snapshot: Any,
    in_services: Mapping[tuple[str, str], list[str]],
    make_feature: Any,
) -> None:
    """Add the registry's on-demand views (and their features), request sources and
    push sources to ``catalog``.

    Args:
        catalog: Where they go.
        store: The ``feast.FeatureStore``.
        snapshot: Its :class:`~llm_featurestore.clients.feast.registry.RegistrySnapshot`.
        in_services: ``(view, feature)`` -> the feature services that project it.
        make_feature: ``(view, feature, entity_type, services) -> FeatureDefinition``,
            the loader's rule for a view's field (tags, sensitivity, owner, ...).

    Raises:
        FeatureStoreUnavailableError: the data sources cannot be read.
        FeatureConfigError: as ``make_feature``.
    """
    from llm_featurestore.clients.feast.registry import (
        on_demand_entity,
        push_targets,
        read_data_sources,
    )

    needed_by: dict[str, list[str]] = {}
    for view in sorted(snapshot.on_demand.values(), key=lambda v: v.name):
        entity_type = on_demand_entity(view, snapshot.views)
        services = [s for f in view.features for s in in_services.get((view.name, f.name), [])]
        catalog.add_source(on_demand_definition(view, entity_type, services))
        for name in view.source_request_sources:
            needed_by.setdefault(name, []).append(view.name)
        if entity_type is None:
            continue
        request_sources = _names(view.source_request_sources)
        for feature in view.features:
            base: FeatureDefinition = make_feature(
                view, feature, entity_type, in_services.get((view.name, feature.name), [])
            )
            catalog.add(
                base.model_copy(
                    update={
                        "source_type": "OnDemandFeatureView",
                        "request_sources": request_sources,
                    }
                )
            )
    sources, label_views = read_data_sources(store, allow_cache=False)
    targets = push_targets([*snapshot.views.values(), *label_views])
    for source in sorted(sources, key=lambda s: s.name):
        kind = type(source).__name__
        if kind == "RequestSource":
            catalog.add_source(_request_source(source, needed_by.get(source.name, [])))
        elif kind == "PushSource":
            catalog.add_source(_push_source(source, targets.get(source.name, [])))
