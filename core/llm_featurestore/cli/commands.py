"""The commands that read the store: ``inspect``, ``catalog`` and ``mcp``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from llm_featurestore.cli.common import (
    EXIT_NO_MATCH,
    EXIT_OK,
    PROG,
    CliError,
    Settings,
    catalog_for,
    catalog_from_store,
    catalog_origin,
    empty_store_hint,
    enricher_config,
    open_client,
    parse_entity,
    print_json,
    read_settings,
)
from llm_featurestore.cli.screen import Screen, new_screen
from llm_featurestore.cli.show import show_catalog, show_inspect

if TYPE_CHECKING:
    from llm_featurestore.clients.base import FeatureStoreClient
    from llm_featurestore.enricher import EnricherConfig, EnrichmentResult
    from llm_featurestore.models import FeatureVector
    from llm_featurestore.reading import FeatureVectors

__all__ = ["catalog_command", "inspect", "mcp_command"]


def _unknown(vector: FeatureVector) -> bool:
    """True when the store holds nothing at all for the entity (defaults do not count)."""
    held = {"present", "stale", "null_value"}
    failed = {"timed_out", "unavailable"}
    statuses = {s.value for s in vector.statuses.values()}
    return bool(statuses) and not (statuses & held) and not statuses <= failed


def inspect(args: argparse.Namespace) -> int:
    """Show an entity's features, what the enricher keeps or drops, and the block."""
    from llm_featurestore.cli.reports import inspect_report

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
    vectors, result, ignored = _read(settings, config, task, entities, args.prompt or "")
    for entity_type, vector in vectors.items():
        if _unknown(vector) and not args.cold_start:
            raise CliError(
                f"Unknown entity {entity_type}:{vector.entity_id}: the {vector.source} "
                f"store has no value for any of its {len(vector.statuses)} features; check "
                "the id, or pass --cold-start to see what a new entity gets"
            )
    report = inspect_report(
        task,
        [(v, not _unknown(v)) for v in vectors.values()],
        result,
        budget=config.max_feature_tokens,
        ignored=ignored,
        prompt=args.prompt,
    )
    _show(args, report, show_inspect)
    if vectors and all(v.failed for v in vectors.values()):
        from llm_featurestore.errors import FeatureStoreUnavailableError

        # After the output: what was shown is what a chain would get (exit code 1).
        raise FeatureStoreUnavailableError("every feature timed out or was unavailable")
    return EXIT_OK


def _show(
    args: argparse.Namespace,
    report: dict[str, Any],
    draw: Callable[[Screen, dict[str, Any]], None],
) -> None:
    """Print ``report`` as JSON (``--json``), or ``draw`` it as text."""
    if args.json:
        print_json(report)
    else:
        draw(new_screen(), report)


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
            _check_entity_type(client, entity_type, settings)
        if not any(et in required for et in entities):
            raise CliError(
                f"Task '{task}' reads features of {', '.join(sorted(required))}; pass "
                f"--entity {next(iter(required))}:ID"
            )
        context = {et: eid for et, eid in entities.items() if et in required}
        plan = enricher.plan(task_type=task, context=context)
        # A running service reads a warm store; this one-shot process would spend its
        # first read opening it (Feast loads its registry and online store then) and
        # show a timeout no service sees. The health check opens it, untimed.
        client.health_check()
        # The read flow degrades as the configuration says (the serving client's
        # fallback); an error that still comes through is reported with its cause.
        vectors = FeatureReader(client, fallback=False).read(enricher.request(plan))
        result = enricher.enrich_from_vectors(prompt, vectors, task, vectors.latency_ms)
    ignored = [f"{et}:{eid}" for et, eid in entities.items() if et not in required]
    return vectors, result, ignored


def _check_entity_type(client: FeatureStoreClient, entity_type: str, settings: Settings) -> None:
    """Raise the store's own error for an entity type it does not serve, saying so when
    it serves none yet (a Feast repo nobody applied, an empty local store)."""
    from llm_featurestore.errors import UnknownEntityTypeError

    try:
        client.list_features(entity_type)
    except UnknownEntityTypeError as exc:
        if exc.available != ():
            raise
        raise CliError(
            f"{exc}. The store serves no entity type yet: {empty_store_hint(settings)}"
        ) from exc


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
    """List the catalog's feature definitions (and its sources), or search them.

    Exits 3 (:data:`EXIT_NO_MATCH`) when there is nothing to show: a search matched no
    feature, or the catalog is empty (the message says where it looked).
    """
    from llm_featurestore.cli.reports import catalog_report

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
    origin = catalog_origin(settings)
    report = catalog_report(catalog, definitions, query=query, origin=origin)
    if definitions:
        _show(args, report, show_catalog)
        return EXIT_OK
    if args.json:
        print_json(report)
    elif not catalog.list():
        from_store = settings.document.get("catalog") is None
        hint = empty_store_hint(settings) if from_store else "add feature definitions to it"
        print(
            f"{PROG}: the catalog is empty: {origin} holds no feature definition; {hint}",
            file=sys.stderr,
        )
    else:
        print(
            f"{PROG}: no feature matches {query!r} among the {report['searched']} features "
            f"of {origin}; `{PROG} catalog` lists them all",
            file=sys.stderr,
        )
    return EXIT_NO_MATCH
