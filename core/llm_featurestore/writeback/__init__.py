"""Write-back after each turn: activity and conversation memory features, in the background.

After a chain or query engine answers, :class:`WriteBack` writes what the turn did (the
last query, the ids shown, the turn count, the time of the turn, a rolling memory of
the conversation) to the feature store, through a bounded :class:`BackgroundWriter`
that never adds latency to the answer and never fails it. The next request for the
same entity reads what this one wrote (a ``ServingClient`` drops its cached reads).
The adapters capture the turns: ``langchain_featurestore.WriteBackCallbackHandler``
and ``personalized_query_engine(..., write_back=...)`` in LlamaIndex.

::

    write_back = WriteBack(
        serving_client,
        last_query="last_query", shown_ids="last_shown", turn_count="turns",
        memory="conversation_memory", shown_id_key="product_id",
    )
    write_back.submit(Turn({"user": "u1"}, "trail shoes?", ("p1", "p2"), "Try the..."))

Modules: :mod:`~.config` (what to write), :mod:`~.turn` (a turn),
:mod:`~.memory` (the rolling summary), :mod:`~.values` (the pure rule),
:mod:`~.flow` (read once, compute once, write), :mod:`~.writer` (queue and retries).
"""

from llm_featurestore.writeback.config import FEATURE_FIELDS, WriteBackConfig
from llm_featurestore.writeback.flow import PreparedWrite, TurnJob, WriteBack
from llm_featurestore.writeback.memory import (
    ConversationMemory,
    Summarizer,
    as_summarizer,
    summary_prompt,
)
from llm_featurestore.writeback.turn import Turn, shown_ids, text_of
from llm_featurestore.writeback.values import PreviousValues, next_values
from llm_featurestore.writeback.writer import (
    BackgroundWriter,
    WriterConfig,
    WriterStats,
    flush_all_writers,
)

__all__ = [
    "FEATURE_FIELDS",
    "BackgroundWriter",
    "ConversationMemory",
    "PreparedWrite",
    "PreviousValues",
    "Summarizer",
    "Turn",
    "TurnJob",
    "WriteBack",
    "WriteBackConfig",
    "WriterConfig",
    "WriterStats",
    "as_summarizer",
    "flush_all_writers",
    "next_values",
    "shown_ids",
    "summary_prompt",
    "text_of",
]
