"""Regenerate ``core/llm_featurestore/data/confusables.tsv`` from the ICU on this machine.

The table folds look-alike characters for marker matching
(:mod:`llm_featurestore.prompting.confusables`). It is generated from Unicode's
confusables data (UTS #39) as ICU compiles it: ``uspoof_getSkeleton`` of each code
point, read through ``ctypes`` from ``libicui18n`` (Debian: ``apt-get install
libicu-dev``), so no Python package is needed. Run it with the Python the library
supports (its ``unicodedata`` decides categories and NFKC)::

    python scripts/generate_confusables.py [--icu-version 72]

Rows are ``HEX<TAB>TARGET``. A letter row maps a character that is not ASCII and that
NFKC leaves unchanged to the lower-case ASCII letters it looks like (its skeleton,
accents removed, case folded, then the library's ASCII fold: ``rn`` -> ``m``, ``l``
and ``1`` -> ``i``, ``0`` -> ``o``, ``3`` -> ``e``, ``4`` -> ``a``, ``5`` -> ``s``,
``7`` -> ``t``; a skeleton that is a Latin small capital reads as its letter, and
``EXTRA`` adds a few Cyrillic and Greek letters UTS #39 does not map to ASCII, such
as ``к`` and ``ε``). A bracket row maps a bracket-like character to ``(`` or ``)``:
opening and closing punctuation (categories Ps and Pe, except the low-9 quotation
marks that open quotes in German and other languages),
characters whose skeleton is a bracket, and characters named ``... BRACKET`` or
``... PARENTHESIS``.
"""

from __future__ import annotations

import argparse
import ctypes
import re
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "core/llm_featurestore/data/confusables.tsv"
ASCII_FOLD = str.maketrans({"0": "o", "1": "i", "l": "i", "3": "e", "4": "a", "5": "s", "7": "t"})
SKIP = {"Cn", "Co", "Cs", "Cc", "Cf", "Zs", "Zl", "Zp"}
# Letters UTS #39 maps to a non-ASCII prototype that reads as an ASCII letter all the
# same in running text (attack alphabets use them): Cyrillic and Greek ka, epsilon, ...
EXTRA = {
    "\u043a": "k",  # CYRILLIC SMALL LETTER KA
    "\u03ba": "k",  # GREEK SMALL LETTER KAPPA
    "\u0138": "k",  # LATIN SMALL LETTER KRA
    "\u03b5": "e",  # GREEK SMALL LETTER EPSILON
    "\u0454": "e",  # CYRILLIC SMALL LETTER UKRAINIAN IE
    "\u043c": "m",  # CYRILLIC SMALL LETTER EM
    "\u043f": "n",  # CYRILLIC SMALL LETTER PE
    "\u0433": "r",  # CYRILLIC SMALL LETTER GHE
    "\u03c9": "w",  # GREEK SMALL LETTER OMEGA
    "\u0448": "w",  # CYRILLIC SMALL LETTER SHA
    "\u044c": "b",  # CYRILLIC SMALL LETTER SOFT SIGN
    "\u03c7": "x",  # GREEK SMALL LETTER CHI
    "\u03b7": "n",  # GREEK SMALL LETTER ETA
}
SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")
OPENING = ("LEFT", "TOP", "OPENING", "UPPER LEFT")
CLOSING = ("RIGHT", "BOTTOM", "CLOSING")


class Skeleton:
    """``uspoof_getSkeleton`` of one ICU version, through ctypes."""

    def __init__(self, version: str) -> None:
        lib = ctypes.CDLL(f"libicui18n.so.{version}")
        status = ctypes.c_int(0)
        opener = getattr(lib, f"uspoof_open_{version}")
        opener.restype = ctypes.c_void_p
        self._checker = opener(ctypes.byref(status))
        if status.value > 0:
            raise RuntimeError(f"uspoof_open failed with ICU status {status.value}")
        self._skeleton = getattr(lib, f"uspoof_getSkeleton_{version}")
        self._skeleton.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint32,
            ctypes.c_char_p,
            ctypes.c_int32,
            ctypes.c_char_p,
            ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int),
        ]

    def __call__(self, text: str) -> str:
        src = text.encode("utf-16-le")
        buf = ctypes.create_string_buffer(512)
        status = ctypes.c_int(0)
        n = self._skeleton(self._checker, 0, src, len(src) // 2, buf, 256, ctypes.byref(status))
        if status.value > 0:
            raise RuntimeError(f"uspoof_getSkeleton({text!r}) failed: status {status.value}")
        return buf.raw[: 2 * n].decode("utf-16-le")


def bracket(ch: str, skeleton: str) -> str | None:
    """``(`` or ``)`` for a bracket-like character, else None."""
    name = unicodedata.name(ch, "")
    category = unicodedata.category(ch)
    if "LOW" in name and "QUOTATION" in name:
        return None  # they open quotes in German, Polish, ... text
    if category == "Ps" or skeleton in ("(", "[", "{"):
        return "("
    if category == "Pe" or skeleton in (")", "]", "}"):
        return ")"
    if "BRACKET" in name or "PARENTHESIS" in name:
        hits = [(name.find(w), "(") for w in OPENING if w in name]
        hits += [(name.find(w), ")") for w in CLOSING if w in name]
        return min(hits)[1] if hits else "("
    return None


def letters(skeleton: str) -> str | None:
    """The folded ASCII letters a skeleton reads as, or None when it is not letters."""
    decomposed = unicodedata.normalize("NFD", skeleton)
    bare = "".join(c for c in decomposed if not unicodedata.category(c).startswith("M"))
    folded = bare.casefold().replace("rn", "m").translate(ASCII_FOLD)
    if re.fullmatch(r"[a-z0-9]{1,4}", folded):
        return folded
    capital = SMALL_CAPITAL.fullmatch(unicodedata.name(bare, "")) if len(bare) == 1 else None
    return capital.group(1).lower().translate(ASCII_FOLD) if capital else None


def rows(skeleton: Skeleton) -> list[str]:
    out = []
    for cp in range(0x80, 0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) in SKIP or unicodedata.normalize("NFKC", ch) != ch:
            continue
        skel = skeleton(ch)
        target = bracket(ch, skel) or EXTRA.get(ch) or letters(skel)
        if target is not None:
            out.append(f"{cp:04X}\t{target}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icu-version", default="72")
    args = parser.parse_args()
    body = rows(Skeleton(args.icu_version))
    header = [
        "# Look-alike characters for marker matching: HEX<TAB>TARGET (see",
        "# llm_featurestore/prompting/confusables.py). Generated by",
        "# scripts/generate_confusables.py from Unicode confusables (UTS #39) as compiled in",
        f"# ICU {args.icu_version}, with Python unicodedata {unicodedata.unidata_version}. "
        "Do not edit by hand.",
    ]
    OUT.write_text("\n".join([*header, *body]) + "\n", encoding="utf-8")
    print(f"wrote {len(body)} rows to {OUT}")


if __name__ == "__main__":
    main()
