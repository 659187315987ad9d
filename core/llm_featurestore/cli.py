"""``llm-featurestore``: inspect what enrichment does, browse the feature catalog, run the demo.

::

    llm-featurestore inspect --config FILE --entity user:123 --task product_recommendation \\
        [--entity organization:acme] [--prompt TEXT]
    llm-featurestore catalog [--config FILE]               # list every feature definition
    llm-featurestore catalog [--config FILE] search TEXT   # search names, labels, tags, ...
    llm-featurestore demo [DEMO OPTIONS]                    # the shopping-assistant demo

The config file is the YAML that :func:`llm_featurestore.config.load_client` reads
(a ``feature_store:`` section), optionally with an ``enricher:`` section
(:class:`~llm_featurestore.enricher.EnricherConfig` fields) and a ``catalog:`` section
(a path to a catalog YAML, relative to the config file, or the catalog itself). Without
``catalog:``, a Feast provider's registry is the catalog. ``--config`` defaults to
``$LLM_FEATURESTORE_CONFIG``.

Exit codes: 0 success; 1 the store could not be read (every lookup failed); 2 a usage
or configuration error (bad config, malformed ``--entity``, unknown entity, task or
feature), reported as one line on stderr.

The module imports only the standard library at start-up; everything else is imported
by the command that needs it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from llm_featurestore.catalog import FeatureCatalog
    from llm_featurestore.enricher import EnricherConfig, EnrichmentResult
    from llm_featurestore.models import FeatureVector
    from llm_featurestore.serving import ServingClient

__all__ = ["CliError", "main", "parse_entity"]

PROG = "llm-featurestore"
CONFIG_ENV = "LLM_FEATURESTORE_CONFIG"
EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_USAGE = 2
_ENTITY_RE = re.compile(r"^(?P<type>[A-Za-z_][A-Za-z0-9_.\-]*):(?P<id>\S(?:.*\S)?)$")


class CliError(Exception):
    """A usage or configuration problem: printed as one line, exit code 2."""


@dataclass(frozen=True)
class Settings:
    """Everything a command reads from the config file."""

    path: Path
    document: dict[str, Any]

    @property
    def base(self) -> Path:
        """The folder relative paths in the file are resolved against."""
        return self.path.parent


def parse_entity(text: str) -> tuple[str, str]:
    """Split ``"user:123"`` into ``("user", "123")``.

    Raises:
        CliError: ``text`` is not ``TYPE:ID`` (type: a letter or ``_`` then letters,
            digits, ``_.-``; id: non-empty, no surrounding spaces).
    """
    match = _ENTITY_RE.match(text)
    if match is None:
        raise CliError(
            f"Malformed --entity {text!r}: use TYPE:ID, e.g. --entity user:123 "
            "(the type names a feature-store entity, the id may contain ':')"
        )
    return match["type"], match["id"]


# -- config ------------------------------------------------------------------------------


def _config_path(value: str | None) -> Path:
    raw = value or os.environ.get(CONFIG_ENV)
    if not raw:
        raise CliError(f"No configuration: pass --config FILE or set ${CONFIG_ENV}")
    return Path(raw).expanduser()


def _read_settings(value: str | None) -> Settings:
    import yaml

    path = _config_path(value)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError(f"Configuration file not found: {path}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CliError(f"Configuration {path} is not valid YAML: {exc.problem}{where}") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"Cannot read configuration {path}: {_one_line(exc)}") from exc
    if not isinstance(doc, dict):
        raise CliError(f"Configuration {path} must be a mapping with a 'feature_store' section")
    if not isinstance(doc.get("feature_store"), dict):
        raise CliError(
            f"Configuration {path} has no 'feature_store' section "
            "(provider: feast | feast_http | redis | tecton | local, ...)"
        )
    return Settings(path, doc)


def _client(settings: Settings) -> ServingClient:
    from llm_featurestore.config import load_client

    return load_client(settings.path)


def _enricher_config(settings: Settings) -> EnricherConfig:
    from pydantic import ValidationError

    from llm_featurestore.enricher import EnricherConfig

    section = settings.document.get("enricher") or {}
    if not isinstance(section, Mapping):
        raise CliError(f"'enricher' in {settings.path} must be a mapping of EnricherConfig fields")
    try:
        return EnricherConfig.model_validate(dict(section))
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in ("enricher", *err["loc"]))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CliError(
            f"Invalid configuration {settings.path}: {where}: {err['msg']}{more}"
        ) from exc


def _catalog(settings: Settings, client: Any | None = None) -> FeatureCatalog | None:
    """The ``catalog:`` section, else the Feast registry, else None."""
    from llm_featurestore.catalog import FeatureCatalog

    section = settings.document.get("catalog")
    if isinstance(section, str):
        path = Path(section)
        return FeatureCatalog.from_yaml(path if path.is_absolute() else settings.base / path)
    if isinstance(section, Mapping):
        return FeatureCatalog.from_yaml(section)
    if section is not None:
        raise CliError(f"'catalog' in {settings.path} must be a file path or a mapping")
    store = settings.document["feature_store"]
    if store.get("provider") == "feast" and isinstance(store.get("feast"), Mapping):
        repo = Path(str(store["feast"].get("repo_path", ".")))
        return FeatureCatalog.from_feast(repo if repo.is_absolute() else settings.base / repo)
    return None


def _catalog_from_store(settings: Settings) -> FeatureCatalog:
    """A minimal catalog (names only) from what the store lists, for the task entity types."""
    from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition
    from llm_featurestore.errors import FeatureConfigError

    config = _enricher_config(settings)
    entity_types = sorted({et for ents in config.task_features.values() for et in ents})
    catalog = FeatureCatalog()
    with _client(settings) as client:
        for entity_type in entity_types:
            try:
                names = client.list_features(entity_type)
            except FeatureConfigError:
                continue
            for name in names:
                catalog.add(FeatureDefinition(name=name, entity_type=entity_type))
    return catalog


# -- output helpers ----------------------------------------------------------------------


def _console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _value(value: Any, limit: int = 60) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value) if value else "(empty list)"
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


_STATUS_STYLE = {
    "present": "green",
    "defaulted": "cyan",
    "stale": "yellow",
    "not_found": "red",
    "null_value": "dim",
    "timed_out": "red",
    "unavailable": "red",
}


# -- inspect -----------------------------------------------------------------------------


def _unknown(vector: FeatureVector) -> bool:
    """True when the store holds nothing at all for the entity (defaults do not count)."""
    held = {"present", "stale", "null_value"}
    failed = {"timed_out", "unavailable"}
    statuses = {s.value for s in vector.statuses.values()}
    return bool(statuses) and not (statuses & held) and not statuses <= failed


def _inspect(args: argparse.Namespace) -> int:
    from rich.text import Text

    from llm_featurestore.enricher import FeatureEnricher
    from llm_featurestore.errors import unknown_name_message
    from llm_featurestore.reading import FeatureReader

    entities: dict[str, str] = {}
    for raw in args.entity:
        entity_type, entity_id = parse_entity(raw)
        if entity_type in entities and entities[entity_type] != entity_id:
            raise CliError(f"--entity names two ids for '{entity_type}': pick one")
        entities[entity_type] = entity_id
    settings = _read_settings(args.config)
    config = _enricher_config(settings)
    task = args.task
    if task not in config.enabled_task_types:
        raise CliError(
            unknown_name_message("task type", task, config.enabled_task_types)
            + f" (add it under enricher.task_features in {settings.path})"
        )
    catalog = _catalog(settings)
    with _client(settings) as client:
        enricher = FeatureEnricher(client, config, catalog=catalog)
        required = enricher.required_features(task)
        if not required:
            raise CliError(
                f"Task '{task}' maps no features: add enricher.task_features.{task} "
                f"in {settings.path}"
            )
        for entity_type in entities:
            client.list_features(entity_type)  # an unknown entity type raises, listing the known
        used = [et for et in entities if et in required]
        if not used:
            raise CliError(
                f"Task '{task}' reads features of {', '.join(sorted(required))}; pass "
                f"--entity {next(iter(required))}:ID"
            )
        context = {et: eid for et, eid in entities.items() if et in required}
        plan = enricher.plan(task_type=task, context=context)
        # The read flow degrades as the configuration says (the serving client's
        # fallback); an error that still comes through is reported with its cause.
        reader = FeatureReader(client, fallback=False)
        vectors = reader.read(enricher.request(plan))
        prompt = args.prompt if args.prompt is not None else ""
        result = enricher.enrich_from_vectors(prompt, vectors, task, vectors.latency_ms)
    console = _console()
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
    ignored = [f"{et}:{eid}" for et, eid in entities.items() if et not in required]
    if ignored:
        console.print(f"[yellow]Task '{task}' uses no features of {', '.join(ignored)}[/yellow]")
    for vector in vectors.values():
        _print_vector(console, vector, result)
    _print_result(console, result, config.max_feature_tokens, show_prompt=args.prompt is not None)
    if vectors and all(v.failed for v in vectors.values()):
        cause = "every feature timed out or was unavailable"
        print(f"{PROG}: error: the feature store could not be read: {cause}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


def _print_vector(console: Console, vector: FeatureVector, result: EnrichmentResult) -> None:
    from rich.table import Table
    from rich.text import Text

    provenance = {p.feature: p for p in result.provenance if p.entity_type == vector.entity_type}
    table = Table(
        title=f"{vector.entity_type}:{vector.entity_id} (source {vector.source})",
        title_justify="left",
    )
    table.add_column("Feature", no_wrap=True)
    table.add_column("Label")
    table.add_column("Status", no_wrap=True)
    table.add_column("Age", no_wrap=True, justify="right")
    table.add_column("Value")
    table.add_column("In prompt")
    for name, status in vector.statuses.items():
        prov = provenance.get(name)
        ts = vector.event_timestamps.get(name)
        age = (vector.retrieved_at - ts).total_seconds() if ts is not None else None
        if prov is not None and prov.age_seconds is not None:
            age = prov.age_seconds
        if prov is None:
            verdict = Text("not requested by the task", style="dim")
        elif prov.used:
            extra = f" ({prov.protection})" if prov.protection else ""
            extra += " (shortened)" if prov.shortened else ""
            verdict = Text(f"yes{extra}", style="green")
        else:
            reason = prov.drop_reason.value if prov.drop_reason else "dropped"
            verdict = Text(f"dropped: {reason}", style="yellow")
        sensitive = (
            prov is not None
            and prov.drop_reason is not None
            and (prov.drop_reason.value == "sensitive")
        )
        shown = "(hidden: sensitive)" if sensitive else _value(vector.features.get(name))
        table.add_row(
            Text(name),
            Text(prov.label if prov else ""),
            Text(status.value, style=_STATUS_STYLE.get(status.value, "")),
            _age(age),
            Text(shown),
            verdict,
        )
    console.print(table)


def _print_result(
    console: Console, result: EnrichmentResult, budget: int, *, show_prompt: bool
) -> None:
    from rich.panel import Panel
    from rich.text import Text

    dropped = result.dropped
    if dropped:
        console.print("Dropped:")
        for prov in dropped:
            reason = prov.drop_reason.value if prov.drop_reason else "dropped"
            console.print(
                Text(f"  - {prov.entity_type}.{prov.feature}: {reason} ({prov.status.value})")
            )
    if result.skipped_reason:
        console.print(Text(f"Enrichment skipped: {result.skipped_reason}", style="yellow"))
    if result.context_block:
        console.print(
            Panel(
                Text(result.context_block),
                title=f"Context block: {result.feature_tokens_added} tokens (budget {budget})",
                expand=False,
            )
        )
    else:
        console.print(
            Text("No usable feature: the prompt passes through unchanged (0 tokens).", "yellow")
        )
    console.print(
        f"Features used: {len(result.features_used)}; lookup and enrichment took "
        f"{result.enrichment_latency_ms:.1f} ms"
    )
    if show_prompt:
        console.print(Panel(Text(result.enriched_prompt), title="Final prompt", expand=False))


# -- catalog -----------------------------------------------------------------------------


def _catalog_command(args: argparse.Namespace) -> int:
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
    settings = _read_settings(args.config)
    catalog = _catalog(settings)
    if catalog is None:
        catalog = _catalog_from_store(settings)
    definitions = catalog.list() if query is None else catalog.search(query)
    console = _console()
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
    return EXIT_OK


# -- demo --------------------------------------------------------------------------------


DEMO_MODULE = "examples.shopping_assistant.demo"
_DEMO_FILE = Path("examples", "shopping_assistant", "demo.py")


def find_demo_root(start: Path) -> Path | None:
    """The nearest of ``start`` and its parents that holds the repository's demo."""
    for directory in (start, *start.parents):
        if (directory / _DEMO_FILE).is_file():
            return directory
    return None


def _demo(args: argparse.Namespace) -> int:
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


# -- entry point -------------------------------------------------------------------------


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
    inspect.set_defaults(handler=_inspect)

    catalog = sub.add_parser("catalog", help="list feature definitions, or 'search TEXT'")
    catalog.add_argument("--config", help=f"YAML config (default: ${CONFIG_ENV})")
    catalog.add_argument("words", nargs="*", metavar="search TEXT", help="search instead of list")
    catalog.set_defaults(handler=_catalog_command)

    demo = sub.add_parser(
        "demo", help="run the shopping-assistant demo (options are passed through)"
    )
    demo.add_argument("demo_args", nargs=argparse.REMAINDER, help="e.g. --framework langchain")
    demo.set_defaults(handler=_demo)
    return parser


def _one_line(exc: BaseException) -> str:
    """The message on one line: lines joined by "; " (by " " after a line ending in ":")."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    out = lines[0]
    for line in lines[1:]:
        out += (" " if out.endswith(":") else "; ") + line
    return out


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
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except FeatureStoreUnavailableError as exc:
        print(
            f"{PROG}: error: the feature store could not be read: {_one_line(exc)}", file=sys.stderr
        )
        return EXIT_UNAVAILABLE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
