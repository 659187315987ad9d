"""Turn feature names into labels and feature values into short, readable text.

Pure functions with no I/O. Strings returned here are not yet safe for a prompt:
the enricher passes every piece of text through a
:class:`~llm_featurestore.prompting.sanitize.Neutralizer`, which :func:`format_value` accepts
as ``clean``: list items are cleaned before they are joined and counted, and the joined
text is cleaned again, so a marker split across items (``["[End", "context]"]``) is
filtered once they are joined.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

__all__ = [
    "FormattedValue",
    "format_number",
    "format_scalar",
    "format_value",
    "humanize",
    "is_empty",
    "join_items",
]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_\-.:/\s]+")
_ACRONYMS = {"id": "ID", "url": "URL", "nps": "NPS", "ltv": "LTV", "aov": "AOV", "sku": "SKU"}


def humanize(name: str) -> str:
    """A readable label for an identifier: ``"avg_order_value"`` -> ``"Avg order value"``.

    The one label rule of the library: the enricher and the catalog both label a
    feature with no explicit label this way. A feature reference's view is not part
    of its label (``"user_stats:purchases_30d"`` -> ``"Purchases 30d"``). Splits on
    ``_ - . /`` and camelCase, lower-cases words except known acronyms (``ID``,
    ``URL``, ``NPS``, ...) and capitalises the first word.
    """
    bare = name.rsplit(":", 1)[-1] or name
    words = [w for w in _SEPARATORS.split(_CAMEL.sub(" ", bare)) if w]
    if not words:
        return name
    out = [_ACRONYMS.get(w.lower(), w if w.isupper() and len(w) > 1 else w.lower()) for w in words]
    first = out[0]
    out[0] = first[0].upper() + first[1:]
    return " ".join(out)


def format_number(value: float) -> str:
    """Round a number for a reader.

    Integers print exactly, with thousands separators from 10,000 (so years stay
    ``2024``). Floats keep two decimals (``3.14159`` -> ``3.14``, ``42.0`` -> ``42``),
    numbers below 1 keep two significant digits (``0.001234`` -> ``0.0012``), and
    non-finite floats print as ``nan``/``inf``.
    """
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) < 1:
        return f"{value:.2g}"
    sep = "," if abs(value) >= 10_000 else ""
    text = f"{value:{sep}.2f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_scalar(value: Any) -> str:
    """One value as text: bools as yes/no, numbers rounded, datetimes in ISO form."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, datetime):
        stamp: datetime = value
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(timezone.utc)
        return stamp.strftime("%Y-%m-%d %H:%M") + (" UTC" if stamp.tzinfo else "")
    if isinstance(value, date):
        return value.isoformat()
    return f"{value}"


def is_empty(value: Any) -> bool:
    """True for ``None``, empty or blank strings, and empty lists, tuples and dicts."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return len(value) == 0
    return False


def join_items(items: Sequence[str], keep: int) -> str:
    """``items[:keep]`` joined with commas, plus ``(+N more)`` for the rest."""
    keep = max(0, min(keep, len(items)))
    head = ", ".join(items[:keep])
    rest = len(items) - keep
    if rest <= 0:
        return head
    return f"{head} (+{rest} more)" if head else f"{rest} items"


@dataclass(frozen=True)
class FormattedValue:
    """A value rendered as one line of text.

    ``items`` holds the cleaned list items (or ``k: v`` pairs) when the value was a
    list or dict, so the value can be shortened later by keeping fewer of them;
    ``shown`` is how many of them ``text`` shows.
    """

    text: str
    items: tuple[str, ...] | None = None
    shown: int = 0


def _identity(text: str) -> str:
    return text


def format_value(
    value: Any,
    *,
    clean: Callable[[str], str] = _identity,
    max_chars: int = 200,
    max_items: int = 10,
) -> FormattedValue:
    """Render ``value`` as one line of at most ``max_chars`` characters (after ``clean``).

    Lists show at most ``max_items`` items and as many as fit in ``max_chars``, then
    ``(+N more)``: ``"shoes, jacket, belt (+2 more)"``. Dicts show ``key: value``
    pairs the same way. Empty items are skipped. Each item is passed through ``clean``,
    and so is the joined text. The text is empty when nothing is left to show (the
    caller treats that as missing).
    """
    if isinstance(value, Mapping):
        raw = [f"{k}: {format_scalar(v)}" for k, v in value.items() if not is_empty(v)]
    elif isinstance(value, (list, tuple, set, frozenset)):
        raw = [format_scalar(v) for v in value if not is_empty(v)]
    else:
        return FormattedValue(clean(format_scalar(value)))
    items: list[str] = []
    for item in raw:
        cleaned = clean(item)
        if cleaned:
            items.append(cleaned)
    keep = min(len(items), max_items)
    text = join_items(items, keep)
    while keep > 1 and len(text) > max_chars:
        keep -= 1
        text = join_items(items, keep)
    # The joined text is cleaned as a whole: items can spell together what none spells
    # alone. One item alone may be too long: ``clean`` caps it (and re-checks the cut).
    text = clean(text)[:max_chars]
    return FormattedValue(text, tuple(items), keep)
