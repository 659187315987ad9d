"""Write-back after each chain call: a Runnable wrapper, and a callback handler.

::

    write_back = WriteBack(serving_client, last_query="last_query", shown_ids="last_shown",
                           turn_count="turns", memory="conversation_memory")
    chain = with_write_back(personalized_rag_chain(retriever, enricher, prompt, llm),
                            write_back)
    chain.invoke({"question": "trail shoes?", "user_id": "u1"})   # or ainvoke, batch, stream

After each call, one :class:`~llm_featurestore.writeback.Turn` goes to the
:class:`~llm_featurestore.writeback.WriteBack`: the question (``input[question_key]``),
the entity ids (of the feature vectors the chain looked up, which covers ids given in
``config["configurable"]``, else the input's id keys), the documents shown and the
answer's text. Nothing waits: the write happens on the background writer. A call that
raises writes nothing; a turn that cannot be read is logged once, never raised.

Two ways to capture it:

* :func:`with_write_back` (the fast path, for chains shaped ``... | prompt | llm`` such
  as :func:`~langchain_featurestore.personalized_rag_chain`): a :class:`WriteBackRunnable`
  around a copy of the sequence whose prompt step records the variables it receives
  (the input, ``documents``, the looked-up ``features``). Neither creates a run or
  needs callbacks: tracing sees the same tree.
* :class:`WriteBackCallbackHandler`, for any chain (an agent, a chain built another
  way): it watches every run under the first one it sees and reads the documents from
  the last step output holding ``documents`` (else the last retriever's result). It costs
  LangChain's callback dispatch on every run, which the tap avoids.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.documents import Document
from langchain_core.prompts import BasePromptTemplate
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSequence
from langchain_core.runnables.config import ensure_config

from langchain_featurestore._turns import TurnKeys
from llm_featurestore.serving.degrade import CauseLog
from llm_featurestore.writeback import Turn, WriteBack

__all__ = ["WriteBackCallbackHandler", "WriteBackRunnable", "with_write_back"]

logger = logging.getLogger("llm_featurestore.writeback")
_causes = CauseLog(logger)


def _submit(write_back: WriteBack, build: Any, *args: Any) -> None:
    """``write_back.submit(build(*args))``; a turn that cannot be read is logged once."""
    try:
        turn: Turn | None = build(*args)
    except Exception as exc:
        _causes.warn(
            ("turn", type(exc).__name__),
            f"Write-back could not read the chain's turn ({type(exc).__name__}: {exc}); "
            "nothing is written for it",
        )
        return
    if turn is not None:
        write_back.submit(turn)


# --------------------------------------------------------------- the fast path


class _Capture:
    """What the tap saw during one call of a :class:`WriteBackRunnable`."""

    __slots__ = ("variables",)

    def __init__(self) -> None:
        self.variables: Mapping[str, Any] | None = None


_CAPTURE: contextvars.ContextVar[_Capture | None] = contextvars.ContextVar(
    "llmfs_writeback_capture", default=None
)


class _Tap(Runnable[Any, Any]):
    """The prompt step, recording its input (the variables) for the enclosing call.

    It stands in for the prompt in the sequence instead of adding a step: no extra run,
    task or config, only the prompt's own run (whose name and input are unchanged).
    """

    def __init__(self, bound: Runnable[Any, Any]) -> None:
        self.bound = bound
        self.name = bound.get_name()

    @property
    def InputType(self) -> Any:
        return self.bound.InputType

    @property
    def OutputType(self) -> Any:
        return self.bound.OutputType

    @staticmethod
    def _record(input: Any) -> None:
        capture = _CAPTURE.get()
        if capture is not None and isinstance(input, Mapping):
            capture.variables = input

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        self._record(input)
        return self.bound.invoke(input, config, **kwargs)

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        self._record(input)
        return await self.bound.ainvoke(input, config, **kwargs)


class WriteBackRunnable(Runnable[Any, Any]):
    """A chain whose every call submits its turn to a write-back (see :func:`with_write_back`).

    Args:
        chain: The tapped chain (its tap records the prompt's variables).
        write_back: Where turns go.
        keys: Where the values hold the parts of a turn.
    """

    def __init__(self, chain: Runnable[Any, Any], write_back: WriteBack, keys: TurnKeys) -> None:
        self.chain = chain
        self.write_back = write_back
        self.keys = keys
        self.name = chain.get_name()

    @property
    def InputType(self) -> Any:
        return self.chain.InputType

    @property
    def OutputType(self) -> Any:
        return self.chain.OutputType

    def _turn(self, input: Any, capture: _Capture, config: Any, output: Any) -> Turn | None:
        variables = capture.variables or {}
        configurable = ensure_config(config).get("configurable") or {}
        inputs = {**input, **variables} if isinstance(input, Mapping) else variables or input
        docs = self.keys.documents_in(variables) or ()
        looked_up = self.keys.looked_up(variables)
        return self.keys.turn(self.write_back, inputs, [configurable], docs, looked_up, output)

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        capture = _Capture()
        token = _CAPTURE.set(capture)
        try:
            output = self.chain.invoke(input, config, **kwargs)
        finally:
            _CAPTURE.reset(token)
        _submit(self.write_back, self._turn, input, capture, config, output)
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        capture = _Capture()
        token = _CAPTURE.set(capture)
        try:
            output = await self.chain.ainvoke(input, config, **kwargs)
        finally:
            _CAPTURE.reset(token)
        _submit(self.write_back, self._turn, input, capture, config, output)
        return output

    def stream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        capture, whole = _Capture(), _Whole()
        token = _CAPTURE.set(capture)
        try:
            for chunk in self.chain.stream(input, config, **kwargs):
                whole.add(chunk)
                yield chunk
        finally:
            _CAPTURE.reset(token)
        _submit(self.write_back, self._turn, input, capture, config, whole.value)

    async def astream(
        self, input: Any, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        capture, whole = _Capture(), _Whole()
        token = _CAPTURE.set(capture)
        try:
            async for chunk in self.chain.astream(input, config, **kwargs):
                whole.add(chunk)
                yield chunk
        finally:
            _CAPTURE.reset(token)
        _submit(self.write_back, self._turn, input, capture, config, whole.value)


class _Whole:
    """The streamed output put back together (chunks added; else the last chunk)."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: Any = None

    def add(self, chunk: Any) -> None:
        if self.value is None:
            self.value = chunk
            return
        try:
            self.value = self.value + chunk
        except TypeError:
            self.value = chunk


def _tap_position(steps: Sequence[Runnable[Any, Any]]) -> int:
    """The prompt: the first prompt template, else the second-to-last step (before the llm)."""
    for i, step in enumerate(steps):
        if isinstance(step, BasePromptTemplate):
            return i
    return max(len(steps) - 2, 0)


def with_write_back(
    chain: Runnable[Any, Any], write_back: WriteBack, **keys: Any
) -> Runnable[Any, Any]:
    """``chain``, submitting each call's turn to ``write_back``.

    A ``RunnableSequence`` (what :func:`~langchain_featurestore.personalized_rag_chain`
    returns) gets the fast path: a :class:`WriteBackRunnable` around a copy whose prompt
    (the first prompt template, else the second-to-last step) records its input. Any
    other Runnable gets a :class:`WriteBackCallbackHandler`.

    Args:
        chain: The chain; it is not modified.
        write_back: Where turns go.
        **keys: ``question_key``, ``id_keys``, ``documents_key``, ``features_key``,
            ``answer_key`` (see :class:`WriteBackCallbackHandler`).
    """
    if not isinstance(chain, RunnableSequence) or len(chain.steps) < 2:
        return chain.with_config(callbacks=[WriteBackCallbackHandler(write_back, **keys)])
    steps = list(chain.steps)
    at = _tap_position(steps)
    tapped: Runnable[Any, Any] = RunnableSequence(
        *steps[:at], _Tap(steps[at]), *steps[at + 1 :], name=chain.name
    )
    return WriteBackRunnable(tapped, write_back, TurnKeys.of(write_back, **keys))


# ------------------------------------------------------------ the callback path


@dataclass
class _Call:
    """What one call showed so far."""

    inputs: Any
    metadata: Mapping[str, Any]
    children: list[int] = field(default_factory=list)
    documents: Sequence[Document] | None = None
    retrieved: Sequence[Document] | None = None
    looked_up: dict[str, str] = field(default_factory=dict)


class WriteBackCallbackHandler(BaseCallbackHandler):
    """Submit a turn to ``write_back`` when a chain call ends (any chain).

    Args:
        write_back: Where turns go.
        question_key: Input key of the question (a plain string input is the question).
        id_keys: ``{entity_type: input key}``; default ``{entity_type: "<entity_type>_id"}``
            for the write-back's entity type. Ids are also read from the run's metadata.
        documents_key: Key of the shown documents in a step's output dict.
        features_key: Key of the looked-up vectors in a step's output dict.
        answer_key: Key of the answer's text when the chain returns a dict.
    """

    run_inline = True
    raise_error = False

    def __init__(self, write_back: WriteBack, **keys: Any) -> None:
        self.write_back = write_back
        self.keys = TurnKeys.of(write_back, **keys)
        self._lock = threading.Lock()
        # Keyed by the run id's integer: hashing a UUID runs Python code, an int's does not.
        self._calls: dict[int, _Call] = {}
        self._root_of: dict[int, int] = {}

    def _start(self, run_id: UUID, parent_run_id: UUID | None, inputs: Any, metadata: Any) -> None:
        rid = run_id.int
        with self._lock:
            root = None if parent_run_id is None else self._root_of.get(parent_run_id.int)
            if root is None:
                self._calls[rid] = _Call(inputs, dict(metadata or {}))
                self._root_of[rid] = rid
            else:
                self._root_of[rid] = root
                self._calls[root].children.append(rid)

    def _child(self, rid: int) -> _Call | None:
        """The call a child run belongs to (``None`` for a root or an unknown run)."""
        root = self._root_of.get(rid)
        return self._calls.get(root) if root is not None and root != rid else None

    def _finish(self, rid: int) -> _Call | None:
        """Forget a finished root run and its children; ``None`` for a child run."""
        with self._lock:
            if self._root_of.get(rid) != rid:
                self._root_of.pop(rid, None)
                return None
            call = self._calls.pop(rid)
            for child in (rid, *call.children):
                self._root_of.pop(child, None)
            return call

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
        question = {self.keys.question_key: query}
        self._start(run_id, parent_run_id, question, kwargs.get("metadata"))

    def on_retriever_end(
        self, documents: Sequence[Document], *, run_id: UUID, **kwargs: Any
    ) -> None:
        rid = run_id.int
        with self._lock:
            call = self._child(rid)
            if call is not None:
                call.retrieved = list(documents)
        self._end(rid, documents, kwargs)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        rid = run_id.int
        keys = self.keys
        if isinstance(outputs, Mapping) and (
            keys.documents_key in outputs or keys.features_key in outputs
        ):
            with self._lock:
                call = self._child(rid)
                if call is not None:
                    docs = keys.documents_in(outputs)
                    if docs is not None:
                        call.documents = docs
                    call.looked_up.update(keys.looked_up(outputs))
        self._end(rid, outputs, kwargs)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id.int)

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id.int)

    def _end(self, rid: int, outputs: Any, kwargs: Mapping[str, Any]) -> None:
        call = self._finish(rid)
        if call is not None:
            _submit(self.write_back, self._turn, call, outputs, kwargs.get("inputs"))

    def _turn(self, call: _Call, outputs: Any, final_inputs: Any) -> Turn | None:
        inputs = final_inputs if isinstance(final_inputs, Mapping) else call.inputs
        docs = call.documents if call.documents is not None else call.retrieved or ()
        return self.keys.turn(
            self.write_back, inputs, [call.metadata], docs, call.looked_up, outputs
        )
