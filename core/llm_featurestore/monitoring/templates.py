"""Answer quality per prompt template version, so versions can be compared.

The monitor keeps, per ``"<template_id>@v<n>"``, a window of recent scores and a count
since creation (bounded: at most ``max_tracked_tasks`` versions, least recently scored
dropped first). Nothing here locks; :class:`~llm_featurestore.monitoring.FeatureMonitor`
holds its lock around every call.
"""

from __future__ import annotations

from collections import deque

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.monitoring.stats import LRU, mean

__all__ = ["TemplateQuality", "TemplateStats"]


class TemplateStats(BaseModel):
    """Quality of the answers given with one template version."""

    model_config = ConfigDict(frozen=True)

    template_id: str
    version: int
    scored: int = Field(description="Scores recorded since creation or reset.")
    window_samples: int = Field(description="Scores in the sliding window.")
    mean_quality: float | None = Field(description="Mean over the window; None without scores.")


class _Version:
    def __init__(self, window: int) -> None:
        self.scores: deque[float] = deque(maxlen=window)
        self.scored = 0


class TemplateQuality:
    """Windows of scores per template version."""

    def __init__(self, window: int, max_versions: int) -> None:
        self.window = window
        self.versions: LRU[tuple[str, int], _Version] = LRU(max_versions)

    def add(self, template_id: str, version: int, quality: float) -> None:
        entry = self.versions.get_or_create((template_id, version), lambda: _Version(self.window))
        entry.scores.append(quality)
        entry.scored += 1

    def stats(self, template_id: str | None = None) -> dict[str, TemplateStats]:
        """``"<template_id>@v<n>"`` -> its stats (one template's versions, or all)."""
        out = {}
        for (tid, version), entry in sorted(self.versions.data.items()):
            if template_id is not None and tid != template_id:
                continue
            out[f"{tid}@v{version}"] = TemplateStats(
                template_id=tid,
                version=version,
                scored=entry.scored,
                window_samples=len(entry.scores),
                mean_quality=mean(entry.scores),
            )
        return out
