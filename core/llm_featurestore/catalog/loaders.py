"""Catalog definitions from YAML, and from a Feast registry (read by the Feast client's code).

YAML shape (every key but ``name`` and ``entity_type`` optional; unknown keys are errors)::

    features:
      - name: avg_order_value
        entity_type: user
        dtype: float64
        description: Mean value of the user's orders over 90 days
        label: Average order value
        sensitivity: public          # public | internal | confidential | pii
        owner: growth-team@example.com
        tags: {team: growth}
        version: 2
        ttl_seconds: 86400
        source: orders_daily         # data source name, for lineage
        source_path: s3://bucket/orders.parquet
        feature_view: user_stats
    on_demand_views:                 # optional, like request_sources and push_sources
      - name: transformed_conv_rate  # fields: catalog.sources.OnDemandViewDefinition
        entity_type: driver
        features: [conv_rate_plus_val1]
        request_sources: [vals_to_add]
    request_sources:
      - name: vals_to_add
        fields: {val_to_add: Int64}
    push_sources:
      - name: driver_stats_push_source
        feature_views: [driver_hourly_stats_fresh]
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llm_featurestore.catalog.definitions import SENSITIVITIES, FeatureDefinition
from llm_featurestore.catalog.sources import SOURCE_SECTIONS
from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.settings import validate_config

if TYPE_CHECKING:
    from llm_featurestore.catalog.collection import FeatureCatalog

__all__ = ["load_feast", "load_yaml"]

_TOP_LEVEL = ("features", "version", *SOURCE_SECTIONS)


def _read_document(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[Any, str]:
    """The parsed document and how messages name it."""
    if isinstance(source, Mapping):
        return source, "mapping"
    if not isinstance(source, (str, os.PathLike)):
        raise FeatureConfigError(
            "FeatureCatalog.from_yaml expects a YAML file path or a mapping, "
            f"got {type(source).__name__}"
        )
    import yaml

    path = Path(source)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), str(path)
    except OSError as exc:
        raise FeatureConfigError(f"Cannot read feature catalog {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise FeatureConfigError(f"Feature catalog {path} is not valid YAML: {exc}") from exc


def load_yaml(catalog: FeatureCatalog, source: str | os.PathLike[str] | Mapping[str, Any]) -> None:
    """Add the definitions of a YAML file (or an already parsed mapping) to ``catalog``.

    Raises:
        FeatureConfigError: the file cannot be read or parsed, the document is not a
            mapping with a ``features`` list, or an entry is invalid (the message
            names the entry by position and name, and the bad key as
            ``features.<index>.<key>``).
    """
    doc, where = _read_document(source)
    if not isinstance(doc, Mapping) or not isinstance(doc.get("features"), list):
        raise FeatureConfigError(
            f"Feature catalog {where} must be a mapping with a 'features' list: "
            "features: [{name: ..., entity_type: ..., description: ...}, ...]"
        )
    unknown = sorted(set(doc) - set(_TOP_LEVEL))
    if unknown:
        raise FeatureConfigError(
            f"Feature catalog {where}: unknown top-level key(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(_TOP_LEVEL)}"
        )
    for i, entry in enumerate(doc["features"]):
        label = f"entry {i + 1}"
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
            label += f" (name '{entry['name']}')"
        if not isinstance(entry, Mapping):
            raise FeatureConfigError(
                f"Feature catalog {where}, {label}: expected a mapping of "
                f"FeatureDefinition fields, got {type(entry).__name__}"
            )
        definition = validate_config(
            FeatureDefinition,
            dict(entry),
            origin=f"feature catalog {where}, {label}",
            prefix=("features", str(i)),
        )
        try:
            catalog.add(definition)
        except FeatureConfigError as exc:
            raise FeatureConfigError(f"Feature catalog {where}, {label}: {exc}") from None
    _load_sources(catalog, doc, where)


def _load_sources(catalog: FeatureCatalog, doc: Mapping[str, Any], where: str) -> None:
    """The ``on_demand_views``, ``request_sources`` and ``push_sources`` lists."""
    for section, kind in SOURCE_SECTIONS.items():
        entries = doc.get(section, [])
        if not isinstance(entries, list):
            raise FeatureConfigError(
                f"Feature catalog {where}: '{section}' must be a list of mappings, "
                f"got {type(entries).__name__}"
            )
        for i, entry in enumerate(entries):
            label = f"{section} entry {i + 1}"
            if not isinstance(entry, Mapping):
                raise FeatureConfigError(
                    f"Feature catalog {where}, {label}: expected a mapping of "
                    f"{kind.__name__} fields, got {type(entry).__name__}"
                )
            definition = validate_config(
                kind,
                dict(entry),
                origin=f"feature catalog {where}, {label}",
                prefix=(section, str(i)),
            )
            try:
                catalog.add_source(definition)
            except FeatureConfigError as exc:
                raise FeatureConfigError(f"Feature catalog {where}, {label}: {exc}") from None


def load_feast(catalog: FeatureCatalog, repo_path_or_store: str | os.PathLike[str] | Any) -> None:
    """Add the features of a Feast registry to ``catalog``.

    The registry is read by the Feast client's own code
    (:mod:`llm_featurestore.clients.feast.registry`), from the process-wide store of
    the repo (:func:`~llm_featurestore.clients.feast.shared_feature_store`) unless a
    ``FeatureStore`` or a :class:`~llm_featurestore.clients.feast.FeastClient` is given.

    Reads every feature view and stream feature view keyed by exactly one entity, and
    every on-demand view whose source views are (as the Feast client does; views with
    composite or no entity keys are skipped). For each field: ``dtype`` (Feast's type name, e.g.
    ``"Float64"``), ``description``, ``tags`` (view tags overlaid by field tags),
    ``ttl_seconds`` (the view's ttl; a zero ttl is None), ``feature_view``,
    ``source``/``source_path``/``source_type`` (the view's batch source, or stream
    source without one) and ``feature_services``. Reserved tags, looked up on the
    field then the view: ``sensitivity``, ``owner`` (else the view's owner) and
    ``version`` (else the view's current version number); ``label`` is read from
    field tags only. On-demand features have ``source_type="OnDemandFeatureView"`` and
    their ``request_sources``; the catalog also lists every on-demand view, request
    source and push source (:func:`~llm_featurestore.catalog.feast_sources.add_feast_sources`).

    Raises:
        MissingDependencyError: Feast is not installed (``pip install
            'llm-featurestore[feast]'``).
        FeatureConfigError: the repo cannot be opened or read, or a ``sensitivity`` tag
            holds an unknown level (the message names the view and field).
    """
    from llm_featurestore.catalog.feast_sources import add_feast_sources
    from llm_featurestore.clients.feast import FeastClient, shared_feature_store
    from llm_featurestore.clients.feast.registry import (
        entity_of,
        read_registry,
        services_by_feature,
    )

    if isinstance(repo_path_or_store, (str, os.PathLike)):
        store = shared_feature_store(Path(repo_path_or_store))
    elif isinstance(repo_path_or_store, FeastClient):
        store = repo_path_or_store.store
    else:
        store = repo_path_or_store
    try:
        # A fresh read: the shared store's registry cache may predate a `feast apply`.
        snapshot = read_registry(store, allow_cache=False, stream_views=True)
    except FeatureStoreUnavailableError as exc:
        raise FeatureConfigError(str(exc)) from exc
    in_services = services_by_feature(snapshot.services)
    for view in sorted(snapshot.views.values(), key=lambda v: v.name):
        entity_type = entity_of(view)
        if entity_type is None:
            continue
        for feature in view.features:
            services = in_services.get((view.name, feature.name), [])
            catalog.add(_definition_from_feast(view, feature, entity_type, services))
    try:
        add_feast_sources(catalog, store, snapshot, in_services, _definition_from_feast)
    except FeatureStoreUnavailableError as exc:
        raise FeatureConfigError(str(exc)) from exc


def _feast_source(view: Any) -> tuple[str | None, str | None, str | None]:
    """(name, path or table, type name) of the view's batch source, else its stream source."""
    source = getattr(view, "batch_source", None) or getattr(view, "stream_source", None)
    if source is None:
        return None, None, None
    location: str | None = None
    for attr in ("path", "table", "query"):
        try:
            value = getattr(source, attr, None)
        except Exception:  # some sources raise for attributes they do not have
            value = None
        if isinstance(value, str) and value:
            location = value
            break
    return (source.name or None), location, type(source).__name__


def _definition_from_feast(
    view: Any, feature: Any, entity_type: str, services: list[str]
) -> FeatureDefinition:
    from llm_featurestore.clients.feast.registry import ttl_of

    field_tags: dict[str, str] = dict(feature.tags or {})
    tags = {**dict(view.tags or {}), **field_tags}
    where = f"Feast feature view '{view.name}', field '{feature.name}'"
    sensitivity = str(tags.get("sensitivity", "public")).strip().lower()
    if sensitivity not in SENSITIVITIES:
        raise FeatureConfigError(
            f"{where}: tag sensitivity={tags['sensitivity']!r} is not one of "
            f"{', '.join(SENSITIVITIES)}"
        )
    owner = field_tags.get("owner") or getattr(view, "owner", "") or tags.get("owner") or None
    version: int | str | None = tags.get("version")
    if version is None:
        number = getattr(view, "current_version_number", None)
        version = number if isinstance(number, int) else None
    ttl = ttl_of(view)
    source, source_path, source_type = _feast_source(view)
    return FeatureDefinition(
        name=feature.name,
        entity_type=entity_type,
        dtype=str(feature.dtype),
        description=feature.description or "",
        label=field_tags.get("label") or None,
        sensitivity=sensitivity,  # type: ignore[arg-type]  # checked against SENSITIVITIES
        owner=owner,
        tags=tags,
        version=version,
        ttl_seconds=None if ttl is None else ttl.total_seconds(),
        source=source,
        source_path=source_path,
        source_type=source_type,
        feature_view=view.name,
        feature_services=sorted(services),
    )
