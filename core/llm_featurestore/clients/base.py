"""The client interface every backend implements, and the behaviour they share.

Batch is the primitive: a backend implements :meth:`FeatureStoreClient.get_batch_features`
(and, where it has a native async driver, :meth:`~FeatureStoreClient.aget_batch_features`);
single lookups, async fallbacks and name checks are built here on top of it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Literal, NamedTuple

from llm_featurestore.clients.cells import max_age_for, status_for
from llm_featurestore.clients.request_data import (
    REQUEST_DATA_BACKENDS,
    RequestData,
    check_request_data,
    freeze_request_data,
    refuse_request_data,
    request_data_kwargs,
    request_data_refused,
)
from llm_featurestore.clients.values import (
    MAX_ENTITY_ID_LENGTH,
    MAX_NAME_LENGTH,
    MAX_STRING_LENGTH,
    MAX_VALUE_BYTES,
    check_entity_id,
    check_name,
    ensure_aware,
    validate_feature_values,
)
from llm_featurestore.errors import FeatureConfigError, unknown_name_message
from llm_featurestore.models import FeatureVector, utcnow
from llm_featurestore.settings import BackendConfig
from llm_featurestore.workers import to_thread

__all__ = [
    "MAX_ENTITY_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_STRING_LENGTH",
    "MAX_VALUE_BYTES",
    "PUSH_MODES",
    "REQUEST_DATA_BACKENDS",
    "BoundedRead",
    "EntityKey",
    "FeatureStoreClient",
    "PushMode",
    "PushableFeatureStore",
    "RequestData",
    "WritableFeatureStore",
    "WriteRequest",
    "check_feature_names",
    "check_request",
    "check_request_data",
    "check_write",
    "ensure_aware",
    "freeze_request_data",
    "max_age_for",
    "refuse_request_data",
    "request_data_refused",
    "status_for",
    "validate_feature_values",
]

PushMode = Literal["online", "offline", "online_and_offline"]
"""Where :meth:`PushableFeatureStore.push` sends rows (Feast's ``PushMode``)."""
PUSH_MODES: tuple[PushMode, ...] = ("online", "offline", "online_and_offline")
BoundedRead = Callable[
    [Sequence[str], str, Sequence[str], "Sequence[RequestData] | None"],
    "list[FeatureVector] | None",
]
"""A sync read ``(entity_ids, entity_type, feature_names, request_data)`` whose driver
bounds its own waits (:meth:`FeatureStoreClient.bounded_reader`)."""


class FeatureStoreClient(ABC):
    """Read features of entities from one feature store.

    Subclasses implement :meth:`get_batch_features`, :meth:`list_features` and
    :meth:`health_check`; async twins run the sync call in a worker thread unless a
    subclass overrides them with a native async driver. Clients are context managers
    and should be closed (:meth:`close` / :meth:`aclose`) to release connections.
    """

    source: ClassVar[str] = "custom"
    """The ``FeatureVector.source`` this client reports."""

    config_class: ClassVar[type[BackendConfig] | None] = None
    """The backend's settings model; its ``type`` is the provider name of a YAML
    configuration. ``None`` for a client configured by plain keyword arguments."""

    may_block: ClassVar[bool] = True
    """Whether a sync read can wait on I/O (network, disk locks). The serving layer
    bounds such reads with a worker thread; reads of in-process stores that never wait
    (``False``) run inline, because the thread hand-off would cost more than the read."""

    positional_settings: ClassVar[tuple[str, ...]] = ()
    """The settings the constructor takes by position, in order, after (or instead of)
    its settings model: ``("url",)`` for ``RedisFeatureStore("redis://...")``. Every
    built-in client applies the one rule of :func:`llm_featurestore.settings.client_settings`."""

    accepts_request_data: ClassVar[bool] = False
    """Whether reads take per-entity request data (the inputs of on-demand features:
    Feast's request sources, Tecton's ``request_context_map``). A backend that does not
    refuses non-empty request data with :func:`request_data_refused`."""

    @abstractmethod
    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        """Read ``feature_names`` for every id in ``entity_ids``.

        Args:
            entity_ids: The ids, in the order of the answer (duplicates allowed).
            entity_type: E.g. ``"user"``.
            feature_names: The names every vector holds.
            request_data: One mapping (request field -> value) per id, aligned with
                ``entity_ids``, for backends with :attr:`accepts_request_data`. ``None``,
                or only empty mappings, means none (see :func:`check_request_data`).

        Returns:
            One :class:`FeatureVector` per id, in the order of ``entity_ids``
            (duplicates included). Every vector has exactly ``feature_names`` as keys.

        Raises:
            FeatureConfigError: an unknown (or ambiguous) feature name or entity type
                (the message lists the available names), malformed request data, or
                request data given to a backend that takes none.
            FeatureValidationError: a request data value that may not be sent.
            FeatureStoreUnavailableError: the store could not be read.
        """

    @abstractmethod
    def list_features(self, entity_type: str) -> list[str]:
        """The feature names that can be requested for ``entity_type``, sorted."""

    @abstractmethod
    def health_check(self) -> bool:
        """True when the store answers; never raises."""

    def bounded_reader(self, timeout_s: float) -> BoundedRead | None:
        """A sync read that the driver itself gives up within ``timeout_s`` (socket or
        lock timeouts), so a caller bounding reads needs no worker thread; ``None`` (the
        default) when this client's driver cannot bound a call.

        The read takes what :meth:`get_batch_features` takes, raises
        :class:`~llm_featurestore.errors.FeatureTimeoutError` when the driver gives up,
        and answers ``None``, before any I/O, for a request it cannot bound (the caller
        then bounds it its own way).
        """
        return None

    def get_features(
        self,
        entity_id: str,
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: RequestData | None = None,
    ) -> FeatureVector:
        """Read ``feature_names`` for one entity (a batch of one), with its request data."""
        extra = request_data_kwargs(request_data)
        return self.get_batch_features([entity_id], entity_type, feature_names, **extra)[0]

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        """Async twin of :meth:`get_batch_features` (a worker thread unless overridden)."""
        extra = {} if request_data is None else {"request_data": request_data}
        return await to_thread(
            self.get_batch_features, entity_ids, entity_type, feature_names, **extra
        )

    async def aget_features(
        self,
        entity_id: str,
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: RequestData | None = None,
    ) -> FeatureVector:
        """Async twin of :meth:`get_features`."""
        extra = request_data_kwargs(request_data)
        return (await self.aget_batch_features([entity_id], entity_type, feature_names, **extra))[0]

    async def ahealth_check(self) -> bool:
        """Async twin of :meth:`health_check`."""
        return await to_thread(self.health_check)

    def close(self) -> None:  # noqa: B027 - optional hook, most clients hold nothing
        """Release connections. Safe to call more than once."""

    async def aclose(self) -> None:
        """Async twin of :meth:`close`."""
        self.close()

    def __enter__(self) -> FeatureStoreClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> FeatureStoreClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class WritableFeatureStore(FeatureStoreClient):
    """A store this library can also write to (local, Redis, Feast's online store)."""

    @abstractmethod
    def write_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Validate ``features`` and store them for one entity.

        Args:
            entity_id: The entity's id.
            entity_type: E.g. ``"user"``.
            features: Name to value. Values must pass :func:`validate_feature_values`.
            event_timestamp: When the values were observed; now when omitted. Freshness
                and staleness are measured from it.

        Raises:
            FeatureValidationError: a name or value may not be stored; nothing was written.
        """

    async def awrite_features(
        self,
        entity_id: str,
        entity_type: str,
        features: Mapping[str, Any],
        event_timestamp: datetime | None = None,
    ) -> None:
        """Async twin of :meth:`write_features`."""
        await to_thread(self.write_features, entity_id, entity_type, features, event_timestamp)


class EntityKey(NamedTuple):
    """One entity a write or push touched: what a cache must forget."""

    entity_type: str
    entity_id: str


class PushableFeatureStore(WritableFeatureStore):
    """A store with named push sources (Feast): rows go to the views fed by a source."""

    @abstractmethod
    def push(self, push_source: str, rows: Any, *, to: PushMode = "online") -> list[EntityKey]:
        """Validate ``rows`` and push them to every feature view fed by ``push_source``.

        Args:
            push_source: The push source's name.
            rows: A list of row dicts (join key, feature values and, optionally, the
                source's timestamp columns; missing timestamps are now), or a pandas
                DataFrame of the same columns.
            to: ``"online"``, ``"offline"`` or ``"online_and_offline"``.

        Returns:
            The entities the rows touched (for cache invalidation), in row order,
            without duplicates.

        Raises:
            FeatureValidationError: a row or value may not be pushed; nothing was sent.
            FeatureConfigError: an unknown push source or mode; the message lists the valid ones.
            FeatureStoreUnavailableError: the store could not take the rows.
        """

    async def apush(
        self, push_source: str, rows: Any, *, to: PushMode = "online"
    ) -> list[EntityKey]:
        """Async twin of :meth:`push`."""
        return await to_thread(self.push, push_source, rows, to=to)


def check_request(
    entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
) -> None:
    """Reject malformed requests before any I/O.

    Raises:
        FeatureConfigError: ``entity_ids`` is a bare string, an id is empty or not a
            string, ``entity_type`` is empty, or ``feature_names`` is empty or a bare string.
        FeatureValidationError: an id longer than ``MAX_ENTITY_ID_LENGTH``, or a feature
            name or the entity type longer than ``MAX_NAME_LENGTH``
            (:mod:`llm_featurestore.clients.values`).
    """
    if isinstance(feature_names, str):
        raise FeatureConfigError(
            f"feature_names must be a list of names, not the string {feature_names!r}"
        )
    if not feature_names:
        raise FeatureConfigError("feature_names is empty: ask for at least one feature")
    for name in feature_names:
        if isinstance(name, str):
            check_name("Feature name", name)
    _check_ids(entity_ids, entity_type)


def _check_ids(entity_ids: Sequence[str], entity_type: str) -> None:
    if isinstance(entity_ids, str):
        raise FeatureConfigError(
            f"entity_ids must be a list of ids, not the string {entity_ids!r}; "
            "use get_features() for one entity"
        )
    if not entity_type or not isinstance(entity_type, str):
        raise FeatureConfigError(f"entity_type must be a non-empty string, got {entity_type!r}")
    check_name("Entity type", entity_type)
    for eid in entity_ids:
        if not isinstance(eid, str) or not eid:
            raise FeatureConfigError(f"entity ids must be non-empty strings, got {eid!r}")
        check_entity_id(eid)


class WriteRequest(NamedTuple):
    """A write that passed :func:`check_write`: the values to store and their time."""

    values: dict[str, Any]
    event_timestamp: datetime


def check_write(
    entity_id: str,
    entity_type: str,
    features: Mapping[str, Any],
    event_timestamp: datetime | None = None,
) -> WriteRequest:
    """Validate a write before any I/O: the id and entity type, every value, the time.

    Returns:
        The validated values and the event time (UTC; now when omitted).

    Raises:
        FeatureConfigError: a malformed id or entity type (see :func:`check_request`).
        FeatureValidationError: a name or value may not be stored, or the id, the entity
            type or a name is longer than its bound (:mod:`llm_featurestore.clients.values`).
    """
    _check_ids([entity_id], entity_type)
    values = validate_feature_values(features)
    when = ensure_aware(event_timestamp) if event_timestamp is not None else utcnow()
    return WriteRequest(values, when)


def check_feature_names(
    requested: Iterable[str], available: Iterable[str], entity_type: str
) -> None:
    """Raise :class:`FeatureConfigError` for the first requested name not in ``available``."""
    known = set(available)
    for name in requested:
        if name not in known:
            raise FeatureConfigError(
                unknown_name_message("feature", name, known, scope=f"entity '{entity_type}'")
            )
