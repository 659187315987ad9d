"""The :class:`FeatureCatalog`: definitions by entity type and name, search and lineage.

Names follow the Feast client and the shared rule of
:class:`~llm_featurestore.clients.names.NameIndex`: a feature is known by its
reference ``"feature_view:name"`` when it has a feature view, and by its bare name
when that is unique for its entity type. A bare name several views define is
ambiguous: :meth:`FeatureCatalog.get` returns ``None`` for it and
:meth:`FeatureCatalog.lineage` says which references to use.
"""

from __future__ import annotations

import builtins
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from llm_featurestore.catalog.definitions import FeatureDefinition, FeatureLineage, label_of
from llm_featurestore.catalog.sources import (
    SOURCE_SECTIONS,
    OnDemandViewDefinition,
    PushSourceDefinition,
    RequestSourceDefinition,
    SourceDefinition,
)
from llm_featurestore.clients.names import NameIndex
from llm_featurestore.errors import FeatureConfigError, unknown_name_message

if TYPE_CHECKING:
    from llm_featurestore.monitor import FeatureMonitor

__all__ = ["FeatureCatalog"]

_WORD_SPLIT = re.compile(r"[_\-\s]+")


def _score(word: str, d: FeatureDefinition, fields: tuple[str, ...]) -> int:
    """How well one search word matches a definition (0: not at all); see ``search``."""
    name, spaced, label, desc, tags, other = fields
    if word in {name, d.ref.lower(), d.qualified_name.lower()}:
        return 100
    if name.startswith(word):
        return 60
    for score, text in ((50, name), (50, spaced), (30, label), (20, desc), (10, tags)):
        if word in text:
            return score
    return 5 if word in other else 0


def _search_fields(d: FeatureDefinition) -> tuple[str, ...]:
    name = d.name.lower()
    return (
        name,
        _WORD_SPLIT.sub(" ", name),
        (d.label or "").lower(),
        d.description.lower(),
        " ".join(f"{k} {v}" for k, v in d.tags.items()).lower(),
        " ".join(x.lower() for x in (d.entity_type, d.feature_view, d.owner, d.source) if x),
    )


