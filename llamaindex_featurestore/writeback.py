"""Write-back after each query: a query engine option and an instrumentation event handler.

::

    write_back = WriteBack(serving_client, last_query="last_query", shown_ids="last_shown",
                           turn_count="turns", memory="conversation_memory")
    engine = personalized_query_engine(index, serving_client, write_back=write_back, ...)
    engine.query(FeatureQueryBundle("trail shoes?", user_id="u1"))   # or aquery

After each answered query, one :class:`~llm_featurestore.writeback.Turn` goes to the
:class:`~llm_featurestore.writeback.WriteBack`: the query text, the entities (the
bundle's, the :func:`~llamaindex_featurestore.context.user_context`'s, then the
retriever's defaults), the ids of the response's source nodes (the feature context
node left out) and the answer's text (``None`` for a streaming response not consumed
yet). Nothing waits: the write happens on the background writer. A query that raises
writes nothing.

:class:`FeatureWriteBackHandler` does the same for every query engine in the process
(Workflows, agents, engines built elsewhere), from LlamaIndex's ``QueryEndEvent``;
register it with ``llama_index.core.instrumentation.get_dispatcher().add_event_handler``.
Use one or the other for an engine, not both, or its turns are written twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.query import QueryEndEvent
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import QueryBundle
from pydantic import PrivateAttr

from llamaindex_featurestore.context import resolve_entities
from llamaindex_featurestore.rerank import CONTEXT_KEY
from llm_featurestore.serving.degrade import CauseLog
from llm_featurestore.writeback import Turn, WriteBack, text_of

__all__ = ["FeatureWriteBackHandler", "WriteBackQueryEngine", "turn_of", "with_write_back"]

_causes = CauseLog(logging.getLogger("llm_featurestore.writeback"))


def turn_of(
    write_back: WriteBack,
    query: QueryBundle | str,
    response: Any,
    *,
    user_id: str | None = None,
    entities: Mapping[str, str] | None = None,
) -> Turn:
    """The turn of one answered query (``user_id``/``entities``: the defaults used when
    the query names no entity, as a feature retriever's own)."""
    bundle = QueryBundle(query) if isinstance(query, str) else query
    ids = resolve_entities(bundle, user_id, entities)
    nodes = [
        n.node for n in getattr(response, "source_nodes", None) or [] if not _is_context(n.node)
    ]
    shown = write_back.shown_ids_of([(n.node_id, n.metadata) for n in nodes])
    answer = text_of(response)
    if answer is None:
        streamed = getattr(response, "response_txt", None)
        answer = streamed if isinstance(streamed, str) else None
    return Turn(ids, bundle.query_str, shown, answer)


def _is_context(node: Any) -> bool:
    return bool((getattr(node, "metadata", None) or {}).get(CONTEXT_KEY))


class WriteBackQueryEngine(RetrieverQueryEngine):
    """A ``RetrieverQueryEngine`` that submits every answered query to a write-back.

    Build it with :func:`with_write_back` or ``personalized_query_engine(...,
    write_back=...)``.
    """

    write_back: WriteBack

    def _submit(self, query_bundle: QueryBundle, response: Any) -> None:
        retriever = self.retriever
        user_id, entities = (
            getattr(retriever, "user_id", None),
            getattr(retriever, "entities", None),
        )
        _submit(self.write_back, query_bundle, response, user_id, entities)

    def _query(self, query_bundle: QueryBundle) -> Any:
        response = super()._query(query_bundle)
        self._submit(query_bundle, response)
        return response

    async def _aquery(self, query_bundle: QueryBundle) -> Any:
        response = await super()._aquery(query_bundle)
        self._submit(query_bundle, response)
        return response


def with_write_back(engine: RetrieverQueryEngine, write_back: WriteBack) -> WriteBackQueryEngine:
    """``engine``'s retriever, postprocessors and synthesizer, submitting each turn."""
    out = WriteBackQueryEngine(
        retriever=engine.retriever,
        response_synthesizer=engine._response_synthesizer,
        node_postprocessors=list(engine._node_postprocessors),
        callback_manager=engine.callback_manager,
    )
    out.write_back = write_back
    return out


class FeatureWriteBackHandler(BaseEventHandler):
    """Submit a turn for every ``QueryEndEvent`` of the process (see the module docstring).

    Args:
        write_back: Where turns go.
        user_id: Default user id when a query names none.
        entities: Default ids of other entity types.
    """

    _write_back: WriteBack = PrivateAttr()
    _defaults: tuple[str | None, dict[str, str]] = PrivateAttr()

    def __init__(
        self,
        write_back: WriteBack,
        *,
        user_id: str | None = None,
        entities: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._write_back = write_back
        self._defaults = (user_id, dict(entities or {}))

    @classmethod
    def class_name(cls) -> str:
        return "FeatureWriteBackHandler"

    @property
    def write_back(self) -> WriteBack:
        """Where turns go."""
        return self._write_back

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if not isinstance(event, QueryEndEvent):
            return
        query = event.query if isinstance(event.query, (str, QueryBundle)) else str(event.query)
        _submit(self._write_back, query, event.response, *self._defaults)


def _submit(
    write_back: WriteBack,
    query: QueryBundle | str,
    response: Any,
    user_id: str | None,
    entities: Mapping[str, str] | None,
) -> None:
    """Build and submit the turn; a turn that cannot be read is logged, never raised."""
    try:
        turn = turn_of(write_back, query, response, user_id=user_id, entities=entities)
    except Exception as exc:
        _causes.warn(
            ("turn", type(exc).__name__),
            f"Write-back could not read the query's turn ({type(exc).__name__}: {exc}); "
            "nothing is written for it",
        )
        return
    write_back.submit(turn)
