"""The entry point: the argument parser and :func:`main`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from llm_featurestore.cli import commands
from llm_featurestore.cli.common import (
    CONFIG_ENV,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    CliError,
    one_line,
)

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Inspect feature enrichment, browse the feature catalog, run the demo.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    inspect = sub.add_parser(
        "inspect",
        help="show an entity's features, what the enricher keeps or drops, and the block",
    )
    inspect.add_argument("--config", help=f"YAML config (default: ${CONFIG_ENV})")
    inspect.add_argument(
        "--entity",
        action="append",
        required=True,
        metavar="TYPE:ID",
        help="entity to look up, e.g. user:123 (repeat for organization:acme, ...)",
    )
    inspect.add_argument("--task", default="general", help="task type (default: general)")
    inspect.add_argument("--prompt", help="also show the final prompt for this text")
    inspect.add_argument(
        "--cold-start",
        action="store_true",
        help="accept an id the store does not know and show what a new entity gets",
    )
    inspect.set_defaults(handler=commands.inspect)

    catalog = sub.add_parser("catalog", help="list feature definitions, or 'search TEXT'")
    catalog.add_argument("--config", help=f"YAML config (default: ${CONFIG_ENV})")
    catalog.add_argument("words", nargs="*", metavar="search TEXT", help="search instead of list")
    catalog.set_defaults(handler=commands.catalog_command)

    mcp = sub.add_parser(
        "mcp", help="serve the feature tools to MCP clients (stdio, or --http on 127.0.0.1)"
    )
    mcp.add_argument("--config", help=f"YAML config (default: ${CONFIG_ENV})")
    mcp.add_argument(
        "--entity",
        action="append",
        default=[],
        metavar="TYPE:ID",
        help="the user the tools answer about, e.g. user:123 (overrides mcp.entities)",
    )
    mcp.add_argument("--task", help="task type whose policy applies (overrides mcp.task_type)")
    mcp.add_argument("--http", action="store_true", help="streamable HTTP instead of stdio")
    mcp.add_argument("--port", type=int, help="HTTP port (overrides mcp.http.port)")
    mcp.set_defaults(handler=commands.mcp_command)

    demo = sub.add_parser(
        "demo", help="run the shopping-assistant demo (options are passed through)"
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help="e.g. --framework langchain")
    demo.set_defaults(handler=commands.demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1 or 2)."""
    argv = list(argv) if argv is not None else sys.argv[1:]
    if argv[:1] == ["demo"]:
        # argparse's REMAINDER does not pass leading options through a subcommand.
        argv = ["demo", "--", *argv[1:]]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    from llm_featurestore.errors import (
        FeatureConfigError,
        FeatureStoreUnavailableError,
        MissingDependencyError,
    )

    try:
        return int(args.handler(args))
    except (CliError, FeatureConfigError, MissingDependencyError) as exc:
        print(f"{PROG}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except FeatureStoreUnavailableError as exc:
        print(
            f"{PROG}: error: the feature store could not be read: {one_line(exc)}", file=sys.stderr
        )
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130
