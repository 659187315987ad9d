"""The direct read path's pieces that need no store: keys, support checks, layouts."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from feast import ValueType
from feast.infra.key_encoding_utils import serialize_entity_key
from feast.protos.feast.types.EntityKey_pb2 import EntityKey
from feast.protos.feast.types.Value_pb2 import Value
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_featurestore.clients.feast.direct import keys as direct_keys
from llm_featurestore.clients.feast.direct.keys import KeyEncoder
from llm_featurestore.clients.feast.direct.layout import Layout, plan_layout
from llm_featurestore.clients.feast.direct.reads import store_support
from llm_featurestore.clients.feast.plans import Column, Plan

VALUES: dict[Any, tuple[str, st.SearchStrategy[Any]]] = {
    ValueType.INT64: ("int64_val", st.integers(-(2**63), 2**63 - 1)),
    ValueType.INT32: ("int32_val", st.integers(-(2**31), 2**31 - 1)),
    ValueType.STRING: ("string_val", st.text(max_size=40)),
    ValueType.BYTES: ("bytes_val", st.binary(max_size=40)),
}


def feast_key(join_key: str, value_type: Any, value: Any, version: int) -> bytes:
    field = VALUES[value_type][0]
    proto = EntityKey(join_keys=[join_key], entity_values=[Value(**{field: value})])
    key: bytes = serialize_entity_key(proto, entity_key_serialization_version=version)
    return key


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("value_type", list(VALUES), ids=lambda t: t.name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_keys_are_byte_for_byte_feasts(value_type: Any, version: int, data: st.DataObject) -> None:
    values = data.draw(st.lists(VALUES[value_type][1], min_size=1, max_size=5))
    join_key = data.draw(st.sampled_from(["user_id", "código", "k"]))
    encoder = KeyEncoder(join_key, value_type, version)
    assert encoder.composed is True
    assert encoder.encode(values) == [feast_key(join_key, value_type, v, version) for v in values]


def test_keys_come_from_serialize_entity_key_when_the_layout_cannot_be_composed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import struct

    # As if Feast wrote a value's length in 8 bytes: composed keys no longer match.
    monkeypatch.setattr(direct_keys, "_HEADER", struct.Struct("<IQ"))
    encoder = KeyEncoder("user_id", ValueType.INT64, 3)
    assert encoder.composed is False
    assert encoder.encode([1001, -7]) == [
        feast_key("user_id", ValueType.INT64, v, 3) for v in (1001, -7)
    ]


def test_built_keys_are_kept_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_keys, "MAX_CACHED_KEYS", 3)
    encoder = KeyEncoder("user_id", ValueType.INT64, 3)
    first = encoder.encode([1, 2, 3])
    assert encoder.encode([3, 2, 1]) == first[::-1]
    assert encoder.encode([4, 5]) == [feast_key("user_id", ValueType.INT64, v, 3) for v in (4, 5)]
    assert len(encoder._cache) <= 3


def _config(online: dict[str, Any], version: int = 3, versioning: bool = False) -> Any:
    return SimpleNamespace(
        online_store=SimpleNamespace(**online),
        entity_key_serialization_version=version,
        registry=SimpleNamespace(enable_online_feature_view_versioning=versioning),
    )


@pytest.mark.parametrize(
    ("online", "version", "versioning", "answer"),
    [
        ({"type": "redis", "redis_type": "redis", "client": "redis"}, 3, False, "redis"),
        ({"type": "sqlite"}, 2, False, "sqlite"),
        (
            {"type": "feast.infra.online_stores.sqlite.SqliteOnlineStore"},
            3,
            False,
            "sqlite",
        ),
        (
            {"type": "redis", "redis_type": "redis_cluster", "client": "redis"},
            3,
            False,
            "redis_type 'redis_cluster' has no direct reader (redis_type: redis has)",
        ),
        (
            {"type": "redis", "redis_type": "redis", "client": "glide"},
            3,
            False,
            "client 'glide' has no direct reader (client: redis has)",
        ),
        (
            {"type": "dynamodb"},
            3,
            False,
            "online store type 'dynamodb' has no direct reader (redis and sqlite have)",
        ),
        (
            {"type": "sqlite"},
            1,
            False,
            "entity_key_serialization_version 1 is not read directly (2 and 3 are)",
        ),
        (
            {"type": "sqlite"},
            3,
            True,
            "enable_online_feature_view_versioning is on (versioned tables are not read directly)",
        ),
    ],
)
def test_store_support_names_what_is_not_read_directly_and_what_is(
    online: dict[str, Any], version: int, versioning: bool, answer: str
) -> None:
    assert store_support(_config(online, version, versioning)) == answer


def test_store_support_reads_feasts_enum_settings() -> None:
    from feast.infra.online_stores.redis import RedisClient, RedisType

    online = {"type": "redis", "redis_type": RedisType.redis_sentinel, "client": RedisClient.redis}
    assert store_support(_config(online)) == (
        "redis_type 'redis_sentinel' has no direct reader (redis_type: redis has)"
    )
    online = {"type": "redis", "redis_type": RedisType.redis, "client": RedisClient.redis}
    assert store_support(_config(online)) == "redis"


def _view(join_key_type: Any) -> Any:
    dtype = SimpleNamespace(to_value_type=lambda: join_key_type)
    return SimpleNamespace(entity_columns=[SimpleNamespace(name="user_id", dtype=dtype)])


def _plan(*columns: tuple[str, str], features: Any = ()) -> Plan:
    key_columns = tuple(
        (f"{view}:{feature}", Column(f"{view}__{feature}", view, None, ValueType.STRING, feature))
        for view, feature in columns
    )
    return Plan(list(features), key_columns, "user_id", str)


def _index(**views: Any) -> Any:
    return SimpleNamespace(join_key="user_id", views=views)


def test_layout_groups_features_by_view_in_first_use_order() -> None:
    plan = _plan(("b", "x"), ("a", "y"), ("b", "z"), ("b", "x"))
    layout = plan_layout(plan, _index(a=_view(ValueType.INT64), b=_view(ValueType.INT64)), 3)
    assert isinstance(layout, Layout)
    assert [(v.name, v.features) for v in layout.views] == [("b", ("x", "z")), ("a", ("y",))]
    assert [(key, view, feature) for key, _, view, feature in layout.cells] == [
        ("b:x", 0, 0),
        ("a:y", 1, 0),
        ("b:z", 0, 1),
        ("b:x", 0, 0),
    ]


def test_layout_refuses_on_demand_views() -> None:
    plan = _plan(("stats", "rate"), ("plus_one", "rate_plus"))
    reason = plan_layout(plan, _index(stats=_view(ValueType.INT64)), 3)
    assert reason == "on-demand feature view 'plus_one' is computed by Feast"


def test_layout_refuses_views_that_are_not_online() -> None:
    offline = _view(ValueType.INT64)
    offline.online = False
    reason = plan_layout(_plan(("stats", "rate")), _index(stats=offline), 3)
    assert reason == "feature view 'stats' is not online (online=False)"


def test_layout_refuses_join_key_types_feast_cannot_serialize() -> None:
    reason = plan_layout(_plan(("stats", "rate")), _index(stats=_view(ValueType.DOUBLE)), 3)
    assert reason == ("join key 'user_id' of type DOUBLE (direct: Int64, Int32, String, Bytes)")
    mixed = _index(a=_view(ValueType.INT64), b=_view(ValueType.STRING))
    assert plan_layout(_plan(("a", "x"), ("b", "y")), mixed, 3) == (
        "join key 'user_id' of type INT64, STRING (direct: Int64, Int32, String, Bytes)"
    )


def test_layout_refuses_services_that_rename_join_keys() -> None:
    service = SimpleNamespace(
        feature_view_projections=[
            SimpleNamespace(name="stats", join_key_map={}),
            SimpleNamespace(name="other", join_key_map={"user_id": "customer_id"}),
        ]
    )
    plan = _plan(("stats", "rate"))
    plan.features = service
    reason = plan_layout(plan, _index(stats=_view(ValueType.INT64)), 3)
    assert reason == "feature service projection 'other' renames join keys"


def test_a_columns_feature_name_is_kept_through_bare_name_plans() -> None:
    column = Column("view__a__b", "view", timedelta(days=1), ValueType.STRING, "a__b")
    assert column.feature == "a__b"
    assert column.scalar_field == "string_val"


class _Conn:
    opened = 0
    closed = 0

    def __init__(self) -> None:
        _Conn.opened += 1
        self.open = True

    def close(self) -> None:
        self.open = False
        _Conn.closed += 1


def test_each_thread_keeps_its_connection_and_a_finished_thread_leaves_none() -> None:
    import gc
    import threading

    from llm_featurestore.clients.feast.direct.per_thread import PerThread

    conns: PerThread[_Conn] = PerThread(_Conn, _Conn.close)
    mine = conns.get()
    assert conns.get() is mine
    seen: list[_Conn] = []
    workers = [threading.Thread(target=lambda: seen.append(conns.get())) for _ in range(3)]
    for worker in workers:
        worker.start()
        worker.join()
    assert len({id(c) for c in seen}) == 3
    assert mine not in seen
    seen.clear()
    gc.collect()
    assert conns.live() == 1  # the finished threads' connections went with them
    conns.close()
    assert mine.open is False
    again = conns.get()
    assert again is not mine
    assert again.open is True
