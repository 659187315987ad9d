"""FeatureMonitor: recording, quality comparison, automatic disabling, drift, threads, bounds."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.monitor import FeatureMonitor

if TYPE_CHECKING:
    from llm_featurestore.enricher import EnrichmentResult, FeatureProvenance

PRESENT = FeatureStatus.PRESENT


def make_prov(
    feature: str,
    entity_type: str = "user",
    status: FeatureStatus = PRESENT,
    used: bool = True,
    drop_reason: str | None = None,
) -> FeatureProvenance:
    """A real enricher.FeatureProvenance (imported here, not at collection time)."""
    from llm_featurestore.enricher import DropReason, FeatureProvenance

    return FeatureProvenance(
        feature=feature,
        entity_type=entity_type,
        entity_id="u1",
        source="local",
        status=status,
        age_seconds=None,
        used=used,
        drop_reason=None if drop_reason is None else DropReason(drop_reason),
        label=feature,
    )


def make_result(
    task_type: str = "general",
    features_used: Sequence[str] = (),
    enrichment_latency_ms: float = 1.0,
    features_available: bool = True,
    store_available: bool = True,
    skipped_reason: str | None = None,
    provenance: Sequence[FeatureProvenance] = (),
) -> EnrichmentResult:
    """A real enricher.EnrichmentResult with the fields the monitor reads."""
    from llm_featurestore.enricher import EnrichmentResult

    return EnrichmentResult(
        original_prompt="q",
        enriched_prompt="q",
        task_type=task_type,
        features_used=list(features_used),
        feature_tokens_added=0,
        enrichment_latency_ms=enrichment_latency_ms,
        features_available=features_available,
        provenance=list(provenance),
        store_available=store_available,
        skipped_reason=skipped_reason,
    )


def ok(task: str = "general", latency: float = 1.0, n_features: int = 2) -> EnrichmentResult:
    names = [f"f{i}" for i in range(n_features)]
    return make_result(
        task_type=task,
        features_used=[f"user.{n}" for n in names],
        enrichment_latency_ms=latency,
        provenance=tuple(make_prov(n) for n in names),
    )


def down(task: str = "general") -> EnrichmentResult:
    return make_result(
        task_type=task,
        features_available=False,
        store_available=False,
        provenance=(
            make_prov(
                "f0", status=FeatureStatus.UNAVAILABLE, used=False, drop_reason="unavailable"
            ),
        ),
    )


def no_features(task: str = "general") -> EnrichmentResult:
    """The store answered, but nothing usable (e.g. a new user)."""
    return make_result(task_type=task, features_available=False, store_available=True)


def skipped(task: str = "general", reason: str = "monitor_disabled") -> EnrichmentResult:
    return make_result(
        task_type=task, features_available=False, store_available=True, skipped_reason=reason
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def vector(**features: Any) -> FeatureVector:
    """A user vector; None values are NOT_FOUND."""
    statuses = {k: (FeatureStatus.NOT_FOUND if v is None else PRESENT) for k, v in features.items()}
    return FeatureVector.build(
        entity_id="u1",
        entity_type="user",
        feature_names=list(features),
        values=features,
        statuses=statuses,
        source="local",
    )


# -- recording ---------------------------------------------------------------------------


def test_empty_monitor_stats() -> None:
    stats = FeatureMonitor().get_stats()
    assert stats.total_enrichments == 0
    assert stats.avg_latency_ms == 0.0
    assert stats.p50_latency_ms == 0.0
    assert stats.quality_with_features is None
    assert stats.quality_without_features is None
    assert stats.feature_store_availability_pct == 100.0
    assert stats.store_enabled
    assert stats.feature_stats == {}


def test_records_counts_latency_percentiles_and_availability() -> None:
    monitor = FeatureMonitor()
    for ms in range(1, 101):  # latencies 1..100 ms, 2 features each
        monitor.record_enrichment(ok(latency=float(ms)))
    monitor.record_enrichment(down())
    monitor.record_enrichment(skipped(reason="task_disabled"))
    monitor.record_enrichment(skipped(reason="no_entities"))
    stats = monitor.get_stats()
    assert stats.total_enrichments == 103
    assert stats.successful_enrichments == 100
    assert stats.skipped_enrichments == 2
    assert stats.skipped_by_reason == {"task_disabled": 1, "no_entities": 1}
    assert stats.window_size == 101  # skipped results did not run: not in the window
    assert stats.avg_features_used == pytest.approx(200 / 101)
    # latencies: 1..100 plus the failed lookup's 1.0
    assert stats.avg_latency_ms == pytest.approx((5050 + 1) / 101)
    assert stats.p50_latency_ms == 50.0  # nearest rank 51 of [1, 1, 2, ..., 100]
    assert stats.p99_latency_ms == 99.0  # nearest rank 100
    assert stats.feature_store_availability_pct == pytest.approx(100 * 100 / 101)
    assert stats.task_stats["general"].total == 103
    assert stats.task_stats["general"].successful == 100
    assert stats.task_stats["general"].skipped == 2


def test_per_feature_missing_stale_and_unavailable_rates() -> None:
    monitor = FeatureMonitor()
    monitor.record_enrichment(
        make_result(
            features_used=["user.tier"],
            provenance=(
                make_prov("tier"),
                make_prov(
                    "budget", status=FeatureStatus.NOT_FOUND, used=False, drop_reason="missing"
                ),
                make_prov("recent", status=FeatureStatus.STALE, used=False, drop_reason="stale"),
            ),
        )
    )
    monitor.record_enrichment(
        make_result(
            features_used=["user.tier", "user.budget"],
            provenance=(
                make_prov("tier"),
                make_prov("budget"),
                make_prov("recent", status=FeatureStatus.TIMED_OUT, used=False),
                # a PRESENT value dropped because it is older than the enricher's threshold
                make_prov("email", status=PRESENT, used=False, drop_reason="sensitive"),
            ),
        )
    )
    rates = monitor.get_stats().feature_stats
    assert set(rates) == {"user.tier", "user.budget", "user.recent", "user.email"}
    assert rates["user.tier"].used_rate == 1.0
    assert rates["user.budget"].missing == 1
    assert rates["user.budget"].missing_rate == 0.5
    assert rates["user.recent"].stale_rate == 0.5
    assert rates["user.recent"].unavailable_rate == 0.5
    assert rates["user.recent"].used == 0
    assert rates["user.email"].missing_rate == 0.0
    assert rates["user.email"].used_rate == 0.0


def test_drop_reason_is_read_from_the_enum_value() -> None:
    from llm_featurestore.enricher import DropReason

    monitor = FeatureMonitor()
    stale = make_prov("x", status=PRESENT, used=False, drop_reason=DropReason.STALE.value)
    assert stale.drop_reason is DropReason.STALE
    monitor.record_enrichment(make_result(provenance=(stale,)))
    monitor.record_enrichment(
        make_result(provenance=(make_prov("x", used=False, drop_reason="over_budget"),))
    )
    rate = monitor.get_stats().feature_stats["user.x"]
    assert (rate.requests, rate.stale, rate.missing, rate.used) == (2, 1, 0, 0)


def test_feature_usage_lists_task_types_that_used_each_feature() -> None:
    monitor = FeatureMonitor()
    monitor.record_enrichment(ok("product_recommendation"))
    monitor.record_enrichment(ok("customer_support", n_features=1))
    monitor.record_enrichment(down("faq"))  # f0 was not used by faq
    assert monitor.feature_usage() == {
        "user.f0": {"product_recommendation", "customer_support"},
        "user.f1": {"product_recommendation"},
    }


def test_inference_quality_must_be_a_finite_number() -> None:
    monitor = FeatureMonitor()
    for bad in (float("nan"), float("inf"), True, "0.9"):
        with pytest.raises(FeatureConfigError, match="inference_quality must be a finite number"):
            monitor.record_enrichment(ok(), bad)  # type: ignore[arg-type]
    assert monitor.get_stats().total_enrichments == 0


# -- quality ----------------------------------------------------------------------------


def test_quality_with_and_without_features_overall_and_per_task() -> None:
    monitor = FeatureMonitor()
    monitor.record_enrichment(ok("a"), 0.9)
    monitor.record_enrichment(ok("a"), 0.7)
    monitor.record_enrichment(no_features("a"), 0.5)
    monitor.record_enrichment(skipped("b"), 0.2)  # pass-through answers count as "without"
    monitor.record_enrichment(ok("b"))  # no score: not a quality sample
    stats = monitor.get_stats()
    assert stats.quality_with_features == pytest.approx(0.8)
    assert stats.quality_without_features == pytest.approx(0.35)
    a, b = stats.task_stats["a"], stats.task_stats["b"]
    assert a.quality_with_features == pytest.approx(0.8)
    assert a.quality_without_features == 0.5
    assert (a.quality_samples_with, a.quality_samples_without) == (2, 1)
    assert b.quality_with_features is None
    assert b.quality_without_features == 0.2


def test_disables_task_when_features_do_not_improve_quality(clock: FakeClock) -> None:
    monitor = FeatureMonitor(
        quality_min_samples=5, quality_margin=0.05, cooldown_seconds=30, clock=clock
    )
    for _ in range(5):
        monitor.record_enrichment(ok("faq"), 0.70)
        monitor.record_enrichment(ok("support"), 0.90)
    for _ in range(4):
        monitor.record_enrichment(no_features("faq"), 0.72)
        monitor.record_enrichment(no_features("support"), 0.60)
    assert monitor.should_enrich("faq")  # only 4 samples without features so far
    monitor.record_enrichment(no_features("faq"), 0.72)
    monitor.record_enrichment(no_features("support"), 0.60)
    assert not monitor.should_enrich("faq")
    assert monitor.should_enrich("support")  # features help there: +0.30
    assert monitor.should_enrich("never_seen")
    faq = monitor.get_stats().task_stats["faq"]
    assert not faq.enabled
    assert faq.disabled_reason is not None
    assert (
        "quality with features (0.700) does not beat quality without (0.720)" in faq.disabled_reason
    )
    assert monitor.get_stats().store_enabled


def test_equal_quality_is_not_an_improvement_but_a_clear_gain_is() -> None:
    monitor = FeatureMonitor(quality_min_samples=3, quality_margin=0.01)
    for _ in range(3):
        monitor.record_enrichment(ok("same"), 0.5)
        monitor.record_enrichment(no_features("same"), 0.5)
        monitor.record_enrichment(ok("gain"), 0.52)
        monitor.record_enrichment(no_features("gain"), 0.5)
    assert not monitor.should_enrich("same")
    assert monitor.should_enrich("gain")


def test_quality_gate_probe_reenables_and_starts_a_new_trial(clock: FakeClock) -> None:
    monitor = FeatureMonitor(quality_min_samples=3, cooldown_seconds=60, clock=clock)
    for _ in range(3):
        monitor.record_enrichment(ok("faq"), 0.4)
        monitor.record_enrichment(no_features("faq"), 0.6)
    assert not monitor.should_enrich("faq")
    clock.advance(59)
    assert not monitor.should_enrich("faq")
    # While disabled, the enricher passes through; those answers are "without features".
    monitor.record_enrichment(skipped("faq"), 0.6)
    clock.advance(1)
    assert monitor.should_enrich("faq")  # the probe
    assert not monitor.should_enrich("faq")  # one probe at a time
    monitor.record_enrichment(ok("faq"), 0.9)  # probe enriched: re-enable
    assert monitor.should_enrich("faq")
    faq = monitor.get_stats().task_stats["faq"]
    assert faq.enabled
    assert faq.disabled_reason is None
    assert faq.quality_samples_with == 1  # old with-features samples were cleared
    assert faq.quality_samples_without == 4
    # The new trial goes badly again: disabled again after enough fresh samples.
    monitor.record_enrichment(ok("faq"), 0.3)
    assert monitor.should_enrich("faq")
    monitor.record_enrichment(ok("faq"), 0.3)
    assert not monitor.should_enrich("faq")


def test_quality_gate_probe_without_features_starts_another_cooldown(clock: FakeClock) -> None:
    monitor = FeatureMonitor(quality_min_samples=2, cooldown_seconds=10, clock=clock)
    for _ in range(2):
        monitor.record_enrichment(ok("t"), 0.1)
        monitor.record_enrichment(no_features("t"), 0.9)
    clock.advance(10)
    assert monitor.should_enrich("t")
    monitor.record_enrichment(no_features("t"))  # probe found nothing to add
    assert not monitor.should_enrich("t")
    clock.advance(9.5)
    assert not monitor.should_enrich("t")
    clock.advance(0.5)
    assert monitor.should_enrich("t")


# -- store gate -------------------------------------------------------------------------


def test_disables_after_consecutive_store_failures_and_recovers_after_probe(
    clock: FakeClock,
) -> None:
    monitor = FeatureMonitor(disable_after_failures=3, cooldown_seconds=30, clock=clock)
    monitor.record_enrichment(down())
    monitor.record_enrichment(down())
    monitor.record_enrichment(ok())  # a success resets the streak
    monitor.record_enrichment(down())
    monitor.record_enrichment(down())
    assert monitor.should_enrich("general")
    monitor.record_enrichment(down())
    assert not monitor.should_enrich("general")
    assert not monitor.should_enrich("other_task")  # the store gate covers every task
    stats = monitor.get_stats()
    assert not stats.store_enabled
    assert stats.store_disabled_reason == ("3 consecutive enrichments found the store unavailable")
    assert stats.consecutive_store_failures == 3

    clock.advance(29.9)
    assert not monitor.should_enrich("general")
    monitor.record_enrichment(skipped())  # pass-through while disabled: not a probe
    clock.advance(0.1)
    assert monitor.should_enrich("general")  # half-open: one probe
    assert not monitor.should_enrich("general")
    monitor.record_enrichment(down())  # the probe failed: another cool-down
    assert not monitor.should_enrich("general")
    clock.advance(30)
    assert monitor.should_enrich("general")
    monitor.record_enrichment(ok())  # the probe succeeded
    assert monitor.should_enrich("general")
    assert monitor.should_enrich("general")
    stats = monitor.get_stats()
    assert stats.store_enabled
    assert stats.store_disabled_reason is None
    assert stats.consecutive_store_failures == 0


def test_disables_when_availability_drops_below_threshold(clock: FakeClock) -> None:
    monitor = FeatureMonitor(
        disable_after_failures=100,
        availability_threshold_pct=50,
        availability_window=10,
        availability_min_samples=10,
        clock=clock,
    )
    # 2 failures per success: never 100 in a row, but only 33% available.
    for i in range(9):
        monitor.record_enrichment(ok() if i % 3 == 0 else down())
    assert monitor.should_enrich("general")  # 9 samples: below the minimum
    monitor.record_enrichment(down())
    assert not monitor.should_enrich("general")
    reason = monitor.get_stats().store_disabled_reason
    assert reason == "store availability 30.0% over the last 10 enrichments is below 50%"


def test_lost_probe_is_replaced_after_another_cooldown(clock: FakeClock) -> None:
    monitor = FeatureMonitor(disable_after_failures=1, cooldown_seconds=5, clock=clock)
    monitor.record_enrichment(down())
    clock.advance(5)
    assert monitor.should_enrich("general")  # probe granted, its result never recorded
    clock.advance(4)
    assert not monitor.should_enrich("general")
    clock.advance(1)
    assert monitor.should_enrich("general")  # a new probe


def test_should_enrich_does_not_spend_a_probe_when_the_other_gate_is_closed(
    clock: FakeClock,
) -> None:
    monitor = FeatureMonitor(
        disable_after_failures=1, quality_min_samples=1, cooldown_seconds=10, clock=clock
    )
    monitor.record_enrichment(ok("faq"), 0.1)
    monitor.record_enrichment(no_features("faq"), 0.9)  # faq quality gate opens at t=0
    clock.advance(5)
    monitor.record_enrichment(down("other"))  # store gate opens at t=5
    clock.advance(5)  # faq cooled down, store has not
    assert not monitor.should_enrich("faq")
    clock.advance(5)  # both cooled down: one probe for both gates
    assert monitor.should_enrich("faq")
    assert not monitor.should_enrich("faq")
    monitor.record_enrichment(ok("faq"))
    assert monitor.should_enrich("faq")
    assert monitor.should_enrich("other")


# -- drift ------------------------------------------------------------------------------


def test_drift_from_recorded_vectors(clock: FakeClock) -> None:
    monitor = FeatureMonitor(clock=clock)
    baseline = [float(v) for v in range(100)]
    monitor.set_baseline("user.avg_order_value", baseline)
    monitor.set_baseline("user.favorite_category", ["shoes"] * 50 + ["books"] * 50)
    for i in range(100):
        # values shifted up by 60 and mostly one category, via record_enrichment(vectors=...)
        v = vector(avg_order_value=float(i + 60), favorite_category="books" if i < 90 else "shoes")
        monitor.record_enrichment(ok(), vectors={"user": v})
    numeric = monitor.drift_report("user.avg_order_value")
    assert numeric.kind == "numeric"
    assert numeric.current_count == 100
    assert numeric.psi is not None
    assert numeric.psi > 0.25
    assert numeric.severity == "significant"
    categorical = monitor.drift_report("user.favorite_category")
    assert categorical.kind == "categorical"
    assert categorical.severity == "significant"
    assert set(monitor.drift_reports()) == {"user.avg_order_value", "user.favorite_category"}


def test_no_drift_for_same_distribution_and_null_rate_tracking() -> None:
    monitor = FeatureMonitor()
    monitor.set_baseline("user.age", [20, 30, 40, 50] * 25)
    for age in [20, 30, 40, 50] * 25:
        monitor.record_vector(vector(age=age))
    assert monitor.drift_report("user.age").psi == pytest.approx(0.0, abs=1e-12)
    assert monitor.drift_report("user.age").severity == "none"
    for _ in range(25):
        monitor.record_vector(vector(age=None))  # NOT_FOUND: a null
    report = monitor.drift_report("user.age")
    assert report.current_null_rate == pytest.approx(0.2)
    assert report.severity == "significant"


def test_record_vector_keeps_scalars_and_skips_failures_and_lists() -> None:
    monitor = FeatureMonitor()
    v = FeatureVector.build(
        entity_id="u1",
        entity_type="user",
        feature_names=["a", "b", "c", "d", "e", "f"],
        values={"a": 1, "b": "x" * 1000, "c": [1, 2], "e": 3, "f": 9},
        statuses={
            "a": PRESENT,
            "b": PRESENT,
            "c": PRESENT,
            "d": FeatureStatus.TIMED_OUT,
            "e": FeatureStatus.STALE,
            "f": FeatureStatus.DEFAULTED,
        },
        source="local",
    )
    monitor.record_vector(v)
    assert monitor.current_values("user.a") == [1]
    assert monitor.current_values("user.b") == ["x" * 256]
    assert monitor.current_values("user.c") == []
    assert monitor.current_values("user.d") == []
    assert monitor.current_values("user.e") == [3]  # stale values are real data
    assert monitor.current_values("user.f") == [None]  # a cold-start default is not data


def test_baseline_from_current_and_unknown_baseline_message() -> None:
    monitor = FeatureMonitor()
    for x in range(10):
        monitor.record_vector(vector(score=float(x)))
    profile = monitor.baseline_from_current("user.score")
    assert profile.count == 10
    assert monitor.drift_report("user.score").psi == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(FeatureConfigError) as info:
        monitor.drift_report("user.nope")
    assert str(info.value) == (
        "Unknown feature 'user.nope'. Available for drift baselines: user.score. "
        "Set one with FeatureMonitor.set_baseline(feature, values)"
    )
    with pytest.raises(
        FeatureConfigError,
        match=r"Unknown feature 'user.x'. Available for values recorded: user.score",
    ):
        monitor.baseline_from_current("user.x")


# -- threads and bounds -----------------------------------------------------------------


def test_concurrent_recording_gives_exact_totals() -> None:
    monitor = FeatureMonitor(window_size=100_000, disable_after_failures=10**6)
    threads, per_thread = 8, 500
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            barrier.wait()
            for j in range(per_thread):
                result = ok(f"task{i % 2}") if j % 5 else down(f"task{i % 2}")
                monitor.record_enrichment(result, 0.5, vectors=[vector(x=float(j))])
                monitor.should_enrich(f"task{i % 2}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def read() -> None:
        barrier.wait()
        for _ in range(200):
            monitor.get_stats()
            monitor.feature_usage()

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    pool.append(threading.Thread(target=read))
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []
    stats = monitor.get_stats()
    total = threads * per_thread
    assert stats.total_enrichments == total
    assert stats.successful_enrichments == total * 4 // 5
    assert stats.window_size == total
    assert stats.task_stats["task0"].total + stats.task_stats["task1"].total == total
    assert stats.feature_stats["user.f0"].requests == total
    assert stats.feature_stats["user.f1"].requests == total * 4 // 5
    assert stats.feature_stats["user.f0"].unavailable == total // 5
    assert stats.quality_with_features == pytest.approx(0.5)
    assert len(monitor.current_values("user.x")) == 1000  # drift window default


def test_memory_is_bounded() -> None:
    monitor = FeatureMonitor(
        window_size=10,
        max_tracked_features=3,
        max_tracked_tasks=2,
        drift_window=4,
        disable_after_failures=10**6,
    )
    for i in range(50):
        monitor.record_enrichment(
            make_result(
                task_type=f"task{i}",
                features_used=[f"user.f{i}"],
                provenance=(make_prov(f"f{i}"),),
                enrichment_latency_ms=float(i),
            ),
            float(i),
            vectors=[vector(**{f"f{i}": i}), vector(shared=i)],
        )
    for i in range(80):
        monitor.record_enrichment(skipped(reason=f"reason{i}"))
    stats = monitor.get_stats()
    assert stats.total_enrichments == 130  # counters are exact...
    assert stats.window_size == 10  # ...windows are bounded
    assert stats.avg_latency_ms == pytest.approx(sum(range(40, 50)) / 10)
    assert set(stats.feature_stats) == {"user.f47", "user.f48", "user.f49"}  # LRU
    assert len(stats.task_stats) == 2
    assert set(stats.task_stats) == {"task49", "general"}
    assert len(monitor.feature_usage()) == 3
    assert monitor.current_values("user.shared") == [46, 47, 48, 49]
    assert len(stats.skipped_by_reason) == 64  # 63 distinct reasons, then "other"
    assert stats.skipped_by_reason["reason62"] == 1
    assert stats.skipped_by_reason["other"] == 80 - 63
    for i in range(10):
        monitor.set_baseline(f"user.b{i}", [1, 2, 3])
    assert set(monitor.drift_reports()) == {"user.b7", "user.b8", "user.b9"}


def test_reset_forgets_observations_but_keeps_baselines(clock: FakeClock) -> None:
    monitor = FeatureMonitor(disable_after_failures=1, clock=clock)
    monitor.set_baseline("user.x", [1, 2, 3])
    monitor.record_enrichment(down(), vectors=[vector(x=1)])
    assert not monitor.should_enrich("general")
    monitor.reset()
    assert monitor.should_enrich("general")
    stats = monitor.get_stats()
    assert stats.total_enrichments == 0
    assert stats.feature_stats == {}
    assert monitor.current_values("user.x") == []
    assert monitor.drift_report("user.x").current_count == 0
    monitor.reset(keep_baselines=False)
    with pytest.raises(FeatureConfigError, match="Available for drift baselines: \\(none\\)"):
        monitor.drift_report("user.x")


def test_record_quality_attaches_scores_without_counting_again() -> None:
    monitor = FeatureMonitor(quality_min_samples=2)
    enriched, passed = ok("faq"), skipped("faq")
    for _ in range(2):
        monitor.record_enrichment(enriched)  # what the enricher does by itself
        monitor.record_quality(enriched, 0.5)  # the app scores the answer later
        monitor.record_quality(passed, 0.8)  # pass-through answers are the control
    stats = monitor.get_stats()
    assert stats.total_enrichments == 2
    assert stats.quality_with_features == 0.5
    assert stats.quality_without_features == 0.8
    assert not monitor.should_enrich("faq")
    with pytest.raises(
        FeatureConfigError, match="inference_quality must be a finite number, got nan"
    ):
        monitor.record_quality(enriched, float("nan"))


def test_holdout_turns_away_a_share_of_requests_without_opening_gates() -> None:
    monitor = FeatureMonitor(holdout_fraction=0.25, seed=42)
    answers = [monitor.should_enrich("faq") for _ in range(4000)]
    held = answers.count(False)
    assert 850 <= held <= 1150
    stats = monitor.get_stats()
    assert stats.holdouts == held
    assert stats.store_enabled
    always = FeatureMonitor(holdout_fraction=1.0)
    assert not any(always.should_enrich("faq") for _ in range(10))
    never = FeatureMonitor()
    assert all(never.should_enrich("faq") for _ in range(10))
    with pytest.raises(
        FeatureConfigError,
        match=r"holdout_fraction: Input should be less than or equal to 1 \(got 1\.5\)",
    ):
        FeatureMonitor(holdout_fraction=1.5)


def test_probes_are_never_held_out(clock: FakeClock) -> None:
    monitor = FeatureMonitor(
        disable_after_failures=1, cooldown_seconds=1, holdout_fraction=1.0, clock=clock
    )
    monitor.record_enrichment(down())
    clock.advance(1)
    assert monitor.should_enrich("general")  # the probe goes through despite the hold-out
    monitor.record_enrichment(ok())
    assert not monitor.should_enrich("general")  # back to the 100% hold-out
    assert monitor.get_stats().store_enabled


def test_monitor_imports_neither_the_enricher_nor_optional_dependencies() -> None:
    import subprocess
    import sys

    code = (
        "import sys, llm_featurestore.monitor, llm_featurestore.catalog, llm_featurestore.drift\n"
        "bad = [m for m in ('llm_featurestore.enricher', 'feast', 'redis', 'tiktoken') "
        "if m in sys.modules]\n"
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.booleans(),  # features_available
            st.booleans(),  # store_available
            st.sampled_from([None, None, "no_entities"]),
            st.floats(0, 1e4, allow_nan=False),
            st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
        ),
        max_size=60,
    )
)
def test_stats_invariants_for_any_sequence(
    events: list[tuple[str, bool, bool, str | None, float, float | None]],
) -> None:
    monitor = FeatureMonitor(window_size=16, quality_min_samples=3, disable_after_failures=4)
    for task, available, store_ok, reason, latency, quality in events:
        monitor.record_enrichment(
            make_result(
                task_type=task,
                features_available=available and store_ok and reason is None,
                store_available=store_ok,
                skipped_reason=reason,
                enrichment_latency_ms=latency,
            ),
            quality,
        )
        monitor.should_enrich(task)
    stats = monitor.get_stats()
    ran = [e for e in events if e[3] is None]
    assert stats.total_enrichments == len(events)
    assert stats.skipped_enrichments == len(events) - len(ran)
    assert stats.successful_enrichments == sum(1 for e in ran if e[1] and e[2])
    assert stats.window_size == min(16, len(ran))
    assert 0.0 <= stats.feature_store_availability_pct <= 100.0
    assert stats.p50_latency_ms <= stats.p99_latency_ms
    recent = [e[4] for e in ran][-16:]
    if recent:
        assert min(recent) <= stats.p50_latency_ms <= max(recent)
        assert stats.avg_latency_ms == pytest.approx(sum(recent) / len(recent))
    assert sum(t.total for t in stats.task_stats.values()) == len(events)
