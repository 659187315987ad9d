"""A feature store in a JSON file, or in memory: for development, tests and demos.

:class:`LocalFeatureStoreConfig` (its settings) and :class:`LocalFeatureStore` live
together here: the store needs no driver, so nothing is gained by splitting them.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from llm_featurestore.clients.base import (
    RequestData,
    WritableFeatureStore,
    check_feature_names,
    check_request,
    check_write,
    ensure_aware,
    refuse_request_data,
    validate_feature_values,
)
from llm_featurestore.clients.cells import Cell, assemble, max_age_for
from llm_featurestore.clients.local_files import remove_leftovers, write_atomically
from llm_featurestore.errors import FeatureConfigError, unknown_entity_type
from llm_featurestore.models import FeatureVector, utcnow
from llm_featurestore.settings import BackendConfig, MaxAgeSeconds, client_settings

__all__ = ["LocalFeatureStore", "LocalFeatureStoreConfig"]

_FORMAT_VERSION = 1


class LocalFeatureStoreConfig(BackendConfig):
    """The settings of :class:`LocalFeatureStore` (the ``local:`` section of a config)."""

    type: Literal["local"] = "local"
    data_path: Path | None = Field(
        None, description="JSON file to load from and persist to; in memory when omitted."
    )
    max_age_seconds: MaxAgeSeconds = Field(
        None, description="Older values read as STALE: one number, or entity type -> seconds."
    )


class LocalFeatureStore(WritableFeatureStore):
    """Features kept in memory and, when ``data_path`` is given, in a JSON file.

    The file holds ``{"version": 1, "entities": {entity_type: {entity_id:
    {"features": {...}, "event_timestamps": {name: iso8601}}}}}``. Every write
    replaces the file atomically (temporary file, fsync, rename), so a crash
    mid-write leaves the previous file intact; the temp files such crashes leave are
    removed when a store next opens the file or writes it, unless a live writer may
    still hold them (:mod:`~llm_featurestore.clients.local_files`).

    Args:
        config: The settings (:class:`LocalFeatureStoreConfig`); or, as a shorthand, the
            data file's path. Omit it to pass the settings as keyword arguments.
        *more: Nothing: further positional arguments are refused with a
            :class:`FeatureConfigError` (the rule of
            :func:`~llm_featurestore.settings.client_settings`).
        **fields: The fields of :class:`LocalFeatureStoreConfig`: ``data_path`` (the
            JSON file; ``None`` keeps data in memory) and ``max_age_seconds`` (values
            older than this, one number or per entity type, read as STALE).

    Raises:
        FeatureConfigError: a setting is unknown or invalid (the message names it), or
            the data file cannot be read.
    """

    source = "local"
    may_block = False  # reads are dict look-ups; only writes touch the file
    config_class = LocalFeatureStoreConfig

    positional_settings: ClassVar[tuple[str, ...]] = ("data_path",)

    def __init__(
        self,
        config: LocalFeatureStoreConfig | str | os.PathLike[str] | None = None,
        /,
        *more: Any,
        **fields: Any,
    ) -> None:
        self.config: LocalFeatureStoreConfig = client_settings(
            LocalFeatureStoreConfig,
            type(self).__name__,
            (config, *more),
            fields,
            positional=self.positional_settings,
        )
        self._lock = threading.Lock()
        self._entities: dict[str, dict[str, dict[str, Any]]] = {}
        self._names: dict[str, set[str]] = {}
        if self.data_path is not None:
            remove_leftovers(self.data_path)
            if self.data_path.exists():
                self._load(self.data_path)

    @property
    def data_path(self) -> Path | None:
        """The JSON file the store persists to, or ``None`` in memory."""
        return self.config.data_path

    @property
    def max_age_seconds(self) -> MaxAgeSeconds:
        """Values older than this (one number, or per entity type) read as STALE."""
        return self.config.max_age_seconds

    def _load(self, path: Path) -> None:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise FeatureConfigError(f"Cannot read local feature file {path}: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("entities"), dict):
            raise FeatureConfigError(
                f"Local feature file {path} is not in the expected format: "
                '{"version": 1, "entities": {entity_type: {entity_id: {"features": {...}}}}}'
            )
        for entity_type, rows in doc["entities"].items():
            for entity_id, row in rows.items():
                raw = row.get("features") or {}
                features = validate_feature_values(raw) if raw else {}
                stamps = {
                    k: (ensure_aware(datetime.fromisoformat(v)) if v else None)
                    for k, v in (row.get("event_timestamps") or {}).items()
                }
                self._store(entity_type, str(entity_id), features, stamps)

    def _store(
        self,
        entity_type: str,
        entity_id: str,
        features: Mapping[str, Any],
        stamps: Mapping[str, datetime | None],
    ) -> None:
        row = self._entities.setdefault(entity_type, {}).setdefault(
            entity_id, {"features": {}, "event_timestamps": {}}
        )
        row["features"].update(features)
        row["event_timestamps"].update(stamps)
        self._names.setdefault(entity_type, set()).update(features)

    def _persist(self) -> None:
        assert self.data_path is not None
        doc = {
            "version": _FORMAT_VERSION,
            "entities": {
                etype: {
                    eid: {
                        "features": row["features"],
                        "event_timestamps": {
                            k: v.isoformat() if v else None
                            for k, v in row["event_timestamps"].items()
                        },
                    }
                    for eid, row in rows.items()
                }
                for etype, rows in self._entities.items()
            },
        }
        remove_leftovers(self.data_path)
        write_atomically(self.data_path, json.dumps(doc, ensure_ascii=False, sort_keys=True))

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        clean, ts = check_write(entity_id, entity_type, features, event_timestamp)
        with self._lock:
            previous = self._entities.get(entity_type, {}).get(entity_id)
            snapshot = None if previous is None else {k: dict(v) for k, v in previous.items()}
            names_before = set(self._names.get(entity_type, set()))
            self._store(entity_type, entity_id, clean, dict.fromkeys(clean, ts))
            if self.data_path is None:
                return
            try:
                self._persist()
            except BaseException:
                # Keep memory and file in agreement: undo the in-memory change.
                if snapshot is None:
                    del self._entities[entity_type][entity_id]
                else:
                    self._entities[entity_type][entity_id] = snapshot
                self._names[entity_type] = names_before
                raise

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        check_request(entity_ids, entity_type, feature_names)
        refuse_request_data(self, entity_ids, request_data)
        check_feature_names(feature_names, self.list_features(entity_type), entity_type)
        now = utcnow()
        max_age = max_age_for(self.max_age_seconds, entity_type)
        rows = self._entities[entity_type]
        out: list[FeatureVector] = []
        for eid in entity_ids:
            row = rows.get(eid)
            cells: dict[str, Cell] = {}
            if row is not None:
                feats, ts_map = row["features"], row["event_timestamps"]
                cells = {n: Cell(feats[n], ts_map.get(n)) for n in feature_names if n in feats}
            out.append(
                assemble(
                    eid,
                    entity_type,
                    feature_names,
                    cells,
                    source=self.source,
                    now=now,
                    max_age=max_age,
                )
            )
        return out

    def list_features(self, entity_type: str) -> list[str]:
        names = self._names.get(entity_type)
        if names is None:
            raise unknown_entity_type(entity_type, self._names)
        return sorted(names)

    def list_entity_types(self) -> list[str]:
        """Entity types that hold at least one written feature."""
        return sorted(self._names)

    def health_check(self) -> bool:
        return True

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        # Pure in-memory work: no thread hop needed, and none would help.
        # Subclasses may predate request data: pass it only when there is some.
        extra = {} if request_data is None else {"request_data": request_data}
        return self.get_batch_features(entity_ids, entity_type, feature_names, **extra)

    async def ahealth_check(self) -> bool:
        return True
