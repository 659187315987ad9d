"""The :class:`FeastClient` facade: reads and writes through the real Feast SDK.

How feature names are understood is the registry's rule
(:mod:`llm_featurestore.clients.feast.registry`); how the answer becomes vectors is the
decoder's (:mod:`llm_featurestore.clients.feast.decode`); which reads skip the SDK and
read the online store directly is :mod:`llm_featurestore.clients.feast.direct`'s. This
module only dispatches and waits: sync calls wait on the store directly, async ones on
a native async read where the online store has one (Redis), else on a worker thread.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from llm_featurestore.clients.base import (
    BoundedRead,
    EntityKey,
    PushableFeatureStore,
    PushMode,
    check_request,
)
from llm_featurestore.clients.feast.config import FeastClientConfig
from llm_featurestore.clients.feast.decode import decode_vectors
from llm_featurestore.clients.feast.direct import DirectReads
from llm_featurestore.clients.feast.failures import feast_write_error
from llm_featurestore.clients.feast.ids import coerce_all
from llm_featurestore.clients.feast.push import (
    OFFLINE_MODES,
    PushTargets,
    feast_push_mode,
    plan_push,
)
from llm_featurestore.clients.feast.registry import FeastRegistry, Plan
from llm_featurestore.clients.feast.request_data import request_columns
from llm_featurestore.clients.feast.store import (
    native_async,
    shared_feature_store,
    use_running_loop,
)
from llm_featurestore.clients.feast.writes import (
    ViewWrite,
    plan_write,
    read_current,
    row_frame,
    schema_of,
)
from llm_featurestore.clients.push_rows import check_push_mode
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)
from llm_featurestore.models import FeatureVector, utcnow
from llm_featurestore.settings import client_settings
from llm_featurestore.workers import to_thread

__all__ = ["FeastClient"]


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError"


class FeastClient(PushableFeatureStore):
    """Features from a Feast repo's online store, through the Feast SDK.

    Args:
        config: A :class:`FeastClientConfig`, or the repo path (the directory holding
            ``feature_store.yaml``).
        *more: The Feast project, after the repo path (``FeastClient("repo", "shop")``),
            instead of the one in ``feature_store.yaml``. Settings go by position or by
            keyword, not both (:func:`~llm_featurestore.settings.client_settings`).
        store: An existing ``feast.FeatureStore`` to use; by default one shared
            store per repo path and project (:func:`shared_feature_store`).
        **fields: The :class:`FeastClientConfig` fields (``repo_path``, ``project``,
            ``direct_reads``) when ``config`` is not given.

    Names: ``view:feature`` refs, bare names unique among the entity's feature views
    (on-demand views included), or a feature service's name alone (see
    :mod:`~llm_featurestore.clients.feast.registry`). Features of on-demand views are
    computed by Feast at read time from their request sources' fields, passed per
    entity as ``request_data`` (see :meth:`get_batch_features` and
    :meth:`request_fields`).
    Registry lookups happen once per (entity type, feature names) and are cached; call
    :meth:`refresh` after ``feast apply`` changes the repo. Reads of a Redis or SQLite
    online store skip the SDK and read Feast's stored layout directly when the request
    allows it (:mod:`~llm_featurestore.clients.feast.direct`; ``direct_reads=False``
    turns this off), with the same values and statuses. The async methods use
    Feast's native ``get_online_features_async`` when the online store reads async
    (Redis; see :attr:`native_async`) and a worker thread otherwise (SQLite).
    Connection and store failures raise :class:`FeatureStoreUnavailableError`
    (:class:`FeatureTimeoutError` for timeouts), with the Feast error chained.

    Raises:
        FeatureConfigError: ``repo_path`` is not a Feast repo, or a setting is invalid.
    """

    source = "feast"
    config_class = FeastClientConfig
    accepts_request_data: ClassVar[bool] = True
    positional_settings: ClassVar[tuple[str, ...]] = ("repo_path", "project")

    def __init__(
        self,
        config: FeastClientConfig | str | os.PathLike[str] | None = None,
        /,
        *more: Any,
        store: Any = None,
        **fields: Any,
    ) -> None:
        if config is None and not more and "repo_path" not in fields:
            if store is None:
                raise FeatureConfigError("FeastClient needs repo_path= or store=")
            fields = {**fields, "repo_path": str(getattr(store, "repo_path", "") or "")}
        self.config = client_settings(
            FeastClientConfig,
            type(self).__name__,
            (config, *more),
            fields,
            positional=self.positional_settings,
        )
        if store is None:
            store = shared_feature_store(self.config.repo_path, self.config.project)
        self.store = store
        self._registry = FeastRegistry(store)
        self._push_targets = PushTargets(store)
        self._native_async: bool | None = None
        self._direct = DirectReads(store, self._registry, self.config.direct_reads)

    def refresh(self) -> None:
        """Reload the registry and forget resolved names (after ``feast apply``)."""
        try:
            self.store.refresh_registry()
        except Exception as exc:
            raise FeatureStoreUnavailableError(f"Cannot refresh the Feast registry: {exc}") from exc
        self._registry.clear()
        self._push_targets.clear()

    @property
    def native_async(self) -> bool:
        """True when the online store reads natively async (Redis), False when a thread is used."""
        if self._native_async is None:
            self._native_async = native_async(self.store)
        return self._native_async

    # ------------------------------------------------------------------ reads

    def _prepare(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        request_data: Sequence[Mapping[str, Any]] | None,
    ) -> tuple[Plan, dict[str, list[Any]]]:
        """The plan and Feast's ``entity_rows`` (join key and request-data columns),
        every check done before any read of the online store."""
        check_request(entity_ids, entity_type, feature_names)
        plan = self._registry.plan(entity_type, feature_names)
        columns = request_columns(plan.request_fields, entity_ids, entity_type, request_data)
        keys = coerce_all(plan.coerce, entity_ids, entity_type)
        return plan, {**columns, plan.join_key: keys}

    def _decode(
        self, response: Any, plan: Plan, entity_ids: Sequence[str], entity_type: str
    ) -> list[FeatureVector]:
        return decode_vectors(
            response, plan, entity_ids, entity_type, source=self.source, now=utcnow()
        )

    def _read_error(self, exc: Exception, entity_type: str) -> FeatureStoreError:
        if isinstance(exc, FeatureStoreError):
            return exc
        where = f"Feast online read for entity '{entity_type}' (project '{self.store.project}')"
        if _is_timeout(exc):
            return FeatureTimeoutError(f"{where} timed out: {exc}")
        return FeatureStoreUnavailableError(f"{where} failed: {type(exc).__name__}: {exc}")

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[FeatureVector]:
        """Read ``feature_names`` for every id (see the base class).

        Args:
            entity_ids: The ids, in the order of the answer.
            entity_type: The Feast entity, e.g. ``"driver"``.
            feature_names: Refs, unique bare names, or one feature service's name.
            request_data: One mapping per id (request field -> value), aligned with
                ``entity_ids``: the fields of the request sources of the on-demand
                views read (:meth:`request_fields` lists them). ``None`` when none
                are needed.

        Raises:
            FeatureConfigError: an unknown or ambiguous name, a bad id, request data
                of the wrong shape or length, or a request field no requested
                feature needs (the message lists the valid ones).
            FeatureValidationError: a needed request field is missing (the message
                says which, for which features, and how to pass it), or a value is
                invalid or not of the field's Feast type.
            FeatureStoreUnavailableError: the online store could not be read.
        """
        plan, rows = self._prepare(entity_ids, entity_type, feature_names, request_data)
        if not entity_ids:
            return []
        try:
            keys = rows[plan.join_key]
            vectors = self._direct.read(plan, entity_ids, keys, entity_type, source=self.source)
            if vectors is not None:
                return vectors
            response = self.store.get_online_features(
                features=plan.features, entity_rows=rows, full_feature_names=plan.full_names
            )
        except Exception as exc:
            raise self._read_error(exc, entity_type) from exc
        return self._decode(response, plan, entity_ids, entity_type)

    def bounded_reader(self, timeout_s: float) -> BoundedRead | None:
        """Direct reads bounded by their driver (Redis socket timeouts, SQLite's busy
        timeout); ``None`` for reads that need the SDK or the registry (a first read)."""
        if self._direct.kind is None:
            return None

        def read(
            entity_ids: Sequence[str],
            entity_type: str,
            feature_names: Sequence[str],
            request_data: Sequence[Mapping[str, Any]] | None,
        ) -> list[FeatureVector] | None:
            if not self._registry.has_plan(entity_type, feature_names):
                return None
            plan, rows = self._prepare(entity_ids, entity_type, feature_names, request_data)
            if not entity_ids:
                return []
            keys = rows[plan.join_key]
            try:
                return self._direct.read(
                    plan, entity_ids, keys, entity_type, source=self.source, timeout_s=timeout_s
                )
            except Exception as exc:
                raise self._read_error(exc, entity_type) from exc

        return read

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[FeatureVector]:
        if not self.native_async:
            return await to_thread(
                self.get_batch_features,
                entity_ids,
                entity_type,
                feature_names,
                request_data=request_data,
            )
        check_request(entity_ids, entity_type, feature_names)
        if not self._registry.has_plan(entity_type, feature_names):
            # The first resolution reads the registry (file or network I/O): use a thread.
            await to_thread(self._registry.plan, entity_type, feature_names)
        plan, rows = self._prepare(entity_ids, entity_type, feature_names, request_data)
        if not entity_ids:
            return []
        try:
            vectors = await self._direct.aread(
                plan, entity_ids, rows[plan.join_key], entity_type, source=self.source
            )
            if vectors is not None:
                return vectors
            await use_running_loop(self.store)
            response = await self.store.get_online_features_async(
                features=plan.features, entity_rows=rows, full_feature_names=plan.full_names
            )
        except Exception as exc:
            raise self._read_error(exc, entity_type) from exc
        return self._decode(response, plan, entity_ids, entity_type)

    def request_fields(self, entity_type: str, feature_names: Sequence[str]) -> dict[str, str]:
        """The request-data fields a read of ``feature_names`` needs, with their Feast
        type names (``{"val_to_add": "Int64"}``), in the order of their request sources;
        ``{}`` when it needs none. Also what ``FeastHttpClient(request_fields=...)`` takes
        for an on-demand view or feature service."""
        check_request([], entity_type, feature_names)
        plan = self._registry.plan(entity_type, feature_names)
        return {f.name: f.dtype for f in plan.request_fields}

    def list_features(self, entity_type: str) -> list[str]:
        """Sorted ``view:feature`` refs of ``entity_type`` (on-demand views' included),
        plus the bare names that are unambiguous (in exactly one of its views). Feature
        services are not listed here; see :meth:`list_feature_services`.
        """
        return self._registry.index(entity_type).names.available()

    def list_feature_services(self, entity_type: str) -> list[str]:
        """Names of the feature services whose views (on-demand views included) all
        belong to ``entity_type``."""
        return sorted(self._registry.index(entity_type).services)

    # ------------------------------------------------------------------ health

    def health_check(self) -> bool:
        """Read one feature of a probe entity from the online store; False on any failure."""
        try:
            features, rows = self._registry.probe()
            if features:
                self.store.get_online_features(features=features, entity_rows=rows)
            return True
        except Exception:
            return False

    async def ahealth_check(self) -> bool:
        if not self.native_async:
            return await to_thread(self.health_check)
        try:
            features, rows = await to_thread(self._registry.probe)
            if features:
                await use_running_loop(self.store)
                await self.store.get_online_features_async(features=features, entity_rows=rows)
            return True
        except Exception:
            return False

    # ------------------------------------------------------------------ writes

    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Write one entity's features to the online store, one row per feature view.

        Names resolve like reads (refs or unambiguous bare names). Every timestamp
        column a view's source declares is filled: ``timestamp_field`` with the event
        time, ``created_timestamp_column`` with now.

        Feast keeps one row per (entity, feature view), so a write that sets only
        some features of a view is **merged** with the entity's current online row:
        the other features' values are read (the provider's raw ``online_read``, so
        values past the view's ttl are kept, not nulled) and written back unchanged;
        an entity with no row gets nulls for them. The merge is read-then-write, not
        atomic against another writer of the same view and entity, and the whole
        merged row gets the new event timestamp. On a Redis online store Feast drops a
        row whose event time is not newer than the stored one.

        Every check happens before anything is written (the merge reads first); a
        write spanning several views is not atomic across them.

        Raises:
            FeatureValidationError: a value fails :func:`validate_feature_values`, does
                not match the feature's Feast type (also when Feast itself refuses it),
                or every value of a view's row would be ``None``.
            FeatureConfigError: an unknown or ambiguous feature name, or a bad entity id.
            FeatureStoreUnavailableError: the online store could not be read or written
                (:class:`FeatureTimeoutError` for timeouts).
        """
        writes = plan_write(self._registry, entity_id, entity_type, features, event_timestamp)
        now = utcnow()
        frames = [(write, row_frame(write, self._current_row(write), now)) for write in writes]
        for write, frame in frames:
            try:
                self.store.write_to_online_store(write.name, df=frame)
            except Exception as exc:
                raise self._write_error(exc, write) from exc

    def _current_row(self, write: ViewWrite) -> dict[str, Any]:
        """The values a partial write merges (nothing to read for a whole row)."""
        if not write.missing:
            return {}
        try:
            return read_current(self.store, write)
        except Exception as exc:
            raise self._write_error(exc, write, " (reading the current row to merge)") from exc

    def _write_error(self, exc: Exception, write: ViewWrite, step: str = "") -> FeatureStoreError:
        return feast_write_error(
            exc,
            what=f"Feast write to feature view '{write.name}'{step}",
            fix=f"Pass values of the types the view declares: {schema_of(write.view)}",
        )

    def push(self, push_source: str, rows: Any, *, to: PushMode = "online") -> list[EntityKey]:
        """Push rows to every feature view fed by the push source ``push_source``.

        Args:
            push_source: The push source's name.
            rows: A list of row dicts, or a pandas DataFrame: the join key of the views'
                entity, every feature of every view the source feeds (``None`` pushes a
                null) and, optionally, the source's timestamp columns (now when left out).
            to: ``"online"``, ``"offline"`` (appended to the batch source; the file
                offline store needs its parquet file to exist) or ``"online_and_offline"``.

        Returns:
            The entities the rows touched, in row order, without duplicates.

        Raises:
            FeatureValidationError: a row or value may not be pushed (also when Feast
                itself refuses it); nothing was sent.
            FeatureConfigError: an unknown push source or mode (the message lists the
                valid ones), or an offline push whose batch source is missing.
            FeatureStoreUnavailableError: the store could not take the rows.
        """
        mode = check_push_mode(to)
        target = self._push_targets.get(push_source)
        offline = self._push_targets.offline_columns(target) if mode in OFFLINE_MODES else None
        plan = plan_push(target, rows, utcnow(), offline)
        try:
            self.store.push(push_source, plan.frame, to=feast_push_mode(mode))
        except Exception as exc:
            raise feast_write_error(
                exc,
                what=f"Feast push to '{push_source}' ({mode})",
                fix=f"Rows for its feature views ({target.view_names}) take "
                f"{', '.join(target.columns())}; the views declare: "
                + "; ".join(schema_of(view) for view in target.views),
            ) from exc
        return plan.keys

    def close(self) -> None:
        """Release the direct path's connections (the next read opens them again); the
        shared ``FeatureStore`` outlives its clients."""
        self._direct.close()

    async def aclose(self) -> None:
        await self._direct.aclose()
