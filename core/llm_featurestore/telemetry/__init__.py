"""Telemetry: OpenTelemetry spans and metrics for lookups, serving, enrichment and
retrieval (``pip install "llm-featurestore[otel]"``).

``instrument()`` turns the library's hook points (:mod:`llm_featurestore.telemetry.hooks`)
into spans and metrics (:mod:`llm_featurestore.telemetry.otel`); without it they cost one
global read per operation. Exposing the metrics to Prometheus is OpenTelemetry's own
exporter (see the README's "Telemetry" section).
"""

from llm_featurestore.telemetry.hooks import register_monitor, register_serving, span
from llm_featurestore.telemetry.otel import OpenTelemetryInstrumentation, instrument, uninstrument

__all__ = [
    "OpenTelemetryInstrumentation",
    "instrument",
    "register_monitor",
    "register_serving",
    "span",
    "uninstrument",
]
