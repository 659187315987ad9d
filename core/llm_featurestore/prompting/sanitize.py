"""Make untrusted feature text safe to place inside a prompt, and protect sensitive values.

Feature values are untrusted text: a user can put anything in a profile field. The
:class:`Neutralizer` turns any string into one line that cannot end the context
block early, open a new one, or put text on a line of its own:

* Unicode NFKC normalisation first, so full-width and other compatibility forms of
  ``[``, ``]`` and letters become the plain characters the later steps look for;
* every line or paragraph break, tab and other whitespace (``\\n``, ``\\r``, ``\\v``,
  ``\\f``, U+0085, U+2028, U+2029, no-break spaces, ...) becomes one space;
* every other character that is not printable is removed: control characters,
  zero-width and bidi controls (U+200B-U+200F, U+202A-U+202E, U+2066-U+2069),
  U+FEFF, tag characters, surrogates, private-use and unassigned code points;
* square and curly brackets and every bracket-like character (``【】「」⸢⸣⟦⟧``, all
  of Unicode's opening and closing punctuation, see
  :mod:`~llm_featurestore.prompting.confusables`) become parentheses, so nothing in a
  value is shaped like a ``[...]`` marker;
* the block's own marker phrases (the header and footer text, ``End context`` and
  friends), in any case, with any spacing or punctuation between their letters and in
  any look-alike spelling (Cyrillic or Greek letters, accents, leetspeak: see
  :mod:`~llm_featurestore.prompting.markers`), are replaced by ``(filtered)``;
* chat-template special-token shapes (``<|im_start|>``, ``<|eot_id|>``, ...), which
  some tokenizers turn into control tokens even inside plain text, are broken up
  (``< |im_start| >``);
* runs of spaces collapse, ends are trimmed, and the result is capped in length.

The sensitivity helpers decide whether a feature name looks like personal data
(:func:`is_pii_name`) and transform values that a policy allows in masked
(:func:`mask_value`) or hashed (:func:`hash_value`) form.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from llm_featurestore.prompting.confusables import bracket_table
from llm_featurestore.prompting.markers import MarkerFilter

__all__ = [
    "BUILTIN_MARKER_PHRASES",
    "ELLIPSIS",
    "FILTERED",
    "InstructionPolicy",
    "Neutralizer",
    "SensitiveStrategy",
    "hash_value",
    "is_pii_name",
    "mask_value",
    "name_tokens",
]

SensitiveStrategy = Literal["drop", "mask", "hash", "allow"]
"""What to do with a sensitive feature: leave it out (``drop``, the default), show a
masked form (``mask``), show a salted hash (``hash``) or show it as is (``allow``)."""

InstructionPolicy = Literal["drop", "quote", "allow"]
"""What to do with a value that reads as an instruction to the model (see
:mod:`~llm_featurestore.prompting.injection`): leave the feature out (``drop``, the
default), show it as one inert quoted string (``quote``) or as it is (``allow``)."""

FILTERED = "(filtered)"
"""What a marker phrase found inside a value is replaced with."""

BUILTIN_MARKER_PHRASES: tuple[str, ...] = (
    "end context",
    "end of context",
    "begin context",
    "start context",
    "start of context",
    "context from user profile",
)
"""Phrases treated as block markers whatever the configured header and footer are."""

ELLIPSIS = "..."

_SPACES = re.compile(r"\s{2,}")
_ASCII_BRACKETS = str.maketrans("[]{}", "()()")


def _strip_unprintable(text: str) -> str:
    """Whitespace of any kind to a space; drop every other non-printable character."""
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        # else: control, format (zero-width, bidi, BOM, tags), surrogate, private, unassigned
    return "".join(out)


class Neutralizer:
    """Turns untrusted text into one safe line of at most ``max_chars`` characters.

    Args:
        markers: Text of the block's own markers (header and footer). Their phrases,
            and :data:`BUILTIN_MARKER_PHRASES`, are filtered out of values.
        max_chars: Longest result, in characters; longer text is cut and ends in ``...``.

    The result contains only printable characters and plain spaces, no square, curly
    or other brackets but parentheses, no marker phrase in any spelling, no leading or
    trailing space; applying the neutralizer to its own output returns it unchanged.
    """

    def __init__(self, markers: Iterable[str] = (), max_chars: int = 200) -> None:
        if max_chars < 8:
            raise ValueError(f"max_chars must be at least 8, got {max_chars}")
        self.max_chars = max_chars
        self.markers = MarkerFilter({*BUILTIN_MARKER_PHRASES, *markers})
        self._brackets = bracket_table()

    def __call__(self, text: str, max_chars: int | None = None) -> str:
        """Neutralise ``text`` (see the class docstring), capping it at ``max_chars``."""
        limit = self.max_chars if max_chars is None else max_chars
        # Cap the raw text first so huge values cost little; NFKC may grow text a bit.
        if len(text) > 4 * limit + 16:
            text = text[: 4 * limit + 16]
        if text.isascii() and text.isprintable():
            # Fast path: printable ASCII needs no normalisation, and only ASCII brackets.
            if "[" in text or "]" in text or "{" in text or "}" in text:
                text = text.translate(_ASCII_BRACKETS)
            if "  " in text:
                text = _SPACES.sub(" ", text)
            text = text.strip()
        else:
            text = _strip_unprintable(unicodedata.normalize("NFKC", text))
            # Removing characters can create new compatibility sequences: normalise again.
            text = unicodedata.normalize("NFKC", text)
            text = _strip_unprintable(text)
            text = _SPACES.sub(" ", text.translate(self._brackets)).strip()
        if "<|" in text or "|>" in text:
            text = text.replace("<|", "< |").replace("|>", "| >")
        # Filter markers, then cap; capping can expose a marker at the cut (``end
        # contexts`` -> ``end context...``) and a replacement can lengthen the text, so
        # repeat until both hold. Each round either ends or cuts to the limit.
        for _ in range(8):
            if self.markers.may_match(text):
                text = _SPACES.sub(" ", self.markers.sub(FILTERED, text)).strip()
            if len(text) <= limit:
                return text
            text = text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS
        return FILTERED  # pragma: no cover - unreachable in practice, safe regardless

    def holds_marker(self, text: str) -> bool:
        """True when ``text`` holds one of the marker phrases, in any spelling."""
        return self.markers.search(text)


# --- sensitivity --------------------------------------------------------------------

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")

_PII_TOKENS = frozenset(
    {
        "email",
        "emails",
        "mail",
        "phone",
        "telephone",
        "mobile",
        "msisdn",
        "address",
        "street",
        "postcode",
        "postal",
        "zip",
        "zipcode",
        "dob",
        "birthday",
        "birthdate",
        "ssn",
        "iban",
        "bic",
        "swift",
        "passport",
        "card",
        "cvv",
        "cvc",
        "payment",
        "password",
        "passwd",
        "secret",
        "geolocation",
        "latitude",
        "longitude",
        "surname",
    }
)
_PII_PAIRS = frozenset(
    {
        ("date", "birth"),
        ("birth", "date"),
        ("social", "security"),
        ("national", "id"),
        ("tax", "id"),
        ("account", "number"),
        ("bank", "account"),
        ("routing", "number"),
        ("first", "name"),
        ("last", "name"),
        ("full", "name"),
        ("ip", "addr"),
        ("drivers", "license"),
        ("driver", "license"),
    }
)


def name_tokens(name: str) -> list[str]:
    """Lower-case word tokens of a feature name (``"userEmail_v2"`` -> user, email, v2)."""
    return [t for t in _SPLIT.split(_CAMEL.sub("_", name).lower()) if t]


def is_pii_name(name: str) -> bool:
    """True when a feature name looks like personal data (email, phone, address, ...).

    A defence-in-depth check on top of the catalog's sensitivity and the configured
    list: it matches name tokens (``email``, ``phone``, ``address``, ``dob``, ``ssn``,
    ``iban``, ``card``, ``payment``, ...) and pairs (``date_of_birth``, ``first_name``).
    """
    tokens = name_tokens(name)
    if any(t in _PII_TOKENS for t in tokens):
        return True
    words = [t for t in tokens if t not in ("of", "the")]
    return any(pair in _PII_PAIRS for pair in itertools.pairwise(words))


_EMAIL = re.compile(r"^\s*([^@\s]+)@([^@\s]+\.[^@\s]+)\s*$")
_PHONE = re.compile(r"^[\d\s+().\-/]+$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _mask_text(text: str) -> str:
    email = _EMAIL.match(text)
    if email:
        return f"{email.group(1)[0]}***@{email.group(2)}"
    if _ISO_DATE.match(text):
        return "****-**-**"
    alnum = [c for c in text if c.isalnum()]
    digits = sum(c.isdigit() for c in alnum)
    if _PHONE.match(text) and 7 <= digits <= 15:
        return "***-***-" + "".join(c for c in text if c.isdigit())[-4:]
    if len(alnum) >= 8 and digits >= 4:
        return "****" + "".join(alnum[-4:])
    return text[0] + "***" if len(text.strip()) > 3 else "***"


def mask_value(value: Any) -> Any:
    """A masked form of ``value`` that keeps only a hint of it.

    Emails keep their first letter and domain (``j***@example.com``), phone numbers
    their last four digits (``***-***-1234``), card numbers, IBANs and other long
    identifiers their last four characters (``****1234``), ISO dates nothing
    (``****-**-**``), other text its first character (``A***``); numbers and
    booleans become ``***``. Lists and dicts are masked item by item.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return _mask_text(value) if value else value
    if isinstance(value, Mapping):
        return {k: mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(v) for v in value]
    return "***"


def hash_value(value: Any, salt: str | bytes) -> str:
    """``sha256:`` and the first 12 hex digits of an HMAC-SHA256 of ``value`` keyed by ``salt``.

    Equal values give equal hashes under one salt (so a model can still tell two
    values apart or see that they match) while the value itself cannot be read back.
    Lists and dicts are hashed as canonical JSON.
    """
    key = salt.encode() if isinstance(salt, str) else salt
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    digest = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    return f"sha256:{digest[:12]}"
