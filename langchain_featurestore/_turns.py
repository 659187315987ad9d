"""Reading a turn out of LangChain values: the keys to look under, and the one rule that
builds the :class:`~llm_featurestore.writeback.Turn` (shared by the write-back Runnable
and the callback handler)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.documents import Document

from llm_featurestore.models import FeatureVector
from llm_featurestore.reading import entity_ids
from llm_featurestore.writeback import Turn, WriteBack, text_of

__all__ = ["TurnKeys"]


@dataclass(frozen=True)
class TurnKeys:
    """Where a chain's values hold the parts of a turn.

    Attributes:
        question_key: Input key of the question (a plain string input is the question).
        id_keys: ``{entity_type: input key}`` of the entity ids.
        documents_key: Key of the shown documents in a step's output dict.
        features_key: Key of the looked-up vectors in a step's output dict.
        answer_key: Key of the answer's text when the chain returns a dict.
    """

    question_key: str
    id_keys: Mapping[str, str]
    documents_key: str
    features_key: str
    answer_key: str

    @classmethod
    def of(
        cls,
        write_back: WriteBack,
        *,
        question_key: str = "question",
        id_keys: Mapping[str, str] | None = None,
        documents_key: str = "documents",
        features_key: str = "features",
        answer_key: str = "answer",
    ) -> TurnKeys:
        """The keys, with ``id_keys`` defaulting to ``{entity_type: "<entity_type>_id"}``
        for the write-back's entity type."""
        etype = write_back.config.entity_type
        keys = dict(id_keys or {etype: f"{etype}_id"})
        return cls(question_key, keys, documents_key, features_key, answer_key)

    def documents_in(self, values: Mapping[str, Any]) -> Sequence[Document] | None:
        """The documents under ``documents_key``, or ``None`` (cheap: runs on the request
        path, for every step's output)."""
        docs = values.get(self.documents_key)
        if isinstance(docs, (list, tuple)) and (not docs or isinstance(docs[0], Document)):
            return docs
        return None

    def looked_up(self, values: Mapping[str, Any]) -> dict[str, str]:
        """``{entity_type: id}`` of the vectors under ``features_key`` (a lookup's output)."""
        features = values.get(self.features_key)
        found: dict[str, str] = {}
        if features is None:
            return found
        for etype in self.id_keys:
            if isinstance(features, FeatureVector):
                vector: Any = features
            else:
                vector = features.get(etype) if isinstance(features, Mapping) else None
            if isinstance(vector, FeatureVector) and vector.entity_type == etype:
                found[etype] = vector.entity_id
        return found

    def turn(
        self,
        write_back: WriteBack,
        inputs: Any,
        sources: Sequence[Mapping[str, Any]],
        documents: Sequence[Any],
        looked_up: Mapping[str, str],
        output: Any,
    ) -> Turn | None:
        """The turn of one call, or ``None`` when its input holds no question.

        Args:
            write_back: Its configuration picks the shown ids.
            inputs: The call's input (a dict, or the question as a string).
            sources: More mappings to read entity ids from, after ``inputs`` (the run
                metadata, ``config["configurable"]``).
            documents: The documents shown.
            looked_up: Ids of the vectors the chain looked up (they win: the chain used them).
            output: The chain's output (the answer).
        """
        if isinstance(inputs, str):
            question: Any = inputs
            inputs = {}
        else:
            inputs = inputs if isinstance(inputs, Mapping) else {}
            question = inputs.get(self.question_key)
        if not isinstance(question, str) or not question:
            return None
        ids = {**entity_ids([inputs, *sources], self.id_keys), **looked_up}
        pairs = [(d.id, d.metadata) for d in documents if isinstance(d, Document)]
        shown = write_back.shown_ids_of(pairs)
        return Turn(ids, question, shown, text_of(output, self.answer_key))
