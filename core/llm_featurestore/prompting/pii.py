"""Find personal data inside free text: emails, phone numbers, cards, IBANs, SSNs, IPs.

A feature's *name* can say it holds personal data (``email``, see
:func:`~llm_featurestore.prompting.sanitize.is_pii_name`); a ``notes`` or ``bio``
feature can hold it anyway. The enricher scans the values of features that are not
marked sensitive with the detectors here, and applies the task's sensitive policy to
what they find (see :mod:`~llm_featurestore.prompting.screen`).

Built-in kinds (:data:`BUILTIN_PII_KINDS`), each a :class:`PatternDetector`:

``email``
    ``jane.doe+shop@mail.example.co.uk``, Unicode local parts and domains, and the
    obfuscated ``jane (at) example (dot) com`` / ``jane at example dot com``.
``phone``
    International numbers (``+44 20 7946 0958``, ``+1-415-555-0199``,
    ``+33 1 42 68 53 00``, ``+91 98765 43210``), North American ones
    (``(415) 555-0199``, ``415.555.0199``), national numbers with a trunk ``0``
    (``020 7946 0958``, ``07700 900123``, ``03-1234-5678``, ``(02) 9374 4000``), and
    any 7 to 15 digits after a word such as ``phone``, ``tel``, ``call`` or
    ``whatsapp``; 7 to 15 digits in all, never a date, nor after ``order``, ``sku``,
    ``isbn``, ``invoice``, ``tracking``, ``serial``, ``model`` or ``#``.
``payment_card``
    14 to 19 digits, optionally grouped by spaces or dashes, with a card network's
    prefix (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro) and a
    valid Luhn checksum.
``iban``
    A country code, two check digits and the country's length of letters and digits,
    optionally grouped by spaces, with a valid ISO 13616 (mod 97) checksum.
``us_ssn``
    ``123-45-6789`` or ``123 45 6789`` outside the never-issued ranges (area ``000``,
    ``666``, ``9xx``; group ``00``; serial ``0000``), or nine digits after ``SSN``.
``ip_address``
    IPv4 (not after a word such as ``version``, ``v``, ``firmware`` or ``build``, so
    ``v1.2.3.4`` is a version) and IPv6, validated by :mod:`ipaddress`.

A detector is anything with ``find(text) -> Iterable[PiiMatch]`` (:class:`PiiDetector`);
pass your own to the enricher (``FeatureEnricher(..., pii_detectors=[...])``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from llm_featurestore.prompting.pii_checks import (
    card_number_ok,
    iban_prefix,
    not_a_date,
    ssn_ok,
)

__all__ = [
    "BUILTIN_PII_KINDS",
    "PatternDetector",
    "PiiDetector",
    "PiiMatch",
    "builtin_detectors",
    "find_pii",
    "mask_match",
]


class PiiMatch(NamedTuple):
    """One piece of personal data found in a text: its kind and where it is."""

    kind: str
    start: int
    end: int


@runtime_checkable
class PiiDetector(Protocol):
    """Finds personal data in text (for example a wrapper around Microsoft Presidio).

    ``find`` returns the matches in ``text`` (any order, overlaps allowed); ``kind``
    is a short name recorded in provenance (``"email"``, ``"passport"``, ...).
    """

    def find(self, text: str) -> Iterable[PiiMatch]:
        """The personal data in ``text``."""
        ...


class PatternDetector:
    """A :class:`PiiDetector` of one kind: regexes, and a check of each candidate.

    Args:
        kind: The kind recorded for its matches.
        patterns: What a candidate looks like; group 1, when a pattern has groups, is
            the part that is personal data (the rest is context such as ``tel:``).
        check: Returns how many characters of the candidate to keep (0, False or
            None rejects it; True keeps it whole); None keeps every candidate whole.
    """

    def __init__(
        self,
        kind: str,
        *patterns: re.Pattern[str],
        check: Callable[[str], int | bool | None] | None = None,
    ) -> None:
        self.kind = kind
        self.patterns = patterns
        self.check = check

    def find(self, text: str) -> list[PiiMatch]:
        """Every candidate of the patterns in ``text`` that ``check`` accepts."""
        out = []
        for pattern in self.patterns:
            group = 1 if pattern.groups else 0
            for match in pattern.finditer(text):
                start, end = match.span(group)
                if self.check is not None:
                    keep = self.check(match.group(group))
                    if not keep:
                        continue
                    if keep is not True:
                        end = start + int(keep)
                out.append(PiiMatch(self.kind, start, end))
        return out

    def __repr__(self) -> str:
        return f"PatternDetector({self.kind!r})"


# --- patterns ---------------------------------------------------------------------

_AT = r"(?:\s*[\[(<{]\s*at\s*[\])>}]\s*|\s*\(\s*@\s*\)\s*)"
_DOT = r"(?:\s*[\[(<{]\s*dot\s*[\])>}]\s*|\s+dot\s+)"
_TLDS = r"(?:com|org|net|edu|gov|io|co|uk|de|fr|es|it|nl|info|me|us|ca|au|in|jp|br)"
_EMAIL = re.compile(
    r"(?<![\w.+'%-])[\w.+'%-]*\w@(?:[^\W_](?:[\w-]*[^\W_])?\.)+[^\W\d_]{2,63}(?![\w-])"
    rf"|(?<![\w.+-])[\w.+-]*\w{_AT}[\w-]+(?:(?:\.|{_DOT})[\w-]+)*(?:\.|{_DOT})[^\W\d_]{{2,63}}\b"
    rf"|(?<![\w.+-])[\w.+-]*\w\s+at\s+[\w-]+(?:{_DOT}[\w-]+)*{_DOT}{_TLDS}\b",
    re.IGNORECASE,
)

_SEP = r"[ .\-\u00a0]"
_PHONE_SHAPES = (
    # +CC, optional (0) or (area), groups
    rf"\+\d{{1,3}}{_SEP}?(?:\(\d{{1,4}}\){_SEP}?)?\d{{1,5}}(?:{_SEP}?\d{{2,5}}){{1,4}}",
    # (415) 555-0199, (02) 9374 4000
    rf"\(\d{{2,5}}\){_SEP}?\d{{3,5}}{_SEP}?\d{{3,4}}",
    # North America: 415-555-0199, 415.555.0199, 415 555 0199 (area and exchange 2-9xx)
    r"[2-9]\d{2}[.\- ][2-9]\d{2}[.\- ]\d{4}",
    # trunk-0 national numbers: 020 7946 0958, 01 42 68 53 00, 03-1234-5678, 0412 345 678
    r"0[1-9]\d{0,3}(?:[ \-]\d{2,4}){2,4}",
    # 07700 900123, 030/901820, 089 12345678, 06-12345678
    r"0[1-9]\d{0,3}[ \-/]\d{5,8}",
)
_NOT_A_PHONE_BEFORE = (
    r"(?<!\border )(?<!\bsku )(?<!\bisbn )(?<!\binvoice )(?<!\btracking )"
    r"(?<!\bserial )(?<!\bmodel )(?<!#)(?<!# )(?<!\bno\. )(?<!\bref )(?<!\bpart )"
    r"(?<!\d )(?<!\d-)"  # the tail of a longer run of digit groups
)
_PHONE = re.compile(
    rf"{_NOT_A_PHONE_BEFORE}(?<![\w+#/.\-])((?:{'|'.join(_PHONE_SHAPES)}))"
    r"(?![\w\-/]|\.\d| \d)",
    re.IGNORECASE,
)
_PHONE_WORDS = (
    "phone|telephone|tel|tél|tlf|mobile|cell|call|ring|whatsapp|fax|sms|text me|ph|"
    "móvil|movil|teléfono|telefono|téléphone|telefone|telefoon|mobiel|handy|portable|"
    "cellulare|celular|llámame|llamame|appelez|chiama|chiamami|ligue|bel|nummer|número|"
    "numero|rufnummer|contact"
)
_PHONE_AFTER_WORD = re.compile(
    rf"(?<!\w)(?:{_PHONE_WORDS})(?!\w)\W{{0,3}}"
    r"(?:(?:at|on|me|me at|me on|number|no|nr|moi au|al|op)\W{1,3})?"
    r"(\+?\d[\d \-.()]{5,20}\d)(?![\d\-])",
    re.IGNORECASE,
)
_CARD = re.compile(r"(?<![\d\-])(\d(?:[ \-]?\d){13,18})(?![\d\-]|[.,]\d)")
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]){11,32})")
_SSN = re.compile(r"(?<![\d\-])(\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})(?![\d\-])")
_SSN_AFTER_WORD = re.compile(
    r"\b(?:ssn|social security(?: number| no\.?)?|ss#)\W{0,4}(\d{9}|\d{3}[\- ]?\d{2}[\- ]?\d{4})\b",
    re.IGNORECASE,
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_VERSION_BEFORE = (
    r"(?<!\bv)(?<!\bver )(?<!\bversion )(?<!\bfirmware )(?<!\bbuild )(?<!\brelease )"
    r"(?<!\bupdate )(?<!\bpatch )(?<!\bos )(?<!\bios )(?<!\bandroid )(?<!\bsdk )(?<!\bver\. )"
)
_IPV4 = re.compile(
    rf"{_VERSION_BEFORE}(?<![\w.])({_OCTET}(?:\.{_OCTET}){{3}})(?![\w]|\.\d)", re.IGNORECASE
)
_IPV6 = re.compile(
    r"(?<![\w:.])((?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{0,4}|\d{1,3}(?:\.\d{1,3}){3}))(?![\w:])",
    re.IGNORECASE,
)


def _phone_ok(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    return 7 <= digits <= 15 and not_a_date(candidate)


def _ipv6_ok(candidate: str) -> bool:
    if "::" not in candidate and candidate.count(":") < 7:
        return False
    if max(len(group) for group in candidate.split(":")) < 2:
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _detectors() -> dict[str, PiiDetector]:
    # Most specific first: where two overlap, the earlier kind is recorded.
    return {
        "iban": PatternDetector("iban", _IBAN, check=iban_prefix),
        "payment_card": PatternDetector("payment_card", _CARD, check=card_number_ok),
        "us_ssn": PatternDetector("us_ssn", _SSN, _SSN_AFTER_WORD, check=ssn_ok),
        "email": PatternDetector("email", _EMAIL),
        "ip_address": _IpDetector(),
        "phone": PatternDetector("phone", _PHONE, _PHONE_AFTER_WORD, check=_phone_ok),
    }


_IP_WORDS = re.compile(
    r"\b(?:ip|ipv4|ping|dns|host|server|router|gateway|address|addr|from|via)\b", re.IGNORECASE
)


def _ipv4_ok(text: str, match: re.Match[str]) -> bool:
    """Four one-digit octets (``4.0.1.2``) read as a version unless an IP word is near."""
    if any(len(octet) > 1 for octet in match.group(1).split(".")):
        return True
    return _IP_WORDS.search(text, max(0, match.start() - 24), match.start()) is not None


class _IpDetector:
    """IPv4 and IPv6 addresses, one kind."""

    kind = "ip_address"

    def find(self, text: str) -> list[PiiMatch]:
        out = [PiiMatch(self.kind, *m.span(1)) for m in _IPV4.finditer(text) if _ipv4_ok(text, m)]
        if ":" in text:
            out += [PiiMatch(self.kind, *m.span(1)) for m in _IPV6.finditer(text) if _ipv6_ok(m[1])]
        return out


_BUILTIN = _detectors()
BUILTIN_PII_KINDS: tuple[str, ...] = tuple(_BUILTIN)
"""The kinds the built-in detectors find, in the order they are tried."""


def builtin_detectors(kinds: Iterable[str] = BUILTIN_PII_KINDS) -> list[PiiDetector]:
    """The built-in detectors of ``kinds`` (names from :data:`BUILTIN_PII_KINDS`).

    Raises:
        ValueError: a kind is not built in (the message lists the valid ones).
    """
    unknown = [kind for kind in kinds if kind not in _BUILTIN]
    if unknown:
        raise ValueError(
            f"unknown PII kind {unknown[0]!r}; built-in kinds: {', '.join(BUILTIN_PII_KINDS)}"
        )
    return [_BUILTIN[kind] for kind in kinds]


_AT_WORD = re.compile(r"\bat\b", re.IGNORECASE)


def _quick_skip(text: str) -> frozenset[str]:
    """Built-in kinds that surely have no match in ``text``: all but email need a
    digit (or, for IPv6, a colon); email needs ``@`` or the word ``at``."""
    skip: set[str] = set()
    if not any(c.isdigit() for c in text):
        skip.update(("phone", "payment_card", "iban", "us_ssn"))
        if ":" not in text:
            skip.add("ip_address")
    if "@" not in text and _AT_WORD.search(text) is None:
        skip.add("email")
    return frozenset(skip)


def find_pii(text: str, detectors: Sequence[PiiDetector]) -> list[PiiMatch]:
    """The matches of every detector in ``text``: sorted, overlaps merged into the first.

    A built-in detector is skipped when ``text`` lacks what its kind needs (a digit,
    ``@``); other detectors always run.
    """
    skip = _quick_skip(text)
    found: list[tuple[int, PiiMatch]] = []
    for rank, detector in enumerate(detectors):
        kind = getattr(detector, "kind", None)
        if kind in skip and _BUILTIN.get(kind) is detector:
            continue
        found.extend((rank, match) for match in detector.find(text) if match.end > match.start)
    found.sort(key=lambda item: (item[1].start, -item[1].end))
    merged: list[tuple[int, PiiMatch]] = []
    for rank, match in found:
        if merged and match.start < merged[-1][1].end:
            last_rank, last = merged[-1]
            kind = last.kind if last_rank <= rank else match.kind
            merged[-1] = (
                min(rank, last_rank),
                PiiMatch(kind, last.start, max(last.end, match.end)),
            )
        else:
            merged.append((rank, match))
    return [match for _, match in merged]


def mask_match(kind: str, text: str) -> str:
    """The masked form of one match: a hint of it, never enough to use it.

    Emails keep their first letter and domain (``j***@example.com``), phones, cards,
    IBANs and SSNs their last four digits or characters (``***-***-0199``,
    ``****1111``, ``***-**-6789``), IP addresses nothing; other kinds keep their first
    character (``p***``).
    """
    alnum = [c for c in text if c.isalnum()]
    digits = [c for c in text if c.isdigit()]
    if kind == "email":
        at = text.rfind("@")
        return f"{text[0]}***@{text[at + 1 :]}" if at > 0 else "***@***"
    if kind == "phone":
        return "***-***-" + "".join(digits[-4:])
    if kind in ("payment_card", "iban"):
        return "****" + "".join(alnum[-4:])
    if kind == "us_ssn":
        return "***-**-" + "".join(digits[-4:])
    if kind == "ip_address":
        return "***.***.***.***" if "." in text and ":" not in text else "****:****"
    return text[0] + "***" if len(text) > 3 else "***"