class FeatureCatalog:
    """A thread-safe collection of :class:`FeatureDefinition`, keyed by entity type and name.

    It also lists where features come from besides stored views, each kind by name
    (:mod:`~llm_featurestore.catalog.sources`): :meth:`on_demand_views`,
    :meth:`request_sources` and :meth:`push_sources`, added with :meth:`add_source`.

    Args:
        definitions: Initial definitions, added with :meth:`add`.

    Raises:
        FeatureConfigError: two definitions share entity type, feature view and name.
    """

    def __init__(self, definitions: Iterable[FeatureDefinition] = ()) -> None:
        self._lock = threading.RLock()
        self._by_ref: dict[tuple[str, str], FeatureDefinition] = {}
        self._indexes: dict[str, NameIndex] = {}
        self._sources: dict[type[SourceDefinition], dict[str, SourceDefinition]] = {
            kind: {} for kind in SOURCE_SECTIONS.values()
        }
        for definition in definitions:
            self.add(definition)

    # -- contents ----------------------------------------------------------------------

    def add(self, definition: FeatureDefinition) -> None:
        """Add one definition.

        Raises:
            FeatureConfigError: the catalog already holds a definition with the same
                entity type, feature view and name.
        """
        key = (definition.entity_type, definition.ref)
        with self._lock:
            if key in self._by_ref:
                view = definition.feature_view
                where = f" (feature view '{view}')" if view else ""
                raise FeatureConfigError(
                    f"Feature '{definition.qualified_name}'{where} is already in the catalog; "
                    "give each feature view's fields distinct names or remove the duplicate"
                )
            self._by_ref[key] = definition
            self._indexes.pop(definition.entity_type, None)

    def add_source(self, definition: SourceDefinition) -> None:
        """Add an on-demand view, request source or push source definition.

        Raises:
            FeatureConfigError: the catalog already holds one of that kind and name.
        """
        with self._lock:
            kind = self._sources[type(definition)]
            if definition.name in kind:
                raise FeatureConfigError(
                    f"{type(definition).config_name.capitalize()} '{definition.name}' is "
                    "already in the catalog; remove the duplicate"
                )
            kind[definition.name] = definition

    def _listed(self, kind: type[SourceDefinition]) -> builtins.list[Any]:
        with self._lock:
            return sorted(self._sources[kind].values(), key=lambda d: d.name)

    def on_demand_views(
        self, entity_type: str | None = None
    ) -> builtins.list[OnDemandViewDefinition]:
        """The on-demand views (of ``entity_type`` when given), sorted by name."""
        views: builtins.list[OnDemandViewDefinition] = self._listed(OnDemandViewDefinition)
        return [v for v in views if entity_type in (None, v.entity_type)]

    def request_sources(self) -> builtins.list[RequestSourceDefinition]:
        """The request sources, sorted by name."""
        return self._listed(RequestSourceDefinition)

    def push_sources(self) -> builtins.list[PushSourceDefinition]:
        """The push sources, sorted by name."""
        return self._listed(PushSourceDefinition)

    def _index(self, entity_type: str) -> NameIndex:
        """The names of ``entity_type`` (call with the lock held)."""
        index = self._indexes.get(entity_type)
        if index is None:
            refs = [ref for etype, ref in self._by_ref if etype == entity_type]
            index = self._indexes[entity_type] = NameIndex(refs, scope=f"entity '{entity_type}'")
        return index

    def _resolve(self, entity_type: str, name: str) -> FeatureDefinition:
        """The definition of ``name``, or the shared unknown/ambiguous error."""
        with self._lock:
            ref = self._index(entity_type).resolve(name)
            return self._by_ref[(entity_type, ref)]

    def get(self, entity_type: str, name: str) -> FeatureDefinition | None:
        """The definition of ``name`` (bare, or ``"feature_view:name"``) for ``entity_type``.

        Returns:
            The definition, or ``None`` when there is none or the bare name is ambiguous
            (defined by several feature views).
        """
        with self._lock:
            definition = self._by_ref.get((entity_type, name))
            if definition is not None:
                return definition
            refs = self._index(entity_type).bare.get(name)
            return self._by_ref[(entity_type, refs[0])] if refs and len(refs) == 1 else None

    def list(self, entity_type: str | None = None) -> builtins.list[FeatureDefinition]:
        """Every definition (of ``entity_type`` when given), sorted by entity, name, view."""
        with self._lock:
            items = [d for d in self._by_ref.values() if entity_type in (None, d.entity_type)]
        return sorted(items, key=lambda d: (d.entity_type, d.name, d.feature_view or ""))

    def entity_types(self) -> builtins.list[str]:
        """The entity types with at least one definition, sorted."""
        with self._lock:
            return sorted({etype for etype, _ in self._by_ref})

    def names(self, entity_type: str) -> builtins.list[str]:
        """Requestable names for ``entity_type``: unique bare names and every ``view:name``."""
        with self._lock:
            return self._index(entity_type).available()

    def label_for(self, entity_type: str, name: str) -> str:
        """The definition's display label, or ``name`` humanised when it has none."""
        definition = self.get(entity_type, name)
        return definition.display_label if definition else label_of(name)

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
            return len(self._by_ref)

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
            fields = _search_fields(d)
            refs = {fields[0], d.ref.lower(), d.qualified_name.lower()}
            scores = [_score(word, d, fields) for word in words]
            if all(scores):
                scored.append(((1000 if query in refs else 0) + sum(scores), d))
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
        known_types = self.entity_types()
        if entity_type not in known_types:
            raise FeatureConfigError(
                unknown_name_message("entity type", entity_type, known_types, scope="the catalog")
            )
        d = self._resolve(entity_type, name)
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
            request_sources=list(d.request_sources),
            task_types=sorted(tasks),
            owner=d.owner,
            definition=d,
        )

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def from_yaml(cls, path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> FeatureCatalog:
        """Load a catalog from a YAML file (or an already parsed mapping).

        See :func:`llm_featurestore.catalog.loaders.load_yaml` for the shape and errors.
        """
        from llm_featurestore.catalog.loaders import load_yaml

        catalog = cls()
        load_yaml(catalog, path_or_dict)
        return catalog

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape of this catalog (``from_yaml(catalog.to_dict())`` round-trips)."""
        doc: dict[str, Any] = {
            "features": [d.model_dump(exclude_defaults=True, mode="json") for d in self.list()]
        }
        for section, kind in SOURCE_SECTIONS.items():
            listed = self._listed(kind)
            if listed:
                doc[section] = [d.model_dump(exclude_defaults=True, mode="json") for d in listed]
        return doc

    @classmethod
    def from_feast(cls, repo_path_or_store: str | os.PathLike[str] | Any) -> FeatureCatalog:
        """Build a catalog from a Feast registry.

        See :func:`llm_featurestore.catalog.loaders.load_feast` for what is read.
        """
        from llm_featurestore.catalog.loaders import load_feast

        catalog = cls()
        load_feast(catalog, repo_path_or_store)
        return catalog
