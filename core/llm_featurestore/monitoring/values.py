"""What the monitor keeps of feature values for drift: a window of recent values per
feature, and the baselines they are compared with (:mod:`llm_featurestore.monitoring.drift`).

Nothing here locks: :class:`~llm_featurestore.monitoring.FeatureMonitor` guards every
call with its one lock (the comparisons themselves run outside it, on copies).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from llm_featurestore.models import FAILED_STATUSES, FeatureStatus, FeatureVector
from llm_featurestore.monitoring.config import MonitorConfig
from llm_featurestore.monitoring.drift import DistributionProfile
from llm_featurestore.monitoring.stats import LRU

__all__ = ["ValueWindows"]

_MAX_VALUE_CHARS = 256
_NULLISH = frozenset({FeatureStatus.NOT_FOUND, FeatureStatus.NULL_VALUE, FeatureStatus.DEFAULTED})
_SKIP = object()


def _drift_value(value: Any) -> Any:
    """What the drift window keeps of a value: scalars (long strings cut), else nothing."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value[:_MAX_VALUE_CHARS]
    return _SKIP


class ValueWindows:
    """Per feature (``"entity_type.feature"``), its recent values and its baseline.

    Baselines are configuration: :meth:`clear` keeps them unless asked otherwise.
    """

    def __init__(self, config: MonitorConfig) -> None:
        self.drift_window = config.drift_window
        self.values: LRU[str, deque[Any]] = LRU(config.max_tracked_features)
        self.baselines: LRU[str, DistributionProfile] = LRU(config.max_tracked_features)

    def clear(self, *, keep_baselines: bool = True) -> None:
        self.values.clear()
        if not keep_baselines:
            self.baselines.clear()

    def record(self, vector: FeatureVector) -> None:
        """Add one vector's values: PRESENT and STALE values as kept by the window
        (numbers and booleans as they are, strings cut to 256 characters; lists and dicts
        skipped), NOT_FOUND, NULL_VALUE and DEFAULTED as nulls; failed reads skipped."""
        for name, status in vector.statuses.items():
            if status in FAILED_STATUSES:
                continue
            value = None if status in _NULLISH else _drift_value(vector.features.get(name))
            if value is _SKIP:
                continue
            key = f"{vector.entity_type}.{name}"
            window = self.values.get_or_create(key, lambda: deque(maxlen=self.drift_window))
            window.append(value)

    def current(self, feature: str) -> list[Any]:
        """The recorded values of ``feature``, oldest first (empty when none)."""
        return list(self.values.data.get(feature, ()))

    def pairs(self) -> list[tuple[str, DistributionProfile, list[Any]]]:
        """``(feature, baseline, recorded values)`` of every feature with a baseline."""
        return [
            (name, profile, self.current(name)) for name, profile in self.baselines.data.items()
        ]
