"""Personal data inside free text: the detectors, the corpus rates, and the enricher's policy."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.prompting.config import EnricherConfig
from llm_featurestore.prompting.enricher import FeatureEnricher
from llm_featurestore.prompting.pii import (
    BUILTIN_PII_KINDS,
    PatternDetector,
    PiiDetector,
    PiiMatch,
    builtin_detectors,
    find_pii,
    mask_match,
)
from llm_featurestore.prompting.pii_checks import card_number_ok, iban_prefix, luhn_ok, ssn_ok
from llm_featurestore.prompting.results import DropReason, EnrichmentResult, FeatureProvenance
from llm_featurestore.prompting.sanitize import Neutralizer, hash_value

DATA = Path(__file__).resolve().parents[1] / "data"
DETECTORS = builtin_detectors()
CLEAN = Neutralizer(max_chars=800)


def found(text: str) -> list[tuple[str, str]]:
    return [(m.kind, text[m.start : m.end]) for m in find_pii(text, DETECTORS)]


def rows(name: str) -> list[str]:
    text = (DATA / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# --- corpus -----------------------------------------------------------------------


def test_corpus_detection_and_false_positive_rates() -> None:
    """At least 200 strings with personal data, formats of many countries: >= 0.98 found;
    ordinary product text: <= 0.01 flagged. Scanned as the enricher scans: neutralised."""
    corpus = [line.split("\t", 1) for line in rows("pii_corpus.tsv")]
    benign = rows("product_text.txt")
    assert len(corpus) >= 200
    assert len({kind for kind, _ in corpus}) == len(BUILTIN_PII_KINDS)
    missed = [
        (kind, text)
        for kind, text in corpus
        if kind not in {m.kind for m in find_pii(CLEAN(text), DETECTORS)}
    ]
    flagged = [text for text in benign if find_pii(CLEAN(text), DETECTORS)]
    detection = 1 - len(missed) / len(corpus)
    false_positives = len(flagged) / len(benign)
    print(
        f"\nPII corpus: detection {detection:.3f} ({len(corpus) - len(missed)}/{len(corpus)}), "
        f"false positives {false_positives:.3f} ({len(flagged)}/{len(benign)} product texts)"
    )
    assert detection >= 0.98, missed
    assert false_positives <= 0.01, flagged


# --- detectors --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("call me at +1 415 555 0199, jane@x.com",
         [("phone", "+1 415 555 0199"), ("email", "jane@x.com")]),
        ("IBAN DE89 3704 0044 0532 0130 00 thanks", [("iban", "DE89 3704 0044 0532 0130 00")]),
        ("card 4111 1111 1111 1111 exp 12/29", [("payment_card", "4111 1111 1111 1111")]),
        ("ssn: 078-05-1120", [("us_ssn", "078-05-1120")]),  # an SSN, not a phone
        ("from 192.168.1.10 and fe80::1ff:fe23:4567:890a",
         [("ip_address", "192.168.1.10"), ("ip_address", "fe80::1ff:fe23:4567:890a")]),
        ("reach me: bob (at) example (dot) org", [("email", "bob (at) example (dot) org")]),
    ],
)  # fmt: skip
def test_detectors_find_the_value_and_only_the_value(
    text: str, expected: list[tuple[str, str]]
) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Order 555-123-4567 was split",  # an order number shaped like a phone
        "Firmware v2.14.3.1 installed",  # a version shaped like an IP
        "The 4.0.1.2 update",  # one-digit octets read as a version
        "Delivered 01-05-2024",  # a date
        "ISBN 978-3-16-148410-0",
        "EAN 4006381333931",  # 13 digits: not a card length
        "card 4111 1111 1111 1112",  # fails Luhn
        "IBAN DE00 3704 0044 0532 0130 00",  # fails mod 97
        "SSN 666-12-3456",  # never issued
        "shops at amazon.com",  # 'at' and a domain, no obfuscated dot
        "12:30:45 and std::vector",
    ],
)
def test_look_alikes_are_not_personal_data(text: str) -> None:
    assert found(text) == []


def test_checks() -> None:
    assert luhn_ok("4111111111111111")
    assert not luhn_ok("4111111111111112")
    assert card_number_ok("3782-822463-10005")
    assert not card_number_ok("4111 1111-1111 1111")  # mixed separators
    assert not card_number_ok("9111111111111111")  # no network starts with 9
    assert iban_prefix("GB82 WEST 1234 5698 7654 32 ok") == len("GB82 WEST 1234 5698 7654 32")
    assert iban_prefix("GB82WEST12345698765432X") == 0  # glued to more
    assert iban_prefix("ZZ82WEST12345698765432") == 0  # no such country
    assert ssn_ok("123-45-6789")
    assert not ssn_ok("900-12-3456")
    assert not ssn_ok("123-00-6789")


@pytest.mark.parametrize(
    ("kind", "text", "masked"),
    [
        ("email", "jane.doe@example.com", "j***@example.com"),
        ("email", "jane (at) example (dot) com", "***@***"),
        ("phone", "+1 415 555 0199", "***-***-0199"),
        ("payment_card", "4111 1111 1111 1234", "****1234"),
        ("iban", "DE89 3704 0044 0532 0130 00", "****3000"),
        ("us_ssn", "123-45-6789", "***-**-6789"),
        ("ip_address", "192.168.1.10", "***.***.***.***"),
        ("ip_address", "2001:db8::1", "****:****"),
        ("passport", "X1234567", "X***"),
        ("passport", "X12", "***"),
    ],
)
def test_mask_match_keeps_only_a_hint(kind: str, text: str, masked: str) -> None:
    assert mask_match(kind, text) == masked


def test_unknown_builtin_kind_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown PII kind 'passport'; built-in kinds: iban, "):
        builtin_detectors(["email", "passport"])


def test_detector_kinds_can_be_chosen_and_overlaps_keep_the_first() -> None:
    only_email = builtin_detectors(["email"])
    assert [m.kind for m in find_pii("jane@x.com +1 415 555 0199", only_email)] == ["email"]
    both = [PatternDetector("a", re.compile(r"ab")), *only_email]
    assert find_pii("ab@x.com", both) == [PiiMatch("a", 0, 8)]


# --- in the enricher ----------------------------------------------------------------

NOTES = "call me at +1 415 555 0199, jane@x.com"


def enrich(config: EnricherConfig, **kwargs: Any) -> EnrichmentResult:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"notes": NOTES, "tier": "gold"})
    enricher = FeatureEnricher(store, config, **kwargs)
    return enricher.enrich("q", user_id="u1", task_type="t")


def config(**kwargs: Any) -> EnricherConfig:
    return EnricherConfig(
        task_features={"t": {"user": ["notes", "tier"]}},
        hash_salt="s3cret",
        **kwargs,
    )


def notes_of(result: EnrichmentResult) -> FeatureProvenance:
    (prov,) = [p for p in result.provenance if p.feature == "notes"]
    return prov


def test_a_notes_feature_with_personal_data_is_dropped_by_default() -> None:
    result = enrich(config())
    prov = notes_of(result)
    assert (prov.used, prov.drop_reason) == (False, DropReason.SENSITIVE)
    assert (prov.pii_found, prov.pii_action) == (["email", "phone"], "drop")
    assert "415" not in result.context_block
    assert "- Tier: gold" in result.context_block
    # Provenance says what was found, never the value.
    assert "415" not in prov.model_dump_json()
    assert "jane" not in prov.model_dump_json()


@pytest.mark.parametrize(
    ("strategy", "shown"),
    [
        ("mask", "call me at ***-***-0199, j***@x.com"),
        ("hash", f"call me at {hash_value('+1 415 555 0199', 's3cret')}, "
                 f"{hash_value('jane@x.com', 's3cret')}"),
        ("allow", NOTES),
    ],
)  # fmt: skip
def test_the_features_sensitive_policy_applies_to_what_is_found(strategy: str, shown: str) -> None:
    result = enrich(config(sensitive_policy={"t": {"notes": strategy}}))
    assert f"- Notes: {shown}" in result.context_block
    prov = notes_of(result)
    assert (prov.used, prov.pii_found, prov.pii_action) == (True, ["email", "phone"], strategy)
    assert prov.protection is None  # the feature itself is not sensitive


def test_personal_data_in_list_items_and_dict_keys_is_found() -> None:
    store = LocalFeatureStore()
    store.write_features(
        "u1",
        "user",
        {"notes": ["likes hiking", "card 4111 1111 1111 1111"], "tier": {"jane@x.com": "gold"}},
    )
    cfg = config(sensitive_policy={"t": {"*": "mask"}})
    result = FeatureEnricher(store, cfg).enrich("q", user_id="u1", task_type="t")
    assert "- Notes: likes hiking, card ****1111" in result.context_block
    assert "- Tier: j***@x.com: gold" in result.context_block


def test_the_scan_can_be_narrowed_or_turned_off() -> None:
    result = enrich(config(pii_value_kinds=["email"], sensitive_policy={"t": {"notes": "mask"}}))
    assert "- Notes: call me at +1 415 555 0199, j***@x.com" in result.context_block
    result = enrich(config(pii_value_kinds=[]))
    assert f"- Notes: {NOTES}" in result.context_block
    assert notes_of(result).pii_found == []


def test_unknown_kind_in_config_names_it_and_the_valid_ones() -> None:
    with pytest.raises(FeatureConfigError) as err:
        EnricherConfig(pii_value_kinds=["email", "passport"])
    message = str(err.value)
    assert "pii_value_kinds" in message
    assert "unknown kind 'passport'" in message
    assert "valid kinds: iban, payment_card, us_ssn, email, ip_address, phone" in message
    assert "FeatureEnricher(pii_detectors=...)" in message


class PassportDetector:
    """A user's own detector: anything with find(text) -> matches."""

    def find(self, text: str) -> Iterable[PiiMatch]:
        start = text.find("P<UTO")
        return [PiiMatch("passport", start, start + 13)] if start >= 0 else []


def test_a_custom_detector_plugs_in() -> None:
    assert isinstance(PassportDetector(), PiiDetector)
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"notes": "doc P<UTOERIKSSON ok", "tier": "gold"})
    cfg = config(sensitive_policy={"t": {"notes": "mask"}})
    enricher = FeatureEnricher(store, cfg, pii_detectors=[PassportDetector()])
    result = enricher.enrich("q", user_id="u1", task_type="t")
    assert "- Notes: doc P*** ok" in result.context_block
    assert notes_of(result).pii_found == ["passport"]


def test_sensitive_features_are_not_scanned_again() -> None:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"email": "jane@x.com"})
    cfg = EnricherConfig(
        task_features={"t": {"user": ["email"]}}, sensitive_policy={"t": {"email": "allow"}}
    )
    result = FeatureEnricher(store, cfg).enrich("q", user_id="u1", task_type="t")
    (prov,) = result.provenance
    assert (prov.protection, prov.pii_found) == ("allow", [])
    assert "- Email: jane@x.com" in result.context_block
