"""OpenTelemetry spans and metrics for the library's operations (the ``[otel]`` extra).

::

    from llm_featurestore.telemetry import instrument
    instrument()          # the global tracer and meter providers; or pass your own

Spans (``llm_featurestore.<operation>``; attributes prefixed ``llmfs.``):

- ``lookup``: one read of the read flow (:class:`~llm_featurestore.reading.FeatureReader`):
  ``requests``, ``entity_types``, ``features``, ``status.<status>`` counts,
  ``skipped_reason``;
- ``serving``: one read of a :class:`~llm_featurestore.serving.ServingClient`:
  ``entity_type``, ``entities``, ``cache_hits``, ``backend_calls``, ``coalesced``,
  ``breaker``, status counts;
- ``enrich``: one enrichment: ``task_type``, ``features_used``, ``tokens``,
  ``store_available``, ``skipped_reason``, status counts;
- ``retrieval``: one filtered retrieval: ``framework``, ``k``, ``conditions``,
  ``filtered``, ``backfilled``, status counts.

No attribute ever holds a feature value, a filter's operand or a raw entity id. With
``hash_entity_ids=True`` spans carry ``llmfs.entity_ids``: HMAC-SHA256 of each id under
the salt from ``LLM_FEATURESTORE_HASH_SALT`` (16 hex characters), so traces of one user
can be joined without naming them.

Metrics: ``llmfs.operations`` (counter, by operation and outcome),
``llmfs.operation.duration`` (histogram, ms, by operation), ``llmfs.enrichment.tokens``
(histogram); read at collection time from the live serving clients and monitors:
``llmfs.serving.requests``, ``.cache_hits``, ``.cache_misses``, ``.timeouts``,
``.fallbacks``, ``.short_circuited`` (counters, by source), ``llmfs.serving.breaker_open``
(gauge, 1 while open), ``llmfs.feature.missing_rate`` and ``.stale_rate`` (gauges, by
feature) and ``llmfs.feature.drift_psi`` (gauge, by feature, for features with a
baseline).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.telemetry import hooks

__all__ = ["OpenTelemetryInstrumentation", "instrument", "uninstrument"]

_SALT_ENV = "LLM_FEATURESTORE_HASH_SALT"
_SCOPE = "llm_featurestore"
_SERVING_COUNTERS = (
    "requests",
    "cache_hits",
    "cache_misses",
    "timeouts",
    "fallbacks",
    "short_circuited",
)


def _hash_id(entity_id: str, salt: bytes) -> str:
    return hmac.new(salt, entity_id.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


class _Span:
    """One live span (see :class:`llm_featurestore.telemetry.hooks.Span`)."""

    def __init__(self, otel_span: Any, owner: OpenTelemetryInstrumentation) -> None:
        self._span = otel_span
        self._owner = owner
        self.attributes: dict[str, Any] = {}

    def set(self, **attributes: Any) -> None:
        for key, value in attributes.items():
            if value is None:
                continue
            if isinstance(value, (list, tuple, set, frozenset)):
                value = [str(v) for v in value]
            elif not isinstance(value, (str, bool, int, float)):
                value = str(value)
            self.attributes[key] = value
            self._span.set_attribute(f"llmfs.{key}", value)

    def vectors(self, vectors: Iterable[Any]) -> None:
        vectors = list(vectors)
        statuses: Counter[str] = Counter()
        features: set[str] = set()
        for vector in vectors:
            for name, status in vector.statuses.items():
                statuses[status.value] += 1
                features.add(f"{vector.entity_type}.{name}")
        self.set(
            entity_types=sorted({v.entity_type for v in vectors}),
            features=sorted(features),
            **{f"status.{s}": n for s, n in sorted(statuses.items())},
        )
        if self._owner.salt is not None:
            self.set(entity_ids=sorted({_hash_id(v.entity_id, self._owner.salt) for v in vectors}))

    def enrichment(self, result: Any) -> None:
        statuses = Counter(p.status.value for p in result.provenance)
        self.set(
            task_type=result.task_type,
            features_used=list(result.features_used),
            tokens=result.feature_tokens_added,
            store_available=result.store_available,
            skipped_reason=result.skipped_reason,
            **{f"status.{s}": n for s, n in sorted(statuses.items())},
        )
        if result.skipped_reason is None:
            self._owner.tokens.record(result.feature_tokens_added, {"task_type": result.task_type})


class OpenTelemetryInstrumentation:
    """The installed instrumentation: a tracer, a meter and the library's instruments.

    Args:
        tracer_provider: Where spans go; the global provider when ``None``.
        meter_provider: Where metrics go; the global provider when ``None``.
        hash_entity_ids: Record hashed entity ids on spans (needs the salt).

    Raises:
        FeatureConfigError: ``hash_entity_ids`` without ``LLM_FEATURESTORE_HASH_SALT``.
        MissingDependencyError: ``opentelemetry-api`` is not installed (the ``[otel]``
            extra).
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        *,
        hash_entity_ids: bool = False,
    ) -> None:
        trace = require("opentelemetry.trace", extra="otel")
        metrics = require("opentelemetry.metrics", extra="otel")
        self._observation = metrics.Observation
        self.salt: bytes | None = None
        if hash_entity_ids:
            salt = os.environ.get(_SALT_ENV)
            if not salt:
                raise FeatureConfigError(
                    f"hash_entity_ids needs a salt: set {_SALT_ENV} (a secret string) in the "
                    "environment, or leave hash_entity_ids off (no ids on spans)"
                )
            self.salt = salt.encode("utf-8")
        self.tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(_SCOPE, meter_provider=meter_provider)
        self.operations = meter.create_counter(
            "llmfs.operations", unit="{operation}", description="Operations, by outcome."
        )
        self.duration = meter.create_histogram(
            "llmfs.operation.duration", unit="ms", description="Wall time of one operation."
        )
        self.tokens = meter.create_histogram(
            "llmfs.enrichment.tokens", unit="{token}", description="Tokens added to a prompt."
        )
        for name in _SERVING_COUNTERS:
            meter.create_observable_counter(
                f"llmfs.serving.{name}", callbacks=[self._serving_counter(name)]
            )
        meter.create_observable_gauge(
            "llmfs.serving.breaker_open", callbacks=[self._breakers], description="1 while open."
        )
        for rate in ("missing_rate", "stale_rate"):
            meter.create_observable_gauge(f"llmfs.feature.{rate}", callbacks=[self._rates(rate)])
        meter.create_observable_gauge("llmfs.feature.drift_psi", callbacks=[self._drift])

    @contextmanager
    def start(self, name: str, attributes: dict[str, Any]) -> Iterator[_Span]:
        """One span ``llm_featurestore.<name>``; its outcome and duration become metrics."""
        started = time.perf_counter()
        outcome = "ok"
        with self.tracer.start_as_current_span(f"{_SCOPE}.{name}") as otel_span:
            span = _Span(otel_span, self)
            span.set(**attributes)
            try:
                yield span
            except BaseException:
                outcome = "error"
                raise
            finally:
                if outcome == "ok" and span.attributes.get("skipped_reason"):
                    outcome = "skipped"
                labels = {"operation": name, "outcome": outcome}
                self.operations.add(1, labels)
                self.duration.record((time.perf_counter() - started) * 1000.0, {"operation": name})

    # -- observable metrics (read at collection time) ---------------------------------

    def _serving_counter(self, name: str) -> Callable[[Any], list[Any]]:
        def observe(options: Any) -> list[Any]:
            totals: Counter[str] = Counter()
            for client in hooks.serving_clients():
                totals[str(getattr(client, "source", "custom"))] += getattr(client.stats, name)
            return [self._observation(v, {"source": s}) for s, v in sorted(totals.items())]

        return observe

    def _breakers(self, options: Any) -> list[Any]:
        out = []
        for client in hooks.serving_clients():
            breaker = getattr(client, "breaker", None)
            if breaker is not None:
                is_open = 0 if breaker.closed else 1
                out.append(self._observation(is_open, {"source": str(client.source)}))
        return out

    def _rates(self, rate: str) -> Callable[[Any], list[Any]]:
        def observe(options: Any) -> list[Any]:
            out = []
            for monitor in hooks.monitors():
                for feature, stats in monitor.get_stats().feature_stats.items():
                    out.append(self._observation(getattr(stats, rate), {"feature": feature}))
            return out

        return observe

    def _drift(self, options: Any) -> list[Any]:
        out = []
        for monitor in hooks.monitors():
            for feature, report in monitor.drift_reports().items():
                if report.psi is not None:
                    out.append(self._observation(report.psi, {"feature": feature}))
        return out


def instrument(
    tracer_provider: Any = None,
    meter_provider: Any = None,
    *,
    hash_entity_ids: bool = False,
) -> OpenTelemetryInstrumentation:
    """Send the library's spans and metrics to OpenTelemetry (see the module docstring).

    Returns the installed instrumentation; :func:`uninstrument` removes it.
    """
    instrumentation = OpenTelemetryInstrumentation(
        tracer_provider, meter_provider, hash_entity_ids=hash_entity_ids
    )
    hooks.install(instrumentation)
    return instrumentation


def uninstrument() -> None:
    """Stop reporting (operations go back to the no-op path)."""
    hooks.install(None)
