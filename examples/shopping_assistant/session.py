"""The demo's write-back scenario: one user asks twice in a session.

After each answer, the LangChain assistant hands the turn to a
:class:`~llm_featurestore.writeback.WriteBack` (the ``write_back`` section of
``config.yaml``): the last search, the products shown, the number of questions, the
time and a rolling conversation memory go to Feast's ``user_session`` view in the
background. The second request reads them like any other feature, so its context block
says what the user asked and saw a moment ago, and its latency split shows that the
write-back cost the request only the time to queue the turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from examples.shopping_assistant.data import Persona
from examples.shopping_assistant.llm import ChatEndpoint
from examples.shopping_assistant.setup_store import Workspace

__all__ = ["FOLLOW_UP", "RETURNING_SHOPPER", "SESSION_FEATURES", "SessionReport", "run_session"]

RETURNING_SHOPPER = Persona(
    user_id="1005",
    title="Returning hiker",
    story="A generated shopper who buys outdoor gear; asks two questions in one session.",
    question="A warm layer for a winter hike?",
    category="outdoor",
    max_price=None,
)
FOLLOW_UP = "Which of those packs the smallest?"
SESSION_FEATURES = ["last_search", "last_shown", "session_turns", "conversation_memory"]
"""The ``user_session`` features the scenario shows after each turn."""


@dataclass
class SessionReport:
    """What :func:`run_session` did."""

    persona: Persona
    turns: list[Any]
    """The two ``Turn`` s, in order."""
    stored: dict[str, Any]
    """The ``user_session`` features after the second turn."""
    background_ms: list[float]
    """Per turn: the writer's time on it (read the previous values, one write)."""
    stats: Any
    """The writer's final ``WriterStats``."""


def run_session(
    ws: Workspace,
    console: Any,
    *,
    k: int,
    catalog: Any,
    overrides: dict[str, Any] | None,
    endpoint: ChatEndpoint | None,
) -> SessionReport:
    """Ask :data:`RETURNING_SHOPPER`'s two questions with write-back on, and print them."""
    from examples.shopping_assistant.assistant import AssistantResources
    from examples.shopping_assistant.langchain_assistant import LangChainAssistant

    console.rule("[bold]5. Write-back after each turn[/bold]")
    persona = RETURNING_SHOPPER
    res = AssistantResources.open(ws, endpoint=endpoint, catalog=catalog, overrides=overrides)
    try:
        _new_session(res, persona.user_id)
        write_back = res.open_write_back()
        assistant = LangChainAssistant(res, k=k, write_back=write_back)
        turns, background_ms = [], []
        for question in (persona.question, FOLLOW_UP):
            busy = write_back.stats.busy_ms
            turns.append(assistant.ask(question, persona.user_id))
            # A user reads the answer before asking again; here we just let the
            # background writer finish, so the second request finds the first turn.
            write_back.flush(timeout=30)
            background_ms.append(write_back.stats.busy_ms - busy)
        backend = getattr(res.client, "backend", res.client)
        stored = backend.get_features(persona.user_id, "user", SESSION_FEATURES).features
        report = SessionReport(persona, turns, stored, background_ms, write_back.stats)
    finally:
        res.close()
    _print(console, report)
    return report


def _new_session(res: Any, user_id: str) -> None:
    """Start the user's session afresh (a previous ``make demo`` run wrote one): the
    ``user_session`` row with no search, nothing shown, no memory and 0 questions."""
    res.client.write_features(
        user_id,
        "user",
        {
            "last_search": None,
            "last_shown": None,
            "session_turns": 0,
            "last_turn_at": datetime.now(timezone.utc),
            "conversation_memory": None,
        },
    )


def _print(console: Any, report: SessionReport) -> None:
    from rich.panel import Panel
    from rich.text import Text

    persona = report.persona
    console.print(
        Panel(
            f"[bold]{persona.title}[/bold]  (user {persona.user_id})\n{persona.story}\n"
            "After each answer the turn is written back to Feast's [bold]user_session[/bold] "
            "view (last search, products shown, questions so far, conversation memory) by "
            "a background writer; the next request reads it like any other feature.",
            border_style="cyan",
        )
    )
    for i, (turn, busy) in enumerate(zip(report.turns, report.background_ms, strict=True), 1):
        t = turn.timings
        shown = ", ".join(p.name for p in turn.products) or "(nothing)"
        console.print(Text.assemble(f"Turn {i}: ", (f'"{turn.question}"', "italic")))
        console.print(Text(f"  shown: {shown}", style="dim"))
        block = turn.enrichment.context_block
        if i == 1:
            console.print(
                Text(
                    f"  context block: {turn.enrichment.feature_tokens_added} tokens, the "
                    "profile only (a new session: nothing written back yet)",
                    style="dim",
                )
            )
        elif block:
            console.print(
                Panel(
                    Text(block),
                    title=f"Context block of turn {i}: {turn.enrichment.feature_tokens_added} "
                    f"tokens (budget {turn.token_budget})",
                    border_style="green",
                    expand=False,
                )
            )
        console.print(
            f"  latency: feature lookup {t.lookup_ms:.1f} ms in parallel with retrieval "
            f"{t.retrieval_ms:.1f} ms; enrichment {t.enrichment_ms:.2f} ms; whole request "
            f"{t.total_ms:.1f} ms; [bold]write-back on the request path "
            f"{t.writeback_ms:.3f} ms[/bold] (queued), written in the background in "
            f"{busy:.1f} ms after the answer"
        )
    stored = report.stored
    memory = str(stored.get("conversation_memory") or "").replace("\n", " / ")
    console.print(
        Text(
            f"Stored after turn {len(report.turns)}: session_turns = "
            f"{stored.get('session_turns')}; conversation memory: {memory}"
        )
    )
    stats = report.stats
    console.print(
        Text(
            f"Write-back stats: {stats.queued} queued, {stats.written} written, "
            f"{stats.dropped} dropped, {stats.retried} retried, {stats.failed} failed",
            style="dim",
        )
    )
