"""Set up the shopping assistant's Feast repo: generate data, apply, materialise.

Run it alone with ``python -m examples.shopping_assistant.setup_store``; the demo
calls :func:`setup_feature_store` itself. Idempotent: when the data on disk was
generated with the same sizes and seed less than ``refresh_after`` ago and the online
store exists, it returns at once. Otherwise it regenerates the parquet file (so event
timestamps are recent and within the feature views' TTL), applies the definitions
through Feast's Python API and materialises into the SQLite online store (Feast
prints its own progress bar per feature view).

A :class:`Workspace` places everything: by default this package's own
``feature_repo/`` (data under ``feature_repo/data/``, gitignored) and the Chroma
directory ``data/chroma``; tests pass a temporary root and get a private copy of the
repo files.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from examples.shopping_assistant.data import DATA_VERSION, write_dataset

__all__ = ["SetupReport", "Workspace", "default_workspace", "main", "setup_feature_store"]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_FILES = ("feature_store.yaml", "definitions.py")
DEFAULT_USERS = 1000
DEFAULT_PRODUCTS = 600
REFRESH_AFTER = timedelta(days=1)
_STAMP = "setup.json"


@dataclass(frozen=True)
class Workspace:
    """Where one copy of the demo keeps its Feast repo, generated data and Chroma index."""

    root: Path

    @property
    def feature_repo(self) -> Path:
        """The Feast repo (``feature_store.yaml`` and ``definitions.py``)."""
        return self.root / "feature_repo"

    @property
    def data_dir(self) -> Path:
        """Generated parquet/products files, the registry and the SQLite online store."""
        return self.feature_repo / "data"

    @property
    def chroma_dir(self) -> Path:
        """The embedded persistent Chroma database."""
        return self.root / "data" / "chroma"

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """A workspace at ``root``; unless it is this package, the Feast repo files and
        ``config.yaml`` are copied there (so ``llm-featurestore inspect --config
        ROOT/config.yaml`` works on it)."""
        root = root.resolve()
        ws = cls(root)
        if root != PACKAGE_DIR:
            ws.feature_repo.mkdir(parents=True, exist_ok=True)
            for name in REPO_FILES:
                shutil.copy2(PACKAGE_DIR / "feature_repo" / name, ws.feature_repo / name)
            shutil.copy2(PACKAGE_DIR / "config.yaml", root / "config.yaml")
        return ws


def default_workspace() -> Workspace:
    """This package's own directory (what ``make demo`` uses)."""
    return Workspace(PACKAGE_DIR)


@dataclass(frozen=True)
class SetupReport:
    """What :func:`setup_feature_store` did."""

    skipped: bool
    """True when the store was already up to date and nothing was done."""
    n_users: int
    n_products: int
    as_of: datetime
    """When the data was generated (event timestamps are at most 6 hours before)."""
    seconds: float


def load_definitions(repo: Path) -> ModuleType:
    """Import ``definitions.py`` from ``repo`` (the workspace's own copy)."""
    path = repo / "definitions.py"
    spec = importlib.util.spec_from_file_location(f"_shopping_defs_{abs(hash(path))}", path)
    if spec is None or spec.loader is None:  # pragma: no cover - the file is ours
        raise FileNotFoundError(f"No Feast definitions at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _read_stamp(ws: Workspace) -> dict[str, Any] | None:
    try:
        stamp = json.loads((ws.data_dir / _STAMP).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return stamp if isinstance(stamp, dict) else None


def is_up_to_date(
    ws: Workspace,
    *,
    n_users: int,
    n_products: int,
    seed: int,
    refresh_after: timedelta = REFRESH_AFTER,
    now: datetime | None = None,
) -> bool:
    """True when the workspace holds materialised data for these parameters, fresh enough."""
    stamp = _read_stamp(ws)
    if stamp is None or not (ws.data_dir / "online_store.db").exists():
        return False
    wanted = (DATA_VERSION, n_users, n_products, seed)
    if tuple(stamp.get(k) for k in ("version", "n_users", "n_products", "seed")) != wanted:
        return False
    try:
        as_of = datetime.fromisoformat(str(stamp["as_of"]))
    except (KeyError, ValueError):
        return False
    return (now or datetime.now(timezone.utc)) - as_of < refresh_after


def setup_feature_store(
    ws: Workspace | None = None,
    *,
    n_users: int = DEFAULT_USERS,
    n_products: int = DEFAULT_PRODUCTS,
    seed: int = 7,
    force: bool = False,
    log: Any = print,
) -> SetupReport:
    """Generate the data, ``feast apply`` and materialise, unless already done.

    Args:
        ws: The workspace; :func:`default_workspace` when omitted.
        n_users: Users to generate (at least 3: the personas come first).
        n_products: Products to generate.
        seed: Seed for every random choice.
        force: Redo everything even when up to date.
        log: Called with one progress message per step (e.g. ``console.log``).

    Returns:
        What was done, and how long it took.
    """
    ws = ws or default_workspace()
    started = time.perf_counter()
    if not force and is_up_to_date(ws, n_users=n_users, n_products=n_products, seed=seed):
        stamp = _read_stamp(ws) or {}
        return SetupReport(
            skipped=True,
            n_users=n_users,
            n_products=n_products,
            as_of=datetime.fromisoformat(str(stamp["as_of"])),
            seconds=time.perf_counter() - started,
        )
    from feast import FeatureStore  # heavy: import only when there is work to do

    log(f"Generating {n_users:,} users and {n_products:,} products (seed {seed})")
    manifest = write_dataset(ws.data_dir, n_users=n_users, n_products=n_products, seed=seed)
    as_of = datetime.fromisoformat(manifest["as_of"])
    log(f"feast apply: {ws.feature_repo}")
    store = FeatureStore(repo_path=str(ws.feature_repo))
    definitions = load_definitions(ws.feature_repo)
    store.apply(list(definitions.OBJECTS))
    log("Materialising into the SQLite online store")
    store.materialize(
        start_date=as_of - timedelta(days=1),
        end_date=datetime.now(timezone.utc) + timedelta(minutes=1),
        feature_views=list(definitions.MATERIALISED),
    )
    (ws.data_dir / _STAMP).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return SetupReport(
        skipped=False,
        n_users=n_users,
        n_products=n_products,
        as_of=as_of,
        seconds=time.perf_counter() - started,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m examples.shopping_assistant.setup_store [--force]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=DEFAULT_USERS)
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS)
    parser.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = parser.parse_args(argv)
    report = setup_feature_store(n_users=args.users, n_products=args.products, force=args.force)
    state = "already up to date" if report.skipped else "ready"
    print(f"Feature store {state} ({report.seconds:.1f}s): {default_workspace().feature_repo}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
