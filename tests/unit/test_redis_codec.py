"""RedisFeatureStore's pure parts: encoding, decoding, URL redaction, settings and their errors."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import llm_featurestore.clients.redis as redis_package
from llm_featurestore.clients.cells import assemble
from llm_featurestore.clients.redis import (
    RedisFeatureStore,
    RedisFeatureStoreConfig,
    decode_row,
    encode_features,
)
from llm_featurestore.clients.redis import codec as codec_module
from llm_featurestore.clients.redis.codec import TS_PREFIX
from llm_featurestore.clients.redis.config import redact_url
from llm_featurestore.errors import FeatureConfigError, FeatureValidationError
from llm_featurestore.models import FeatureStatus, FeatureVector

WHEN = datetime(2026, 5, 6, 7, 8, 9, 654321, tzinfo=timezone.utc)
NOW = WHEN + timedelta(seconds=10)


def reply_for(fields: dict[str, str], names: list[str]) -> list[bytes | None]:
    """What HMGET would answer for ``names`` and their timestamps, given stored ``fields``."""
    wanted = [*names, *(TS_PREFIX + n for n in names)]
    return [fields[f].encode() if f in fields else None for f in wanted]


def test_encode_writes_compact_json_and_microsecond_timestamps() -> None:
    fields = encode_features({"a": 1, "b": [1, "x"], "c": None, "d": "é"}, WHEN)
    micros = str(int(WHEN.replace(microsecond=0).timestamp()) * 1_000_000 + 654321)
    assert fields == {
        "a": "1",
        "b": '[1,"x"]',
        "c": "null",
        "d": '"é"',
        "__ts__:a": micros,
        "__ts__:b": micros,
        "__ts__:c": micros,
        "__ts__:d": micros,
    }


def test_encode_treats_naive_timestamps_as_utc() -> None:
    naive = encode_features({"a": 1}, WHEN.replace(tzinfo=None))
    aware = encode_features({"a": 1}, WHEN.astimezone(timezone(timedelta(hours=5))))
    assert naive == aware == encode_features({"a": 1}, WHEN)


@pytest.mark.parametrize(
    ("features", "match"),
    [
        ({"__ts__:a": 1}, "reserved for timestamps"),
        ({"a": float("nan")}, "not a finite number"),
        ({"a": 2**63}, "overflows int64"),
        ({"bad name": 1}, "Invalid feature name"),
        ({}, "nothing to write"),
    ],
)
def test_encode_rejects_what_may_not_be_stored(features: dict[str, Any], match: str) -> None:
    with pytest.raises(FeatureValidationError, match=match):
        encode_features(features, WHEN)


def test_decode_statuses_present_null_stale_and_absent() -> None:
    old = WHEN - timedelta(days=3)
    fields = {
        **encode_features({"fresh": 1.0, "null": None}, WHEN),
        **encode_features({"old": "x"}, old),
    }
    names = ["fresh", "null", "old", "absent"]
    values, statuses, stamps = decode_row(
        reply_for(fields, names), names, key="k", max_age=timedelta(days=1), now=NOW
    )
    assert values == {"fresh": 1.0, "null": None, "old": "x"}
    assert type(values["fresh"]) is float
    assert statuses == {
        "fresh": FeatureStatus.PRESENT,
        "null": FeatureStatus.NULL_VALUE,
        "old": FeatureStatus.STALE,
    }
    assert stamps == {"fresh": WHEN, "null": WHEN, "old": old}


def test_decode_without_max_age_never_marks_stale() -> None:
    fields = encode_features({"old": 1}, WHEN - timedelta(days=3650))
    _, statuses, _ = decode_row(reply_for(fields, ["old"]), ["old"], key="k", max_age=None, now=NOW)
    assert statuses == {"old": FeatureStatus.PRESENT}


def test_decode_keeps_raw_text_of_corrupt_values(caplog: pytest.LogCaptureFixture) -> None:
    raw: list[bytes | None] = [b"plain text", b"\xff\xfe", b"12", b"not-a-number"]
    with caplog.at_level(logging.WARNING, logger="llm_featurestore.clients.redis"):
        values, statuses, stamps = decode_row(
            raw, ["a", "b"], key="ns:user:1", max_age=None, now=NOW
        )
    assert values == {"a": "plain text", "b": "\ufffd\ufffd"}
    assert statuses == {"a": FeatureStatus.PRESENT, "b": FeatureStatus.PRESENT}
    assert stamps["a"] == datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(microseconds=12)
    assert stamps["b"] is None
    text = caplog.text
    assert "'a' of 'ns:user:1' is not JSON" in text
    assert "no valid timestamp" in text


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(
        alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
        max_size=50,
    )
)
json_values = (
    json_scalars
    | st.lists(json_scalars, max_size=5)
    | st.dictionaries(
        st.text(
            alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
            max_size=5,
        ),
        json_scalars,
        max_size=5,
    )
)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), json_values, min_size=1, max_size=6
    )
)
def test_encode_decode_round_trip_is_exact(features: dict[str, Any]) -> None:
    names = list(features)
    fields = encode_features(features, WHEN)
    values, statuses, stamps = decode_row(
        reply_for(fields, names), names, key="k", max_age=None, now=NOW
    )
    assert json.dumps(values, sort_keys=True) == json.dumps(features, sort_keys=True)
    for name, want in features.items():
        assert type(values[name]) is type(want)
        expected = FeatureStatus.NULL_VALUE if want is None else FeatureStatus.PRESENT
        assert statuses[name] is expected
        assert stamps[name] == WHEN


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:pw@host:1/2", "redis://:***@host:1/2"),
        ("rediss://user:pw@host/0", "rediss://user:***@host/0"),
    ],
)
def test_redact_hides_passwords(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_constructor_connects_lazily_and_hides_the_password() -> None:
    store = RedisFeatureStore("redis://:hunter2@127.0.0.1:1/0", namespace="app")
    assert repr(store) == "RedisFeatureStore(url='redis://:***@127.0.0.1:1/0', namespace='app')"
    assert store.key("user", "42") == "app:user:42"
    store.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"namespace": ""}, r"namespace: String should have at least 1 character \(got ''\)"),
        ({"socket_timeout_s": 0}, r"socket_timeout_s: Input should be greater than 0 \(got 0\)"),
        ({"socket_timeout_s": float("inf")}, r"socket_timeout_s: Input should be a finite number"),
        ({"retries": -1}, r"retries: Input should be greater than or equal to 0 \(got -1\)"),
        ({"max_connections": 0}, r"max_connections: Input should be greater than 0"),
        ({"max_age_seconds": "soon"}, r"max_age_seconds"),
        ({"namespce": "x"}, r"namespce: unknown key; valid keys: max_age_seconds, "),
        ({"type": "local"}, r"type: Input should be 'redis'"),
    ],
)
def test_bad_settings_raise_config_errors_naming_the_key(
    kwargs: dict[str, Any], match: str
) -> None:
    with pytest.raises(FeatureConfigError, match=match) as err:
        RedisFeatureStore(**kwargs)
    assert str(err.value).startswith("Invalid RedisFeatureStoreConfig:")
    with pytest.raises(FeatureConfigError, match=match):
        RedisFeatureStoreConfig(**kwargs)


def test_an_unparsable_url_is_a_config_error_without_the_password() -> None:
    with pytest.raises(FeatureConfigError, match=r"Invalid Redis URL .*\(setting url\)") as err:
        RedisFeatureStore("http://:hunter2@127.0.0.1:6379")
    assert "hunter2" not in str(err.value)
    assert "http://:***@127.0.0.1:6379" in str(err.value)


def test_settings_come_as_a_model_a_url_or_fields() -> None:
    config = RedisFeatureStoreConfig(url="redis://127.0.0.1:1/3", namespace="app", retries=0)
    from_model = RedisFeatureStore(config)
    assert from_model.config is config
    from_url = RedisFeatureStore("redis://127.0.0.1:1/3", namespace="app", retries=0)
    from_fields = RedisFeatureStore(url="redis://127.0.0.1:1/3", namespace="app", retries=0)
    assert from_url.config == from_fields.config == config
    assert (from_url.url, from_url.namespace, from_url.socket_timeout_s) == (
        "redis://127.0.0.1:1/3",
        "app",
        1.0,
    )
    assert RedisFeatureStore.config_class is RedisFeatureStoreConfig
    for store in (from_model, from_url, from_fields):
        store.close()


def test_settings_given_twice_are_refused() -> None:
    config = RedisFeatureStoreConfig()
    with pytest.raises(FeatureConfigError, match="not both"):
        RedisFeatureStore(config, namespace="x")
    with pytest.raises(FeatureConfigError, match="Expected a RedisFeatureStoreConfig"):
        RedisFeatureStore({"url": "redis://a:1/0"})  # type: ignore[arg-type]


def test_the_yaml_section_is_the_backends_own_settings_class() -> None:
    from llm_featurestore.config import FeatureStoreConfig, RedisSection

    assert RedisSection is RedisFeatureStoreConfig
    loaded = FeatureStoreConfig(provider="redis", redis={"namespace": "n"})  # type: ignore[arg-type]
    assert loaded.redis == RedisFeatureStoreConfig(namespace="n")


def test_config_repr_and_str_hide_the_password() -> None:
    config = RedisFeatureStoreConfig(url="redis://user:hunter2@host:1/0")
    assert "hunter2" not in repr(config)
    assert "hunter2" not in str(config)
    assert "url='redis://user:***@host:1/0'" in repr(config)
    assert config.url == "redis://user:hunter2@host:1/0"  # the value itself is kept


def test_the_config_imports_without_the_redis_driver() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "from llm_featurestore.clients.redis import RedisFeatureStoreConfig, encode_features\n"
        "print(RedisFeatureStoreConfig(namespace='x').namespace)\n"
        "try:\n"
        "    from llm_featurestore.clients.redis import RedisFeatureStore\n"
        "except ImportError as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["x", "MissingDependencyError"]


def test_the_package_api_is_pinned() -> None:
    assert sorted(redis_package.__all__) == [
        "RedisFeatureStore",
        "RedisFeatureStoreConfig",
        "decode_row",
        "encode_features",
    ]
    for name in redis_package.__all__:
        assert getattr(redis_package, name) is not None
    assert redis_package.TS_PREFIX == "__ts__:"  # still importable from the old path
    with pytest.raises(AttributeError, match="NoSuchThing"):
        redis_package.NoSuchThing  # noqa: B018


def test_reads_check_the_request_before_any_io() -> None:
    store = RedisFeatureStore("redis://127.0.0.1:1/0")  # nothing listens there
    with pytest.raises(FeatureConfigError, match="list of ids"):
        store.get_batch_features("1001", "user", ["a"])  # type: ignore[arg-type]
    with pytest.raises(FeatureConfigError, match="feature_names is empty"):
        store.get_features("1001", "user", [])
    store.close()


def test_values_orjson_rejects_fall_back_to_the_json_module() -> None:
    raw: list[bytes | None] = [b"123456789012345678901234567890", b"NaN", None, None]
    values, statuses, _ = decode_row(raw, ["big", "nan"], key="k", max_age=None, now=NOW)
    assert values["big"] == 123456789012345678901234567890
    assert values["nan"] != values["nan"]  # a float NaN written by another tool
    assert statuses == {"big": FeatureStatus.PRESENT, "nan": FeatureStatus.PRESENT}


def test_decoding_works_without_orjson(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec_module, "_fast_loads", None)
    features = {"a": 1, "b": 2.0, "c": ["x", None], "d": {"k": True}, "e": "é"}
    fields = encode_features(features, WHEN)
    values, _, _ = decode_row(
        reply_for(fields, list(features)), list(features), key="k", max_age=None, now=NOW
    )
    assert values == features
    assert type(values["b"]) is float


@given(
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True),
        st.tuples(json_values, st.integers(min_value=0, max_value=5 * 86_400)),
        min_size=1,
        max_size=6,
    ),
    st.lists(st.from_regex(r"[a-z]{1,3}", fullmatch=True), max_size=3),
    st.none() | st.integers(min_value=1, max_value=3 * 86_400),
)
def test_the_fast_read_path_equals_the_shared_rule(
    features: dict[str, tuple[Any, int]], absent: list[str], max_age_s: int | None
) -> None:
    """decode_row (the store's one-pass read path) gives the vectors of cells + assemble."""
    fields: dict[str, str] = {}
    for name, (value, age_s) in features.items():
        fields.update(encode_features({name: value}, NOW - timedelta(seconds=age_s)))
    names = [*features, *(n for n in absent if n not in features)]
    reply = reply_for(fields, names)
    max_age = None if max_age_s is None else timedelta(seconds=max_age_s)
    values, statuses, stamps = decode_row(reply, names, key="k", max_age=max_age, now=NOW)
    fast = FeatureVector.build(
        entity_id="1",
        entity_type="user",
        feature_names=names,
        values=values,
        statuses=statuses,
        event_timestamps=stamps,
        source="redis",
        retrieved_at=NOW,
    )
    cells = codec_module.decode_cells(reply, names, key="k")
    generic = assemble("1", "user", names, cells, source="redis", now=NOW, max_age=max_age)
    assert fast == generic
