"""``llm-featurestore``: inspect what enrichment does, browse the feature catalog, run the demo.

::

    llm-featurestore inspect --config FILE --entity user:123 --task product_recommendation \\
        [--entity organization:acme] [--prompt TEXT]
    llm-featurestore catalog [--config FILE]               # list every feature definition
    llm-featurestore catalog [--config FILE] search TEXT   # search names, labels, tags, ...
    llm-featurestore mcp [--config FILE] [--entity user:123] [--http]  # MCP tool server
    llm-featurestore demo [DEMO OPTIONS]                    # the shopping-assistant demo
    llm-featurestore --version

The config file is the YAML that :func:`llm_featurestore.config.load_client` reads
(a ``feature_store:`` section), optionally with an ``enricher:`` section
(:class:`~llm_featurestore.enricher.EnricherConfig` fields) and a ``catalog:`` section
(a path to a catalog YAML, relative to the config file, or the catalog itself), and an
``mcp:`` section for ``mcp`` (:class:`~llm_featurestore.mcp.McpConfig`). Without
``catalog:``, a Feast provider's registry is the catalog. ``--config`` defaults to
``$LLM_FEATURESTORE_CONFIG``.

``--json`` (before or after the command): ``inspect`` and ``catalog`` print one JSON
document instead of text, and every error is one JSON line on stderr
(``{"error": ..., "exit_code": ...}``); ``mcp`` speaks JSON-RPC anyway, and ``demo``,
which writes for people, refuses it. Without ``rich`` (a core-only install) the text is
plain; with it, tables.

Exit codes: 0 success; 1 the store could not be read (every lookup failed); 2 a usage
or configuration error (bad config, malformed ``--entity``, unknown entity, task or
feature), reported as one line on stderr; 3 nothing to show (a catalog search that
matches no feature, or an empty catalog).

The package imports only the standard library at start-up; everything else is imported
by the command that needs it. ``common`` reads the config file; ``reports`` turns what a
command found into plain data (what ``--json`` prints), ``show`` lays it out as text and
``screen`` draws it (rich or plain); ``commands`` holds the commands that read the
store, ``demo`` the demo runner, and ``app`` the parser and :func:`main`.
"""

from __future__ import annotations

from llm_featurestore.cli.app import build_parser, main
from llm_featurestore.cli.common import (
    CONFIG_ENV,
    EXIT_NO_MATCH,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PROG,
    CliError,
    parse_entity,
)
from llm_featurestore.cli.demo import DEMO_MODULE, find_demo_root

__all__ = [
    "CONFIG_ENV",
    "DEMO_MODULE",
    "EXIT_NO_MATCH",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "PROG",
    "CliError",
    "build_parser",
    "find_demo_root",
    "main",
    "parse_entity",
]
