"""Any tokenizer as the enricher's token counter.

:func:`as_token_counter` accepts, besides a tiktoken encoding name:

- a :class:`~llm_featurestore.prompting.tokens.TokenCounter` or a tiktoken ``Encoding``;
- a callable returning a count (``chat_model.get_num_tokens``, LangChain) or the
  tokens (``llama_index.core.Settings.tokenizer``, which returns a list);
- an object with ``encode(text)`` returning the tokens (a Hugging Face tokenizer).

A callable has no decoder, so :meth:`FunctionTokenCounter.truncate` searches for the
longest prefix (by characters) that fits: ``O(log n)`` counts, exact for the tokenizer
as long as a longer prefix never has fewer tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sized
from typing import Any

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.prompting.tokens import TokenCounter, get_token_counter

__all__ = ["FunctionTokenCounter", "Tokenizer", "as_token_counter"]

Tokenizer = Any
"""What :func:`as_token_counter` takes: an encoding name, a ``TokenCounter``, a tiktoken
``Encoding``, a callable, or an object with ``encode`` (see the module docstring)."""


class FunctionTokenCounter(TokenCounter):
    """A :class:`TokenCounter` over a counting or tokenizing function."""

    __slots__ = ("_count_fn", "_label")

    def __init__(
        self, count: Callable[[str], Any], name: str = "custom", cache_size: int = 4096
    ) -> None:
        self.encoding = None  # type: ignore[assignment]  # no tiktoken encoding behind it
        self._cache = {}
        self._cache_size = cache_size
        self._count_fn = count
        self._label = name

    @property
    def name(self) -> str:
        """The name given (``"custom"`` by default)."""
        return self._label

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` by the function (a count, or ``len`` of tokens)."""
        if not text:
            return 0
        out = self._count_fn(text)
        if isinstance(out, (bool, str, bytes)) or not isinstance(out, (int, Sized)):
            raise FeatureConfigError(
                f"The tokenizer {self._label!r} returned {type(out).__name__}; it must return "
                "a token count (int) or the tokens (a list)"
            )
        return out if isinstance(out, int) else len(out)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` with at most ``max_tokens`` tokens."""
        if max_tokens <= 0:
            return ""
        if self.count(text) <= max_tokens:
            return text
        low, high = 0, len(text)  # count(text[:low]) fits; count(text[:high]) does not
        while high - low > 1:
            middle = (low + high) // 2
            if self.count(text[:middle]) <= max_tokens:
                low = middle
            else:
                high = middle
        return text[:low]


def as_token_counter(tokenizer: Tokenizer) -> TokenCounter:
    """A counter for ``tokenizer`` (see the module docstring for what it may be).

    Raises:
        FeatureConfigError: it is none of those (the message lists what is accepted);
            for an encoding name, as :func:`~llm_featurestore.prompting.tokens.load_encoding`.
    """
    if isinstance(tokenizer, str):
        return get_token_counter(tokenizer)
    if isinstance(tokenizer, TokenCounter):
        return tokenizer
    if callable(getattr(tokenizer, "encode_ordinary", None)):  # a tiktoken Encoding
        return TokenCounter(tokenizer)
    name = str(getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__)
    if callable(getattr(tokenizer, "encode", None)):
        return FunctionTokenCounter(tokenizer.encode, name=name)
    if callable(tokenizer):
        label = getattr(tokenizer, "__qualname__", None) or name
        return FunctionTokenCounter(tokenizer, name=str(label))
    raise FeatureConfigError(
        f"Cannot count tokens with {type(tokenizer).__name__}: pass a tiktoken encoding name "
        "(e.g. 'o200k_base'), a tiktoken Encoding, a callable returning a count or the "
        "tokens, or an object with encode(text)"
    )
