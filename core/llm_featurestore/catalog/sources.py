"""Where features come from besides stored views: on-demand views, request and push sources.

A :class:`~llm_featurestore.catalog.FeatureCatalog` lists, next to its features:

* :class:`OnDemandViewDefinition`: a view Feast computes at read time from source
  feature views and request sources (its features are also catalog features, with
  ``request_sources`` set);
* :class:`RequestSourceDefinition`: the fields a caller passes as ``request_data``;
* :class:`PushSourceDefinition`: a source rows are pushed to, and the views it feeds.

All three are frozen and strict like :class:`~llm_featurestore.catalog.FeatureDefinition`,
and load from the catalog YAML's ``on_demand_views``, ``request_sources`` and
``push_sources`` lists.
"""

from __future__ import annotations

from pydantic import Field

from llm_featurestore.settings import ConfigModel

__all__ = [
    "SOURCE_SECTIONS",
    "OnDemandViewDefinition",
    "PushSourceDefinition",
    "RequestSourceDefinition",
    "SourceDefinition",
]


class OnDemandViewDefinition(ConfigModel):
    """An on-demand feature view: features computed at read time."""

    config_name = "on-demand view definition"

    name: str = Field(min_length=1, description='View name, e.g. "transformed_conv_rate".')
    entity_type: str | None = Field(
        None, description="The one entity of its source feature views; None when they have none."
    )
    mode: str = Field("pandas", description='How its UDF runs: "pandas", "python", ...')
    features: list[str] = Field(default_factory=list, description="Its feature names.")
    feature_views: list[str] = Field(
        default_factory=list, description="The feature views it reads."
    )
    request_sources: list[str] = Field(
        default_factory=list, description="The request sources whose fields a read passes."
    )
    write_to_online_store: bool = Field(
        False, description="Computed at write time and stored: reads need no request data."
    )
    feature_services: list[str] = Field(
        default_factory=list, description="Feature services that include it."
    )
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class RequestSourceDefinition(ConfigModel):
    """A request source: fields only the caller knows, passed per entity as request data."""

    config_name = "request source definition"

    name: str = Field(min_length=1, description='Source name, e.g. "vals_to_add".')
    fields: dict[str, str] = Field(
        default_factory=dict, description='Field name -> Feast type, e.g. {"val_to_add": "Int64"}.'
    )
    on_demand_views: list[str] = Field(
        default_factory=list, description="The on-demand views that need it."
    )
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


class PushSourceDefinition(ConfigModel):
    """A push source: rows pushed to it reach the feature views it feeds."""

    config_name = "push source definition"

    name: str = Field(min_length=1, description='Source name, e.g. "driver_stats_push_source".')
    batch_source: str | None = Field(None, description="The batch source that backs it.")
    feature_views: list[str] = Field(
        default_factory=list, description="The feature views it feeds."
    )
    description: str = ""
    owner: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)


SourceDefinition = OnDemandViewDefinition | RequestSourceDefinition | PushSourceDefinition
"""Anything :meth:`FeatureCatalog.add_source` takes."""

SOURCE_SECTIONS: dict[str, type[SourceDefinition]] = {
    "on_demand_views": OnDemandViewDefinition,
    "request_sources": RequestSourceDefinition,
    "push_sources": PushSourceDefinition,
}
"""The catalog YAML's list of each kind, by section name."""
