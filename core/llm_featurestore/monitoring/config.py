"""The settings of :class:`~llm_featurestore.monitoring.FeatureMonitor`, with their defaults
and bounds written only here."""

from __future__ import annotations

from typing import Any, Generic, TypeVar, overload

from pydantic import Field, ValidationInfo, field_validator

from llm_featurestore.settings import ConfigModel

__all__ = ["MonitorConfig"]


class MonitorConfig(ConfigModel):
    """How much a :class:`~llm_featurestore.monitoring.FeatureMonitor` keeps, and when its
    gates open. Bad values raise :class:`~llm_featurestore.errors.FeatureConfigError`
    naming the key."""

    window_size: int = Field(
        1000,
        ge=1,
        description="Results kept in the sliding window (latency, feature counts, "
        "availability for stats, and per task the quality samples on each side).",
    )
    disable_after_failures: int = Field(
        5,
        ge=1,
        description="Consecutive results with the store unavailable (store_available "
        "False) that open the store gate.",
    )
    availability_threshold_pct: float = Field(
        50.0,
        ge=0.0,
        le=100.0,
        description="The store gate opens when availability over the last "
        "availability_window consulted results drops below this percentage.",
    )
    availability_window: int = Field(
        50, ge=1, description="Consulted results the availability is measured over."
    )
    availability_min_samples: int = Field(
        20,
        ge=1,
        validate_default=True,
        description="Results needed in the window before the availability rule applies "
        "(at most availability_window).",
    )
    quality_min_samples: int = Field(
        30,
        ge=1,
        description="Quality scores needed on each side (with and without features) "
        "before a task's quality gate may open.",
    )
    quality_margin: float = Field(
        0.01,
        allow_inf_nan=False,
        description="A task's quality gate opens when mean quality with features minus "
        "mean quality without is below this (so 0.0 disables only when worse).",
    )
    cooldown_seconds: float = Field(
        60.0,
        ge=0.0,
        allow_inf_nan=False,
        description="How long an open gate stays open before a probe is let through "
        "(0: a probe is let through at once).",
    )
    max_tracked_features: int = Field(
        1000, ge=1, description="Features with counters, usage, value windows and baselines."
    )
    max_tracked_tasks: int = Field(
        200, ge=1, description="Task types with counters, quality windows and gates."
    )
    drift_window: int = Field(1000, ge=1, description="Recent values kept per feature for drift.")
    drift_bins: int = Field(10, ge=2, description="Quantile buckets for numeric baselines.")
    drift_max_categories: int = Field(
        20, ge=1, description="Categories kept for categorical baselines."
    )
    holdout_fraction: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Share of requests should_enrich turns away at random while enrichment "
        "is on, so that quality without features keeps being measured even when every user "
        "has features (0.0: no control group).",
    )
    seed: int | None = Field(None, description="Seed of the hold-out's draws, for tests.")

    @field_validator("availability_min_samples")
    @classmethod
    def _within_window(cls, value: int, info: ValidationInfo) -> int:
        window = info.data.get("availability_window")
        if window is not None and value > window:
            raise ValueError(f"cannot exceed availability_window ({window})")
        return value


_T = TypeVar("_T")


class Setting(Generic[_T]):
    """A read-only attribute of the owner that reads the field of the same name of its
    ``config`` (so ``monitor.window_size`` keeps working)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Setting[_T]: ...
    @overload
    def __get__(self, obj: Any, owner: type | None = None) -> _T: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj.config, self.name)

    def __set__(self, obj: Any, value: Any) -> None:
        raise AttributeError(
            f"{type(obj).__name__}.{self.name} is a setting: pass it when creating the "
            f"object ({self.name}=...) or in its config"
        )
