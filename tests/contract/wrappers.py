"""Test-only clients that wrap a real backend to count, slow down or break its calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import FeatureStoreUnavailableError
from llm_featurestore.models import FeatureVector


class Wrapper(FeatureStoreClient):
    def __init__(self, inner: FeatureStoreClient) -> None:
        self.inner = inner
        self.source = inner.source  # type: ignore[misc]

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return self.inner.get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        return await self.inner.aget_batch_features(entity_ids, entity_type, feature_names)

    def list_features(self, entity_type: str) -> list[str]:
        return self.inner.list_features(entity_type)

    def health_check(self) -> bool:
        return self.inner.health_check()


class CountingClient(Wrapper):
    """Records every batch call that reaches the backend, sync and async, thread-safely.

    ``calls`` holds ``(entity_ids, entity_type, feature_names)`` per call, as lists.
    """

    def __init__(self, inner: FeatureStoreClient) -> None:
        super().__init__(inner)
        self.calls: list[tuple[list[str], str, list[str]]] = []
        self._lock = threading.Lock()

    def record(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> None:
        with self._lock:
            self.calls.append((list(entity_ids), entity_type, list(feature_names)))

    @property
    def batches(self) -> list[list[str]]:
        """The entity ids of each call, in call order."""
        return [ids for ids, _, _ in self.calls]

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.record(entity_ids, entity_type, feature_names)
        return super().get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.record(entity_ids, entity_type, feature_names)
        return await super().aget_batch_features(entity_ids, entity_type, feature_names)


class SlowClient(Wrapper):
    """Answers correctly, but only after ``delay_s`` (while ``slow`` is set)."""

    def __init__(self, inner: FeatureStoreClient, delay_s: float) -> None:
        super().__init__(inner)
        self.delay_s = delay_s
        self.slow = True

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        if self.slow:
            time.sleep(self.delay_s)
        return super().get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        if self.slow:
            await asyncio.sleep(self.delay_s)
        return await super().aget_batch_features(entity_ids, entity_type, feature_names)


class FlakyClient(CountingClient):
    """Raises FeatureStoreUnavailableError while ``failing`` is set."""

    def __init__(self, inner: FeatureStoreClient) -> None:
        super().__init__(inner)
        self.failing = False

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        if self.failing:
            self.record(entity_ids, entity_type, feature_names)
            raise FeatureStoreUnavailableError("injected failure")
        return super().get_batch_features(entity_ids, entity_type, feature_names)

    async def aget_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        if self.failing:
            self.record(entity_ids, entity_type, feature_names)
            raise FeatureStoreUnavailableError("injected failure")
        return await super().aget_batch_features(entity_ids, entity_type, feature_names)
