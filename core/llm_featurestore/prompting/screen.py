"""Screen one feature's text for personal data and instructions, and apply the policies.

The enricher renders a value in pieces (list items, dict pairs, the joined line, a
shortened line); a :class:`FeatureScreen` sees every piece:

* :meth:`FeatureScreen.item` cleans one piece for :func:`~llm_featurestore.prompting.
  formatting.format_value`: neutralised (with room to spare, so a card number at the
  display cut is still whole), scanned for personal data, which the feature's
  sensitive policy masks or hashes in place (or drops with the feature, or allows),
  scanned for instruction-like text, and capped;
* :meth:`FeatureScreen.final` does the same to the text that is shown (items joined,
  or a value shortened to fit), so what no piece held alone cannot appear once they
  are joined, and :meth:`FeatureScreen.present` quotes it when the task's instruction
  policy says ``quote``.

What was found and done is recorded for provenance (:meth:`FeatureScreen.provenance`):
the kinds of personal data and the names of the instruction rules, never the text.
Feature values repeat from request to request, so each piece's screening is
remembered (a bounded cache per enricher).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from llm_featurestore.prompting.injection import find_instructions, quote
from llm_featurestore.prompting.pii import PiiDetector, PiiMatch, find_pii, mask_match
from llm_featurestore.prompting.results import DropReason
from llm_featurestore.prompting.sanitize import (
    InstructionPolicy,
    Neutralizer,
    SensitiveStrategy,
    hash_value,
)

__all__ = ["FeatureScreen", "Scanned", "Screen"]

_SCAN_FACTOR = 4
"""Pieces are scanned up to this many times the longest value, then cut for display."""
_CACHE_SIZE = 4096


class Scanned(NamedTuple):
    """One piece of text, screened: the text to use and what was found in it."""

    text: str
    pii: frozenset[str]
    rules: tuple[str, ...]


class Screen:
    """The screening rules of one enricher: its detectors, salt and neutralizer.

    Args:
        clean: Neutralises and caps text (the block's).
        detectors: Personal-data detectors run on the values of features that are not
            sensitive; empty turns that scan off.
        salt: Key for the ``hash`` strategy (None when no policy hashes).
    """

    def __init__(
        self, clean: Neutralizer, detectors: Sequence[PiiDetector], salt: str | None
    ) -> None:
        self.clean = clean
        self.detectors = list(detectors)
        self.salt = salt
        self.scan_chars = clean.max_chars * _SCAN_FACTOR
        self._scanned: dict[tuple[str, str | None, bool], Scanned] = {}
        self._lines: dict[str, bool] = {}

    def start(
        self, pii: SensitiveStrategy | None, instructions: InstructionPolicy
    ) -> FeatureScreen:
        """A screen for one feature.

        Args:
            pii: What to do with personal data found in its value; None not to look
                (a sensitive feature, already dropped, masked, hashed or allowed).
            instructions: What to do with instruction-like text.
        """
        return FeatureScreen(self, pii if self.detectors else None, instructions)

    def scan(self, text: str, pii: SensitiveStrategy | None, *, piece: bool) -> Scanned:
        """``text`` neutralised, its personal data handled as ``pii`` says, and scanned.

        A ``piece`` (list item, dict pair, scalar) is neutralised with room to spare
        first, so data at the display cut is still whole, then capped for display.
        """
        key = (text, pii, piece)
        found = self._scanned.get(key)
        if found is None:
            found = self._scan(text, pii, piece)
            if len(self._scanned) < _CACHE_SIZE:
                self._scanned[key] = found
        return found

    def line_holds_marker(self, line: str) -> bool:
        """True when ``line`` (``label: value``) spells a marker phrase."""
        found = self._lines.get(line)
        if found is None:
            found = self.clean.holds_marker(line)
            if len(self._lines) < _CACHE_SIZE:
                self._lines[line] = found
        return found

    def _scan(self, text: str, pii: SensitiveStrategy | None, piece: bool) -> Scanned:
        clean = self.clean
        out = clean(text, self.scan_chars) if piece else clean(text)
        kinds: frozenset[str] = frozenset()
        if pii is not None:
            matches = find_pii(out, self.detectors)
            kinds = frozenset(m.kind for m in matches)
            if matches and pii in ("mask", "hash"):
                out = self._protect(out, matches, pii)
        rules = find_instructions(out)
        if len(out) > clean.max_chars:
            out = clean(out)
        return Scanned(out, kinds, rules)

    def _protect(self, text: str, matches: list[PiiMatch], pii: SensitiveStrategy) -> str:
        """``text`` with each match masked or hashed."""
        out, last = [], 0
        for match in matches:
            value = text[match.start : match.end]
            out.append(text[last : match.start])
            if pii == "mask":
                out.append(mask_match(match.kind, value))
            else:
                assert self.salt is not None  # guaranteed by EnricherConfig
                out.append(hash_value(value, self.salt))
            last = match.end
        out.append(text[last:])
        return "".join(out)


class FeatureScreen:
    """Screens the pieces of one feature's value (see the module docstring)."""

    def __init__(
        self, screen: Screen, pii: SensitiveStrategy | None, instructions: InstructionPolicy
    ) -> None:
        self.screen = screen
        self.pii_action = pii
        self.instruction_action = instructions
        self.pii_found: set[str] = set()
        self.rules: list[str] = []

    def item(self, text: str) -> str:
        """One piece of the value, cleaned, screened and capped for display."""
        return self._record(self.screen.scan(text, self.pii_action, piece=True))

    def final(self, text: str) -> str:
        """The text to show, cleaned and screened as a whole (not yet quoted).

        Check :attr:`drop_reason` afterwards: the feature may not be shown at all.
        """
        return self._record(self.screen.scan(text, self.pii_action, piece=False))

    def present(self, text: str) -> str:
        """``text`` as shown: quoted when it held instructions and the policy quotes."""
        return quote(text) if self.rules and self.instruction_action == "quote" else text

    @property
    def drop_reason(self) -> DropReason | None:
        """SENSITIVE or INSTRUCTION when a policy leaves the feature out, else None."""
        if self.pii_found and self.pii_action == "drop":
            return DropReason.SENSITIVE
        if self.rules and self.instruction_action == "drop":
            return DropReason.INSTRUCTION
        return None

    def provenance(self) -> dict[str, Any]:
        """What was found and what was done, for the feature's provenance record."""
        out: dict[str, Any] = {}
        if self.pii_found:
            out["pii_found"] = sorted(self.pii_found)
            out["pii_action"] = self.pii_action
        if self.rules:
            out["instructions_found"] = list(self.rules)
            out["instruction_action"] = self.instruction_action
        return out

    def _record(self, scanned: Scanned) -> str:
        self.pii_found |= scanned.pii
        for rule in scanned.rules:
            if rule not in self.rules:
                self.rules.append(rule)
        return scanned.text
