"""A deterministic, offline embedding for tests and demos (not for retrieval quality)."""

from __future__ import annotations

import hashlib
import math
import re

from llama_index.core.base.embeddings.base import BaseEmbedding

__all__ = ["HashingEmbedding"]

_WORD = re.compile(r"[a-z0-9]+")


class HashingEmbedding(BaseEmbedding):
    """Bag-of-words hashed into ``embed_dim`` buckets, L2-normalised.

    Texts sharing words get a positive cosine similarity; the same text always gets the
    same vector, in every process (the hash is BLAKE2b, not Python's salted ``hash``).
    An empty text maps to the zero vector's stand-in: a unit vector on bucket 0.
    """

    embed_dim: int = 256

    @classmethod
    def class_name(cls) -> str:
        return "HashingEmbedding"

    def _vector(self, text: str) -> list[float]:
        vec = [0.0] * self.embed_dim
        for word in _WORD.findall(text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
            vec[int.from_bytes(digest, "big") % self.embed_dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec))
        if norm == 0.0:
            vec[0] = 1.0
            return vec
        return [v / norm for v in vec]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._vector(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self._vector(text)
