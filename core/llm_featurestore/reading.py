"""The one read flow: every entry point reads features through :class:`FeatureReader`.

Given the entities of one request (or of N, for ``batch``), the features wanted per
entity type and, for a LlamaIndex query, the vectors the query already holds, the flow

1. plans what is still to fetch (names already known for the same entity are reused);
2. asks the monitor whether the store may be read (``should_read(task_type)``: the
   store gate, and for a task its quality gate and hold-out); a request that may not
   comes back empty with ``skipped_reason="monitor_disabled"`` and makes no store call;
3. groups the requests into one backend call per entity type and feature set, so N
   requests for one entity type are one ``get_batch_features`` (and a single request is
   ``get_batch_features([id])``, which a ``ServingClient`` coalesces with its neighbours);
   a request's request data (``ReadRequest.request_data``) goes with its id, aligned, in
   that same call; only an id that two requests ask for with different request data is
   sent again, in a further call (no call holds an id twice);
4. degrades a failed call per entity (the table in :mod:`llm_featurestore.serving.degrade`:
   timeouts, outages, refused credentials, ids the join key cannot take, entity types the
   store lacks), logging each cause once; programming errors (unknown feature names,
   invalid configuration) raise, and so does everything when ``fallback`` is off;
5. merges the vectors per request and reports the outcome to the monitor's store gate.

The decisions live in one generator (:meth:`FeatureReader._flow`) that yields the calls
to make and receives their outcomes; :meth:`~FeatureReader.read_many` and
:meth:`~FeatureReader.aread_many` only drive it, the first with threads, the second on
the event loop (the httpx ``Auth.auth_flow`` pattern).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from llm_featurestore.batching import Answer, ReadCall, group_calls, run_tasks, run_threads
from llm_featurestore.clients.request_data import freeze_request_data
from llm_featurestore.errors import FeatureConfigError, InvalidEntityIdError
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.degrade import CauseLog, degraded_status, split_invalid
from llm_featurestore.serving.plan import Item
from llm_featurestore.telemetry import hooks

if TYPE_CHECKING:
    from llm_featurestore.clients.base import FeatureStoreClient
    from llm_featurestore.monitor import FeatureMonitor

__all__ = [
    "MONITOR_DISABLED",
    "FeatureReader",
    "FeatureVectors",
    "ReadRequest",
    "entity_ids",
    "merge_vectors",
    "warn_no_entity",
]

logger = logging.getLogger("llm_featurestore.reading")
_log = CauseLog(logger)

MONITOR_DISABLED = "monitor_disabled"
"""``FeatureVectors.skipped_reason`` when the monitor did not let the request read."""


class FeatureVectors(dict[str, FeatureVector]):
    """What one read returns: ``{entity_type: FeatureVector}``, plus how the read went.

    A plain ``dict`` everywhere a mapping of vectors is accepted (filters, the
    enricher, adapters), with three attributes:

    Attributes:
        skipped_reason: ``"monitor_disabled"`` when the monitor refused the read (the
            mapping then holds only vectors the request already had); ``None`` otherwise.
        latency_ms: Wall time of the store calls made for this request (0.0: none).
        fetched: True when the store was called for this request.
        recorded: True when the outcome was reported to the monitor's store gate, so
            the enrichment built from these vectors must not report it again.
    """

    skipped_reason: str | None = None
    latency_ms: float = 0.0
    fetched: bool = False
    recorded: bool = False

    @property
    def store_available(self) -> bool:
        """False when every vector read for this request failed (timed out or unavailable)."""
        return not self or not all(v.failed for v in self.values())


@dataclass(frozen=True)
class ReadRequest:
    """The features one request needs.

    Attributes:
        entities: ``{entity_type: entity_id}``; entity types without an id are not read.
        features: ``{entity_type: [names]}``, priority order; the union of what the
            task, the filters and the postprocessors of this request need.
        task_type: The enrichment task this read serves, or ``None`` for a read that
            serves no task (a lookup, a filter): it selects the monitor's gates.
        known: Vectors this request already holds (a LlamaIndex query's); their names
            are not fetched again for the same entity. When ``known`` is the
            :class:`FeatureVectors` of an earlier read of the same request (a query read
            by several components), its outcome carries over: a read the monitor refused
            stays refused (no store call, no second question to the monitor), and a read
            already reported to the monitor is not reported again.
        fix: How to fix a feature name the store rejects, appended to that error.
        request_data: ``{entity_type: {request field: value}}``: the request-time inputs
            of on-demand features, sent with that entity's id (the backend must accept
            request data; see ``FeatureStoreClient.accepts_request_data``). Entity types
            without any are read without.
    """

    entities: Mapping[str, str]
    features: Mapping[str, Sequence[str]]
    task_type: str | None = None
    known: Mapping[str, FeatureVector] = field(default_factory=dict)
    fix: str = ""
    request_data: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def item(self, entity_type: str) -> Item:
        """This request's entity of ``entity_type`` with its frozen request data."""
        data = self.request_data.get(entity_type)
        return self.entities[entity_type], freeze_request_data(data)

    def todo(self) -> dict[str, list[str]]:
        """``{entity_type: names still to fetch}`` for the entity types that have an id."""
        out: dict[str, list[str]] = {}
        for etype, names in self.features.items():
            eid = self.entities.get(etype)
            if not eid or not names:
                continue
            have = self.known.get(etype)
            held = have.statuses if have is not None and have.entity_id == eid else {}
            missing = [n for n in dict.fromkeys(names) if n not in held]
            if missing:
                out[etype] = missing
        return out


