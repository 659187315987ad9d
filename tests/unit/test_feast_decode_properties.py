"""The fast column-wise Feast decoder equals the generic cell rule, ``cells.assemble``.

Real ``GetOnlineFeaturesResponse`` protos are built from random statuses, values
(``None`` included, as an empty or a null ``Value``), event timestamps (missing ones
as Feast's empty timestamp) and ttl cutoffs, then decoded by the client's decoder;
the expected vectors come from :func:`llm_featurestore.clients.cells.assemble` over
the same cells with ``null_needs_timestamp=True``. Both the one-entity path and the
N-entity path (with its "all present and fresh" shortcut) are covered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

from feast import ValueType
from feast.protos.feast.serving.ServingService_pb2 import (
    FeatureList,
    FieldStatus,
    GetOnlineFeaturesResponse,
    GetOnlineFeaturesResponseMetadata,
)
from feast.protos.feast.types.Value_pb2 import Null, Value
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_featurestore.clients.cells import Cell, assemble
from llm_featurestore.clients.feast.decode import decode_vectors
from llm_featurestore.clients.feast.registry import Column, Plan
from llm_featurestore.models import FeatureStatus, FeatureVector

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)

_STORE_STATUS = {
    FieldStatus.PRESENT: FeatureStatus.PRESENT,
    FieldStatus.NULL_VALUE: FeatureStatus.NULL_VALUE,
    FieldStatus.NOT_FOUND: FeatureStatus.NOT_FOUND,
    FieldStatus.OUTSIDE_MAX_AGE: FeatureStatus.STALE,
    FieldStatus.INVALID: FeatureStatus.NOT_FOUND,
}
"""What Feast's codes mean (Feast's documentation), independent of the decoder's table."""

_VALUES: dict[Any, tuple[str, st.SearchStrategy[Any]]] = {
    ValueType.STRING: ("string_val", st.text(max_size=3)),
    ValueType.INT64: ("int64_val", st.integers(-(2**63), 2**63 - 1)),
    ValueType.DOUBLE: ("double_val", st.floats(allow_nan=False)),
    ValueType.BOOL: ("bool_val", st.booleans()),
}


@dataclass
class _Feature:
    view: str
    name: str
    value_type: Any
    codes: list[int]
    values: list[Any]
    null_as_null_val: list[bool]


@st.composite
def _answers(draw: st.DrawFn, n: int) -> tuple[list[_Feature], dict[str, list[datetime | None]]]:
    """Features of 1-3 views with ``n`` cells each, and each view's event times."""
    features: list[_Feature] = []
    stamps: dict[str, list[datetime | None]] = {}
    ages = st.one_of(st.none(), st.integers(-100, 3000))
    any_code = st.one_of(st.just(FieldStatus.PRESENT), st.sampled_from(list(_STORE_STATUS)))
    for v in range(draw(st.integers(1, 3))):
        view = f"v{v}"
        stamps[view] = [
            None if age is None else NOW - timedelta(seconds=age)
            for age in draw(st.lists(ages, min_size=n, max_size=n))
        ]
        for f in range(draw(st.integers(1, 3))):
            value_type = draw(st.sampled_from(list(_VALUES)))
            # Half the columns hold only PRESENT, non-null cells: the N-entity shortcut's
            # candidates, which it may take only when none of them is stale.
            clean = draw(st.booleans())
            values = (
                _VALUES[value_type][1] if clean else st.one_of(st.none(), _VALUES[value_type][1])
            )
            codes = st.just(FieldStatus.PRESENT) if clean else any_code
            features.append(
                _Feature(
                    view=view,
                    name=f"f{f}",
                    value_type=value_type,
                    codes=draw(st.lists(codes, min_size=n, max_size=n)),
                    values=draw(st.lists(values, min_size=n, max_size=n)),
                    null_as_null_val=draw(st.lists(st.booleans(), min_size=n, max_size=n)),
                )
            )
    return features, stamps


def _value(feature: _Feature, i: int) -> Value:
    value = feature.values[i]
    if value is None:
        return Value(null_val=Null.NULL) if feature.null_as_null_val[i] else Value()
    return Value(**{_VALUES[feature.value_type][0]: value})


