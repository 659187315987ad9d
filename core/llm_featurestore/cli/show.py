"""How the commands print: rich tables of vectors, the block, and the catalog's sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from llm_featurestore.catalog import FeatureCatalog
    from llm_featurestore.enricher import EnrichmentResult
    from llm_featurestore.models import FeatureVector

__all__ = ["new_console", "print_result", "print_sources", "print_vector"]


def new_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _value(value: Any, limit: int = 60) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value) if value else "(empty list)"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_STATUS_STYLE = {
    "present": "green",
    "defaulted": "cyan",
    "stale": "yellow",
    "not_found": "red",
    "null_value": "dim",
    "timed_out": "red",
    "unavailable": "red",
}


def print_vector(console: Console, vector: FeatureVector, result: EnrichmentResult) -> None:
    from rich.table import Table
    from rich.text import Text

    provenance = {p.feature: p for p in result.provenance if p.entity_type == vector.entity_type}
    table = Table(
        title=f"{vector.entity_type}:{vector.entity_id} (source {vector.source})",
        title_justify="left",
    )
    table.add_column("Feature", no_wrap=True)
    table.add_column("Label")
    table.add_column("Status", no_wrap=True)
    table.add_column("Age", no_wrap=True, justify="right")
    table.add_column("Value")
    table.add_column("In prompt")
    for name, status in vector.statuses.items():
        prov = provenance.get(name)
        ts = vector.event_timestamps.get(name)
        age = (vector.retrieved_at - ts).total_seconds() if ts is not None else None
        if prov is not None and prov.age_seconds is not None:
            age = prov.age_seconds
        if prov is None:
            verdict = Text("not requested by the task", style="dim")
        elif prov.used:
            extra = f" ({prov.protection})" if prov.protection else ""
            extra += " (shortened)" if prov.shortened else ""
            verdict = Text(f"yes{extra}", style="green")
        else:
            reason = prov.drop_reason.value if prov.drop_reason else "dropped"
            verdict = Text(f"dropped: {reason}", style="yellow")
        sensitive = (
            prov is not None
            and prov.drop_reason is not None
            and (prov.drop_reason.value == "sensitive")
        )
        shown = "(hidden: sensitive)" if sensitive else _value(vector.features.get(name))
        table.add_row(
            Text(name),
            Text(prov.label if prov else ""),
            Text(status.value, style=_STATUS_STYLE.get(status.value, "")),
            _age(age),
            Text(shown),
            verdict,
        )
    console.print(table)


def print_result(
    console: Console, result: EnrichmentResult, budget: int, *, show_prompt: bool
) -> None:
    from rich.panel import Panel
    from rich.text import Text

    dropped = result.dropped
    if dropped:
        console.print("Dropped:")
        for prov in dropped:
            reason = prov.drop_reason.value if prov.drop_reason else "dropped"
            console.print(
                Text(f"  - {prov.entity_type}.{prov.feature}: {reason} ({prov.status.value})")
            )
    if result.skipped_reason:
        console.print(Text(f"Enrichment skipped: {result.skipped_reason}", style="yellow"))
    if result.context_block:
        console.print(
            Panel(
                Text(result.context_block),
                title=f"Context block: {result.feature_tokens_added} tokens (budget {budget})",
                expand=False,
            )
        )
    else:
        console.print(
            Text("No usable feature: the prompt passes through unchanged (0 tokens).", "yellow")
        )
    console.print(
        f"Features used: {len(result.features_used)}; lookup and enrichment took "
        f"{result.enrichment_latency_ms:.1f} ms"
    )
    if show_prompt:
        console.print(Panel(Text(result.enriched_prompt), title="Final prompt", expand=False))


def _listing(names: Any) -> str:
    return ", ".join(names) or "-"


def print_sources(console: Console, catalog: FeatureCatalog) -> None:
    """The catalog's on-demand views, request sources and push sources, a table each
    (nothing for a kind the catalog has none of)."""
    from rich.table import Table
    from rich.text import Text

    tables: list[Table] = []
    views = catalog.on_demand_views()
    if views:
        table = Table(title=f"{len(views)} on-demand views", title_justify="left")
        for column in ("View", "Entity", "Mode", "Features", "Reads", "Request sources"):
            table.add_column(column)
        for v in views:
            mode = f"{v.mode} (written online)" if v.write_to_online_store else v.mode
            table.add_row(
                Text(v.name),
                Text(v.entity_type or "-"),
                Text(mode),
                Text(_listing(v.features)),
                Text(_listing(v.feature_views)),
                Text(_listing(v.request_sources)),
            )
        tables.append(table)
    requests = catalog.request_sources()
    if requests:
        table = Table(title=f"{len(requests)} request sources", title_justify="left")
        for column in ("Source", "Fields (pass as request_data)", "Needed by"):
            table.add_column(column)
        for r in requests:
            fields = _listing(f"{name}: {dtype}" for name, dtype in r.fields.items())
            table.add_row(Text(r.name), Text(fields), Text(_listing(r.on_demand_views)))
        tables.append(table)
    pushes = catalog.push_sources()
    if pushes:
        table = Table(title=f"{len(pushes)} push sources", title_justify="left")
        for column in ("Source", "Feeds", "Batch source"):
            table.add_column(column)
        for p in pushes:
            table.add_row(
                Text(p.name), Text(_listing(p.feature_views)), Text(p.batch_source or "-")
            )
        tables.append(table)
    for table in tables:
        console.print(table)
