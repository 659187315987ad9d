"""Agents: a LangChain 1.x ``create_agent`` run with :class:`~langchain_featurestore.agents.
FeatureContextMiddleware` against the same agent without it (issue 12's benchmark).

Each run is the agent loop the tests drive: LangChain's fake chat model asks for two tool
calls, then answers, so the model is called three times per run. The middleware reads
the user's features once per run (``before_agent``) and appends the block to all three
system prompts. The target: the middleware costs at most one lookup more than the plain
agent, where *one lookup* is ``FeatureEnricher.enrich`` of the same task timed in the
same run (the read through the serving layer plus rendering the block).

A fourth case, the same agent with a middleware whose two hooks do nothing, shows what
LangGraph itself charges for a ``before_agent`` node and a ``wrap_model_call`` wrapper:
``beyond_floor_us`` is the middleware's cost above that floor, which is ours to answer for.

Two stores: the in-process local store (the middleware's own overhead) and the same
store behind a ~2 ms network-like delay (where the lookup dominates). The three cases of
a group are timed interleaved, rotating their order every round.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from bench._timing import percentiles
from bench.bench_langchain import DelayedStore
from langchain_featurestore.agents import FeatureContextMiddleware
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.serving import ServingClient

TASK = "shopping"
CONFIG = EnricherConfig(
    task_features={
        TASK: {"user": ["favorite_category", "preferred_brands", "avg_order_value", "tier"]}
    },
    enabled_task_types=[TASK],
)
USERS = 50


@dataclass
class Ctx:
    user_id: str


@tool
def search_catalog(query: str) -> str:
    """Search the catalog."""
    return f"3 results for {query}"


class ScriptedModel(GenericFakeChatModel):
    """LangChain's fake chat model; tools are accepted and ignored (the script decides)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:
        return self


def _script() -> Iterator[AIMessage]:
    """Two tool calls, then an answer; forever (one agent run per three messages)."""
    run = 0
    while True:
        run += 1
        for i in range(2):
            call = {"name": "search_catalog", "args": {"query": f"q{i}"}, "id": f"r{run}c{i}"}
            yield AIMessage("", tool_calls=[call])
        yield AIMessage("Here you go.")


class NoopMiddleware(AgentMiddleware[Any, Any]):
    """The framework floor: the same two hooks as the feature middleware, doing nothing."""

    def before_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return None

    async def abefore_agent(self, state: Any, runtime: Any) -> dict[str, Any] | None:
        return None

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return await handler(request)


def _store() -> LocalFeatureStore:
    store = LocalFeatureStore()
    for u in range(USERS):
        store.write_features(
            f"u{u}",
            "user",
            {
                "favorite_category": ["shoes", "books", "hats"][u % 3],
                "preferred_brands": ["acme", "zeta"][: 1 + u % 2],
                "avg_order_value": float(20 + u),
                "tier": ["gold", "silver"][u % 2],
            },
        )
    return store


def _agent(middleware: list[Any]) -> Any:
    model = ScriptedModel(messages=_script())
    return create_agent(
        model,
        tools=[search_catalog],
        system_prompt="You are a shop assistant.",
        middleware=middleware,
        context_schema=Ctx,
    )


def _question(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"Ideas for a gift #{i}?"}]}


def _cases(client: FeatureStoreClient) -> dict[str, tuple[Callable[[int], Any], Any]]:
    """Name -> (sync call, async call) for the three cases, each taking a request index."""
    enricher = FeatureEnricher(ServingClient(client), CONFIG)
    plain = _agent([])
    with_features = _agent([FeatureContextMiddleware(enricher, task_type=TASK)])
    floor = _agent([NoopMiddleware()])

    def ctx(i: int) -> Ctx:
        return Ctx(f"u{i % USERS}")

    return {
        "agent without middleware": (
            lambda i: plain.invoke(_question(i), context=ctx(i)),
            lambda i: plain.ainvoke(_question(i), context=ctx(i)),
        ),
        "agent + no-op middleware (floor)": (
            lambda i: floor.invoke(_question(i), context=ctx(i)),
            lambda i: floor.ainvoke(_question(i), context=ctx(i)),
        ),
        "agent + FeatureContextMiddleware": (
            lambda i: with_features.invoke(_question(i), context=ctx(i)),
            lambda i: with_features.ainvoke(_question(i), context=ctx(i)),
        ),
        "one lookup (enricher.enrich)": (
            lambda i: enricher.enrich("q", f"u{i % USERS}", task_type=TASK),
            lambda i: enricher.aenrich("q", f"u{i % USERS}", task_type=TASK),
        ),
    }


def _rotate(names: list[str], i: int) -> list[str]:
    shift = i % len(names)
    return names[shift:] + names[:shift]


def _time_sync(cases: dict[str, Callable[[int], Any]], n: int, warmup: int) -> dict[str, list[int]]:
    samples: dict[str, list[int]] = {name: [] for name in cases}
    for i in range(warmup + n):
        for name in _rotate(list(cases), i):
            start = time.perf_counter_ns()
            cases[name](i)
            if i >= warmup:
                samples[name].append(time.perf_counter_ns() - start)
    return samples


def _time_async(
    cases: dict[str, Callable[[int], Awaitable[Any]]], n: int, warmup: int
) -> dict[str, list[int]]:
    async def main() -> dict[str, list[int]]:
        samples: dict[str, list[int]] = {name: [] for name in cases}
        for i in range(warmup + n):
            for name in _rotate(list(cases), i):
                start = time.perf_counter_ns()
                await cases[name](i)
                if i >= warmup:
                    samples[name].append(time.perf_counter_ns() - start)
        return samples

    return asyncio.run(main())


def _rows(store_label: str, mode: str, samples: dict[str, list[int]]) -> list[dict[str, Any]]:
    p = {name: percentiles(ns) for name, ns in samples.items()}
    base = p["agent without middleware"][0]
    extra = p["agent + FeatureContextMiddleware"][0] - base
    lookup = p["one lookup (enricher.enrich)"][0]
    beyond_floor = (
        p["agent + FeatureContextMiddleware"][0] - p["agent + no-op middleware (floor)"][0]
    )
    rows = []
    for name, (p50, p99) in p.items():
        row: dict[str, Any] = {
            "store": store_label,
            "mode": mode,
            "case": name,
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "ratio_vs_raw": round(p50 / base, 2),
        }
        if name == "agent + FeatureContextMiddleware":
            row["extra_us"] = round(extra, 1)
            row["extra_vs_lookup"] = round(extra / lookup, 2)
            row["beyond_floor_us"] = round(beyond_floor, 1)
            row["target_met"] = "yes" if extra <= lookup else "no"
        rows.append(row)
    return rows


def run(n: int = 200) -> list[dict[str, Any]]:
    """Rows for the local store and the 2 ms store, sync and async."""
    warmup = max(10, n // 10)
    out: list[dict[str, Any]] = []
    stores: list[tuple[str, FeatureStoreClient]] = [
        ("local", _store()),
        ("local + 2 ms", DelayedStore(_store(), 0.002)),
    ]
    for label, client in stores:
        cases = _cases(client)
        sync = {name: calls[0] for name, calls in cases.items()}
        out += _rows(label, "sync", _time_sync(sync, n, warmup))
        cases = _cases(client)
        asyn = {name: calls[1] for name, calls in cases.items()}
        out += _rows(label, "async", _time_async(asyn, n, warmup))
    return out
