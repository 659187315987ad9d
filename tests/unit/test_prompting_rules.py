"""The pure prompt rules on their own: plan, policy and render, without a store."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.prompting import plan, render
from llm_featurestore.prompting.config import EnricherConfig
from llm_featurestore.prompting.policy import PromptPolicy, age_seconds
from llm_featurestore.prompting.results import DropReason

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
S = FeatureStatus


def vector(features: dict[str, Any], statuses: dict[str, FeatureStatus] | None = None) -> Any:
    return FeatureVector(
        entity_id="u1",
        entity_type="user",
        features=features,
        statuses=statuses or dict.fromkeys(features, S.PRESENT),
        source="local",
    )


@pytest.mark.parametrize(
    ("status", "value", "age", "task", "reason"),
    [
        (S.PRESENT, "gold", 10.0, "t", None),
        (S.TIMED_OUT, None, None, "t", DropReason.UNAVAILABLE),
        (S.UNAVAILABLE, None, None, "t", DropReason.UNAVAILABLE),
        (S.STALE, "gold", 10.0, "t", DropReason.STALE),
        (S.PRESENT, "gold", 61.0, "t", DropReason.STALE),
        (S.PRESENT, "  ", 1.0, "t", DropReason.MISSING),
        (S.NOT_FOUND, None, None, "t", DropReason.MISSING),
        (S.DEFAULTED, "bronze", None, "t", DropReason.DEFAULTED),
        (S.DEFAULTED, "bronze", None, "cold", None),
    ],
)
def test_drop_reason_decides_in_order(
    status: FeatureStatus, value: Any, age: float | None, task: str, reason: DropReason | None
) -> None:
    config = EnricherConfig(freshness_threshold_seconds=60, defaults_in_prompt=["cold"])
    assert PromptPolicy(config).drop_reason(task, status, value, age) is reason


def test_age_treats_naive_stamps_as_utc_and_future_stamps_as_fresh() -> None:
    assert age_seconds(None, NOW) is None
    assert age_seconds(datetime(2026, 1, 1, 11, 59), NOW) == 60.0
    assert age_seconds(NOW + timedelta(seconds=5), NOW) == 0.0


def test_a_reference_is_labelled_without_its_view() -> None:
    policy = PromptPolicy(EnricherConfig(entity_labels={"user": "", "organization": "Org"}))
    assert policy.label_for("user", "user_stats:avg_order_value") == "Avg order value"
    assert policy.label_for("organization", "org_view:brand_voice") == "Org brand voice"


def test_candidates_record_every_requested_feature_in_priority_order() -> None:
    config = EnricherConfig(task_features={"t": {"user": ["tier", "email", "gone"]}})
    policy, style = PromptPolicy(config), render.BlockStyle.from_config(config)
    lines, provenance = render.candidates(
        policy,
        style,
        "t",
        {"user": vector({"tier": "gold", "email": "a@b.co"})},
        policy.required_features("t"),
        NOW,
    )
    assert [c.line for c in lines] == ["- Tier: gold"]
    assert [(p["feature"], p["drop_reason"]) for p in provenance] == [
        ("tier", None),
        ("email", DropReason.SENSITIVE),
        ("gone", DropReason.MISSING),
    ]


def test_fit_shortens_the_first_misfit_and_counts_exactly() -> None:
    items = [f"item{i}" for i in range(10)]
    config = EnricherConfig(max_feature_tokens=43, task_features={"t": {"user": ["a", "b"]}})
    policy, style = PromptPolicy(config), render.BlockStyle.from_config(config)
    lines, provenance = render.candidates(
        policy, style, "t", {"user": vector({"a": items, "b": "x"})}, {"user": ["a", "b"]}, NOW
    )
    chosen, block, tokens = render.fit(style, lines)
    assert [c.name for c in chosen] == ["a"]
    assert "(+" in chosen[0].line
    assert tokens == style.counter.count(block + render.SEPARATOR) <= 43
    assert block == render.render_block(style, chosen)
    assert [(p["used"], p.get("shortened"), p["drop_reason"]) for p in provenance] == [
        (True, True, None),
        (False, None, DropReason.OVER_BUDGET),
    ]


def test_nothing_fits_gives_an_empty_block() -> None:
    config = EnricherConfig(max_feature_tokens=3, task_features={"t": {"user": ["a"]}})
    policy, style = PromptPolicy(config), render.BlockStyle.from_config(config)
    lines, _ = render.candidates(
        policy, style, "t", {"user": vector({"a": "x"})}, {"user": ["a"]}, NOW
    )
    assert render.fit(style, lines) == ([], "", 0)


def test_plan_reads_only_mapped_entities_or_says_why_not() -> None:
    policy = PromptPolicy(EnricherConfig(task_features={"t": {"user": ["tier"]}}))
    assert plan.plan(policy, "u1", "o1", "t", None) == plan.LookupPlan(
        "t", {"user": "u1"}, {"user": ["tier"]}
    )
    assert plan.plan(policy, None, "o1", "t", None).skipped_reason == "no_entities"
    assert plan.plan(policy, "u1", None, "other", None).skipped_reason == "task_disabled"
    request = plan.read_request(plan.plan(policy, "u1", None, "t", None))
    assert request.task_type == "t"
    assert "Fix task_features" in (request.fix or "")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("u1", None, {"user": "u2"}), "context gives user id 'u2' but user_id is 'u1'"),
        ((None, 7, None), "organization_id must be a string, got int 7"),
        ((None, None, {"shop": 3}), "context\\['shop'\\] must be an entity id string, got 3"),
    ],
)
def test_entity_ids_refuse_conflicts_and_non_strings(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(FeatureConfigError, match=message):
        plan.entity_ids(*args)
    assert plan.entity_ids("", None, {"org": "o1", "shop": ""}) == {"org": "o1"}
