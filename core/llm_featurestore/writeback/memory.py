"""Conversation memory: a rolling summary of the last turns within a token budget.

The default is **extractive** and needs no model: one line per turn (the question,
what was shown, the answer's first sentence), the newest ``max_turns`` lines kept,
the oldest dropped first until the text fits ``max_tokens``, and the newest line cut
at a token boundary when it alone is too long.

A **summariser** replaces that with a model: any callable taking the prompt text, any
object with ``invoke`` (a LangChain Runnable: an LLM, a chat model, a
``RunnableLambda``) or with ``complete`` (a LlamaIndex LLM). It receives the summary
so far and the new turn (:func:`summary_prompt`) and returns the new summary, which
is cut to the budget as well. When it fails, the turn falls back to the extractive
memory (logged once per cause), so a flaky model never loses a turn.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.prompting.tokens import TokenCounter
from llm_featurestore.serving.degrade import CauseLog
from llm_featurestore.writeback.turn import Turn, text_of

__all__ = ["ConversationMemory", "Summarizer", "as_summarizer", "summary_prompt", "turn_line"]

logger = logging.getLogger("llm_featurestore.writeback")

Summarizer = Callable[[str], Any]
"""Prompt text in, the new summary out (a string, a chat message or a completion)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s")
_ANSWER_CHARS = 200
_QUERY_CHARS = 300
_SHOWN_IN_LINE = 5


def as_summarizer(model: Any) -> Summarizer:
    """A :data:`Summarizer` from a LangChain Runnable, a LlamaIndex LLM or a callable.

    Raises:
        FeatureConfigError: ``model`` is none of these.
    """
    if callable(getattr(model, "invoke", None)):
        return model.invoke  # type: ignore[no-any-return]
    complete = getattr(model, "complete", None)
    if callable(complete):
        return lambda prompt: complete(prompt)
    if callable(model):
        return model  # type: ignore[no-any-return]
    raise FeatureConfigError(
        f"summarizer must be a callable (prompt -> text), a LangChain Runnable (invoke) or "
        f"a LlamaIndex LLM (complete); got {type(model).__name__}"
    )


def turn_line(turn: Turn) -> str:
    """One turn as one line: ``User: ... | Shown: a, b | Assistant: first sentence.``"""
    parts = [f"User: {_one_line(turn.query, _QUERY_CHARS)}"]
    if turn.shown_ids:
        shown = ", ".join(turn.shown_ids[:_SHOWN_IN_LINE])
        more = len(turn.shown_ids) - _SHOWN_IN_LINE
        parts.append(f"Shown: {shown}" + (f" (+{more} more)" if more > 0 else ""))
    if turn.answer and turn.answer.strip():
        first = _SENTENCE_END.split(turn.answer.strip(), maxsplit=1)[0]
        parts.append(f"Assistant: {_one_line(first, _ANSWER_CHARS)}")
    return " | ".join(parts)


def summary_prompt(previous: str | None, turn: Turn, max_tokens: int) -> str:
    """The prompt a summariser receives: the summary so far and the new turn."""
    return (
        "Update the running summary of this conversation for the assistant's memory. Keep "
        "the user's goals, preferences and what was shown; write facts, not instructions; "
        f"at most {max_tokens} tokens.\n\n"
        f"Summary so far:\n{previous.strip() if previous and previous.strip() else '(none)'}\n\n"
        f"New turn:\n{turn_line(turn)}\n\nUpdated summary:"
    )


class ConversationMemory:
    """Computes the next memory text from the previous one and a turn.

    Args:
        counter: Counts tokens (the budget is exact for this encoding).
        max_tokens: Budget of the memory text.
        max_turns: Lines the extractive memory keeps at most.
        summarizer: A model or callable (see :func:`as_summarizer`); ``None`` is extractive.
    """

    def __init__(
        self,
        counter: TokenCounter,
        *,
        max_tokens: int = 200,
        max_turns: int = 10,
        summarizer: Any = None,
    ) -> None:
        self.counter = counter
        self.max_tokens = max_tokens
        self.max_turns = max_turns
        self.summarizer: Summarizer | None = (
            None if summarizer is None else as_summarizer(summarizer)
        )
        self._causes = CauseLog(logger)

    def update(self, previous: str | None, turn: Turn) -> str:
        """The memory after ``turn``: at most ``max_tokens`` tokens, never raises for a
        failing summariser (the extractive memory is used instead)."""
        if self.summarizer is not None:
            try:
                text = text_of(self.summarizer(summary_prompt(previous, turn, self.max_tokens)))
            except Exception as exc:
                self._causes.warn(
                    ("summarizer", type(exc).__name__),
                    f"Write-back summariser failed ({type(exc).__name__}: {exc}); "
                    "using the extractive memory",
                )
            else:
                if text and text.strip():
                    return self._fit(text.strip())
        return self.extractive(previous, turn)

    def extractive(self, previous: str | None, turn: Turn) -> str:
        """The extractive memory: the previous lines plus this turn's, oldest dropped
        first until the text fits the budget."""
        lines = [line for line in (previous or "").splitlines() if line.strip()]
        lines = [*lines, turn_line(turn)][-self.max_turns :]
        # Pick the newest lines whose counts (memoised: old lines repeat every turn) plus
        # one token per line break fit; then check the joined text exactly, once.
        counts = [self.counter.count_cached(line) for line in lines]
        keep, total = 1, counts[-1]
        while keep < len(lines) and total + 1 + counts[-keep - 1] <= self.max_tokens:
            total += 1 + counts[-keep - 1]
            keep += 1
        kept = lines[-keep:]
        text = "\n".join(kept)
        while len(kept) > 1 and self.counter.count_cached(text) > self.max_tokens:
            kept.pop(0)
            text = "\n".join(kept)
        return self._fit(text)

    def _fit(self, text: str) -> str:
        """``text`` cut at a token boundary to the budget (unchanged when it fits)."""
        if self.counter.count_cached(text) <= self.max_tokens:
            return text
        return self.counter.truncate(text, self.max_tokens)


def _one_line(text: str, max_chars: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= max_chars else flat[: max_chars - 3].rstrip() + "..."
