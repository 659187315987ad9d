"""``python -m examples.support_bot [--tickets N]``: the support bot, then the monitor's statistics.

Runs on the local store (in memory, no credentials): writes 300 customers and two
brands, shows three tickets in full (a gold customer with history, a basic customer,
a brand-new one), handles N more, and prints what the monitor saw.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from examples.shopping_assistant.llm import ChatEndpoint
from examples.support_bot.bot import TASK, SupportBot
from examples.support_bot.data import (
    ORGANIZATIONS,
    SAMPLE_TICKETS,
    generate_tickets,
    load_store,
)
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.monitor import FeatureMonitor, MonitorStats

__all__ = ["main", "run"]


def run(
    n_tickets: int = 400, *, console: Any | None = None, endpoint: ChatEndpoint | None = None
) -> MonitorStats:
    """Run the bot over the sample tickets and ``n_tickets`` generated ones; print everything.

    Returns:
        The monitor's statistics at the end.
    """
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    console = console or Console()
    store = LocalFeatureStore()
    customers = load_store(store)
    monitor = FeatureMonitor(holdout_fraction=0.15, seed=7, quality_min_samples=30)
    voices = {org: str(f["brand_voice"]) for org, f in ORGANIZATIONS.items()}
    bot = SupportBot(store, monitor, endpoint=endpoint, brand_voices=voices)
    console.rule("[bold]Support bot[/bold]: local feature store, customer + brand features")
    console.print(f"{customers} customers and {len(ORGANIZATIONS)} brands in the local store")
    try:
        for ticket in SAMPLE_TICKETS:
            reply = bot.handle(ticket, generate=True)
            title = (
                f"{ticket.user_id} @ {ticket.organization_id}: "
                f"{reply.result.feature_tokens_added} context tokens"
            )
            if reply.result.skipped_reason:
                title += f" (skipped: {reply.result.skipped_reason})"
            console.print(Panel(Text(reply.result.enriched_prompt), title=title, expand=False))
            dropped = [
                f"{p.entity_type}.{p.feature}: {p.drop_reason.value}"
                for p in reply.result.dropped
                if p.drop_reason is not None
            ]
            if dropped:
                console.print(Text("Left out: " + "; ".join(dropped), style="dim"))
            if reply.answer is not None:
                console.print(Panel(Text(reply.answer), title="Answer", expand=False))
            elif reply.answer_error is not None:
                console.print(Text(f"The model call failed: {reply.answer_error}", style="red"))
        if endpoint is None:
            console.print(
                "[yellow]No OPENAI_API_KEY set: prompts are shown, answers not generated.[/yellow]"
            )
        tickets = generate_tickets(n_tickets)
        for ticket in tickets:
            bot.handle(ticket)
        console.print(f"Handled {len(tickets) + len(SAMPLE_TICKETS)} tickets.")
    finally:
        bot.close()
    stats = monitor.get_stats()
    print_stats(console, stats)
    return stats


def _fmt(value: float | None, suffix: str = "", digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def print_stats(console: Any, stats: MonitorStats) -> None:
    """Two tables: the monitor's summary and its per-feature rates."""
    from rich.table import Table

    summary = Table(title="Feature monitor", title_justify="left", show_header=False)
    summary.add_column("Metric")
    summary.add_column("Value", justify="right")
    task = stats.task_stats.get(TASK)
    rows = [
        ("Enrichments recorded", str(stats.total_enrichments)),
        ("  with features", str(stats.successful_enrichments)),
        ("  skipped", ", ".join(f"{k}: {v}" for k, v in stats.skipped_by_reason.items()) or "0"),
        ("  of which hold-out (control group)", str(stats.holdouts)),
        ("Avg features used", _fmt(stats.avg_features_used)),
        ("Latency mean / p50 / p99 (ms)", " / ".join(
            _fmt(v, digits=3)
            for v in (stats.avg_latency_ms, stats.p50_latency_ms, stats.p99_latency_ms)
        )),
        ("Quality with features", _fmt(stats.quality_with_features)),
        ("Quality without features", _fmt(stats.quality_without_features)),
        ("Store availability", _fmt(stats.feature_store_availability_pct, "%", 1)),
        ("Enrichment enabled for customer_support", str(task.enabled if task else True)),
    ]  # fmt: skip
    for name, value in rows:
        summary.add_row(name, value)
    console.print(summary)
    features = Table(title="Per feature", title_justify="left")
    for column in ("Feature", "Requests", "Used", "Missing", "Stale"):
        features.add_column(column, justify="left" if column == "Feature" else "right")
    for name, rate in sorted(stats.feature_stats.items()):
        features.add_row(
            name,
            str(rate.requests),
            f"{rate.used_rate:.0%}",
            f"{rate.missing_rate:.0%}",
            f"{rate.stale_rate:.0%}",
        )
    console.print(features)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m examples.support_bot")
    parser.add_argument("--tickets", type=int, default=400, help="generated tickets to handle")
    args = parser.parse_args(argv)
    run(args.tickets, endpoint=ChatEndpoint.from_env())
    return 0


if __name__ == "__main__":
    sys.exit(main())
