"""Run every benchmark and print one table per group (``make bench``).

Usage: ``python -m bench [--n N] [--only serving,feast,...] [--markdown FILE]``.
Every ratio in a table is measured against a baseline timed in the same run.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import time
from typing import Any

GROUPS = {
    "serving": "bench.bench_serving",
    "feast": "bench.bench_feast",
    "writes": "bench.bench_writes",
    "redis": "bench.bench_redis",
    "enricher": "bench.bench_enricher",
    "langchain": "bench.bench_langchain",
    "writeback": "bench.bench_writeback",
    "agents": "bench.bench_agents",
    "filters": "bench.bench_filters",
    "direct": "bench.bench_direct",
}


def render(title: str, rows: list[dict[str, Any]]) -> str:
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    lines = [f"### {title}", "", "| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = ["" if row.get(c) is None else str(row.get(c)) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--n", type=int, default=None, help="calls per case (module default)")
    parser.add_argument("--only", default="", help="comma-separated groups: " + ", ".join(GROUPS))
    parser.add_argument("--markdown", default=None, help="also write the tables to this file")
    args = parser.parse_args(argv)
    chosen = [g for g in (args.only.split(",") if args.only else GROUPS) if g]
    unknown = [g for g in chosen if g not in GROUPS]
    if unknown:
        parser.error(f"unknown group(s) {unknown}; choose from {', '.join(GROUPS)}")

    header = (
        f"llm-featurestore benchmarks — Python {platform.python_version()}, "
        f"{platform.machine()}, {time.strftime('%Y-%m-%d')}"
    )
    out = [header]
    print(header, flush=True)
    for group in chosen:
        module = importlib.import_module(GROUPS[group])
        started = time.perf_counter()
        rows = module.run(args.n) if args.n else module.run()
        table = render(f"{group} ({time.perf_counter() - started:.1f}s)", rows)
        print("\n" + table, flush=True)
        out.append(table)
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as fh:
            fh.write("\n\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
