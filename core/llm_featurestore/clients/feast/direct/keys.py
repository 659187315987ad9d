"""Join key values as Feast's serialized entity keys, byte for byte.

Feast's ``serialize_entity_key`` is the reference, but one call builds an
``EntityKey`` proto and costs about 12 µs here, more than the rest of a direct read
of one entity. So :class:`KeyEncoder` composes the key from two parts Feast itself
produces: the bytes before the value (the join key's header, learnt once from
``serialize_entity_key``) and the value's bytes (Feast's ``_serialize_val``). At
construction it checks the composed keys against ``serialize_entity_key`` for a
set of probe values; if Feast ever lays keys out otherwise (or renames its helper),
every key is built by ``serialize_entity_key`` itself (slower, never wrong).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Any

from llm_featurestore._deps import require

_keys = require("feast.infra.key_encoding_utils", extra="feast")
_EntityKey = require("feast.protos.feast.types.EntityKey_pb2", extra="feast").EntityKey
_Value = require("feast.protos.feast.types.Value_pb2", extra="feast").Value
ValueType = require("feast", extra="feast").ValueType

__all__ = ["KEY_TYPES", "MAX_CACHED_KEYS", "KeyEncoder", "encoder_for"]

KEY_TYPES: dict[Any, tuple[str, Callable[[Any], Any], tuple[Any, ...]]] = {
    ValueType.INT64: ("int64_val", lambda v: _Value(int64_val=v), (0, 1, -1, 1001, 2**62)),
    ValueType.INT32: ("int32_val", lambda v: _Value(int32_val=v), (0, 1, -1, 2**30)),
    ValueType.STRING: ("string_val", lambda v: _Value(string_val=v), ("", "a", "sku-1", "ü€")),
    ValueType.BYTES: ("bytes_val", lambda v: _Value(bytes_val=v), (b"", b"a", b"\x00\xff")),
}
"""Join key types a direct read supports: the ``Value`` field, a ``Value`` builder, and
the probe values the composed layout is checked with."""

MAX_CACHED_KEYS = 65_536
"""Keys each encoder keeps (then it starts afresh)."""
_HEADER = struct.Struct("<II")
"""A value's type and length, as ``serialize_entity_key`` writes them before its bytes."""


class KeyEncoder:
    """Serialized entity keys of one single-join-key entity.

    Args:
        join_key: The join key's name.
        value_type: Its Feast ``ValueType`` (one of :data:`KEY_TYPES`).
        version: The repo's ``entity_key_serialization_version``.
    """

    def __init__(self, join_key: str, value_type: Any, version: int) -> None:
        self.join_key = join_key
        self.version = version
        self._field, self._value, probes = KEY_TYPES[value_type]
        self._prefix = b""
        self.composed = self._learn(probes)
        """True when keys are composed (checked against Feast); False when each key is
        ``serialize_entity_key``'s own."""
        self._build = self._composed_key if self.composed else self.feast_key
        self._cache: dict[Any, bytes] = {}

    def feast_key(self, value: Any) -> bytes:
        """The key as Feast's ``serialize_entity_key`` builds it."""
        proto = _EntityKey(join_keys=[self.join_key], entity_values=[self._value(value)])
        key: bytes = _keys.serialize_entity_key(
            proto, entity_key_serialization_version=self.version
        )
        return key

    def _composed_key(self, value: Any) -> bytes:
        data, type_code = _keys._serialize_val(self._field, self._value(value), self.version)
        key: bytes = self._prefix + _HEADER.pack(type_code, len(data)) + data
        return key

    def _learn(self, probes: tuple[Any, ...]) -> bool:
        try:
            first = self.feast_key(probes[0])
            data, _ = _keys._serialize_val(self._field, self._value(probes[0]), self.version)
            self._prefix = first[: len(first) - _HEADER.size - len(data)]
            return all(self._composed_key(p) == self.feast_key(p) for p in probes)
        except Exception:  # Feast's helper moved or changed: build every key with Feast
            return False

    def encode(self, values: list[Any]) -> list[bytes]:
        """Each join key value's serialized entity key (the last :data:`MAX_CACHED_KEYS`
        built are kept: ids repeat, and a key costs microseconds to build)."""
        cache = self._cache
        keys: list[bytes] = []
        for value in values:
            key = cache.get(value)
            if key is None:
                if len(cache) >= MAX_CACHED_KEYS:
                    cache.clear()
                key = cache[value] = self._build(value)
            keys.append(key)
        return keys


@functools.lru_cache(maxsize=256)
def encoder_for(join_key: str, value_type: Any, version: int) -> KeyEncoder:
    """The (shared) encoder of one join key, type and serialization version."""
    return KeyEncoder(join_key, value_type, version)
