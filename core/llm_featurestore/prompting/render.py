"""Feature values to block lines, and lines to a block that fits the token budget.

Pure functions (no I/O): :func:`candidates` turns an entity's vectors into one
:class:`Candidate` line per showable feature (and a provenance record for every
requested one), :func:`fit` keeps the highest-priority lines that fit in
``max_feature_tokens`` (shortening the first that does not), and :func:`result` /
:func:`passthrough` build the :class:`~llm_featurestore.prompting.results.EnrichmentResult`.

The block is one header line, ``- Label: value`` lines and one footer line; its token
count is exact and includes the blank line that separates it from the prompt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.prompting.config import EnricherConfig
from llm_featurestore.prompting.formatting import FormattedValue, format_value, join_items
from llm_featurestore.prompting.policy import PromptPolicy, age_seconds
from llm_featurestore.prompting.results import DropReason, EnrichmentResult
from llm_featurestore.prompting.sanitize import ELLIPSIS, Neutralizer
from llm_featurestore.prompting.tokens import TokenCounter, get_token_counter

__all__ = [
    "SEPARATOR",
    "BlockStyle",
    "Candidate",
    "candidates",
    "fit",
    "passthrough",
    "render_block",
    "result",
    "shorten",
]

SEPARATOR = "\n\n"
"""Between the block and the prompt."""
_MIN_SHORTENED_VALUE_TOKENS = 2


@dataclass(slots=True)
class Candidate:
    """One line that may go into the block, and the provenance record it updates."""

    entity_type: str
    name: str
    label: str
    value: FormattedValue
    line: str
    provenance: dict[str, Any]

    def with_value(self, value: FormattedValue, line: str) -> Candidate:
        """The same feature with a shorter value (and line)."""
        return Candidate(self.entity_type, self.name, self.label, value, line, self.provenance)


@dataclass(frozen=True)
class BlockStyle:
    """How lines are rendered and counted: markers, cleaning, limits and the tokenizer."""

    header: str
    footer: str
    counter: TokenCounter
    clean: Neutralizer
    max_value_chars: int
    max_list_items: int
    budget: int
    fixed_tokens: int
    """Tokens of the header line, the footer line and the separator."""

    @classmethod
    def from_config(cls, config: EnricherConfig) -> BlockStyle:
        """The style of ``config``; loads its tokenizer encoding (may raise, see tokens)."""
        counter = get_token_counter(config.encoding)
        fixed = counter.count(config.header + "\n") + counter.count(config.footer + SEPARATOR)
        return cls(
            header=config.header,
            footer=config.footer,
            counter=counter,
            clean=Neutralizer([config.header, config.footer], max_chars=config.max_value_chars),
            max_value_chars=config.max_value_chars,
            max_list_items=config.max_list_items,
            budget=config.max_feature_tokens,
            fixed_tokens=fixed,
        )


def candidates(
    policy: PromptPolicy,
    style: BlockStyle,
    task_type: str,
    vectors: Mapping[str, FeatureVector],
    required: Mapping[str, Sequence[str]],
    now: datetime,
) -> tuple[list[Candidate], list[dict[str, Any]]]:
    """The showable lines of ``required`` in priority order, and every feature's provenance."""
    provenance: list[dict[str, Any]] = []
    lines: list[Candidate] = []
    for entity_type, names in required.items():
        vector = vectors.get(entity_type)
        if vector is None:
            continue
        for name in names:
            cand = _candidate(policy, style, task_type, vector, name, now)
            if isinstance(cand, Candidate):
                lines.append(cand)
                provenance.append(cand.provenance)
            else:
                provenance.append(cand)
    return lines, provenance


def _candidate(
    policy: PromptPolicy,
    style: BlockStyle,
    task_type: str,
    vector: FeatureVector,
    name: str,
    now: datetime,
) -> Candidate | dict[str, Any]:
    """A renderable line, or the provenance of a dropped feature."""
    entity_type = vector.entity_type
    status = vector.statuses.get(name, FeatureStatus.NOT_FOUND)
    value = vector.features.get(name)
    stamp = vector.event_timestamps.get(name)
    age = None if stamp is None else age_seconds(stamp, now)
    label = policy.label_for(entity_type, name)
    prov: dict[str, Any] = {
        "feature": name,
        "entity_type": entity_type,
        "entity_id": vector.entity_id,
        "source": vector.source,
        "status": status,
        "age_seconds": age,
        "used": False,
        "drop_reason": policy.drop_reason(task_type, status, value, age),
        "label": label,
    }
    if prov["drop_reason"] is not None:
        return prov
    strategy = policy.sensitive_strategy(task_type, entity_type, name)
    if strategy == "drop":
        prov["drop_reason"] = DropReason.SENSITIVE
        return prov
    prov["protection"] = strategy
    formatted = format_value(
        value if strategy is None else policy.protect(value, strategy),
        clean=style.clean,
        max_chars=style.max_value_chars,
        max_items=style.max_list_items,
    )
    if not formatted.text:
        prov["drop_reason"] = DropReason.MISSING
        return prov
    if status is FeatureStatus.DEFAULTED:
        # A default is not a fact about the user: say so in the line itself.
        formatted = FormattedValue(f"unknown (default {formatted.text})")
    return Candidate(entity_type, name, label, formatted, f"- {label}: {formatted.text}", prov)


