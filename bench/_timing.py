"""Timing helpers shared by the benchmarks: percentiles over many calls, sync or async."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    """(p50, p99) in microseconds."""
    ordered = sorted(samples_ns)
    p50 = statistics.median(ordered) / 1000.0
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] / 1000.0
    return p50, p99


def time_sync(fn: Callable[[], Any], n: int, warmup: int = 50) -> tuple[float, float]:
    """Call ``fn`` ``warmup`` times, then ``n`` timed times; (p50, p99) in microseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return percentiles(samples)


def time_async(fn: Callable[[], Awaitable[Any]], n: int, warmup: int = 50) -> tuple[float, float]:
    """Async twin of :func:`time_sync`, run on a fresh event loop."""

    async def main() -> tuple[float, float]:
        for _ in range(warmup):
            await fn()
        samples = []
        for _ in range(n):
            start = time.perf_counter_ns()
            await fn()
            samples.append(time.perf_counter_ns() - start)
        return percentiles(samples)

    return asyncio.run(main())


def row(
    case: str, p50: float, p99: float, baseline_p50: float | None = None, **extra: Any
) -> dict[str, Any]:
    """One table row; ``ratio`` is p50 over the baseline's p50 measured in the same run."""
    out: dict[str, Any] = {"case": case, "p50_us": round(p50, 1), "p99_us": round(p99, 1)}
    out["ratio"] = round(p50 / baseline_p50, 2) if baseline_p50 else None
    out.update(extra)
    return out
