"""How the demo prints: one persona's answers side by side with plain retrieval, and the
closing summary (rich tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from examples.shopping_assistant.data import Persona

__all__ = ["PersonaResult", "cell", "constraint", "filter_text", "print_persona", "print_summary"]


@dataclass
class PersonaResult:
    """Plain and personalised results for one persona."""

    persona: Persona
    plain: list[Any]
    """``ProductHit`` s of plain vector retrieval (no user)."""
    turns: dict[str, Any] = field(default_factory=dict)
    """Framework name -> ``Turn``."""


def constraint(persona: Persona) -> str:
    parts = []
    if persona.category:
        parts.append(f"category = {persona.category}")
    if persona.max_price is not None:
        parts.append(f"price <= ${persona.max_price:,.0f}")
    return " and ".join(parts) or "none (cold start)"


def cell(hit: Any, persona: Persona) -> str:
    from rich.markup import escape

    from examples.shopping_assistant.assistant import violations

    bad = bool(violations([hit], persona))
    style = "red" if bad else "green" if (persona.category or persona.max_price) else ""
    mark = " [red]x[/red]" if bad else ""
    backfill = " [dim](backfill)[/dim]" if hit.backfill else ""
    name = f"[{style}]{escape(hit.name)}[/{style}]" if style else escape(hit.name)
    return f"{name}{mark}{backfill}\n[dim]${hit.price:,.2f} · {escape(hit.category)}[/dim]"


def filter_text(turn: Any) -> str:
    from examples.shopping_assistant.assistant import FILTER_SPEC

    conditions = FILTER_SPEC.resolve(turn.vector)
    symbols = {"eq": "=", "ne": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
    text = " and ".join(f"{c.field} {symbols.get(c.op, c.op)} {c.value}" for c in conditions)
    return text or "none (no usable feature: unfiltered search)"


def print_persona(console: Any, result: PersonaResult, k: int, *, show_prompt: bool) -> None:
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    persona = result.persona
    console.print()
    console.print(
        Panel(
            f"[bold]{persona.title}[/bold]  (user {persona.user_id})\n{persona.story}\n"
            f'Asks: [italic]"{persona.question}"[/italic]\n'
            f"Constraint to respect: {constraint(persona)}",
            border_style="cyan",
        )
    )
    table = Table(show_lines=True, expand=True)
    table.add_column("#", justify="right", width=2)
    table.add_column("Plain vector search")
    for name in result.turns:
        table.add_column(f"Personalised ({name})")
    for i in range(k):
        row = [str(i + 1)]
        row.append(cell(result.plain[i], persona) if i < len(result.plain) else "")
        for turn in result.turns.values():
            row.append(cell(turn.products[i], persona) if i < len(turn.products) else "")
        table.add_row(*row)
    console.print(table)

    first = next(iter(result.turns.values()))
    console.print(Text.assemble("Filter from features: ", (filter_text(first), "bold")))
    enrichment = first.enrichment
    if enrichment.context_block:
        console.print(
            Panel(
                Text(enrichment.context_block),
                title=f"Context block: {enrichment.feature_tokens_added} tokens "
                f"(budget {first.token_budget})",
                border_style="green",
                expand=False,
            )
        )
    else:
        console.print("[yellow]No usable features: the prompt passes through unchanged.[/yellow]")
    by_reason: dict[str, list[str]] = {}
    for prov in enrichment.dropped:
        reason = prov.drop_reason.value if prov.drop_reason else "dropped"
        by_reason.setdefault(reason, []).append(prov.label)
    if by_reason:
        left_out = "; ".join(f"{why}: {', '.join(labels)}" for why, labels in by_reason.items())
        console.print(Text(f"Left out ({left_out})", style="dim"))
    for name, turn in result.turns.items():
        t = turn.timings
        console.print(
            f"[bold]{name}[/bold] latency: feature lookup {t.lookup_ms:.1f} ms "
            f"[bold]in parallel with[/bold] retrieval {t.retrieval_ms:.1f} ms; "
            f"enrichment {t.enrichment_ms:.2f} ms; whole request {t.total_ms:.1f} ms "
            f"(lookup + retrieval one after the other: {t.sequential_ms:.1f} ms)"
        )
    if first.answer is not None:
        console.print(Panel(Text(first.answer), title="Answer", border_style="magenta"))
    elif first.answer_error is not None:
        console.print(Text(f"The model call failed: {first.answer_error}", style="red"))
    elif show_prompt:
        console.print(
            Panel(Text(first.prompt_text), title="Final prompt (no model configured)", expand=True)
        )


def print_summary(console: Any, results: list[PersonaResult], total: float) -> None:
    from rich.table import Table

    from examples.shopping_assistant.assistant import violations

    console.print()
    table = Table(title="Summary: results that break the persona's constraint", expand=False)
    table.add_column("Persona")
    table.add_column("Constraint")
    table.add_column("Plain search", justify="center")
    frameworks = list(results[0].turns) if results else []
    for name in frameworks:
        table.add_column(f"Personalised ({name})", justify="center")
    for r in results:
        k = len(r.plain)
        row = [
            r.persona.title,
            constraint(r.persona),
            f"{len(violations(r.plain, r.persona))}/{k}",
        ]
        for name in frameworks:
            products = r.turns[name].products
            row.append(f"{len(violations(products, r.persona))}/{len(products)}")
        table.add_row(*row)
    console.print(table)
    console.print(f"Demo finished in {total:.1f}s.")
