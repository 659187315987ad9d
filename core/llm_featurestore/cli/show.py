"""How the commands' reports read as text: an entity's features, the block, the catalog.

Each function draws one report of :mod:`llm_featurestore.cli.reports` on a
:class:`~llm_featurestore.cli.screen.Screen` (rich or plain text).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llm_featurestore.cli.screen import Cell, Column, Screen

__all__ = ["show_catalog", "show_inspect"]


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
    elif isinstance(value, list):
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

_VECTOR_COLUMNS = (
    Column("Feature", no_wrap=True),
    Column("Label"),
    Column("Status", no_wrap=True),
    Column("Age", no_wrap=True, right=True),
    Column("Value"),
    Column("In prompt"),
)


def _verdict(feature: dict[str, Any]) -> Cell:
    if not feature["requested"]:
        return ("not requested by the task", "dim")
    if feature["in_prompt"]:
        extra = f" ({feature['protection']})" if feature["protection"] else ""
        extra += " (shortened)" if feature["shortened"] else ""
        return (f"yes{extra}", "green")
    return (f"dropped: {feature['drop_reason']}", "yellow")


def _vector_rows(entity: dict[str, Any]) -> Iterable[list[Cell]]:
    for f in entity["features"]:
        shown = f"(hidden: {f['hidden']})" if f["hidden"] else _value(f["value"])
        yield [
            f["name"],
            f["label"] or "",
            (f["status"], _STATUS_STYLE.get(f["status"], "")),
            _age(f["age_seconds"]),
            shown,
            _verdict(f),
        ]


def show_inspect(screen: Screen, report: dict[str, Any]) -> None:
    """Draw an ``inspect`` report: cold starts, ignored entities, a table per entity,
    what was dropped, the context block and (with a prompt) the final prompt."""
    for entity in report["entities"]:
        if not entity["known"]:
            screen.line(
                f"{entity['entity_type']}:{entity['entity_id']} is not in the store: cold "
                "start (configured defaults only)",
                "yellow",
            )
    if report["ignored_entities"]:
        ignored = ", ".join(report["ignored_entities"])
        screen.line(f"Task '{report['task']}' uses no features of {ignored}", "yellow")
    for entity in report["entities"]:
        title = f"{entity['entity_type']}:{entity['entity_id']} (source {entity['source']})"
        screen.table(title, _VECTOR_COLUMNS, _vector_rows(entity))
    if report["dropped"]:
        screen.line("Dropped:")
        for d in report["dropped"]:
            screen.line(f"  - {d['entity_type']}.{d['feature']}: {d['reason']} ({d['status']})")
    if report["skipped_reason"]:
        screen.line(f"Enrichment skipped: {report['skipped_reason']}", "yellow")
    if report["context_block"]:
        title = f"Context block: {report['tokens']} tokens (budget {report['budget']})"
        screen.panel(title, report["context_block"])
    else:
        screen.line("No usable feature: the prompt passes through unchanged (0 tokens).", "yellow")
    screen.line(
        f"Features used: {len(report['features_used'])}; lookup and enrichment took "
        f"{report['latency_ms']:.1f} ms"
    )
    if report["final_prompt"] is not None:
        screen.panel("Final prompt", report["final_prompt"])


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names) or "-"


def show_catalog(screen: Screen, report: dict[str, Any]) -> None:
    """Draw a ``catalog`` report: the definitions, then (when listing) a table each of
    the on-demand views, request sources and push sources the catalog has."""
    query = report["query"]
    title = f"{report['count']} features" + (f" matching {query!r}" if query else "")
    columns = [Column(c) for c in ("Feature", "Type", "Sensitivity", "Label", "Description")]
    rows: list[list[Cell]] = []
    for d in report["features"]:
        origin = " / ".join(x for x in (d["feature_view"], d["source"]) if x) or "-"
        sensitivity = (d["sensitivity"], "red" if d["is_sensitive"] else "")
        rows.append(
            [d["key"], d["dtype"], sensitivity, d["display_label"], d["description"], origin]
        )
    screen.table(title, [*columns, Column("Source")], rows)
    views = report.get("on_demand_views") or []
    if views:
        screen.table(
            f"{len(views)} on-demand views",
            [Column(c) for c in ("View", "Entity", "Mode", "Features", "Reads", "Request sources")],
            (
                [
                    v["name"],
                    v["entity_type"] or "-",
                    f"{v['mode']} (written online)" if v["write_to_online_store"] else v["mode"],
                    _listing(v["features"]),
                    _listing(v["feature_views"]),
                    _listing(v["request_sources"]),
                ]
                for v in views
            ),
        )
    requests = report.get("request_sources") or []
    if requests:
        screen.table(
            f"{len(requests)} request sources",
            [Column(c) for c in ("Source", "Fields (pass as request_data)", "Needed by")],
            (
                [
                    r["name"],
                    _listing(f"{name}: {dtype}" for name, dtype in r["fields"].items()),
                    _listing(r["on_demand_views"]),
                ]
                for r in requests
            ),
        )
    pushes = report.get("push_sources") or []
    if pushes:
        screen.table(
            f"{len(pushes)} push sources",
            [Column(c) for c in ("Source", "Feeds", "Batch source")],
            ([p["name"], _listing(p["feature_views"]), p["batch_source"] or "-"] for p in pushes),
        )
