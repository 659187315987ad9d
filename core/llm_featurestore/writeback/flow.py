"""The write flow: a turn becomes one write of the configured features, off the request path.

:meth:`WriteBack.submit` is all a request does (the adapters call it when a chain or a
query engine has answered): it queues a :class:`TurnJob` on the background writer and
returns. The worker then runs the job:

1. **read** the previous turn count and memory once (from the store itself, under the
   serving layer: an exact read, never a cached, defaulted or degraded one; a feature
   the store does not know yet has no previous value);
2. **compute** the values once (:func:`~llm_featurestore.writeback.values.next_values`);
3. **write** them through the client's ``write_features``. Through a
   :class:`~llm_featurestore.serving.ServingClient` (the one the chain reads from) the
   entity's cache entries are dropped, so the next request sees the new values.

A failed read is retried; a failed write retries the write of the *same* values with
the same event time, so a retried job never counts a turn twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from llm_featurestore.clients.base import FeatureStoreClient, WritableFeatureStore
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    InvalidEntityIdError,
)
from llm_featurestore.models import FeatureStatus
from llm_featurestore.prompting.tokens import TokenCounter, get_token_counter
from llm_featurestore.serving.client import ServingClient
from llm_featurestore.settings import settings_from
from llm_featurestore.writeback.config import WriteBackConfig
from llm_featurestore.writeback.memory import ConversationMemory
from llm_featurestore.writeback.turn import Turn, shown_ids
from llm_featurestore.writeback.values import (
    PreviousValues,
    next_values,
    previous_from,
    previous_names,
)
from llm_featurestore.writeback.writer import BackgroundWriter, WriterStats

__all__ = ["PreparedWrite", "TurnJob", "WriteBack"]

_HELD = (FeatureStatus.PRESENT, FeatureStatus.STALE)
_FAILED = (FeatureStatus.UNAVAILABLE, FeatureStatus.TIMED_OUT)


class PreparedWrite(NamedTuple):
    """The values one turn writes, computed once."""

    entity_type: str
    entity_id: str
    values: dict[str, Any]
    event_timestamp: datetime


class TurnJob:
    """One turn's job on the writer: read and compute once, then write (retried alone)."""

    def __init__(self, flow: WriteBack, turn: Turn) -> None:
        self.flow = flow
        self.turn = turn
        self.prepared: PreparedWrite | None = None

    @property
    def stage(self) -> str:
        """``"read"`` until the values are computed, then ``"write"``."""
        return "read" if self.prepared is None else "write"

    def __call__(self) -> None:
        if self.prepared is None:
            self.prepared = self.flow.prepare(self.turn)
        self.flow.write(self.prepared)