def render_block(style: BlockStyle, chosen: Sequence[Candidate]) -> str:
    """Header, the chosen lines, footer."""
    return "\n".join([style.header, *(c.line for c in chosen), style.footer])


def shorten(style: BlockStyle, cand: Candidate, room: int) -> Candidate | None:
    """``cand`` with a shorter value whose line costs at most ``room`` tokens, or None.

    A list keeps fewer items (``(+N more)``); other text is cut at a token boundary
    and ends in ``...``.
    """
    prefix = f"- {cand.label}: "
    count = style.counter.count_cached
    fv = cand.value
    if fv.items and fv.shown > 1:
        for keep in range(fv.shown - 1, 0, -1):
            text = join_items(fv.items, keep)
            line = prefix + text
            if count(line + "\n") <= room:
                return cand.with_value(FormattedValue(text, fv.items, keep), line)
    value_room = room - count(prefix) - count(ELLIPSIS + "\n")
    while value_room >= _MIN_SHORTENED_VALUE_TOKENS:
        cut = style.counter.truncate(fv.text, value_room).rstrip()
        if not cut:
            return None
        text = style.clean(cut + ELLIPSIS)
        line = prefix + text
        if count(line + "\n") <= room:
            return cand.with_value(FormattedValue(text), line)
        value_room -= 1
    return None


def fit(style: BlockStyle, lines: list[Candidate]) -> tuple[list[Candidate], str, int]:
    """Keep the highest-priority prefix that fits, shortening the first that does not.

    Returns the kept candidates, the block ("" when none) and its exact token count
    including the blank-line separator (0 when none). Each candidate's provenance
    gets ``used=True``, or ``drop_reason=OVER_BUDGET``.
    """
    budget = style.budget
    chosen, block, tokens = lines, "", 0
    if lines:
        # Usually everything fits: one exact count of the whole block decides.
        block = render_block(style, lines)
        tokens = style.counter.count_cached(block + SEPARATOR)
        if tokens > budget:
            chosen = _select(style, lines)
            block, tokens = "", 0
            # Line counts add up to the block's count (lines meet at token
            # boundaries), but verify the final block exactly all the same.
            while chosen:
                block = render_block(style, chosen)
                tokens = style.counter.count_cached(block + SEPARATOR)
                if tokens <= budget:
                    break
                chosen.pop()
                block, tokens = "", 0
    kept = {id(c.provenance) for c in chosen}
    for cand in lines:
        if id(cand.provenance) in kept:
            cand.provenance["used"] = True
        else:
            cand.provenance["drop_reason"] = DropReason.OVER_BUDGET
            cand.provenance.pop("shortened", None)
    return chosen, block, tokens


def _select(style: BlockStyle, lines: list[Candidate]) -> list[Candidate]:
    """The longest priority prefix whose lines fit, the first misfit shortened if it can be."""
    count = style.counter.count_cached
    total = style.fixed_tokens
    chosen: list[Candidate] = []
    for cand in lines:
        tokens = count(cand.line + "\n")
        if total + tokens <= style.budget:
            chosen.append(cand)
            total += tokens
            continue
        short = shorten(style, cand, style.budget - total)
        if short is not None:
            cand.provenance["shortened"] = True
            chosen.append(short)
        break
    return chosen


def result(
    prompt: str,
    task_type: str,
    fitted: tuple[list[Candidate], str, int],
    provenance: list[dict[str, Any]],
    *,
    store_available: bool,
    latency_ms: float,
) -> EnrichmentResult:
    """The result of an enrichment that ran: ``fitted`` is what :func:`fit` returned."""
    chosen, block, tokens = fitted
    features = {c.label: c.value.text for c in chosen}
    by_name = {f"{c.entity_type}.{c.name}": c.value.text for c in chosen}
    return EnrichmentResult(
        original_prompt=prompt,
        enriched_prompt=f"{block}{SEPARATOR}{prompt}" if block else prompt,
        task_type=task_type,
        features_used=list(by_name),
        feature_tokens_added=tokens,
        enrichment_latency_ms=latency_ms,
        features_available=bool(chosen),
        provenance=provenance,  # dicts: pydantic validates them in one pass
        context_block=block,
        variables={"feature_context": block, "features": features, "features_by_name": by_name},
        store_available=store_available,
    )


def passthrough(prompt: str, task_type: str, reason: str, latency_ms: float) -> EnrichmentResult:
    """The prompt unchanged, with why enrichment did not run."""
    return EnrichmentResult(
        original_prompt=prompt,
        enriched_prompt=prompt,
        task_type=task_type,
        features_used=[],
        feature_tokens_added=0,
        enrichment_latency_ms=latency_ms,
        features_available=False,
        variables={"feature_context": "", "features": {}, "features_by_name": {}},
        skipped_reason=reason,
    )
