"""The entry point: the argument parser and :func:`main`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from llm_featurestore.cli import commands, demo
from llm_featurestore.cli.common import (
    CONFIG_ENV,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    CliError,
    one_line,
    print_json,
)

__all__ = ["build_parser", "main"]

_JSON_HELP = "print one JSON document (errors: one JSON line on stderr)"


class _UsageError(Exception):
    """argparse refused the command line (exit code 2)."""

    def __init__(self, message: str, parser: argparse.ArgumentParser) -> None:
        super().__init__(message)
        self.parser = parser


class _Parser(argparse.ArgumentParser):
    """Reports usage errors to :func:`main` instead of exiting, so ``--json`` shapes them."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message, self)


def _json_flag(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand's own --json must not reset one given before the command.
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_JSON_HELP)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    parser = _Parser(
        prog=PROG,
        description="Inspect feature enrichment, browse the feature catalog, run the demo.",
        epilog="Exit codes: 0 success; 1 the store could not be read; 2 a usage or "
        "configuration error; 3 nothing to show (a catalog search without a match).",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("--json", action="store_true", help=_JSON_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

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
    _json_flag(inspect)
    inspect.set_defaults(handler=commands.inspect)

    catalog = sub.add_parser("catalog", help="list feature definitions, or 'search TEXT'")
    catalog.add_argument("--config", help=f"YAML config (default: ${CONFIG_ENV})")
    catalog.add_argument("words", nargs="*", metavar="search TEXT", help="search instead of list")
    _json_flag(catalog)
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
    _json_flag(mcp)  # the protocol is JSON already; this makes start-up errors JSON too
    mcp.set_defaults(handler=commands.mcp_command)

    demo_parser = sub.add_parser(
        "demo", help="run the shopping-assistant demo (options are passed through)"
    )
    demo_parser.add_argument(
        "demo_args", nargs=argparse.REMAINDER, help="e.g. --framework langchain"
    )
    demo_parser.set_defaults(handler=demo.demo)
    return parser


def _pass_demo_options(argv: list[str]) -> list[str]:
    """``demo --x`` becomes ``demo -- --x``: argparse's REMAINDER does not pass leading
    options through a subcommand."""
    for i, word in enumerate(argv):
        if not word.startswith("-"):
            return [*argv[: i + 1], "--", *argv[i + 1 :]] if word == "demo" else argv
    return argv


def _fail(message: str, code: int, *, as_json: bool) -> int:
    if as_json:
        print_json({"error": message, "exit_code": code}, stream="stderr")
    else:
        print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0, 1, 2 or 3)."""
    argv = _pass_demo_options(list(argv) if argv is not None else sys.argv[1:])
    before_demo = argv[: argv.index("--")] if "--" in argv else argv
    as_json = "--json" in before_demo
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    except _UsageError as exc:
        if not as_json:
            exc.parser.print_usage(sys.stderr)
        return _fail(str(exc), EXIT_USAGE, as_json=as_json)
    if args.version:
        from llm_featurestore import __version__

        if args.json:
            print_json({"name": PROG, "version": __version__})
        else:
            print(f"{PROG} {__version__}")
        return EXIT_OK
    if args.command is None:
        if not as_json:
            parser.print_usage(sys.stderr)
        return _fail("a COMMAND is required (or --version)", EXIT_USAGE, as_json=as_json)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    from llm_featurestore.errors import (
        FeatureConfigError,
        FeatureStoreUnavailableError,
        MissingDependencyError,
    )

    try:
        return int(args.handler(args))
    except (CliError, FeatureConfigError, MissingDependencyError) as exc:
        return _fail(one_line(exc), EXIT_USAGE, as_json=args.json)
    except FeatureStoreUnavailableError as exc:
        message = f"the feature store could not be read: {one_line(exc)}"
        return _fail(message, EXIT_UNAVAILABLE, as_json=args.json)
    except KeyboardInterrupt:
        return 130