def _timestamp(ts: datetime | None) -> Timestamp:
    return Timestamp() if ts is None else Timestamp(seconds=int(ts.timestamp()))


def _response(
    features: list[_Feature], stamps: dict[str, list[datetime | None]], n: int, seed: int
) -> Any:
    """A real response proto: the join key column first, then the features shuffled."""
    columns = [
        (f"{f.view}__{f.name}", [_value(f, i) for i in range(n)], f.codes, stamps[f.view])
        for f in features
    ]
    random.Random(seed).shuffle(columns)
    ids = [Value(string_val=str(i)) for i in range(n)]
    columns.insert(0, ("user_id", ids, [FieldStatus.PRESENT] * n, [None] * n))
    proto = GetOnlineFeaturesResponse(
        metadata=GetOnlineFeaturesResponseMetadata(
            feature_names=FeatureList(val=[name for name, *_ in columns])
        ),
        results=[
            GetOnlineFeaturesResponse.FeatureVector(
                values=values,
                statuses=codes,
                event_timestamps=[_timestamp(t) for t in times],
            )
            for _, values, codes, times in columns
        ],
    )
    return SimpleNamespace(proto=proto)


def _expected(
    features: list[_Feature],
    stamps: dict[str, list[datetime | None]],
    entity_ids: list[str],
    ttl: timedelta | None,
) -> list[FeatureVector]:
    keys = [f"{f.view}:{f.name}" for f in features]
    return [
        assemble(
            eid,
            "user",
            keys,
            {
                key: Cell(f.values[i], stamps[f.view][i], _STORE_STATUS[f.codes[i]])
                for key, f in zip(keys, features, strict=True)
            },
            source="feast",
            now=NOW,
            max_age=ttl,
            null_needs_timestamp=True,
        )
        for i, eid in enumerate(entity_ids)
    ]


def _check(n: int, data: st.DataObject) -> None:
    features, stamps = data.draw(_answers(n))
    ttl = data.draw(st.one_of(st.none(), st.integers(1, 2000).map(lambda s: timedelta(seconds=s))))
    plan = Plan(
        features=[f"{f.view}:{f.name}" for f in features],
        key_columns=tuple(
            (f"{f.view}:{f.name}", Column(f"{f.view}__{f.name}", f.view, ttl, f.value_type))
            for f in features
        ),
        join_key="user_id",
        coerce=str,
    )
    entity_ids = [f"e{i}" for i in range(n)]
    response = _response(features, stamps, n, data.draw(st.integers(0, 2**32)))
    decoded = decode_vectors(response, plan, entity_ids, "user", source="feast", now=NOW)
    assert decoded == _expected(features, stamps, entity_ids, ttl)
    # A second answer reuses the column positions learnt from the first.
    assert decode_vectors(response, plan, entity_ids, "user", source="feast", now=NOW) == decoded


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_one_entity_path_equals_the_generic_rule(data: st.DataObject) -> None:
    _check(1, data)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 6), st.data())
def test_many_entity_path_equals_the_generic_rule(n: int, data: st.DataObject) -> None:
    _check(n, data)


def test_the_all_present_and_fresh_shortcut_equals_the_generic_rule() -> None:
    """The N-entity shortcut (no cell classified) on a column that takes it."""
    n = 3
    feature = _Feature(
        "v0", "f0", ValueType.INT64, [FieldStatus.PRESENT] * n, [0, 1, 2], [False] * n
    )
    stamps: dict[str, list[datetime | None]] = {"v0": [NOW - timedelta(seconds=5)] * n}
    plan = Plan(
        features=["v0:f0"],
        key_columns=(("v0:f0", Column("v0__f0", "v0", timedelta(seconds=60), ValueType.INT64)),),
        join_key="user_id",
        coerce=str,
    )
    ids = ["a", "b", "c"]
    decoded = decode_vectors(
        _response([feature], stamps, n, 0), plan, ids, "user", source="feast", now=NOW
    )
    assert decoded == _expected([feature], stamps, ids, timedelta(seconds=60))
    assert [v.features["v0:f0"] for v in decoded] == [0, 1, 2]
    assert {v.statuses["v0:f0"] for v in decoded} == {FeatureStatus.PRESENT}
