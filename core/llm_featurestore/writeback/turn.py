"""One turn of a conversation, as the adapters capture it, and the helpers that build it.

The adapters translate their framework's objects into plain values here: the ids of
the documents shown (:func:`shown_ids`, from ``(own id, metadata)`` pairs) and the
answer's text (:func:`text_of`, from a string, a chat message, a completion, a
LlamaIndex response or a dict holding one of them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from llm_featurestore.models import utcnow

__all__ = ["Turn", "shown_ids", "text_of"]


@dataclass(frozen=True)
class Turn:
    """What one call of a chain or query engine did, for one set of entities.

    Attributes:
        entities: ``{entity_type: entity_id}`` of the call (e.g. ``{"user": "u1"}``).
        query: The question as the user asked it.
        shown_ids: Ids of the documents or products the answer was given from, in order.
        answer: The answer's text (``None`` when there was none, e.g. streaming).
        at: When the turn ended (UTC); the event time of every value it writes.
    """

    entities: Mapping[str, str]
    query: str
    shown_ids: tuple[str, ...] = ()
    answer: str | None = None
    at: datetime = field(default_factory=utcnow)


def shown_ids(
    items: Iterable[tuple[str | None, Mapping[str, Any]]], key: str | None, limit: int
) -> tuple[str, ...]:
    """The ids of shown documents: ``metadata[key]``, or each document's own id when
    ``key`` is ``None``; documents without one are skipped, duplicates kept once, at
    most ``limit``, in order.

    Args:
        items: ``(own id, metadata)`` per document (a LangChain ``Document``'s ``id``
            and ``metadata``, a LlamaIndex node's ``node_id`` and ``metadata``).
        key: The metadata key holding the id, or ``None``.
        limit: How many to keep.
    """
    out: dict[str, None] = {}
    for own, metadata in items:
        value = own if key is None else metadata.get(key)
        if value is None or value == "" or isinstance(value, bool):
            continue
        out.setdefault(str(value), None)
        if len(out) >= limit:
            break
    return tuple(out)


def text_of(value: Any, key: str = "answer") -> str | None:
    """The text of an answer, or ``None`` when it holds none.

    Accepts a string, anything with a text ``content`` (a chat message; a list of
    content blocks is joined), ``text`` (a completion) or ``response`` (a LlamaIndex
    ``Response``), or a mapping whose ``key`` holds one of these.
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return text_of(value.get(key), key) if key in value else None
    for attr in ("content", "text", "response"):
        inner = getattr(value, attr, None)
        if isinstance(inner, str):
            return inner
        if attr == "content" and isinstance(inner, list):
            return "".join(_block_text(block) for block in inner)
    return None


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, Mapping) and isinstance(block.get("text"), str):
        return str(block["text"])
    return ""
