"""Property tests: markers cannot be assembled from pieces, look-alikes or brackets.

Values are lists, dicts, nested values and long values that get shortened, built from
marker phrases spelt with look-alike letters (Cyrillic, Greek, accented, leetspeak),
any casing and spacing, split across items and wrapped in bracket-like characters.
The check reads every block line with this test's own look-alike map (not the
library's table): no marker phrase may be readable in any value line, and no value
line may read as a header, footer or chat-role line.
"""

# ruff: noqa: RUF001  (look-alike characters are what this file is about)
from __future__ import annotations

import re
import unicodedata
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.prompting.config import (
    DEFAULT_FOOTER,
    DEFAULT_FRAMING,
    DEFAULT_HEADER,
    EnricherConfig,
)
from llm_featurestore.prompting.enricher import FeatureEnricher
from llm_featurestore.prompting.formatting import format_value
from llm_featurestore.prompting.sanitize import BUILTIN_MARKER_PHRASES, Neutralizer

# Look-alikes an attacker reaches for, per letter: Cyrillic, Greek, Armenian, accented
# Latin and leetspeak. ``i`` and ``l`` share one class (``I``, ``l``, ``1`` look alike).
LOOK_ALIKES = {
    "a": "аαáàâäãåāą4@",
    "b": "вЬ",
    "c": "сç¢",
    "d": "ԁđď",
    "e": "еεéèêëēę3є",
    "f": "ƒ",
    "g": "ɡğġ",
    "h": "һн",
    "i": "іιíìîï1!|",
    "k": "кκ",
    "l": "ӏℓ1|",
    "m": "м",
    "n": "ոñńп",
    "o": "оοóòôöõ0ø",
    "p": "рρ",
    "r": "гř",
    "s": "ѕśš5$",
    "t": "тτť7",
    "u": "υúùûüս",
    "x": "хχ×",
    "y": "уýÿ",
    "w": "ԝωш",
    "v": "ν",
}
SYMBOLS = "@$!|"
BRACKETS = (
    "[]{}⸢⸣⸤⸥「」『』【】〔〕〖〗〘〙〚〛⟦⟧⟨⟩❨❩❪❫❬❭❮❯❰❱❲❳❴❵⦃⦄⦅⦆⦇⦈⦉⦊⦋⦌⦗⦘〈〉《》⎡⎤⎣⎦⁅⁆﹝﹞［］｢｣"
)
SEPARATORS = ["", "", "", " ", "  ", "-", ".", "_", "\u200b", "\u00a0", "\n", "\t", ",", "/"]
PHRASES = sorted({*BUILTIN_MARKER_PHRASES, "facts about the user they are data not instructions"})
ROLES = {"system", "assistant", "user", "human", "ai", "bot", "sys", "gpt", "inst"}


def _canonical_char(ch: str, symbols: bool) -> str:
    for letter, alikes in LOOK_ALIKES.items():
        if ch in alikes and (symbols or ch not in SYMBOLS):
            return "i" if letter in "il" else letter
    low = ch.lower()
    if unicodedata.category(ch).startswith("M"):
        return ""
    base = "".join(c for c in unicodedata.normalize("NFD", low) if not unicodedata.combining(c))
    return "i" if base in ("i", "l") else base


def readings(text: str) -> list[str]:
    """``text`` read with this test's look-alike map, symbols as letters and as not."""
    return ["".join(_canonical_char(c, symbols) for c in text) for symbols in (False, True)]


def _marker_regex() -> re.Pattern[str]:
    parts = []
    for phrase in PHRASES:
        letters = [c for c in readings(phrase)[0] if c.isalnum()]
        parts.append(r"(?<![^\W_])" + r"[\W_]*".join(letters) + r"(?![^\W_])")
    return re.compile("|".join(parts))


MARKER = _marker_regex()


def is_bracket(ch: str) -> bool:
    """Opening or closing punctuation other than ( ) and the low quotation marks (``„``)."""
    name = unicodedata.name(ch, "")
    low_quote = "LOW" in name and "QUOTATION" in name
    return unicodedata.category(ch) in ("Ps", "Pe") and ch not in "()" and not low_quote


def holds_marker(text: str) -> bool:
    return any(MARKER.search(reading) for reading in readings(text))


@st.composite
def spelled(draw: st.DrawFn, phrase: str | None = None) -> str:
    """A marker phrase in any casing, spacing and look-alike spelling."""
    phrase = phrase or draw(st.sampled_from(PHRASES))
    rnd = draw(st.randoms(use_true_random=False))  # one draw: spelling char by char is slow
    out = []
    for ch in phrase:
        if ch == " ":
            out.append(rnd.choice([" ", "  ", "-", "_", ".", "\u2028", "", "\t"]))
            continue
        out.append(rnd.choice([ch, ch.upper(), *LOOK_ALIKES.get(ch, "")]))
        out.append(rnd.choice(SEPARATORS))
    text = "".join(out)
    if rnd.random() < 0.5:
        i = rnd.randrange(len(BRACKETS) // 2)
        text = BRACKETS[2 * i] + text + BRACKETS[2 * i + 1]
    return text


@st.composite
def split(draw: st.DrawFn) -> list[str]:
    """A spelt marker cut into 2-4 pieces, mixed with ordinary items."""
    text = draw(spelled())
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), min_size=1, max_size=3)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    filler = draw(st.lists(st.sampled_from(["shoes", "jacket", "42", "ok"]), max_size=3))
    return [*pieces, *filler]


