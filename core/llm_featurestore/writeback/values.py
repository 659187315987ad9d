"""The one rule that turns a turn and the previous values into the features to write.

Pure: no I/O. :class:`~llm_featurestore.writeback.flow.WriteBack` reads the previous
values once per job, calls :func:`next_values` once, and retries only the write of
its result, so a retried job never counts a turn twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llm_featurestore.writeback.config import WriteBackConfig
from llm_featurestore.writeback.memory import ConversationMemory
from llm_featurestore.writeback.turn import Turn

__all__ = ["PreviousValues", "next_values", "previous_from", "previous_names"]


@dataclass(frozen=True)
class PreviousValues:
    """What the entity's features held before this turn (``None``: nothing yet)."""

    turn_count: int | None = None
    memory: str | None = None


def previous_from(config: WriteBackConfig, held: Mapping[str, Any]) -> PreviousValues:
    """The previous turn count and memory in ``held`` (``{feature: value}``, ``None``
    where the store holds nothing); a count that is not a whole number is ``None``."""
    count = held.get(config.turn_count) if config.turn_count is not None else None
    memory = held.get(config.memory) if config.memory is not None else None
    return PreviousValues(
        turn_count=_whole(count), memory=memory if isinstance(memory, str) else None
    )


def next_values(
    config: WriteBackConfig,
    turn: Turn,
    previous: PreviousValues,
    memory: ConversationMemory | None,
) -> dict[str, Any]:
    """``{feature name: value}`` to write for ``turn``: the query (cut to
    ``max_query_chars``), the shown ids (at most ``max_shown``), the previous count + 1,
    the turn's time (a datetime) and the updated memory, for each feature configured.

    Raises:
        ValueError: ``config`` names a memory feature but ``memory`` is ``None``.
    """
    out: dict[str, Any] = {}
    if config.last_query is not None:
        out[config.last_query] = turn.query[: config.max_query_chars]
    if config.shown_ids is not None:
        out[config.shown_ids] = list(turn.shown_ids[: config.max_shown])
    if config.turn_count is not None:
        out[config.turn_count] = (previous.turn_count or 0) + 1
    if config.last_turn_at is not None:
        out[config.last_turn_at] = turn.at
    if config.memory is not None:
        if memory is None:
            raise ValueError("config.memory is set: pass the ConversationMemory to use")
        out[config.memory] = memory.update(previous.memory, turn)
    return out


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def previous_names(config: WriteBackConfig) -> list[str]:
    """The features whose previous values a turn needs (turn count, memory)."""
    return [n for n in (config.turn_count, config.memory) if n is not None]
