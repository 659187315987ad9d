"""Find the block's marker phrases in text, in any case, spacing or look-alike spelling.

:class:`MarkerFilter` compiles phrases such as ``End context`` into one pattern over
the matching form of :mod:`~llm_featurestore.prompting.confusables`: the phrase's
letters and digits in order, with anything that is not a letter or digit between
them, as whole words. ``[End context]``, ``e-n-d c.o.n.t.e.x.t``, ``ЕND соntехt``
(Cyrillic), ``3nd c0nt3xt`` and ``$tart context`` all match; ``weekend context`` and
``contexts`` do not.

Text is matched twice, once with the leetspeak symbols (``@ $ ! |``) read as letters
and once as separators, so ``$tart context`` and ``@end context`` both match; the
spans found map back to the original text, which is what gets replaced.
"""

# ruff: noqa: RUF002  (look-alike characters are the subject here)

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from llm_featurestore.prompting.confusables import fold, fold_with_positions, has_symbols

__all__ = ["MarkerFilter", "phrase_letters"]


def phrase_letters(phrase: str) -> str:
    """The letters and digits of ``phrase`` in matching form (``"[End context]"`` ->
    ``"endcontext"``)."""
    return "".join(c for c in fold(unicodedata.normalize("NFKC", phrase)) if c.isalnum())


def _pattern(phrase: str) -> str | None:
    chars = phrase_letters(phrase)
    if not chars:
        return None
    body = r"[\W_]*".join(re.escape(c) for c in chars)
    return rf"(?<![^\W_]){body}(?![^\W_])"


class MarkerFilter:
    """Finds and replaces marker phrases (see the module docstring).

    Args:
        phrases: The phrases to find; those with no letter or digit are ignored.
    """

    def __init__(self, phrases: Iterable[str]) -> None:
        phrases = list(phrases)
        patterns = sorted(
            {p for p in map(_pattern, phrases) if p is not None}, key=len, reverse=True
        )
        self._regex = re.compile("|".join(patterns)) if patterns else None
        # Letters each phrase needs: text lacking them all cannot hold a marker.
        self._needed = [frozenset(phrase_letters(p)) for p in phrases if phrase_letters(p)]
        self._common = frozenset.intersection(*self._needed) if self._needed else frozenset()

    def may_match(self, text: str) -> bool:
        """A cheap test: False means ``text`` surely holds no marker phrase."""
        if self._regex is None:
            return False
        letters = set(fold(text))
        if has_symbols(text):
            letters |= set(fold(text, symbols=True))
        return self._common <= letters and any(need <= letters for need in self._needed)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where marker phrases are in ``text``: sorted, non-overlapping ``(start, end)``."""
        if self._regex is None:
            return []
        found: list[tuple[int, int]] = []
        passes: list[tuple[str, bool]] = [(text, False)]
        if has_symbols(text):
            passes.append((text, True))
        if not text.isascii() and any(not c.isascii() and not c.isalnum() for c in text):
            # A symbol the folder reads as a letter (``¥`` -> ``y``) is a separator to a
            # reader (``¥ENDCONTEXT``): also look with such symbols as spaces.
            spaced = "".join(" " if not c.isalnum() and not c.isascii() else c for c in text)
            passes.append((spaced, False))
        for source, symbols in passes:
            folded, origin = fold_with_positions(source, symbols=symbols)
            for match in self._regex.finditer(folded):
                start, end = match.span()
                if origin is not None:
                    start, end = origin[start], origin[end - 1] + 1
                found.append((start, end))
        return _merge(found)

    def search(self, text: str) -> bool:
        """True when ``text`` holds a marker phrase."""
        return bool(self.may_match(text) and self.spans(text))

    def sub(self, replacement: str, text: str) -> str:
        """``text`` with each marker phrase replaced by ``replacement``."""
        spans = self.spans(text)
        if not spans:
            return text
        out, last = [], 0
        for start, end in spans:
            out.append(text[last:start])
            out.append(replacement)
            last = end
        out.append(text[last:])
        return "".join(out)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
