"""Monitoring: watch enrichment in production, and turn it off when it does not help.

* :mod:`~llm_featurestore.monitoring.config`: :class:`MonitorConfig`, every setting with
  its default and bounds;
* :mod:`~llm_featurestore.monitoring.stats`: counters, windows, percentiles and the
  snapshot models (:class:`MonitorStats`, :class:`TaskStats`, :class:`FeatureRate`);
* :mod:`~llm_featurestore.monitoring.gates`: the store gate and the per-task quality
  gates, built on the serving layer's circuit breaker;
* :mod:`~llm_featurestore.monitoring.values` and :mod:`~llm_featurestore.monitoring.drift`:
  recent values per feature, baselines, and the pure drift measures;
* :mod:`~llm_featurestore.monitoring.monitor`: :class:`FeatureMonitor`, the facade.
"""

from llm_featurestore.monitoring.config import MonitorConfig
from llm_featurestore.monitoring.monitor import FeatureMonitor
from llm_featurestore.monitoring.stats import FeatureRate, MonitorStats, TaskStats

__all__ = ["FeatureMonitor", "FeatureRate", "MonitorConfig", "MonitorStats", "TaskStats"]