class FeatureReader:
    """Reads features for requests, with the monitor's gates and the failure table.

    Args:
        client: The store (a ``ServingClient`` adds timeouts, caching, coalescing and a
            breaker; any client works).
        monitor: Gates reads and receives their outcomes (``should_read``/``record_read``).
        fallback: Degrade failed reads to TIMED_OUT/UNAVAILABLE/INVALID_ID/
            UNKNOWN_ENTITY_TYPE vectors (logged once per cause) instead of raising.
    """

    def __init__(
        self,
        client: FeatureStoreClient,
        *,
        monitor: FeatureMonitor | None = None,
        fallback: bool = True,
    ) -> None:
        self.client = client
        self.monitor = monitor
        self.fallback = fallback

    # -- drivers ------------------------------------------------------------------

    def read(self, request: ReadRequest) -> FeatureVectors:
        """Read one request (see the module docstring)."""
        return self.read_many([request])[0]

    async def aread(self, request: ReadRequest) -> FeatureVectors:
        """Async twin of :meth:`read`."""
        return (await self.aread_many([request]))[0]

    def read_many(self, requests: Sequence[ReadRequest]) -> list[FeatureVectors]:
        """Read N requests with one backend call per entity type and feature set;
        calls for different entity types run concurrently (the first in this thread)."""
        with hooks.span("lookup", requests=len(requests)) as span:
            flow = self._flow(requests)
            try:
                calls = next(flow)
                while True:
                    calls = flow.send(run_threads(self.client, calls))
            except StopIteration as done:
                return _reported(span, done.value)

    async def aread_many(self, requests: Sequence[ReadRequest]) -> list[FeatureVectors]:
        """Async twin of :meth:`read_many`; the calls run concurrently on the event loop."""
        with hooks.span("lookup", requests=len(requests)) as span:
            flow = self._flow(requests)
            try:
                calls = next(flow)
                while True:
                    calls = flow.send(await run_tasks(self.client, calls))
            except StopIteration as done:
                return _reported(span, done.value)

    # -- the decisions ------------------------------------------------------------

    def _flow(
        self, requests: Sequence[ReadRequest]
    ) -> Generator[list[ReadCall], list[Answer], list[FeatureVectors]]:
        todos = [self._admit(r) for r in requests]
        calls = group_calls(requests, todos)
        fetched: dict[tuple[str, tuple[str, ...], Item], FeatureVector] = {}
        start = time.perf_counter()
        while calls:
            answers = yield calls
            retry: list[ReadCall] = []
            for call, answer in zip(calls, answers, strict=True):
                failed = call
                if isinstance(answer, InvalidEntityIdError):
                    # Serve the others: send the ids the store took again.
                    bad, resend = split_invalid(call.ids, answer)
                    retry.extend(call.subset(r) for r in resend)
                    failed = call.subset(bad)
                if isinstance(answer, list):
                    vectors = answer
                elif not failed.ids:
                    continue
                else:
                    needing = [
                        r
                        for r, t in zip(requests, todos, strict=True)
                        if t and call.entity_type in t
                    ]
                    vectors = self._degrade(failed, answer, needing[0])
                frozen = dict(zip(failed.ids, failed.frozen(), strict=True))
                for vector in vectors:
                    item = (vector.entity_id, frozen[vector.entity_id])
                    fetched[(call.entity_type, call.names, item)] = vector
            calls = retry
        latency_ms = (time.perf_counter() - start) * 1000.0
        return [
            self._result(r, todo, fetched, latency_ms)
            for r, todo in zip(requests, todos, strict=True)
        ]

    def _admit(self, request: ReadRequest) -> dict[str, list[str]] | None:
        """What the request still needs, or ``None`` when the monitor refuses the read
        (now, or in an earlier read of the same request)."""
        if getattr(request.known, "skipped_reason", None) is not None:
            return None
        todo = request.todo()
        if todo and self.monitor is not None and not self.monitor.should_read(request.task_type):
            return None
        return todo

    def _degrade(self, call: ReadCall, exc: Exception, request: ReadRequest) -> list[FeatureVector]:
        status = degraded_status(exc, driver_errors=False)
        if status is None and type(exc) is FeatureConfigError:
            who = f"Task '{request.task_type}'" if request.task_type else "The lookup"
            raise FeatureConfigError(
                f"{who} looks up {', '.join(call.names)} for entity type "
                f"'{call.entity_type}', which the store rejected: {exc} {request.fix}".rstrip()
            ) from exc
        if status is None or not self.fallback:
            raise exc
        source = getattr(self.client, "source", "custom")
        _log.warn(
            (id(self.client), status.value, call.entity_type, type(exc).__name__),
            f"Feature lookup for {len(call.ids)} {call.entity_type} entities failed "
            f"({status.value}); continuing without their features: {exc}",
        )
        return [
            FeatureVector.unavailable(
                eid, call.entity_type, call.names, status=status, source=source
            )
            for eid in call.ids
        ]

    def _result(
        self,
        request: ReadRequest,
        todo: dict[str, list[str]] | None,
        fetched: Mapping[tuple[str, tuple[str, ...], Item], FeatureVector],
        latency_ms: float,
    ) -> FeatureVectors:
        out = FeatureVectors(
            (etype, vector)
            for etype, vector in request.known.items()
            if etype in request.features and vector.entity_id == request.entities.get(etype)
        )
        out.recorded = getattr(request.known, "recorded", False)
        if todo is None:
            out.skipped_reason = getattr(request.known, "skipped_reason", None) or MONITOR_DISABLED
            return out
        new: list[FeatureVector] = []
        for etype, names in todo.items():
            vector = fetched[(etype, tuple(names), request.item(etype))]
            new.append(vector)
            out[etype] = merge_vectors(out.get(etype), vector)
        if new:
            out.fetched = True
            out.latency_ms = latency_ms
            if self.monitor is not None and not out.recorded:  # once per request
                self.monitor.record_read(not all(v.failed for v in new))
                out.recorded = True
        return out


