"""The checks behind the PII detectors: Luhn, card prefixes, IBAN lengths and mod 97.

Pure functions of one candidate string (digits, spaces and dashes, or an IBAN);
:mod:`~llm_featurestore.prompting.pii` uses them to reject look-alikes.
"""

from __future__ import annotations

import re

__all__ = ["card_number_ok", "iban_prefix", "luhn_ok", "not_a_date", "ssn_ok"]

# ISO 13616 registry: country -> IBAN length.
IBAN_LENGTHS: dict[str, int] = {
    **dict.fromkeys(["NO"], 15),
    **dict.fromkeys(["BE"], 16),
    **dict.fromkeys(["DK", "FI", "FO", "GL", "NL"], 18),
    **dict.fromkeys(["MK", "SI"], 19),
    **dict.fromkeys(["AT", "BA", "EE", "KZ", "LT", "LU", "XK"], 20),
    **dict.fromkeys(["CH", "HR", "LI", "LV"], 21),
    **dict.fromkeys(["BG", "BH", "CR", "DE", "GB", "GE", "IE", "ME", "RS", "VA"], 22),
    **dict.fromkeys(["AE", "GI", "IL", "IQ", "TL"], 23),
    **dict.fromkeys(["AD", "CZ", "ES", "MD", "PK", "RO", "SA", "SE", "SK", "TN", "VG"], 24),
    **dict.fromkeys(["PT", "ST"], 25),
    **dict.fromkeys(["IS", "TR"], 26),
    **dict.fromkeys(["FR", "GR", "IT", "MC", "MR", "SM"], 27),
    **dict.fromkeys(["AL", "AZ", "BY", "CY", "DO", "GT", "HU", "LB", "PL", "SV"], 28),
    **dict.fromkeys(["BR", "EG", "PS", "QA", "UA"], 29),
    **dict.fromkeys(["JO", "KW", "MU"], 30),
    **dict.fromkeys(["MT", "SC"], 31),
    **dict.fromkeys(["LC"], 32),
}

# Issuer prefixes and lengths of the card networks.
_CARD_PREFIXES = re.compile(
    r"4\d{13,18}"  # Visa
    r"|(?:5[1-5]\d{2}|222[1-9]|22[3-9]\d|2[3-6]\d{2}|27[01]\d|2720)\d{12}"  # Mastercard
    r"|3[47]\d{13}"  # American Express
    r"|(?:6011|65\d{2}|64[4-9]\d)\d{12,15}"  # Discover
    r"|35(?:2[89]|[3-8]\d)\d{12,15}"  # JCB
    r"|3(?:0[0-5]|[68]\d)\d{11,16}"  # Diners Club
    r"|62\d{14,17}"  # UnionPay
    r"|(?:5[06-8]|6\d)\d{12,17}"  # Maestro
)
_DATE = re.compile(r"\d{1,4}[./\- ]\d{1,2}[./\- ]\d{1,4}")
_GROUPS = re.compile(r"\d+")


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn (mod 10) check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_number_ok(candidate: str) -> bool:
    """A card number: one separator style, a network's prefix and length, Luhn-valid."""
    if " " in candidate and "-" in candidate:
        return False
    digits = candidate.replace(" ", "").replace("-", "")
    return _CARD_PREFIXES.fullmatch(digits) is not None and luhn_ok(digits)


def _iban_checksum_ok(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def iban_prefix(candidate: str) -> int:
    """How many characters of ``candidate`` (spaces included) are a valid IBAN; 0 if none.

    The candidate may run on into the next word (``DE89 3704 0044 0532 0130 00 ok``):
    the country's length decides where the IBAN ends.
    """
    country = candidate[:2].upper()
    length = IBAN_LENGTHS.get(country)
    if length is None:
        return 0
    kept, taken = [], 0
    for index, ch in enumerate(candidate):
        if ch != " ":
            kept.append(ch.upper())
            if len(kept) == length:
                taken = index + 1
                break
    if not taken or not all(c.isascii() and c.isalnum() for c in kept):
        return 0
    rest = candidate[taken:]
    if rest and not rest.startswith(" "):
        return 0  # glued to more letters or digits: not this IBAN
    return taken if _iban_checksum_ok("".join(kept)) else 0


def ssn_ok(candidate: str) -> bool:
    """A US Social Security number outside the never-issued ranges."""
    digits = "".join(c for c in candidate if c.isdigit())
    if len(digits) != 9:
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def not_a_date(candidate: str) -> bool:
    """False when ``candidate`` is shaped like a date (``01-05-2024``, ``2024 05 17``)."""
    if _DATE.fullmatch(candidate) is None:
        return True
    groups = [int(g) for g in _GROUPS.findall(candidate)]
    day_month = [g for g in groups if g <= 31]
    return not (len(day_month) >= 2 and any(g > 31 or g >= 1900 for g in groups))
