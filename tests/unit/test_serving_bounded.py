"""ServingClient reads inline when the backend bounds its own reads, else on its lane."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import pytest

from llm_featurestore.clients.base import BoundedRead, FeatureStoreClient, RequestData
from llm_featurestore.errors import FeatureTimeoutError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.serving import ServingClient


class Store(FeatureStoreClient):
    """A blocking store whose driver can bound some reads (names starting with "bounded")."""

    may_block = True
    accepts_request_data = True

    def __init__(self, *, bounds: bool = True, times_out: bool = False) -> None:
        self.bounds = bounds
        self.times_out = times_out
        self.budgets: list[float] = []
        self.calls: list[tuple[str, int, Any]] = []

    def _vectors(self, ids: Sequence[str], etype: str, names: Sequence[str]) -> list[FeatureVector]:
        return [
            FeatureVector.build(
                entity_id=eid,
                entity_type=etype,
                feature_names=names,
                values=dict.fromkeys(names, 1),
                statuses=dict.fromkeys(names, FeatureStatus.PRESENT),
                source="custom",
            )
            for eid in ids
        ]

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        self.calls.append(("lane", threading.get_ident(), request_data))
        return self._vectors(entity_ids, entity_type, feature_names)

    def bounded_reader(self, timeout_s: float) -> BoundedRead | None:
        if not self.bounds:
            return None
        self.budgets.append(timeout_s)

        def read(
            ids: Sequence[str],
            etype: str,
            names: Sequence[str],
            request_data: Sequence[RequestData] | None,
        ) -> list[FeatureVector] | None:
            if not names[0].startswith("bounded"):
                return None
            self.calls.append(("bounded", threading.get_ident(), request_data))
            if self.times_out:
                raise FeatureTimeoutError("the driver gave up")
            return self._vectors(ids, etype, names)

        return read

    def list_features(self, entity_type: str) -> list[str]:
        return []

    def health_check(self) -> bool:
        return True


def test_a_bounded_read_runs_inline_with_the_serving_budget() -> None:
    store = Store()
    serving = ServingClient(store, timeout_ms=250)
    vec = serving.get_features("u1", "user", ["bounded_a"], request_data={"x": 1})
    assert vec.features == {"bounded_a": 1}
    assert store.calls == [("bounded", threading.get_ident(), [{"x": 1}])]
    assert store.budgets == [0.25]
    serving.get_features("u2", "user", ["bounded_a"])
    assert store.budgets == [0.25]  # asked once
    assert serving._lane.running is False


def test_a_read_the_driver_cannot_bound_goes_to_the_lane() -> None:
    store = Store()
    serving = ServingClient(store, timeout_ms=250)
    assert serving.get_features("u1", "user", ["other"]).found
    assert [(kind, ident == threading.get_ident()) for kind, ident, _ in store.calls] == [
        ("lane", False)
    ]
    assert serving._lane.running is True
    serving.close()


def test_a_backend_without_bounded_reads_keeps_the_lane() -> None:
    store = Store(bounds=False)
    serving = ServingClient(store, timeout_ms=250)
    assert serving.get_features("u1", "user", ["bounded_a"]).found
    assert store.calls[0][0] == "lane"
    serving.close()


def test_no_timeout_reads_inline_without_asking() -> None:
    store = Store()
    serving = ServingClient(store, timeout_ms=None)
    assert serving.get_features("u1", "user", ["bounded_a"]).found
    assert store.calls[0][:2] == ("lane", threading.get_ident())
    assert store.budgets == []


def test_a_driver_timeout_degrades_like_a_lane_timeout() -> None:
    serving = ServingClient(Store(times_out=True), timeout_ms=250)
    vec = serving.get_features("u1", "user", ["bounded_a"])
    assert vec.statuses == {"bounded_a": FeatureStatus.TIMED_OUT}
    assert serving.stats.timeouts == 1
    strict = ServingClient(Store(times_out=True), timeout_ms=250, fallback_on_timeout=False)
    with pytest.raises(FeatureTimeoutError, match="did not answer within 250"):
        strict.get_features("u1", "user", ["bounded_a"])


def test_the_base_client_bounds_nothing() -> None:
    class Plain(Store):
        bounded_reader = FeatureStoreClient.bounded_reader

    assert Plain().bounded_reader(1.0) is None
