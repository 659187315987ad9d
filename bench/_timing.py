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
    """One table row; ``ratio_vs_raw`` is p50 over the baseline's p50 measured in the same run."""
    out: dict[str, Any] = {"case": case, "p50_us": round(p50, 1), "p99_us": round(p99, 1)}
    out["ratio_vs_raw"] = round(p50 / baseline_p50, 2) if baseline_p50 else None
    out.update(extra)
    return out


def paired(
    raw: Callable[[], Any], ours: Callable[[], Any], n: int, warmup: int = 50
) -> tuple[list[int], list[int]]:
    """Time ``raw`` and ``ours`` interleaved (alternating which goes first), ``n`` times each.

    Interleaving keeps machine drift out of the ratio. Returns (raw_ns, ours_ns) samples.
    """
    for _ in range(warmup):
        raw()
        ours()
    raw_ns: list[int] = []
    ours_ns: list[int] = []
    clock = time.perf_counter_ns
    for i in range(n):
        order = ((raw, raw_ns), (ours, ours_ns)) if i % 2 else ((ours, ours_ns), (raw, raw_ns))
        for fn, samples in order:
            start = clock()
            fn()
            samples.append(clock() - start)
    return raw_ns, ours_ns


async def apaired(
    raw: Callable[[], Awaitable[Any]],
    ours: Callable[[], Awaitable[Any]],
    n: int,
    warmup: int = 50,
) -> tuple[list[int], list[int]]:
    """Async twin of :func:`paired` (run it inside the event loop under test)."""
    for _ in range(warmup):
        await raw()
        await ours()
    raw_ns: list[int] = []
    ours_ns: list[int] = []
    clock = time.perf_counter_ns
    for i in range(n):
        order = ((raw, raw_ns), (ours, ours_ns)) if i % 2 else ((ours, ours_ns), (raw, raw_ns))
        for fn, samples in order:
            start = clock()
            await fn()
            samples.append(clock() - start)
    return raw_ns, ours_ns


def pair_rows(
    case: str, baseline_case: str, raw_ns: list[int], ours_ns: list[int]
) -> list[dict[str, Any]]:
    """Two table rows: the baseline (ratio 1.0) and ours with ``ratio_vs_raw`` of the p50s."""
    raw_p50, raw_p99 = percentiles(raw_ns)
    p50, p99 = percentiles(ours_ns)
    return [
        {
            "case": baseline_case,
            "p50_us": round(raw_p50, 1),
            "p99_us": round(raw_p99, 1),
            "ratio_vs_raw": 1.0,
        },
        {
            "case": case,
            "p50_us": round(p50, 1),
            "p99_us": round(p99, 1),
            "ratio_vs_raw": round(p50 / raw_p50, 2),
        },
    ]
