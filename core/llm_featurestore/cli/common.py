"""What every command shares: exit codes, usage errors, and reading the config file.

The config file is the YAML that :func:`llm_featurestore.config.load_client` reads,
with optional ``enricher:`` and ``catalog:`` sections (see :mod:`llm_featurestore.cli`).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llm_featurestore.catalog import FeatureCatalog
    from llm_featurestore.enricher import EnricherConfig
    from llm_featurestore.serving import ServingClient

__all__ = [
    "CONFIG_ENV",
    "EXIT_NO_MATCH",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "PROG",
    "CliError",
    "Settings",
    "catalog_for",
    "catalog_from_store",
    "catalog_origin",
    "empty_store_hint",
    "enricher_config",
    "one_line",
    "open_client",
    "parse_entity",
    "print_json",
    "read_settings",
]

PROG = "llm-featurestore"
CONFIG_ENV = "LLM_FEATURESTORE_CONFIG"
EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_USAGE = 2
EXIT_NO_MATCH = 3
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


def config_path(value: str | None) -> Path:
    raw = value or os.environ.get(CONFIG_ENV)
    if not raw:
        raise CliError(f"No configuration: pass --config FILE or set ${CONFIG_ENV}")
    return Path(raw).expanduser()


def read_settings(value: str | None) -> Settings:
    import yaml

    path = config_path(value)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError(f"Configuration file not found: {path}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CliError(f"Configuration {path} is not valid YAML: {exc.problem}{where}") from exc
    except (OSError, yaml.YAMLError) as exc:
        raise CliError(f"Cannot read configuration {path}: {one_line(exc)}") from exc
    if not isinstance(doc, dict):
        raise CliError(f"Configuration {path} must be a mapping with a 'feature_store' section")
    if not isinstance(doc.get("feature_store"), dict):
        raise CliError(
            f"Configuration {path} has no 'feature_store' section "
            "(provider: feast | feast_http | redis | tecton | local, ...)"
        )
    return Settings(path, doc)


def open_client(settings: Settings) -> ServingClient:
    from llm_featurestore.config import load_client

    return load_client(settings.path)


def enricher_config(settings: Settings) -> EnricherConfig:
    from llm_featurestore.enricher import EnricherConfig
    from llm_featurestore.settings import validate_config

    section = settings.document.get("enricher") or {}
    if not isinstance(section, Mapping):
        raise CliError(f"'enricher' in {settings.path} must be a mapping of EnricherConfig fields")
    return validate_config(
        EnricherConfig, dict(section), origin=settings.path, prefix=("enricher",)
    )


def catalog_for(settings: Settings, client: Any | None = None) -> FeatureCatalog | None:
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
    repo = _feast_repo(settings)
    return None if repo is None else FeatureCatalog.from_feast(repo)


def _feast_repo(settings: Settings) -> Path | None:
    """The Feast repo the config reads (``provider: feast``), else None."""
    store = settings.document["feature_store"]
    if store.get("provider") != "feast" or not isinstance(store.get("feast"), Mapping):
        return None
    repo = Path(str(store["feast"].get("repo_path", ".")))
    return repo if repo.is_absolute() else settings.base / repo


def catalog_origin(settings: Settings) -> str:
    """Where :func:`catalog_for` (or :func:`catalog_from_store`) reads the catalog, in words."""
    section = settings.document.get("catalog")
    if isinstance(section, str):
        path = Path(section)
        return f"the catalog file {path if path.is_absolute() else settings.base / path}"
    if isinstance(section, Mapping):
        return f"the 'catalog' section of {settings.path}"
    repo = _feast_repo(settings)
    if repo is not None:
        return f"the Feast registry of {repo}"
    return f"the {settings.document['feature_store'].get('provider')} store"


def empty_store_hint(settings: Settings) -> str:
    """What to do about a store that serves nothing yet."""
    repo = _feast_repo(settings)
    first = (
        f"run `feast apply` in {repo} and materialise first"
        if repo is not None
        else "write features to it first"
    )
    return (
        f"{first} (the README's example store is built by "
        "`python -m examples.shopping_assistant.setup_store`, or `make demo`, in a checkout)"
    )


def catalog_from_store(settings: Settings) -> FeatureCatalog:
    """A minimal catalog (names only) from what the store lists, for the task entity types."""
    from llm_featurestore.catalog import FeatureCatalog, FeatureDefinition
    from llm_featurestore.errors import FeatureConfigError

    config = enricher_config(settings)
    entity_types = sorted({et for ents in config.task_features.values() for et in ents})
    catalog = FeatureCatalog()
    with open_client(settings) as client:
        for entity_type in entity_types:
            try:
                names = client.list_features(entity_type)
            except FeatureConfigError:
                continue
            for name in names:
                catalog.add(FeatureDefinition(name=name, entity_type=entity_type))
    return catalog


def one_line(exc: BaseException) -> str:
    """The message on one line: lines joined by "; " (by " " after a line ending in ":")."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    out = lines[0]
    for line in lines[1:]:
        out += (" " if out.endswith(":") else "; ") + line
    return out


def print_json(document: object, *, stream: str = "stdout") -> None:
    """Print ``document`` as JSON on stdout (indented) or stderr (one line)."""
    if stream == "stderr":
        print(json.dumps(document, ensure_ascii=False), file=sys.stderr)
    else:
        print(json.dumps(document, ensure_ascii=False, indent=2))