words = st.sampled_from(["shoes", "trail", "budget", "the", "end", "of", "profile", "user"])
noise = st.text(
    st.characters(
        exclude_categories=["Cs"], exclude_characters="\x00", include_characters=BRACKETS
    ),
    max_size=12,
)
atoms = st.one_of(spelled(), words, noise, st.sampled_from(list(BRACKETS)))
hostile_text = st.lists(atoms, min_size=1, max_size=8).map(" ".join)
values = st.one_of(
    hostile_text,
    split(),
    st.lists(hostile_text, max_size=12),
    st.dictionaries(st.one_of(words, spelled()), st.one_of(hostile_text, split()), max_size=4),
    st.lists(st.one_of(split(), st.lists(hostile_text, max_size=3)), max_size=4),  # nested
    st.builds(lambda parts: " ".join(parts) * 40, split()),  # long: shortened or cut
)
FEATURES = [f"f{i}" for i in range(5)]


def check_block(block: str) -> None:
    lines = block.split("\n")
    assert lines[0] == DEFAULT_HEADER
    assert lines[1] == DEFAULT_FRAMING
    assert lines[-1] == DEFAULT_FOOTER
    for line in lines[2:-1]:
        assert line.startswith("- "), line
        assert not holds_marker(line), line
        label, sep, _ = line[2:].partition(": ")
        assert sep, line
        assert readings(label)[0].strip() not in ROLES, line
        assert not line[2:].lstrip().startswith("#"), line
        assert not any(is_bracket(c) for c in line), line
        assert line.isprintable()


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    feature_values=st.lists(values, min_size=len(FEATURES), max_size=len(FEATURES)),
    labels=st.lists(st.one_of(spelled(), words), min_size=len(FEATURES), max_size=len(FEATURES)),
    budget=st.integers(20, 300),
    max_value_chars=st.integers(16, 400),
    max_list_items=st.integers(1, 12),
    policy=st.sampled_from(["drop", "quote", "allow"]),
)
def test_no_marker_can_be_assembled_in_the_block(
    feature_values: list[Any],
    labels: list[str],
    budget: int,
    max_value_chars: int,
    max_list_items: int,
    policy: str,
) -> None:
    # Straight from vectors: nested values come from stores other than the local one.
    vector = FeatureVector(
        entity_id="u",
        entity_type="user",
        features=dict(zip(FEATURES, feature_values, strict=True)),
        statuses=dict.fromkeys(FEATURES, FeatureStatus.PRESENT),
        source="test",
    )
    config = EnricherConfig(
        max_feature_tokens=budget,
        max_value_chars=max_value_chars,
        max_list_items=max_list_items,
        task_features={"t": {"user": FEATURES}},
        detect_pii_names=False,
        instruction_policy={"*": policy},
    )
    catalog = FeatureCatalog(
        FeatureDefinition(name=name, entity_type="user", label=label)
        for name, label in zip(FEATURES, labels, strict=True)
    )
    enricher = FeatureEnricher(LocalFeatureStore(), config, catalog=catalog)
    result = enricher.enrich_from_vectors("q", {"user": vector}, task_type="t")
    if result.context_block:
        check_block(result.context_block)
        assert result.feature_tokens_added <= budget


CLEAN = Neutralizer([DEFAULT_HEADER, DEFAULT_FOOTER, DEFAULT_FRAMING], max_chars=200)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(spelled(), hostile_text, split().map(", ".join)), limit=st.integers(8, 300))
def test_neutralised_text_holds_no_marker_in_any_spelling(text: str, limit: int) -> None:
    out = CLEAN(text, limit)
    assert not holds_marker(out), out
    assert not any(is_bracket(c) for c in out), out
    assert CLEAN(out, limit) == out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values, max_chars=st.integers(16, 300), max_items=st.integers(1, 12))
def test_formatted_values_hold_no_marker_however_they_are_joined(
    value: Any, max_chars: int, max_items: int
) -> None:
    clean = Neutralizer([DEFAULT_HEADER, DEFAULT_FOOTER, DEFAULT_FRAMING], max_chars=max_chars)
    formatted = format_value(value, clean=clean, max_chars=max_chars, max_items=max_items)
    assert not holds_marker(formatted.text), formatted.text
    assert len(formatted.text) <= max_chars
