"""A Runnable whose work is done N inputs at a time, so that ``invoke``, ``ainvoke``,
``batch`` and ``abatch`` share one implementation (one backend call per entity type for
a batch) and differ only in how they wait."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from langchain_core.callbacks import AsyncCallbackManagerForChainRun
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.runnables.config import ensure_config, get_config_list

from llm_featurestore.reading import FeatureVectors, ReadRequest

__all__ = ["BatchedRunnable", "Prefetch", "prefetched"]

In = TypeVar("In")
Out = TypeVar("Out")


class BatchedRunnable(Runnable[In, Out], Generic[In, Out]):
    """Subclasses implement :meth:`_run` and :meth:`_arun` over lists of inputs."""

    @abstractmethod
    def _run(self, inputs: list[In], configs: list[RunnableConfig]) -> list[Out]:
        """One output per input, in order."""

    @abstractmethod
    async def _arun(self, inputs: list[In], configs: list[RunnableConfig]) -> list[Out]:
        """Async twin of :meth:`_run`."""

    def invoke(self, input: In, config: RunnableConfig | None = None, **kwargs: Any) -> Out:
        return self._call_with_config(  # type: ignore[no-any-return]
            lambda i, config: self._run([i], [config])[0], input, ensure_config(config)
        )

    async def ainvoke(self, input: In, config: RunnableConfig | None = None, **kwargs: Any) -> Out:
        async def one(
            i: In, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig
        ) -> Out:
            return (await self._arun([i], [config]))[0]

        return await self._acall_with_config(one, input, ensure_config(config))

    def batch(
        self,
        inputs: list[In],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[Out]:
        """All inputs in one :meth:`_run` (one backend call per entity type)."""
        if not inputs:
            return []
        # list is invariant: list[Out] is not list[Exception | Out] to mypy.
        return self._batch_with_config(
            lambda i, config: self._run(i, config),  # type: ignore[arg-type]
            inputs,
            get_config_list(config, len(inputs)),
            return_exceptions=return_exceptions,
        )

    async def abatch(
        self,
        inputs: list[In],
        config: RunnableConfig | list[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any | None,
    ) -> list[Out]:
        """Async twin of :meth:`batch`."""
        if not inputs:
            return []

        async def run(
            i: list[In],
            run_manager: list[AsyncCallbackManagerForChainRun],
            config: list[RunnableConfig],
        ) -> list[Out]:
            return await self._arun(i, config)

        return await self._abatch_with_config(
            run,  # type: ignore[arg-type]
            inputs,
            get_config_list(config, len(inputs)),
            return_exceptions=return_exceptions,
        )


class Prefetch:
    """A batch's inputs, with the reads they still need made in one go.

    Each input is added with its read (or ``None`` when its features are known);
    :meth:`filled` puts every read's vectors under ``features_key`` of its input.
    """

    def __init__(self, features_key: str) -> None:
        self.features_key = features_key
        self.inputs: list[dict[str, Any]] = []
        self.requests: list[ReadRequest] = []
        self._owners: list[int] = []

    def add(self, prepared: dict[str, Any], request: ReadRequest | None) -> None:
        if request is not None:
            self.requests.append(request)
            self._owners.append(len(self.inputs))
        self.inputs.append(prepared)

    def filled(self, read: Sequence[FeatureVectors]) -> list[dict[str, Any]]:
        for n, vectors in zip(self._owners, read, strict=True):
            self.inputs[n][self.features_key] = vectors
        return self.inputs


def prefetched(
    retriever: Any, inputs: Sequence[Any], configs: Sequence[RunnableConfig]
) -> Prefetch:
    """A retriever's batch: inputs as dicts with their query (and any prefetched features),
    and the reads still to make (with their request data) and whose they are."""
    batch = Prefetch(retriever.features_key)
    for input_, config in zip(inputs, configs, strict=True):
        kwargs: dict[str, Any] = {}
        query = retriever._request(input_, config, kwargs)
        features = kwargs.get("features")
        entity_id = retriever._entity(kwargs.get("user_id"), features)
        data = kwargs.get("request_data")
        request = None if entity_id is None else retriever._read_request(entity_id, data)
        batch.add({retriever.query_key: query, retriever.features_key: features}, request)
    return batch