def _reported(span: Any, results: list[FeatureVectors]) -> list[FeatureVectors]:
    """``results``, after telling the lookup's span what they hold."""
    span.vectors(v for r in results for v in r.values())
    skipped = {r.skipped_reason for r in results if r.skipped_reason is not None}
    span.set(skipped_reason=", ".join(sorted(skipped)) or None)
    return results


def merge_vectors(old: FeatureVector | None, new: FeatureVector) -> FeatureVector:
    """``new`` plus the features of ``old`` that it lacks (same entity only)."""
    if old is None or old.entity_id != new.entity_id or old.entity_type != new.entity_type:
        return new
    names = [*old.statuses, *(n for n in new.statuses if n not in old.statuses)]
    return FeatureVector.build(
        entity_id=new.entity_id,
        entity_type=new.entity_type,
        feature_names=names,
        values={**old.features, **new.features},
        statuses={**old.statuses, **new.statuses},
        event_timestamps={**old.event_timestamps, **new.event_timestamps},
        source=new.source,
        retrieved_at=min(old.retrieved_at, new.retrieved_at),
    )


def entity_ids(sources: Sequence[Mapping[str, Any]], keys: Mapping[str, str]) -> dict[str, str]:
    """``{entity_type: id}`` read from the first source holding each key of ``keys``
    (``{entity_type: key}``); ``None``/``""`` mean "no entity", integers become strings.

    Raises:
        FeatureConfigError: an id that is neither a string nor an integer.
    """
    out: dict[str, str] = {}
    for etype, key in keys.items():
        for source in sources:
            if key in source:
                value = source[key]
                break
        else:
            continue
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise FeatureConfigError(
                f"Entity id under '{key}' must be a string or an integer, got "
                f"{type(value).__name__} {value!r}"
            )
        out[etype] = str(value)
    return out


def warn_no_entity(component: str, keys: Mapping[str, str]) -> None:
    """Log once (per component and keys) that a request named none of the expected ids,
    so personalisation is off for it: the usual cause is an id under another key."""
    expected = ", ".join(f"'{key}' (entity type {etype})" for etype, key in keys.items())
    _log.warn(
        ("no_entity", component, tuple(keys.items())),
        f"{component}: the request carries none of the expected entity ids {expected}; "
        "reading no features for it. Pass the id under that key, or set the key name.",
    )