class WriteBack:
    """Write activity and conversation memory features after each turn, in the background.

    Args:
        client: Where to write: the :class:`~llm_featurestore.serving.ServingClient` the
            chain reads through (so its cache forgets the entity), or a writable store.
        config: The settings (:class:`WriteBackConfig`); or pass its fields as keywords.
        summarizer: The memory's model: a callable (prompt -> text), a LangChain
            Runnable or a LlamaIndex LLM; ``None`` keeps the extractive memory.
        background_writer: The writer to use (e.g. one with a test ``sleep``); by
            default one built from ``config.writer``. :meth:`close` closes it.
        counter: Token counter for the memory budget; by default the one of
            ``config.memory_encoding``, loaded now when a memory feature is configured.
        **fields: The fields of :class:`WriteBackConfig`.

    Raises:
        FeatureConfigError: a setting is invalid, the store is read-only, or the
            memory's encoding cannot be loaded offline.
    """

    def __init__(
        self,
        client: FeatureStoreClient,
        config: WriteBackConfig | None = None,
        *,
        summarizer: Any = None,
        background_writer: BackgroundWriter | None = None,
        counter: TokenCounter | None = None,
        **fields: Any,
    ) -> None:
        self.config = settings_from(WriteBackConfig, config, fields)
        self.client = client
        self.store = _readable_store(client)
        self.writer = background_writer or BackgroundWriter(self.config.writer)
        self.memory: ConversationMemory | None = None
        if self.config.memory is not None:
            self.memory = ConversationMemory(
                counter or get_token_counter(self.config.memory_encoding),
                max_tokens=self.config.memory_max_tokens,
                max_turns=self.config.memory_turns,
                summarizer=summarizer,
            )
        elif summarizer is not None:
            raise FeatureConfigError(
                "A summarizer was given but no memory feature is configured: set memory "
                "to the feature that receives the conversation memory"
            )

    # ------------------------------------------------------------ request path

    def submit(self, turn: Turn) -> bool:
        """Queue ``turn`` for writing and return at once; never raises.

        Returns:
            False when nothing was queued: the turn names no id of ``entity_type`` (an
            anonymous call), or the writer is closed.
        """
        if not turn.entities.get(self.config.entity_type):
            return False
        return self.writer.submit(TurnJob(self, turn))

    def shown_ids_of(
        self, items: Sequence[tuple[str | None, Mapping[str, Any]]]
    ) -> tuple[str, ...]:
        """The shown ids of ``(own id, metadata)`` pairs under this configuration."""
        return shown_ids(items, self.config.shown_id_key, self.config.max_shown)

    # ------------------------------------------------------- background worker

    def prepare(self, turn: Turn) -> PreparedWrite:
        """Read the previous values once and compute what ``turn`` writes.

        Raises:
            FeatureStoreUnavailableError: the previous values could not be read.
            FeatureConfigError: the turn names no id of ``entity_type``.
        """
        etype = self.config.entity_type
        eid = turn.entities.get(etype)
        if not eid:
            raise FeatureConfigError(
                f"The turn names no '{etype}' id (it has: {', '.join(turn.entities) or 'none'})"
            )
        previous = self.read_previous(eid)
        values = next_values(self.config, turn, previous, self.memory)
        return PreparedWrite(etype, eid, values, turn.at)

    def write(self, prepared: PreparedWrite) -> None:
        """Write ``prepared`` through the client (a ServingClient drops its cached reads)."""
        self.client.write_features(  # type: ignore[attr-defined]
            prepared.entity_id, prepared.entity_type, prepared.values, prepared.event_timestamp
        )

    def process(self, turn: Turn) -> PreparedWrite:
        """Prepare and write ``turn`` now, in the calling thread (errors raise)."""
        prepared = self.prepare(turn)
        self.write(prepared)
        return prepared

    def read_previous(self, entity_id: str) -> PreviousValues:
        """The entity's turn count and memory before this turn, read from the store.

        Raises:
            FeatureStoreUnavailableError: the store could not be read.
        """
        names = previous_names(self.config)
        if not names:
            return PreviousValues()
        return previous_from(self.config, self._held(entity_id, names))

    def _held(self, entity_id: str, names: list[str]) -> dict[str, Any]:
        """``{name: value}`` the store holds (``None`` where it holds nothing, or does
        not know the feature yet: local and Redis learn names on their first write)."""
        etype = self.config.entity_type
        try:
            vector = self.store.get_features(entity_id, etype, names)
        except InvalidEntityIdError:
            raise
        except FeatureConfigError:
            if len(names) == 1:
                return {names[0]: None}
            return {k: v for name in names for k, v in self._held(entity_id, [name]).items()}
        failed = [n for n in names if vector.statuses.get(n) in _FAILED]
        if failed:
            raise FeatureStoreUnavailableError(
                f"Reading the previous {', '.join(failed)} of {etype} {entity_id!r} failed "
                f"({vector.statuses[failed[0]].value})"
            )
        return {
            n: vector.features.get(n) if vector.statuses.get(n) in _HELD else None for n in names
        }

    # ---------------------------------------------------------------- lifecycle

    @property
    def stats(self) -> WriterStats:
        """The writer's counters: queued, written, dropped, retried, failed, ..."""
        return self.writer.stats

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued turn is written (see :meth:`BackgroundWriter.flush`)."""
        return self.writer.flush(timeout)

    def close(self, timeout: float | None = 5.0) -> bool:
        """Flush, then close the writer (see :meth:`BackgroundWriter.close`)."""
        return self.writer.close(timeout)

    def __enter__(self) -> WriteBack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _readable_store(client: FeatureStoreClient) -> FeatureStoreClient:
    """The store under ``client``'s serving layer, after checking it can be written."""
    store = client.backend if isinstance(client, ServingClient) else client
    if not isinstance(store, WritableFeatureStore):
        raise FeatureConfigError(
            f"Write-back needs a writable store; the {type(store).__name__} backend is "
            "read-only (writable: local, redis, feast)"
        )
    return store
