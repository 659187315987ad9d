"""A test backend that computes features from request data (like an on-demand view).

:class:`RequestDataStore` is a :class:`LocalFeatureStore` whose reads take request data:
besides the stored features it answers

* ``cart_vs_aov``: request field ``cart_total`` over the stored ``avg_order_value``;
* ``query_words``: the number of words of request field ``query``;
* ``budget``: request field ``cart_total`` itself (for filters on a price);

and a request-data feature asked for without its field is NOT_FOUND. Every call is
recorded (ids and request data) so tests can see what reached the backend. Optional
``fail_ids`` are refused as invalid ids (the store names them), to drive the serving
layer's per-id degradation.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from llm_featurestore.clients.base import RequestData, check_request_data
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import InvalidEntityIdError
from llm_featurestore.models import FeatureStatus, FeatureVector

ON_DEMAND = ("cart_vs_aov", "query_words", "budget")


def _computed(name: str, stored: Mapping[str, Any], data: Mapping[str, Any]) -> Any:
    if name == "cart_vs_aov":
        aov = stored.get("avg_order_value")
        return None if "cart_total" not in data or not aov else data["cart_total"] / aov
    if name == "budget":
        return data.get("cart_total")
    return None if "query" not in data else len(str(data["query"]).split())


class RequestDataStore(LocalFeatureStore):
    """See the module docstring."""

    accepts_request_data = True

    def __init__(self, fail_ids: Sequence[str] = ()) -> None:
        super().__init__()
        self.fail_ids = set(fail_ids)
        self.calls: list[tuple[list[str], list[dict[str, Any]] | None]] = []
        self._calls_lock = threading.Lock()

    def list_features(self, entity_type: str) -> list[str]:
        return sorted({*super().list_features(entity_type), *ON_DEMAND})

    def get_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        data = check_request_data(entity_ids, request_data)
        with self._calls_lock:
            self.calls.append((list(entity_ids), data))
        bad = [e for e in entity_ids if e in self.fail_ids]
        if bad:
            raise InvalidEntityIdError(f"{bad} refused", entity_type=entity_type, entity_ids=bad)
        stored_names = [n for n in feature_names if n not in ON_DEMAND]
        base = super().get_batch_features(entity_ids, entity_type, stored_names or ["tier"])
        rows = data or [{}] * len(entity_ids)
        return [self._with_computed(v, feature_names, d) for v, d in zip(base, rows, strict=True)]

    def _with_computed(
        self, vector: FeatureVector, names: Sequence[str], data: Mapping[str, Any]
    ) -> FeatureVector:
        stored = self._entities.get(vector.entity_type, {}).get(vector.entity_id, {})
        values = dict(vector.features)
        statuses = dict(vector.statuses)
        for name in names:
            if name in ON_DEMAND:
                values[name] = _computed(name, stored.get("features", {}), data)
                present = values[name] is not None
                statuses[name] = FeatureStatus.PRESENT if present else FeatureStatus.NOT_FOUND
        return FeatureVector.build(
            entity_id=vector.entity_id,
            entity_type=vector.entity_type,
            feature_names=names,
            values=values,
            statuses=statuses,
            event_timestamps=vector.event_timestamps,
            source=self.source,
        )

    async def aget_batch_features(
        self,
        entity_ids: Sequence[str],
        entity_type: str,
        feature_names: Sequence[str],
        *,
        request_data: Sequence[RequestData] | None = None,
    ) -> list[FeatureVector]:
        return self.get_batch_features(
            entity_ids, entity_type, feature_names, request_data=request_data
        )


def request_store(fail_ids: Sequence[str] = ()) -> RequestDataStore:
    """A store holding users u1 (average order 100.0, tier gold) and u2 (50.0, silver)."""
    store = RequestDataStore(fail_ids)
    store.write_features("u1", "user", {"avg_order_value": 100.0, "tier": "gold"})
    store.write_features("u2", "user", {"avg_order_value": 50.0, "tier": "silver"})
    store.write_features("bad", "user", {"avg_order_value": 1.0, "tier": "none"})
    return store
