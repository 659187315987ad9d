"""The points where the library reports what it did, and nothing else until someone listens.

The read flow, the serving layer, the enricher and the retrievers call :func:`span`
around their work and fill in what they decided (:meth:`Span.set`). With no
instrumentation installed (the default) :func:`span` hands out one shared no-op object:
the cost on the request path is one global read and one call. :func:`llm_featurestore.
telemetry.instrument` installs an :class:`Instrumentation` (OpenTelemetry), which turns
these calls into spans and metrics.

Serving clients and monitors register themselves here (weakly), so the metrics that
count what they already count (cache hits, timeouts, breaker state, missing and stale
rates, drift) are read when a metric reader collects, never on the request path.

Nothing here imports OpenTelemetry.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = [
    "Instrumentation",
    "Span",
    "active",
    "install",
    "monitors",
    "register_monitor",
    "register_serving",
    "serving_clients",
    "span",
]


class Span(Protocol):
    """What an instrumented operation may say about itself."""

    def set(self, **attributes: Any) -> None:
        """Record attributes (names without the ``llmfs.`` prefix; values are counts,
        names, statuses and timings, never feature values or raw entity ids)."""

    def vectors(self, vectors: Iterable[Any]) -> None:
        """The vectors the operation produced: their entity types, feature names and
        status counts (and, when allowed, hashed entity ids); never their values."""

    def enrichment(self, result: Any) -> None:
        """An enrichment's outcome: task, features used, tokens, statuses, skip reason."""


class Instrumentation(Protocol):
    """An installed telemetry backend (see :mod:`llm_featurestore.telemetry.otel`)."""

    def start(self, name: str, attributes: dict[str, Any]) -> Any:
        """A context manager for one span, yielding a :class:`Span`."""


class _NoSpan:
    """The span of an uninstrumented operation: its own context manager, doing nothing."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def set(self, **attributes: Any) -> None:
        return None

    def vectors(self, vectors: Iterable[Any]) -> None:
        return None

    def enrichment(self, result: Any) -> None:
        return None


_NO_SPAN = _NoSpan()
_active: Instrumentation | None = None
_serving: weakref.WeakSet[Any] = weakref.WeakSet()
_monitors: weakref.WeakSet[Any] = weakref.WeakSet()


def install(instrumentation: Instrumentation | None) -> Instrumentation | None:
    """Make ``instrumentation`` the active one (``None``: none); returns the previous."""
    global _active
    previous, _active = _active, instrumentation
    return previous


def active() -> Instrumentation | None:
    """The installed instrumentation, if any."""
    return _active


def span(name: str, **attributes: Any) -> Any:
    """A context manager around one operation, yielding a :class:`Span`.

    ``name`` is the operation (``"lookup"``, ``"serving"``, ``"enrich"``,
    ``"retrieval"``); the span is called ``llm_featurestore.<name>``.
    """
    instrumentation = _active
    if instrumentation is None:
        return _NO_SPAN
    return instrumentation.start(name, attributes)


def register_serving(client: Any) -> None:
    """Let metrics read ``client.stats`` and its breaker (kept weakly)."""
    _serving.add(client)


def register_monitor(monitor: Any) -> None:
    """Let metrics read ``monitor``'s feature rates and drift (kept weakly)."""
    _monitors.add(monitor)


def serving_clients() -> list[Any]:
    """The live serving clients."""
    return list(_serving)


def monitors() -> list[Any]:
    """The live monitors."""
    return list(_monitors)
