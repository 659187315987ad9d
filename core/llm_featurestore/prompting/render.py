"""Feature values to block lines, and lines to a block that fits the token budget.

Pure functions (no I/O): :func:`candidates` turns an entity's vectors into one
:class:`Candidate` line per showable feature (and a provenance record for every
requested one), :func:`fit` keeps the highest-priority lines that fit in
``max_feature_tokens`` (shortening the first that does not), and :func:`result` /
:func:`passthrough` build the :class:`~llm_featurestore.prompting.results.EnrichmentResult`.

The block is one header line, the framing line (when configured), ``- Label: value``
lines and one footer line; its token count is exact and includes the blank line that
separates it from the prompt. Every value is screened
(:mod:`~llm_featurestore.prompting.screen`) as it is rendered and again as it is shown,
joined or shortened: no marker phrase, personal data the policy does not allow, or
instruction the policy drops can be assembled from pieces that held none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.prompting.config import EnricherConfig
from llm_featurestore.prompting.formatting import FormattedValue, format_value, join_items
from llm_featurestore.prompting.pii import PiiDetector, builtin_detectors
from llm_featurestore.prompting.policy import PromptPolicy, age_seconds
from llm_featurestore.prompting.results import DropReason, EnrichmentResult
from llm_featurestore.prompting.sanitize import ELLIPSIS, FILTERED, Neutralizer
from llm_featurestore.prompting.screen import FeatureScreen, Screen
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
    """One line that may go into the block, and the provenance record it updates.

    ``base`` is the screened value before quoting and the default wrapper, which
    :func:`shorten` cuts; ``screen`` screens the shortened text again.
    """

    entity_type: str
    name: str
    label: str
    value: FormattedValue
    line: str
    provenance: dict[str, Any]
    screen: FeatureScreen
    base: str
    defaulted: bool = False

    def with_value(self, value: FormattedValue, line: str) -> Candidate:
        """The same feature with a shorter value (and line)."""
        return Candidate(
            self.entity_type,
            self.name,
            self.label,
            value,
            line,
            self.provenance,
            self.screen,
            self.base,
            self.defaulted,
        )


@dataclass(frozen=True)
class BlockStyle:
    """How lines are rendered and counted: markers, cleaning, limits and the tokenizer."""

    header: str
    footer: str
    framing: str | None
    counter: TokenCounter
    clean: Neutralizer
    screen: Screen
    max_value_chars: int
    max_list_items: int
    budget: int
    fixed_tokens: int
    """Tokens of the header line, the framing line, the footer line and the separator."""

    @classmethod
    def from_config(
        cls,
        config: EnricherConfig,
        pii_detectors: Sequence[PiiDetector] = (),
        counter: TokenCounter | None = None,
    ) -> BlockStyle:
        """The style of ``config``; loads its tokenizer encoding (may raise, see tokens)
        unless ``counter`` is given (then ``config.encoding`` is not used).

        ``pii_detectors`` run after the built-in ones of ``config.pii_value_kinds``.
        """
        counter = counter or get_token_counter(config.encoding)
        fixed = counter.count(config.header + "\n") + counter.count(config.footer + SEPARATOR)
        if config.framing:
            fixed += counter.count(config.framing + "\n")
        markers = [config.header, config.footer, *([config.framing] if config.framing else [])]
        clean = Neutralizer(markers, max_chars=config.max_value_chars)
        salt = config.hash_salt.get_secret_value() if config.hash_salt is not None else None
        detectors = [*builtin_detectors(config.pii_value_kinds), *pii_detectors]
        return cls(
            header=config.header,
            footer=config.footer,
            framing=config.framing or None,
            counter=counter,
            clean=clean,
            screen=Screen(clean, detectors, salt),
            max_value_chars=config.max_value_chars,
            max_list_items=config.max_list_items,
            budget=config.max_feature_tokens,
            fixed_tokens=fixed,
        )

    def finish(self, cand: Candidate, text: str) -> tuple[str, str, str] | None:
        """``text`` as ``cand`` shows it: (base, shown value, line); None when it cannot be.

        The text is screened as a whole (see :class:`FeatureScreen.final`), wrapped as
        ``unknown (default ...)`` for a default, and replaced by ``(filtered)`` when
        the label and the value together spell a marker phrase (``- End: context``).
        """
        base = cand.screen.final(text)
        if cand.screen.drop_reason is not None or not base:
            return None
        shown = cand.screen.present(base)
        if cand.defaulted:
            # A default is not a fact about the user: say so in the line itself.
            shown = f"unknown (default {shown})"
        for value in (shown, FILTERED):
            if not self.screen.line_holds_marker(f"{cand.label}: {value}"):
                return base, value, f"- {cand.label}: {value}"
        return None


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
    screen = style.screen.start(
        policy.content_strategy(task_type, entity_type, name) if strategy is None else None,
        policy.instruction_policy(task_type),
    )
    formatted = format_value(
        value if strategy is None else policy.protect(value, strategy),
        clean=screen.item,
        max_chars=style.max_value_chars,
        max_items=style.max_list_items,
    )
    cand = Candidate(entity_type, name, label, formatted, "", prov, screen, "")
    cand.defaulted = status is FeatureStatus.DEFAULTED
    finished = style.finish(cand, formatted.text) if formatted.text else None
    prov.update(screen.provenance())
    if finished is None:
        prov["drop_reason"] = screen.drop_reason or DropReason.MISSING
        return prov
    cand.base, shown, cand.line = finished
    if shown != formatted.text:
        cand.value = FormattedValue(shown, formatted.items, formatted.shown)
    return cand


def render_block(style: BlockStyle, chosen: Sequence[Candidate]) -> str:
    """Header, the framing line, the chosen lines, footer."""
    framing = [style.framing] if style.framing else []
    return "\n".join([style.header, *framing, *(c.line for c in chosen), style.footer])


def shorten(style: BlockStyle, cand: Candidate, room: int) -> Candidate | None:
    """``cand`` with a shorter value whose line costs at most ``room`` tokens, or None.

    A list keeps fewer items (``(+N more)``); other text is cut at a token boundary
    and ends in ``...``. The shorter text is screened again (:meth:`BlockStyle.finish`):
    fewer items or a cut can join what was apart.
    """
    count = style.counter.count_cached
    fv = cand.value
    if fv.items and fv.shown > 1:
        for keep in range(fv.shown - 1, 0, -1):
            finished = style.finish(cand, join_items(fv.items, keep))
            if finished is not None and count(finished[2] + "\n") <= room:
                return cand.with_value(FormattedValue(finished[1], fv.items, keep), finished[2])
    value_room = room - count(f"- {cand.label}: ") - count(ELLIPSIS + "\n")
    while value_room >= _MIN_SHORTENED_VALUE_TOKENS:
        cut = style.counter.truncate(cand.base, value_room).rstrip()
        if not cut:
            return None
        finished = style.finish(cand, cut + ELLIPSIS)
        if finished is not None and count(finished[2] + "\n") <= room:
            return cand.with_value(FormattedValue(finished[1]), finished[2])
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
        cand.provenance.update(cand.screen.provenance())  # the shorter text was screened too
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
