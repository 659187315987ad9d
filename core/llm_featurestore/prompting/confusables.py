"""Fold look-alike spellings to plain letters, and bracket-like characters to parentheses.

A marker phrase such as ``End context`` can be spelt with characters that only look
like its letters: Cyrillic or Greek letters (``Еnd сontеxt``), accented ones
(``Énd cöntext``), leetspeak (``3nd c0nt3xt``, ``$tart``). :func:`fold` maps text to
a *matching form* in which all of these read the same, so one pattern finds every
spelling; the text shown in the prompt is never transliterated, only matched.

The matching form of a character is, in order:

* ASCII letters: lower case; ``l`` and ``1`` become ``i`` (``I``, ``l`` and ``1`` look
  alike, so they share one letter), and the leetspeak digits ``0`` -> ``o``, ``3`` ->
  ``e``, ``4`` -> ``a``, ``5`` -> ``s``, ``7`` -> ``t``; with ``symbols=True`` also
  ``@`` -> ``a``, ``$`` -> ``s``, ``!`` and ``|`` -> ``i`` (symbols are separators
  otherwise, so both readings are tried, see :mod:`~llm_featurestore.prompting.markers`);
* other characters: the row of ``llm_featurestore/data/confusables.tsv``, generated
  from Unicode's confusables data (UTS #39, as compiled in ICU) by
  ``scripts/generate_confusables.py``: Cyrillic ``а`` -> ``a``, Greek ``ο`` -> ``o``,
  Cherokee ``Ꭺ`` -> ``a``, ``é`` -> ``e``, ``ß`` -> ``ss``, ...;
* anything else: combining marks are dropped, other characters are lower-cased.

The text must be NFKC-normalised first (the
:class:`~llm_featurestore.prompting.sanitize.Neutralizer` does that, and NFKC already
folds full-width and mathematical letters), which is why the table has no rows for
characters NFKC changes. Characters newer than the table's Unicode version are not
folded. Multi-letter look-alikes in ASCII (``rn`` for ``m``, ``vv`` for ``w``) are not
folded either.

:func:`bracket_table` (for :meth:`str.translate`) maps every bracket-like character to a
parenthesis: ``[ ] { }``, all opening and closing punctuation (Unicode categories Ps
and Pe, except the low-9 quotation marks ``„`` and ``‚`` that open quotes in German
and other languages: ``⸢⸣⸤⸥「」『』【】〔〕〖〗〘〙〚〛⟦⟧⟨⟩❨❩❮❯``, ...), the
characters whose confusable skeleton is a bracket and those named ``... BRACKET`` or
``... PARENTHESIS`` (``⎡``, ``⎴``, ...).
"""

# ruff: noqa: RUF002  (look-alike characters are the subject here)

from __future__ import annotations

import unicodedata
from functools import lru_cache
from importlib import resources

__all__ = ["bracket_table", "fold", "fold_with_positions", "has_symbols"]

_LEET_DIGITS = {"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t"}
_LEET_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "i"}
_MAX_CACHED = 20_000


class _FoldTable(dict[int, str]):
    """Code point -> matching form; characters without a row are folded on first use."""

    def __missing__(self, cp: int) -> str:
        ch = chr(cp)
        if unicodedata.category(ch).startswith("M"):
            piece = ""
        else:
            bare = "".join(
                c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c)
            )
            piece = bare.lower() if bare.isascii() and bare else ch.lower()
            piece = "".join(_LEET_DIGITS.get(c, c) for c in piece)
        if len(self) < _MAX_CACHED:
            self[cp] = piece
        return piece


def _rows() -> list[tuple[int, str]]:
    text = (
        resources.files("llm_featurestore")
        .joinpath("data/confusables.tsv")
        .read_text(encoding="utf-8")
    )
    rows = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, target = line.split("\t")
            rows.append((int(code, 16), target))
    return rows


@lru_cache(maxsize=2)
def _table(symbols: bool) -> _FoldTable:
    table = _FoldTable()
    for cp in range(128):
        ch = chr(cp).lower()
        table[cp] = _LEET_DIGITS.get(ch, ch)
    if symbols:
        table.update({ord(k): v for k, v in _LEET_SYMBOLS.items()})
    table.update((cp, target) for cp, target in _rows() if target not in "()")
    return table


@lru_cache(maxsize=1)
def bracket_table() -> dict[int, str]:
    """Bracket-like code point -> ``(`` or ``)`` (see the module docstring), loaded once."""
    table = {ord("["): "(", ord("{"): "(", ord("]"): ")", ord("}"): ")"}
    table.update((cp, target) for cp, target in _rows() if target in "()")
    return table


@lru_cache(maxsize=2)
def _ascii_table(symbols: bool) -> dict[int, str]:
    # A plain dict of ASCII only: str.translate has a fast path for ASCII text.
    table = _table(symbols)
    return {cp: table[cp] for cp in range(128)}


def has_symbols(text: str) -> bool:
    """True when ``text`` holds a leetspeak symbol (``@ $ ! |``)."""
    return "@" in text or "$" in text or "!" in text or "|" in text


def fold(text: str, *, symbols: bool = False) -> str:
    """The matching form of NFKC text (see the module docstring)."""
    if text.isascii():
        return text.translate(_ascii_table(symbols))
    return text.translate(_table(symbols))


def fold_with_positions(text: str, *, symbols: bool = False) -> tuple[str, list[int] | None]:
    """:func:`fold`, and for each folded character the index of the one it came from.

    The positions are ``None`` when every character folds to exactly one, so the
    folded text lines up with ``text`` index for index.
    """
    if text.isascii():
        return text.translate(_ascii_table(symbols)), None
    table = _table(symbols)
    pieces = [table[ord(ch)] for ch in text]
    folded = "".join(pieces)
    if len(folded) == len(text) and all(len(p) == 1 for p in pieces):
        return folded, None
    origin: list[int] = []
    for index, piece in enumerate(pieces):
        origin.extend([index] * len(piece))
    return folded, origin
