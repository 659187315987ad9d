"""What an agent's feature tool answers: the policy-allowed facts about the current user.

Framework-neutral (it imports only the core), so the LangChain tool
(:mod:`langchain_featurestore.tools`) and the LlamaIndex tool
(:mod:`llamaindex_featurestore.tools`) give the same answer for the same result. Every
decision comes from :class:`~llm_featurestore.FeatureEnricher`: which features the task
reads, which are sensitive and how they may be shown (dropped, masked, hashed), the
token budget, sanitising, and the read itself (the monitor's gate, fallback). This
module only chooses the wording::

    [Context from user profile]
    - User favorite category: shoes (present)
    - User email: j***@example.com (present, masked)
    - User tier: not available (stale)
    [End context]

A feature the policy drops as sensitive is neither shown nor named (whatever its status),
here or in the tool description. Values and labels are the enricher's, already cleaned,
so the answer keeps the block's shape: one header line, ``- Label: ...`` lines, one footer line.
"""

from __future__ import annotations

from collections.abc import Sequence

from llm_featurestore.prompting.enricher import FeatureEnricher
from llm_featurestore.prompting.results import EnrichmentResult, FeatureProvenance

__all__ = ["DEFAULT_TOOL_NAME", "allowed_features", "describe_tool", "render_facts"]

DEFAULT_TOOL_NAME = "user_facts"
_SHOWN_AS = {"mask": "masked", "hash": "hashed"}


def allowed_features(enricher: FeatureEnricher, task_type: str) -> list[str]:
    """``"entity_type.feature"`` names the tool may show for ``task_type``, priority order:
    the task's features minus those its sensitivity policy drops."""
    return [
        f"{etype}.{name}"
        for etype, names in enricher.required_features(task_type).items()
        for name in names
        if enricher.sensitive_strategy(task_type, etype, name) != "drop"
    ]


def describe_tool(enricher: FeatureEnricher, task_type: str) -> str:
    """The tool description: what it answers, the names it accepts, and who the user is."""
    names = ", ".join(allowed_features(enricher, task_type)) or "none"
    return (
        "Look up facts about the current user from the feature store (each with its "
        "status: present, defaulted, or why it is not available). The user is the one "
        "this conversation is about; it is set by the application and cannot be chosen. "
        "Optionally pass 'features' to ask for some of them only. "
        f"Available: {names}."
    )


def render_facts(
    enricher: FeatureEnricher, result: EnrichmentResult, wanted: Sequence[str] | None = None
) -> str:
    """The tool's answer for one enrichment result (see the module docstring).

    Args:
        enricher: The enricher that produced ``result`` (its header and footer are used).
        result: ``enricher.enrich("", ...)`` for the current user and the tool's task.
        wanted: Bare (``"tier"``) or qualified (``"user.tier"``) names to narrow the
            answer to; ``None`` or empty: every allowed feature.

    Returns:
        The block of facts, or one sentence saying why there are none.
    """
    if result.skipped_reason is not None:
        return f"No facts about the user are available ({result.skipped_reason})."
    if not result.store_available:
        return "No facts about the user are available (the feature store is unavailable)."
    allowed = allowed_features(enricher, result.task_type)
    shown = set(allowed)
    picked = set(wanted or ())
    values = result.variables.get("features_by_name", {})
    lines = [
        _line(p, values.get(p.qualified_name))
        for p in result.provenance
        if p.qualified_name in shown
        and (not picked or p.feature in picked or p.qualified_name in picked)
    ]
    if picked - {n for q in allowed for n in (q, q.split(".", 1)[1])}:
        lines.append(f"- Note: the facts you can ask for are {', '.join(allowed) or 'none'}")
    if not lines:
        return "No facts about the user are available."
    return "\n".join([enricher.config.header, *lines, enricher.config.footer])


def _line(p: FeatureProvenance, value: str | None) -> str:
    if p.used and value is not None:
        notes = [p.status.value, *([_SHOWN_AS[p.protection]] if p.protection in _SHOWN_AS else [])]
        return f"- {p.label}: {value} ({', '.join(notes)})"
    reason = p.drop_reason.value if p.drop_reason is not None else p.status.value
    return f"- {p.label}: not available ({reason})"
