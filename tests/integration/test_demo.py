"""The shopping-assistant demo, end to end, on a reduced dataset.

Real Feast (SQLite online store, parquet offline store), real embedded Chroma and the
real all-MiniLM-L6-v2 model; 60 users and 80 products in a private temporary
workspace, set up once for the module.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from examples.shopping_assistant import data
from examples.shopping_assistant.assistant import FILTER_SPEC, ProductHit, violations
from examples.shopping_assistant.data import COLD_START_USER, PERSONAS, Persona
from examples.shopping_assistant.demo import DemoReport, run_demo
from examples.shopping_assistant.llm import ChatEndpoint
from examples.shopping_assistant.session import FOLLOW_UP, RETURNING_SHOPPER
from examples.shopping_assistant.setup_store import (
    Workspace,
    is_up_to_date,
    setup_feature_store,
)
from llm_featurestore.enricher import DropReason
from llm_featurestore.models import FeatureStatus
from tests.fixtures.servers import free_port
from tests.integration.test_demo_llm import _Handler, chat_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_USERS = 60
N_PRODUCTS = 80
FRAMEWORKS = ("LangChain", "LlamaIndex")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.create(tmp_path_factory.mktemp("shopping"))


@pytest.fixture(scope="module")
def demo(workspace: Workspace) -> tuple[DemoReport, str]:
    console = Console(file=io.StringIO(), width=140, record=True, color_system=None)
    report = run_demo(
        workspace,
        n_users=N_USERS,
        n_products=N_PRODUCTS,
        framework="both",
        console=console,
        # A loaded CI machine must not turn a slow read into a fallback here; the
        # timeout path is the serving layer's own test.
        overrides={"timeout_ms": 30_000},
    )
    return report, console.export_text()


def _result(report: DemoReport, persona: Persona):  # type: ignore[no-untyped-def]
    return next(r for r in report.results if r.persona.user_id == persona.user_id)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.title)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_personalised_results_respect_the_persona_and_plain_results_do_not(
    demo: tuple[DemoReport, str], persona: Persona, framework: str
) -> None:
    result = _result(demo[0], persona)
    turn = result.turns[framework]
    assert len(turn.products) == 4
    assert violations(turn.products, persona) == []
    assert not any(p.backfill for p in turn.products)
    assert violations(result.plain, persona), "plain retrieval should break the constraint"


def test_budget_persona_gets_only_products_within_500_while_plain_search_exceeds_it(
    demo: tuple[DemoReport, str],
) -> None:
    result = _result(demo[0], PERSONAS[2])
    assert max(p.price for p in result.plain) > 500
    for turn in result.turns.values():
        assert all(p.price <= 500 and p.category == "electronics" for p in turn.products)


@pytest.mark.parametrize("persona", PERSONAS, ids=lambda p: p.title)
def test_one_lookup_feeds_the_filter_and_the_context_block(
    demo: tuple[DemoReport, str], persona: Persona
) -> None:
    turn = _result(demo[0], persona).turns["LangChain"]
    assert turn.vector is not None
    assert turn.vector.source == "feast"
    assert turn.vector.statuses["favorite_category"] is FeatureStatus.PRESENT
    assert turn.vector.features["favorite_category"] == persona.category
    conditions = FILTER_SPEC.resolve(turn.vector)
    assert {(c.field, c.value) for c in conditions} >= {("category", persona.category)}
    block = turn.enrichment.context_block
    assert f"Favourite category: {persona.category}" in block
    assert block in turn.messages[1]["content"]
    assert 0 < turn.enrichment.feature_tokens_added <= turn.token_budget


def test_persona_stories_reach_the_prompt(demo: tuple[DemoReport, str]) -> None:
    runner, browser, budget = (_result(demo[0], p).turns["LangChain"] for p in PERSONAS)
    assert "road running shoes (last week)" in runner.enrichment.context_block
    assert "winter parka (yesterday)" in browser.enrichment.context_block
    assert "Purchases in 30 days: 0" in browser.enrichment.context_block
    assert "Budget limit (USD): 500" in budget.enrichment.context_block
    # Users without a budget limit have a null in Feast: no price rule, no line.
    assert [c.field for c in FILTER_SPEC.resolve(runner.vector)] == ["category"]
    assert "Budget limit" not in runner.enrichment.context_block


def test_email_is_pii_and_never_reaches_a_prompt(demo: tuple[DemoReport, str]) -> None:
    for result in demo[0].results:
        for turn in result.turns.values():
            assert "@example.com" not in turn.prompt_text
    turn = _result(demo[0], PERSONAS[0]).turns["LangChain"]
    email = next(p for p in turn.enrichment.provenance if p.feature == "email")
    assert email.status is FeatureStatus.PRESENT
    assert email.drop_reason is DropReason.SENSITIVE


def test_cold_start_user_gets_defaults_and_an_unfiltered_search(
    demo: tuple[DemoReport, str],
) -> None:
    result = _result(demo[0], COLD_START_USER)
    for turn in result.turns.values():
        assert turn.vector is not None
        assert turn.vector.statuses["price_sensitivity_score"] is FeatureStatus.DEFAULTED
        assert turn.vector.statuses["recent_purchases"] is FeatureStatus.NOT_FOUND
        assert FILTER_SPEC.resolve(turn.vector) == []
        assert [p.product_id for p in turn.products] == [p.product_id for p in result.plain]
        # The default serves code, never the prompt: nothing is known about this user.
        assert turn.enrichment.features_used == []
        assert "Price sensitivity" not in turn.enrichment.enriched_prompt
        dropped = {p.feature: p.drop_reason for p in turn.enrichment.provenance}
        assert dropped["price_sensitivity_score"] is DropReason.DEFAULTED


def test_latency_split_is_reported_for_each_request(demo: tuple[DemoReport, str]) -> None:
    for result in demo[0].results:
        for turn in result.turns.values():
            t = turn.timings
            assert t.lookup_ms > 0
            assert t.retrieval_ms > 0
            assert t.total_ms > 0
            assert math.isclose(t.sequential_ms, t.lookup_ms + t.retrieval_ms)


def test_output_shows_tables_context_prompt_and_says_no_model_is_configured(
    demo: tuple[DemoReport, str],
) -> None:
    text = demo[1]
    assert "No OPENAI_API_KEY set" in text
    assert text.count("Final prompt (no model configured)") == len(demo[0].results)
    assert "Plain vector search" in text
    assert "Personalised (LlamaIndex)" in text
    assert "Context block: " in text
    assert "tokens (budget 120)" in text
    assert "in parallel with" in text
    assert "Summary: results that break the persona's constraint" in text
    assert "Left out (" in text
    assert "sensitive: Email" in text


def test_the_second_answer_sees_what_the_first_turn_wrote_back(
    demo: tuple[DemoReport, str],
) -> None:
    session = demo[0].session
    assert session is not None
    first, second = session.turns
    assert [first.question, second.question] == [RETURNING_SHOPPER.question, FOLLOW_UP]
    assert first.products
    # A new session: the first request has nothing written back yet.
    assert "Last search" not in first.enrichment.context_block
    assert "Shown in the last answer" not in first.enrichment.context_block
    # The second request read the first turn's write, through the serving cache.
    block = second.enrichment.context_block
    assert f"- Last search: {first.question}" in block
    shown = next(line for line in block.splitlines() if line.startswith("- Shown in the last"))
    assert shown.startswith(f"- Shown in the last answer: {first.products[0].name}")
    assert block in second.messages[1]["content"]
    assert session.stored["session_turns"] == 2
    assert session.stored["last_search"] == FOLLOW_UP
    assert session.stored["last_shown"] == [p.name for p in second.products]
    assert (
        session.stored["conversation_memory"]
        .splitlines()[-1]
        .startswith(f"User: {FOLLOW_UP} | Shown: {second.products[0].name}")
    )
    stats = session.stats
    assert (stats.queued, stats.written, stats.dropped, stats.failed) == (2, 2, 0, 0)
    # The latency split measures the write-back's share of each request (a queue append).
    assert all(turn.timings.writeback_ms > 0 for turn in session.turns)
    assert all(ms > 0 for ms in session.background_ms)
    text = " ".join(demo[1].split())  # the console wraps long lines
    assert "5. Write-back after each turn" in text
    assert "write-back on the request path" in text
    assert "written in the background in" in text
    assert "Write-back stats: 2 queued, 2 written, 0 dropped, 0 retried, 0 failed" in text


def test_setup_and_index_are_idempotent(workspace: Workspace, demo: tuple[DemoReport, str]) -> None:
    again = setup_feature_store(workspace, n_users=N_USERS, n_products=N_PRODUCTS)
    assert again.skipped
    console = Console(file=io.StringIO(), width=120)
    report = run_demo(
        workspace,
        n_users=N_USERS,
        n_products=N_PRODUCTS,
        framework="langchain",
        console=console,
        personas=[PERSONAS[0]],
        overrides={"timeout_ms": 30_000},
    )
    assert report.feature_setup_skipped
    assert report.index_skipped
    assert not violations(report.results[0].turns["LangChain"].products, PERSONAS[0])


def test_setup_is_redone_for_other_sizes_or_old_data(workspace: Workspace) -> None:
    kwargs: dict[str, Any] = {"n_users": N_USERS, "n_products": N_PRODUCTS, "seed": 7}
    assert is_up_to_date(workspace, **kwargs)
    assert not is_up_to_date(workspace, n_users=N_USERS, n_products=N_PRODUCTS + 1, seed=7)
    assert not is_up_to_date(workspace, n_users=N_USERS, n_products=N_PRODUCTS, seed=8)
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert not is_up_to_date(workspace, **kwargs, now=later)
    assert not is_up_to_date(Workspace(workspace.root / "nowhere"), **kwargs)


def test_run_demo_rejects_an_unknown_framework(workspace: Workspace) -> None:
    with pytest.raises(ValueError, match="framework must be one of langchain, llamaindex, both"):
        run_demo(workspace, framework="haystack")


def test_generated_data_is_deterministic_and_tells_the_personas_stories(tmp_path: Path) -> None:
    assert data.generate_products(80) == data.generate_products(80)
    assert data.generate_users(60) == data.generate_users(60)
    users = {u.user_id: u for u in data.generate_users(1000)}
    assert len(users) == 1000
    assert users["1001"].favorite_category == "running"
    assert any("running shoes (last week)" in p for p in users["1001"].recent_purchases)
    assert users["1002"].purchases_30d == 0
    assert users["1002"].recent_views
    assert users["1003"].budget_limit == 500.0
    products = data.generate_products(600)
    assert len({p.product_id for p in products}) == 600
    # Even the reduced catalogue holds laptops over and under the $500 budget.
    small = data.generate_products(80)
    laptops = [p for p in small if "laptop" in p.name or "notebook" in p.name]
    assert min(p.price for p in laptops) < 500 < max(p.price for p in laptops)
    manifest = data.write_dataset(tmp_path, n_users=5, n_products=7, seed=3)
    assert manifest["n_users"] == 5
    assert len(data.load_products(tmp_path)) == 7


def test_generators_reject_sizes_that_cannot_hold_the_personas() -> None:
    with pytest.raises(ValueError, match="n must be at least 3 \\(the personas\\), got 2"):
        data.generate_users(2)
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        data.generate_products(0)


def test_product_hit_reads_chroma_metadata() -> None:
    hit = ProductHit.from_metadata(
        {
            "product_id": "p1",
            "name": "X",
            "category": "home",
            "brand": "B",
            "price": 9.5,
            "llmfs_backfill": True,
        },
        "text",
    )
    assert hit.backfill
    assert hit.price == 9.5
    assert hit.line() == "X ($9.50, home): text"


@pytest.fixture
def server() -> Iterator[str]:
    with chat_server() as url:
        yield url


def test_with_an_endpoint_the_answer_is_generated_from_the_final_prompt(
    workspace: Workspace, demo: tuple[DemoReport, str], server: str
) -> None:
    endpoint = ChatEndpoint.from_env({"OPENAI_API_KEY": "sk-demo", "OPENAI_BASE_URL": server})
    console = Console(file=io.StringIO(), width=140, record=True, color_system=None)
    report = run_demo(
        workspace,
        n_users=N_USERS,
        n_products=N_PRODUCTS,
        framework="both",
        console=console,
        personas=[PERSONAS[2]],
        endpoint=endpoint,
        overrides={"timeout_ms": 30_000},
    )
    text = console.export_text()
    for turn in report.results[0].turns.values():
        assert turn.answer is not None
        assert turn.answer.startswith("echo: [Context from user profile]")
        assert turn.answer_error is None
    sent = [r["body"]["messages"] for r in _Handler.requests]
    # One answer per framework, one while the store is down, two in the write-back session.
    assert len(sent) == 5
    assert "- Budget limit (USD): 500" in sent[0][1]["content"]
    assert "[Context from user profile]" not in sent[2][1]["content"]
    assert "Last search" not in sent[3][1]["content"]
    assert f"- Last search: {RETURNING_SHOPPER.question}" in sent[4][1]["content"]
    assert report.session is not None
    memory = report.session.stored["conversation_memory"].splitlines()
    assert memory[-1].startswith(f"User: {FOLLOW_UP} | Shown: ")
    assert " | Assistant: echo: " in memory[-1]  # the model's answer, its first sentence
    assert report.outage is not None
    assert report.outage.turns["LangChain"].answer is not None
    assert "Answer without features" in text
    assert "Answers generated by gpt-4o-mini @ " in text
    assert "No OPENAI_API_KEY set" not in text
    assert "Final prompt (no model configured)" not in text
    assert "Answer" in text


def test_a_failing_endpoint_is_reported_not_raised(
    workspace: Workspace, demo: tuple[DemoReport, str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    endpoint = ChatEndpoint.from_env({"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": url})
    console = Console(file=io.StringIO(), width=140, record=True, color_system=None)
    report = run_demo(
        workspace,
        n_users=N_USERS,
        n_products=N_PRODUCTS,
        framework="langchain",
        console=console,
        personas=[PERSONAS[0]],
        endpoint=endpoint,
        overrides={"timeout_ms": 30_000},
    )
    turn = report.results[0].turns["LangChain"]
    assert turn.answer is None
    assert turn.answer_error is not None
    assert "Cannot reach" in turn.answer_error
    assert "The model call failed: Cannot reach" in console.export_text()


def test_data_from_an_older_generator_is_regenerated(workspace: Workspace) -> None:
    stamp = workspace.data_dir / "setup.json"
    original = stamp.read_text(encoding="utf-8")
    try:
        stamp.write_text(original.replace('"version": ', '"version": -1, "old": '), "utf-8")
        assert not is_up_to_date(workspace, n_users=N_USERS, n_products=N_PRODUCTS, seed=7)
    finally:
        stamp.write_text(original, encoding="utf-8")
    assert is_up_to_date(workspace, n_users=N_USERS, n_products=N_PRODUCTS, seed=7)


def test_a_failing_online_store_degrades_to_plain_retrieval_without_an_error(
    demo: tuple[DemoReport, str],
) -> None:
    outage = demo[0].outage
    assert outage is not None
    assert outage.persona == PERSONAS[0]
    turn = outage.turns["LangChain"]
    assert turn.vector is not None
    assert set(turn.vector.statuses.values()) == {FeatureStatus.UNAVAILABLE}
    assert FILTER_SPEC.resolve(turn.vector) == []
    assert [p.product_id for p in turn.products] == [p.product_id for p in outage.plain]
    assert turn.enrichment.context_block == ""
    assert not turn.enrichment.store_available
    assert "[Context from user profile]" not in turn.messages[1]["content"]
    assert "4. When the feature store is down" in demo[1]
    assert "feature statuses unavailable" in demo[1]


def test_the_write_back_section_is_validated_and_required(tmp_path: Path) -> None:
    from examples.shopping_assistant.assistant import (
        CONFIG_PATH,
        AssistantResources,
        load_write_back,
    )
    from llm_featurestore.errors import FeatureConfigError

    shipped = load_write_back(CONFIG_PATH)
    assert shipped is not None
    assert shipped.last_query == "last_search"
    bad = tmp_path / "config.yaml"
    bad.write_text("write_back:\n  last_query: q\n  shown_key: name\n", encoding="utf-8")
    with pytest.raises(FeatureConfigError) as err:
        load_write_back(bad)
    assert "write_back.shown_key: unknown key" in str(err.value)
    assert "shown_id_key" in str(err.value)
    (tmp_path / "none.yaml").write_text("enricher: {}\n", encoding="utf-8")
    assert load_write_back(tmp_path / "none.yaml") is None
    with pytest.raises(FeatureConfigError, match=r"Cannot read .*missing\.yaml"):
        load_write_back(tmp_path / "missing.yaml")
    resources = AssistantResources(Workspace(tmp_path), None, None, None)  # type: ignore[arg-type]
    with pytest.raises(FeatureConfigError, match=r"config\.yaml has no write_back section"):
        resources.open_write_back()
