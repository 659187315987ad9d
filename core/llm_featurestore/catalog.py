"""What each feature means, how sensitive it is, and where it comes from.

A :class:`FeatureCatalog` holds one :class:`FeatureDefinition` per feature of an entity
type. Build it by hand, from YAML (:meth:`FeatureCatalog.from_yaml`), or from a real
Feast registry (:meth:`FeatureCatalog.from_feast`). The enricher reads labels and
sensitivity from it; operators use :meth:`~FeatureCatalog.search` for discovery and
:meth:`~FeatureCatalog.lineage` to see which feature view and data source a feature
comes from and which task types used it (from a
:class:`~llm_featurestore.monitor.FeatureMonitor`).

Names follow the Feast client: a feature is known by its bare name when that is unique
for its entity type, and always by its reference ``"feature_view:name"`` when it has a
feature view. A bare name shared by two feature views is ambiguous: :meth:`get` returns
``None`` for it and :meth:`lineage` says which references to use.

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
"""

from __future__ import annotations

import builtins
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_featurestore._deps import require
from llm_featurestore.errors import FeatureConfigError, unknown_name_message

if TYPE_CHECKING:
    from llm_featurestore.monitor import FeatureMonitor

__all__ = ["FeatureCatalog", "FeatureDefinition", "FeatureLineage", "Sensitivity"]

Sensitivity = Literal["public", "internal", "confidential", "pii"]
_SENSITIVITIES: tuple[str, ...] = get_args(Sensitivity)
_SENSITIVE = frozenset({"confidential", "pii"})
_WORD_SPLIT = re.compile(r"[_\-\s]+")


def _humanise(name: str) -> str:
    """``"avg_order_value"`` -> ``"Avg order value"``; a ``view:`` prefix is dropped."""
    bare = name.rsplit(":", 1)[-1]
    words = [w for w in _WORD_SPLIT.split(bare) if w]
    if not words:
        return bare
    text = " ".join(words)
    return text[0].upper() + text[1:]


