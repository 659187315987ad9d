"""MonitorConfig: every bad setting raises FeatureConfigError naming its key, whether given
as a model or as FeatureMonitor's keywords; the package layout and the old import paths."""

from __future__ import annotations

import math
from typing import Any

import pytest

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.monitoring import FeatureMonitor, MonitorConfig

BAD = [
    ("window_size", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("disable_after_failures", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("availability_threshold_pct", 101, "Input should be less than or equal to 100 (got 101)"),
    ("availability_threshold_pct", -1, "Input should be greater than or equal to 0 (got -1)"),
    ("availability_window", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("availability_min_samples", 0, "Input should be greater than or equal to 1 (got 0)"),
    (
        "availability_min_samples",
        60,
        "Value error, cannot exceed availability_window (50) (got 60)",
    ),
    ("quality_min_samples", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("quality_margin", math.inf, "Input should be a finite number (got inf)"),
    ("cooldown_seconds", -1, "Input should be greater than or equal to 0 (got -1)"),
    ("cooldown_seconds", math.nan, "Input should be a finite number (got nan)"),
    ("max_tracked_features", -1, "Input should be greater than or equal to 1 (got -1)"),
    ("max_tracked_tasks", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("drift_window", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("drift_bins", 1, "Input should be greater than or equal to 2 (got 1)"),
    ("drift_max_categories", 0, "Input should be greater than or equal to 1 (got 0)"),
    ("holdout_fraction", 1.5, "Input should be less than or equal to 1 (got 1.5)"),
    ("seed", "abc", "expected an integer or null (got 'abc')"),
]


@pytest.mark.parametrize(("key", "value", "problem"), BAD)
@pytest.mark.parametrize("how", ["model", "keywords"])
def test_each_bad_setting_is_named(key: str, value: Any, problem: str, how: str) -> None:
    build = MonitorConfig if how == "model" else FeatureMonitor
    with pytest.raises(FeatureConfigError) as err:
        build(**{key: value})
    message = str(err.value)
    assert message.startswith("Invalid MonitorConfig:\n")
    assert f"\n  {key}: {problem}" in message


def test_an_unknown_setting_lists_the_valid_ones() -> None:
    with pytest.raises(FeatureConfigError, match="windowsize: unknown key; valid keys: ") as err:
        FeatureMonitor(windowsize=10)
    assert "window_size" in str(err.value)


def test_the_window_bound_follows_a_custom_window() -> None:
    assert MonitorConfig(availability_window=100, availability_min_samples=60)
    with pytest.raises(FeatureConfigError, match="cannot exceed availability_window \\(10\\)"):
        MonitorConfig(availability_window=10)  # the default 20 samples no longer fit


def test_a_model_or_keywords_not_both() -> None:
    config = MonitorConfig(window_size=7, disable_after_failures=2, seed=3)
    monitor = FeatureMonitor(config)
    assert monitor.config is config
    assert (monitor.window_size, monitor.disable_after_failures) == (7, 2)
    assert FeatureMonitor(window_size=7).config == MonitorConfig(window_size=7)
    with pytest.raises(FeatureConfigError, match="Pass a MonitorConfig or its fields, not both"):
        FeatureMonitor(config, window_size=8)
    with pytest.raises(FeatureConfigError, match="Expected a MonitorConfig, got dict"):
        FeatureMonitor({"window_size": 8})  # type: ignore[arg-type]


def test_settings_read_as_attributes_and_stay_read_only() -> None:
    monitor = FeatureMonitor(cooldown_seconds=5, holdout_fraction=0.5)
    defaults = MonitorConfig()
    for name in MonitorConfig.model_fields:
        if name == "seed":
            continue
        expected = getattr(monitor.config, name)
        assert getattr(monitor, name) == expected, name
        if name not in ("cooldown_seconds", "holdout_fraction"):
            assert expected == getattr(defaults, name)
    assert monitor.cooldown_seconds == 5.0
    with pytest.raises(AttributeError, match=r"FeatureMonitor\.window_size is a setting: pass it"):
        monitor.window_size = 3


def test_old_import_paths_and_deprecated_aliases() -> None:
    import llm_featurestore.drift as old_drift
    import llm_featurestore.monitor as old
    from llm_featurestore.monitoring import drift
    from llm_featurestore.prompting.results import EnrichmentResult, FeatureProvenance

    assert sorted(old.__all__) == [
        "EnrichmentLike",
        "FeatureMonitor",
        "FeatureRate",
        "MonitorConfig",
        "MonitorStats",
        "ProvenanceLike",
        "TaskStats",
    ]
    assert old.FeatureMonitor is FeatureMonitor
    assert old.EnrichmentLike is EnrichmentResult
    assert old.ProvenanceLike is FeatureProvenance
    assert old_drift.__all__ == drift.__all__
    for name in drift.__all__:
        assert getattr(old_drift, name) is getattr(drift, name), name
