"""The commands: ``inspect``, ``catalog``, ``mcp`` and ``demo``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from llm_featurestore.cli.common import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    PROG,
    CliError,
    Settings,
    catalog_for,
    catalog_from_store,
    enricher_config,
    open_client,
    parse_entity,
    read_settings,
)
from llm_featurestore.cli.show import new_console, print_result, print_sources, print_vector

if TYPE_CHECKING:
    from llm_featurestore.enricher import EnricherConfig, EnrichmentResult
    from llm_featurestore.models import FeatureVector
    from llm_featurestore.reading import FeatureVectors

__all__ = ["DEMO_MODULE", "catalog_command", "demo", "find_demo_root", "inspect", "mcp_command"]


def _unknown(vector: FeatureVector) -> bool:
    """True when the store holds nothing at all for the entity (defaults do not count)."""
    held = {"present", "stale", "null_value"}
    failed = {"timed_out", "unavailable"}
    statuses = {s.value for s in vector.statuses.values()}
    return bool(statuses) and not (statuses & held) and not statuses <= failed


def inspect(args: argparse.Namespace) -> int:
    """Show an entity's features, what the enricher keeps or drops, and the block."""
    entities = _entities(args.entity)
    settings = read_settings(args.config)
    config = enricher_config(settings)
    task = args.task
    if task not in config.enabled_task_types:
        from llm_featurestore.errors import unknown_name_message

        raise CliError(
            unknown_name_message("task type", task, config.enabled_task_types)
            + f" (add it under enricher.task_features in {settings.path})"
        )
    from rich.text import Text

    vectors, result, ignored = _read(settings, config, task, entities, args.prompt or "")
    console = new_console()
    for entity_type, vector in vectors.items():
        if _unknown(vector):
            if not args.cold_start:
                raise CliError(
                    f"Unknown entity {entity_type}:{vector.entity_id}: the {vector.source} "
                    f"store has no value for any of its {len(vector.statuses)} features; check "
                    "the id, or pass --cold-start to see what a new entity gets"
                )
            console.print(
                Text(
                    f"{entity_type}:{vector.entity_id} is not in the store: cold start "
                    "(configured defaults only)",
                    style="yellow",
                )
            )
    if ignored:
        console.print(Text(f"Task '{task}' uses no features of {', '.join(ignored)}", "yellow"))
    for vector in vectors.values():
        print_vector(console, vector, result)
    print_result(console, result, config.max_feature_tokens, show_prompt=args.prompt is not None)
    if vectors and all(v.failed for v in vectors.values()):
        cause = "every feature timed out or was unavailable"
        print(f"{PROG}: error: the feature store could not be read: {cause}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


def _entities(raw_entities: list[str]) -> dict[str, str]:
    entities: dict[str, str] = {}
    for raw in raw_entities:
        entity_type, entity_id = parse_entity(raw)
        if entity_type in entities and entities[entity_type] != entity_id:
            raise CliError(f"--entity names two ids for '{entity_type}': pick one")
        entities[entity_type] = entity_id
    return entities


def _read(
    settings: Settings,
    config: EnricherConfig,
    task: str,
    entities: dict[str, str],
    prompt: str,
) -> tuple[FeatureVectors, EnrichmentResult, list[str]]:
    """Read the task's features through the one read flow, and enrich ``prompt``."""
    from llm_featurestore.enricher import FeatureEnricher
    from llm_featurestore.reading import FeatureReader

    catalog = catalog_for(settings)
    with open_client(settings) as client:
        enricher = FeatureEnricher(client, config, catalog=catalog)
        required = enricher.required_features(task)
        if not required:
            raise CliError(
                f"Task '{task}' maps no features: add enricher.task_features.{task} "
                f"in {settings.path}"
            )
        for entity_type in entities:
            client.list_features(entity_type)  # an unknown entity type raises, listing the known
        if not any(et in required for et in entities):
            raise CliError(
                f"Task '{task}' reads features of {', '.join(sorted(required))}; pass "
                f"--entity {next(iter(required))}:ID"
            )
        context = {et: eid for et, eid in entities.items() if et in required}
        plan = enricher.plan(task_type=task, context=context)
        # The read flow degrades as the configuration says (the serving client's
        # fallback); an error that still comes through is reported with its cause.
        vectors = FeatureReader(client, fallback=False).read(enricher.request(plan))
        result = enricher.enrich_from_vectors(prompt, vectors, task, vectors.latency_ms)
    ignored = [f"{et}:{eid}" for et, eid in entities.items() if et not in required]
    return vectors, result, ignored


def mcp_command(args: argparse.Namespace) -> int:
    """Serve the feature tools over MCP until the client goes away (stdio) or Ctrl-C."""
    from llm_featurestore.enricher import FeatureEnricher
    from llm_featurestore.mcp import McpConfig, build_server, run_server
    from llm_featurestore.settings import validate_config

    settings = read_settings(args.config)
    section = settings.document.get("mcp") or {}
    if not isinstance(section, dict):
        raise CliError(f"'mcp' in {settings.path} must be a mapping of McpConfig fields")
    overrides: dict[str, object] = {}
    if args.entity:
        overrides["entities"] = {**section.get("entities", {}), **_entities(args.entity)}
    if args.task:
        overrides["task_type"] = args.task
    if args.port is not None:
        overrides["http"] = {**section.get("http", {}), "port": args.port}
    config = validate_config(
        McpConfig, {**section, **overrides}, origin=settings.path, prefix=("mcp",)
    )
    catalog = catalog_for(settings)
    with open_client(settings) as client:
        enricher = FeatureEnricher(client, enricher_config(settings), catalog=catalog)
        server = build_server(enricher, config)
        run_server(server, config, "streamable-http" if args.http else "stdio")
    return EXIT_OK


def catalog_command(args: argparse.Namespace) -> int:
    from rich.table import Table
    from rich.text import Text

    words: list[str] = list(args.words)
    query: str | None = None
    if words:
        if words[0] != "search":
            raise CliError(
                f"Unknown catalog action {words[0]!r}: use 'catalog' or 'catalog search TEXT'"
            )
        if len(words) < 2 or not " ".join(words[1:]).strip():
            raise CliError("catalog search needs a TEXT to search for, e.g. catalog search budget")
        query = " ".join(words[1:])
    settings = read_settings(args.config)
    catalog = catalog_for(settings)
    if catalog is None:
        catalog = catalog_from_store(settings)
    definitions = catalog.list() if query is None else catalog.search(query)
    console = new_console()
    if not definitions:
        console.print(
            f"No feature matches {query!r}." if query is not None else "The catalog is empty."
        )
        return EXIT_OK
    title = f"{len(definitions)} features" + (f" matching {query!r}" if query else "")
    table = Table(title=title, title_justify="left")
    for column in ("Feature", "Type", "Sensitivity", "Label", "Description", "Source"):
        table.add_column(column)
    for d in definitions:
        sensitivity = Text(d.sensitivity, style="red" if d.is_sensitive else "")
        origin = " / ".join(x for x in (d.feature_view, d.source) if x) or "-"
        table.add_row(
            Text(f"{d.entity_type}.{d.name}"),
            Text(d.dtype),
            sensitivity,
            Text(d.display_label),
            Text(d.description),
            Text(origin),
        )
    console.print(table)
    if query is None:
        print_sources(console, catalog)
    return EXIT_OK


# --------------------------------------------------------------------------------


DEMO_MODULE = "examples.shopping_assistant.demo"
_DEMO_FILE = Path("examples", "shopping_assistant", "demo.py")


def find_demo_root(start: Path) -> Path | None:
    """The nearest of ``start`` and its parents that holds the repository's demo."""
    for directory in (start, *start.parents):
        if (directory / _DEMO_FILE).is_file():
            return directory
    return None


def demo(args: argparse.Namespace) -> int:
    """Run the demo of the repository this command is started in, in its own process.

    The core never imports the repository's examples: the demo runs as
    ``python -m examples.shopping_assistant.demo`` with that repository first on the
    path, so a copy of the repository runs (and writes into) itself.
    """
    root = find_demo_root(Path.cwd())
    if root is None:
        raise CliError(
            f"No demo here: {_DEMO_FILE} is not in {Path.cwd()} or any folder above it. "
            "The demo ships with the source repository: clone it and run `make demo` "
            f"(or `{PROG} demo`) inside the clone"
        )
    demo_args = list(args.demo_args)
    if demo_args[:1] == ["--"]:
        demo_args = demo_args[1:]
    paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, "-m", DEMO_MODULE, *demo_args]
    return subprocess.call(command, cwd=root, env=env)