class FeatureDefinition(BaseModel):
    """Metadata about one feature of one entity type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description='Feature name, e.g. "avg_order_value".')
    entity_type: str = Field(min_length=1, description='Entity type, e.g. "user".')
    dtype: str = Field("unknown", description='Value type, e.g. "Float64" (Feast) or "float".')
    description: str = ""
    label: str | None = Field(None, description="Human-readable label for prompts.")
    sensitivity: Sensitivity = "public"
    owner: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    version: int | str | None = None
    ttl_seconds: float | None = Field(None, ge=0, description="None: never expires.")
    source: str | None = Field(None, description="Name of the data source it is computed from.")
    source_path: str | None = Field(None, description="File path, URI or table of the source.")
    source_type: str | None = Field(None, description='E.g. "FileSource".')
    feature_view: str | None = None
    feature_services: list[str] = Field(
        default_factory=list, description="Feature services that include this feature."
    )

    @property
    def display_label(self) -> str:
        """``label``, or the name humanised (``"avg_order_value"`` -> ``"Avg order value"``)."""
        return self.label or _humanise(self.name)

    @property
    def is_sensitive(self) -> bool:
        """True for ``confidential`` and ``pii`` features."""
        return self.sensitivity in _SENSITIVE

    @property
    def ref(self) -> str:
        """``"feature_view:name"`` when there is a feature view, else ``name``."""
        return f"{self.feature_view}:{self.name}" if self.feature_view else self.name

    @property
    def qualified_name(self) -> str:
        """``"entity_type.name"``, the key used by the monitor and the enricher."""
        return f"{self.entity_type}.{self.name}"


class FeatureLineage(BaseModel):
    """Where a feature comes from and who used it."""

    model_config = ConfigDict(frozen=True)

    entity_type: str
    feature: str
    feature_view: str | None
    data_source: str | None
    source_type: str | None
    source_path: str | None
    feature_services: list[str]
    task_types: list[str] = Field(description="Task types whose prompts used it (sorted).")
    owner: str | None
    definition: FeatureDefinition


def _format_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "entry"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not a FeatureDefinition field)"
        elif "input" in err and err["type"] != "missing":
            msg = f"{msg} (got {err['input']!r})"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts)


class FeatureCatalog:
    """A thread-safe collection of :class:`FeatureDefinition`, keyed by entity type and name.

    Args:
        definitions: Initial definitions, added with :meth:`add`.

    Raises:
        FeatureConfigError: two definitions share entity type, feature view and name.
    """

    def __init__(self, definitions: Iterable[FeatureDefinition] = ()) -> None:
        self._lock = threading.RLock()
        self._by_key: dict[tuple[str, str | None, str], FeatureDefinition] = {}
        for definition in definitions:
            self.add(definition)

    # -- contents ----------------------------------------------------------------------

    def add(self, definition: FeatureDefinition) -> None:
        """Add one definition.

        Raises:
            FeatureConfigError: the catalog already holds a definition with the same
                entity type, feature view and name.
        """
        key = (definition.entity_type, definition.feature_view, definition.name)
        with self._lock:
            if key in self._by_key:
                view = (
                    f" (feature view '{definition.feature_view}')"
                    if definition.feature_view
                    else ""
                )
                raise FeatureConfigError(
                    f"Feature '{definition.qualified_name}'{view} is already in the catalog; "
                    "give each feature view's fields distinct names or remove the duplicate"
                )
            self._by_key[key] = definition

    def _candidates(self, entity_type: str, name: str) -> builtins.list[FeatureDefinition]:
        view: str | None = None
        bare = name
        if ":" in name:
            view, bare = name.rsplit(":", 1)
        return [
            d
            for (etype, fview, fname), d in self._by_key.items()
            if etype == entity_type and fname == bare and (view is None or fview == view)
        ]

    def get(self, entity_type: str, name: str) -> FeatureDefinition | None:
        """The definition of ``name`` (bare, or ``"feature_view:name"``) for ``entity_type``.

        Returns:
            The definition, or ``None`` when there is none or the bare name is ambiguous
            (defined by several feature views).
        """
        with self._lock:
            found = self._candidates(entity_type, name)
        return found[0] if len(found) == 1 else None

    def list(self, entity_type: str | None = None) -> builtins.list[FeatureDefinition]:
        """Every definition (of ``entity_type`` when given), sorted by entity, name, view."""
        with self._lock:
            items = [d for d in self._by_key.values() if entity_type in (None, d.entity_type)]
        return sorted(items, key=lambda d: (d.entity_type, d.name, d.feature_view or ""))

    def entity_types(self) -> builtins.list[str]:
        """The entity types with at least one definition, sorted."""
        with self._lock:
            return sorted({d.entity_type for d in self._by_key.values()})

    def names(self, entity_type: str) -> builtins.list[str]:
        """Requestable names for ``entity_type``: unique bare names and every ``view:name``."""
        defs = self.list(entity_type)
        counts: dict[str, int] = {}
        for d in defs:
            counts[d.name] = counts.get(d.name, 0) + 1
        out = {d.name for d in defs if counts[d.name] == 1}
        out |= {d.ref for d in defs if d.feature_view}
        return sorted(out)

    def label_for(self, entity_type: str, name: str) -> str:
        """The definition's display label, or ``name`` humanised when it has none."""
        definition = self.get(entity_type, name)
        return definition.display_label if definition else _humanise(name)

    def sensitive_features(self, entity_type: str) -> builtins.list[str]:
        """Names (bare and ``view:name``) of ``entity_type``'s confidential or pii features."""
        out: set[str] = set()
        for d in self.list(entity_type):
            if d.is_sensitive:
                out.add(d.name)
                out.add(d.ref)
        return sorted(out)

    def __len__(self) -> int:
        with self._lock:
            return len(self._by_key)

    def __iter__(self) -> Iterator[FeatureDefinition]:
        return iter(self.list())

    # -- discovery ---------------------------------------------------------------------

    def search(
        self, text: str, *, entity_type: str | None = None
    ) -> builtins.list[FeatureDefinition]:
        """Definitions matching ``text``, best first (case-insensitive).

        Every word of ``text`` must match somewhere. Per word, the best of: the exact name
        or reference (100) > a name prefix (60) > a name substring (50; underscores count
        as spaces) > the label (30) > the description (20) > a tag key or value (10) >
        the entity type, feature view, owner or data source (5). The whole text equal to
        a name or reference ranks first. Ties are sorted by entity type and name. An empty
        text matches every definition.
        """
        query = text.strip().lower()
        words = query.split()
        scored: builtins.list[tuple[int, FeatureDefinition]] = []
        for d in self.list(entity_type):
            name = d.name.lower()
            spaced = _WORD_SPLIT.sub(" ", name)
            refs = {name, d.ref.lower(), d.qualified_name.lower()}
            label = (d.label or "").lower()
            desc = d.description.lower()
            tags = " ".join(f"{k} {v}" for k, v in d.tags.items()).lower()
            other = " ".join(
                x.lower() for x in (d.entity_type, d.feature_view, d.owner, d.source) if x
            )
            total = 1000 if query in refs else 0
            for word in words:
                if word in refs:
                    score = 100
                elif name.startswith(word):
                    score = 60
                elif word in name or word in spaced:
                    score = 50
                elif word in label:
                    score = 30
                elif word in desc:
                    score = 20
                elif word in tags:
                    score = 10
                elif word in other:
                    score = 5
                else:
                    break
                total += score
            else:
                scored.append((total, d))
        scored.sort(
            key=lambda sd: (-sd[0], sd[1].entity_type, sd[1].name, sd[1].feature_view or "")
        )
        return [d for _, d in scored]

    def lineage(
        self, entity_type: str, name: str, monitor: FeatureMonitor | None = None
    ) -> FeatureLineage:
        """Where ``name`` (bare or ``"feature_view:name"``) of ``entity_type`` comes from.

        Args:
            entity_type: E.g. ``"user"``.
            name: The feature's bare name, or its reference when the name is ambiguous.
            monitor: When given, ``task_types`` lists the task types whose prompts used
                the feature (from :meth:`FeatureMonitor.feature_usage`).

        Raises:
            FeatureConfigError: unknown entity type or feature (the message lists the
                available ones), or an ambiguous bare name (the message lists the refs).
        """
        with self._lock:
            found = self._candidates(entity_type, name)
            known_types = {d.entity_type for d in self._by_key.values()}
        if not found:
            if entity_type not in known_types:
                raise FeatureConfigError(
                    unknown_name_message(
                        "entity type", entity_type, known_types, scope="the catalog"
                    )
                )
            raise FeatureConfigError(
                unknown_name_message(
                    "feature", name, self.names(entity_type), scope=f"entity '{entity_type}'"
                )
            )
        if len(found) > 1:
            refs = ", ".join(sorted(d.ref for d in found))
            raise FeatureConfigError(
                f"Ambiguous feature '{name}' for entity '{entity_type}': it is in several "
                f"feature views; ask for one of {refs}"
            )
        d = found[0]
        tasks: set[str] = set()
        if monitor is not None:
            usage = monitor.feature_usage()
            for key in {d.name, d.ref, name}:
                tasks |= usage.get(f"{entity_type}.{key}", set())
        return FeatureLineage(
            entity_type=entity_type,
            feature=d.name,
            feature_view=d.feature_view,
            data_source=d.source,
            source_type=d.source_type,
            source_path=d.source_path,
            feature_services=sorted(d.feature_services),
            task_types=sorted(tasks),
            owner=d.owner,
            definition=d,
        )

    # -- YAML --------------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> FeatureCatalog:
        """Load a catalog from a YAML file (or an already parsed mapping) of the module's shape.

        Raises:
            FeatureConfigError: the file cannot be read or parsed, the document is not a
                mapping with a ``features`` list, or an entry is invalid (the message
                names the entry by position and name, and the bad key).
        """
        if isinstance(path_or_dict, Mapping):
            doc: Any = path_or_dict
            where = "mapping"
        elif isinstance(path_or_dict, (str, os.PathLike)):
            path = Path(path_or_dict)
            where = str(path)
            try:
                doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise FeatureConfigError(f"Cannot read feature catalog {path}: {exc}") from exc
            except yaml.YAMLError as exc:
                raise FeatureConfigError(
                    f"Feature catalog {path} is not valid YAML: {exc}"
                ) from exc
        else:
            raise FeatureConfigError(
                "FeatureCatalog.from_yaml expects a YAML file path or a mapping, "
                f"got {type(path_or_dict).__name__}"
            )
        if not isinstance(doc, Mapping) or not isinstance(doc.get("features"), list):
            raise FeatureConfigError(
                f"Feature catalog {where} must be a mapping with a 'features' list: "
                "features: [{name: ..., entity_type: ..., description: ...}, ...]"
            )
        unknown = sorted(set(doc) - {"features", "version"})
        if unknown:
            raise FeatureConfigError(
                f"Feature catalog {where}: unknown top-level key(s) {', '.join(unknown)}; "
                "allowed: features, version"
            )
        catalog = cls()
        for i, entry in enumerate(doc["features"], start=1):
            label = f"entry {i}"
            if isinstance(entry, Mapping) and isinstance(entry.get("name"), str):
                label += f" (name '{entry['name']}')"
            if not isinstance(entry, Mapping):
                raise FeatureConfigError(
                    f"Feature catalog {where}, {label}: expected a mapping of "
                    f"FeatureDefinition fields, got {type(entry).__name__}"
                )
            try:
                definition = FeatureDefinition.model_validate(dict(entry))
            except ValidationError as exc:
                raise FeatureConfigError(
                    f"Feature catalog {where}, {label}: {_format_validation_error(exc)}"
                ) from exc
            try:
                catalog.add(definition)
            except FeatureConfigError as exc:
                raise FeatureConfigError(f"Feature catalog {where}, {label}: {exc}") from exc
        return catalog

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape of this catalog (``from_yaml(catalog.to_dict())`` round-trips)."""
        return {"features": [d.model_dump(exclude_defaults=True, mode="json") for d in self.list()]}

    # -- Feast -------------------------------------------------------------------------

    @classmethod
    def from_feast(cls, repo_path_or_store: str | os.PathLike[str] | Any) -> FeatureCatalog:
        """Build a catalog from a Feast registry.

        Reads every feature view and stream feature view keyed by exactly one entity (as
        the Feast client does; views with composite or no entity keys, and on-demand
        feature views, are skipped). For each field: ``dtype``
        (Feast's type name, e.g. ``"Float64"``), ``description``, ``tags`` (view tags
        overlaid by field tags), ``ttl_seconds`` (the view's ttl; a zero ttl is None),
        ``feature_view``, ``source``/``source_path``/``source_type`` (the view's batch
        source, or stream source without one) and ``feature_services``. Reserved tags,
        looked up on the field then the view: ``sensitivity``, ``owner`` (else the view's
        owner) and ``version`` (else the view's current version number); ``label`` is
        read from field tags only.

        Args:
            repo_path_or_store: A Feast repo directory (holding ``feature_store.yaml``)
                or a ``feast.FeatureStore``.

        Raises:
            MissingDependencyError: Feast is not installed (``pip install
                'llm-featurestore[feast]'``).
            FeatureConfigError: the repo cannot be opened or read, or a ``sensitivity`` tag
                holds an unknown level (the message names the view and field).
        """
        feast = require("feast", extra="feast")
        if isinstance(repo_path_or_store, (str, os.PathLike)):
            path = Path(repo_path_or_store)
            try:
                store = feast.FeatureStore(repo_path=str(path))
            except Exception as exc:
                raise FeatureConfigError(
                    f"Cannot open the Feast repo at {path}: {exc}. Pass the directory that "
                    "holds feature_store.yaml, after `feast apply`"
                ) from exc
        else:
            store = repo_path_or_store
        try:
            views = {v.name: v for v in store.list_feature_views()}
            for v in store.list_stream_feature_views():
                views.setdefault(v.name, v)
            services = store.list_feature_services()
        except Exception as exc:
            raise FeatureConfigError(f"Cannot read the Feast registry: {exc}") from exc

        in_services: dict[tuple[str, str], builtins.list[str]] = {}
        for service in services:
            for projection in service.feature_view_projections:
                for feature in projection.features:
                    in_services.setdefault((projection.name, feature.name), []).append(service.name)

        catalog = cls()
        for view in sorted(views.values(), key=lambda v: v.name):
            entities = list(view.entities)
            if len(entities) != 1 or entities[0] == "__dummy":
                continue
            for feature in view.features:
                catalog.add(
                    _definition_from_feast(
                        view, feature, entities[0], in_services.get((view.name, feature.name), [])
                    )
                )
        return catalog


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
    view: Any, feature: Any, entity_type: str, services: builtins.list[str]
) -> FeatureDefinition:
    field_tags: dict[str, str] = dict(feature.tags or {})
    tags = {**dict(view.tags or {}), **field_tags}
    where = f"Feast feature view '{view.name}', field '{feature.name}'"
    sensitivity = str(tags.get("sensitivity", "public")).strip().lower()
    if sensitivity not in _SENSITIVITIES:
        raise FeatureConfigError(
            f"{where}: tag sensitivity={tags['sensitivity']!r} is not one of "
            f"{', '.join(_SENSITIVITIES)}"
        )
    owner = field_tags.get("owner") or getattr(view, "owner", "") or tags.get("owner") or None
    version: int | str | None = tags.get("version")
    if version is None:
        number = getattr(view, "current_version_number", None)
        version = number if isinstance(number, int) else None
    ttl = getattr(view, "ttl", None)
    ttl_seconds = ttl.total_seconds() if ttl is not None and ttl.total_seconds() > 0 else None
    source, source_path, source_type = _feast_source(view)
    return FeatureDefinition(
        name=feature.name,
        entity_type=entity_type,
        dtype=str(feature.dtype),
        description=feature.description or "",
        label=field_tags.get("label") or None,
        sensitivity=sensitivity,  # type: ignore[arg-type]  # checked against _SENSITIVITIES
        owner=owner,
        tags=tags,
        version=version,
        ttl_seconds=ttl_seconds,
        source=source,
        source_path=source_path,
        source_type=source_type,
        feature_view=view.name,
        feature_services=sorted(services),
    )
