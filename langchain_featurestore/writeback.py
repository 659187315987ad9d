"""Write-back after each chain call: a callback handler that submits the turn.

::

    write_back = WriteBack(serving_client, last_query="last_query", shown_ids="last_shown",
                           turn_count="turns", memory="conversation_memory")
    chain = with_write_back(personalized_rag_chain(retriever, enricher, prompt, llm),
                            write_back)
    chain.invoke({"question": "trail shoes?", "user_id": "u1"})   # or ainvoke, batch, stream

:class:`WriteBackCallbackHandler` watches one call (every run under the first run it
sees) and, when that run ends, submits one
:class:`~llm_featurestore.writeback.Turn` to the
:class:`~llm_featurestore.writeback.WriteBack`: the question (``input[question_key]``),
the entity ids (the input's id keys or its run metadata, else the ids of the feature
vectors the chain looked up, which covers ids given in ``config["configurable"]``), the
documents shown (the last ``documents`` a step of the chain output, else the last
retriever's result) and the answer's text. It runs inline (no thread hop) and does no
I/O: the write happens on the background writer. A call that raises writes nothing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.runnables import Runnable

from langchain_featurestore.lookup import vector_for
from llm_featurestore.reading import entity_ids
from llm_featurestore.serving.degrade import CauseLog
from llm_featurestore.writeback import Turn, WriteBack, text_of

__all__ = ["WriteBackCallbackHandler", "with_write_back"]

logger = logging.getLogger("llm_featurestore.writeback")


@dataclass
class _Call:
    """What one call showed so far."""

    inputs: Any
    metadata: Mapping[str, Any]
    children: set[UUID] = field(default_factory=set)
    documents: Sequence[Document] | None = None
    retrieved: Sequence[Document] | None = None
    looked_up: dict[str, str] = field(default_factory=dict)


class WriteBackCallbackHandler(BaseCallbackHandler):
    """Submit a turn to ``write_back`` when a chain call ends.

    Args:
        write_back: Where turns go.
        question_key: Input key of the question (a plain string input is the question).
        id_keys: ``{entity_type: input key}``; default ``{entity_type: "<entity_type>_id"}``
            for the write-back's entity type.
        documents_key: Key of the shown documents in a step's output dict.
        features_key: Key of the looked-up vectors in a step's output dict.
        answer_key: Key of the answer's text when the chain returns a dict.
    """

    run_inline = True
    raise_error = False

    def __init__(
        self,
        write_back: WriteBack,
        *,
        question_key: str = "question",
        id_keys: Mapping[str, str] | None = None,
        documents_key: str = "documents",
        features_key: str = "features",
        answer_key: str = "answer",
    ) -> None:
        etype = write_back.config.entity_type
        self.write_back = write_back
        self.question_key = question_key
        self.id_keys = dict(id_keys or {etype: f"{etype}_id"})
        self.documents_key = documents_key
        self.features_key = features_key
        self.answer_key = answer_key
        self._lock = threading.Lock()
        self._calls: dict[UUID, _Call] = {}
        self._root_of: dict[UUID, UUID] = {}
        self._causes = CauseLog(logger)

    # ------------------------------------------------------------ run tracking

    def _start(self, run_id: UUID, parent_run_id: UUID | None, inputs: Any, metadata: Any) -> None:
        with self._lock:
            root = self._root_of.get(parent_run_id) if parent_run_id is not None else None
            if root is None:
                self._calls[run_id] = _Call(inputs, dict(metadata or {}))
                self._root_of[run_id] = run_id
            else:
                self._root_of[run_id] = root
                self._calls[root].children.add(run_id)

    def _child(self, run_id: UUID) -> _Call | None:
        """The call a child run belongs to (``None`` for a root or an unknown run)."""
        root = self._root_of.get(run_id)
        return self._calls.get(root) if root is not None and root != run_id else None

    def _finish(self, run_id: UUID) -> _Call | None:
        """Forget a finished root run and its children; ``None`` for a child run."""
        with self._lock:
            if self._root_of.get(run_id) != run_id:
                self._root_of.pop(run_id, None)
                return None
            call = self._calls.pop(run_id)
            for child in (run_id, *call.children):
                self._root_of.pop(child, None)
            return call

    # -------------------------------------------------------- callback events

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, inputs, metadata)

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, {self.question_key: query}, kwargs.get("metadata"))

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        with self._lock:
            call = self._child(run_id)
            if call is not None:
                call.retrieved = list(documents)
        self._end(run_id, documents, kwargs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if isinstance(outputs, Mapping):
            with self._lock:
                call = self._child(run_id)
                if call is not None:
                    self._note(call, outputs)
        self._end(run_id, outputs, kwargs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id)

    # ------------------------------------------------------------- the turn

    def _note(self, call: _Call, outputs: Mapping[str, Any]) -> None:
        docs = outputs.get(self.documents_key)
        if isinstance(docs, Sequence) and all(isinstance(d, Document) for d in docs):
            call.documents = list(docs)
        features = outputs.get(self.features_key)
        for etype in self.id_keys:
            try:
                vector = vector_for(features, etype)
            except Exception:  # not a lookup's output: nothing to learn from it
                vector = None
            if vector is not None and vector.entity_type == etype:
                call.looked_up[etype] = vector.entity_id

    def _end(self, run_id: UUID, outputs: Any, kwargs: Mapping[str, Any]) -> None:
        call = self._finish(run_id)
        if call is None:
            return
        try:
            turn = self._turn(call, outputs, kwargs.get("inputs"))
        except Exception as exc:
            self._causes.warn(
                ("turn", type(exc).__name__),
                f"Write-back could not read the chain's turn ({type(exc).__name__}: {exc}); "
                "nothing is written for it",
            )
            return
        if turn is not None:
            self.write_back.submit(turn)

    def _turn(self, call: _Call, outputs: Any, final_inputs: Any) -> Turn | None:
        inputs = final_inputs if isinstance(final_inputs, Mapping) else call.inputs
        if isinstance(inputs, str):
            question: Any = inputs
            inputs = {}
        else:
            inputs = inputs if isinstance(inputs, Mapping) else {}
            question = inputs.get(self.question_key)
        if not isinstance(question, str) or not question:
            return None
        ids = {**call.looked_up, **entity_ids([inputs, call.metadata], self.id_keys)}
        docs = call.documents if call.documents is not None else call.retrieved or []
        shown = self.write_back.shown_ids_of([(d.id, d.metadata) for d in docs])
        return Turn(ids, question, shown, text_of(outputs, self.answer_key))


def with_write_back(
    chain: Runnable[Any, Any], write_back: WriteBack, **handler_options: Any
) -> Runnable[Any, Any]:
    """``chain`` with a :class:`WriteBackCallbackHandler` attached to every call
    (``handler_options`` are its keyword arguments)."""
    handler = WriteBackCallbackHandler(write_back, **handler_options)
    return chain.with_config(callbacks=[handler])
