"""The ``llm-featurestore`` command line against the shopping assistant's real Feast repo.

A private copy of the repo (60 users) is applied and materialised into SQLite once for
the module; the CLI reads it through the config file the demo ships.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples.shopping_assistant.setup_store import Workspace, setup_feature_store
from llm_featurestore.cli import main

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = Workspace.create(tmp_path_factory.mktemp("cli-feast"))
    setup_feature_store(ws, n_users=60, n_products=20, log=lambda _: None)
    path = ws.root / "config.yaml"
    # The shipped config, with a generous timeout for a loaded test machine.
    path.write_text(
        path.read_text(encoding="utf-8").replace("timeout_ms: 500", "timeout_ms: 30000"),
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "220")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_a_persona_from_feast(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:1003",
        "--task", "product_recommendation", "--prompt", "I need a laptop",
    )  # fmt: skip
    assert code == 0, err
    assert "user:1003 (source feast)" in out
    # Labels and sensitivity come from the Feast registry's field tags.
    assert "Budget limit (USD)" in out
    assert "- Budget limit (USD): 500" in out
    assert "- Favourite category: electronics" in out
    assert "dropped: sensitive" in out
    assert "lee.budget@example.com" not in out
    assert "tokens (budget 120)" in out
    assert out.rstrip().endswith("╯")
    assert "I need a laptop" in out


def test_a_null_in_feast_is_shown_and_dropped_as_missing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:1001",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 0
    budget_row = next(line for line in out.splitlines() if line.startswith("│ budget_limit"))
    assert "null_value" in budget_row
    assert "dropped: missing" in budget_row
    assert "road running shoes (last week)" in out


def test_unknown_user_and_entity_type_in_feast(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["inspect", "--config", str(config), "--task", "product_recommendation"]
    code, _, err = run(capsys, *base, "--entity", "user:does-not-exist")
    assert code == 2
    assert "Unknown entity user:does-not-exist: the feast store has no value" in err
    code, out, _ = run(capsys, *base, "--entity", "user:does-not-exist", "--cold-start")
    assert code == 0
    assert "dropped: defaulted" in out  # defaults serve code, not the prompt
    assert "- Price sensitivity (0-1)" not in out
    code, _, err = run(capsys, *base, "--entity", "driver:1")
    assert code == 2
    assert (
        err.strip() == "llm-featurestore: error: Unknown entity type 'driver'. "
        "Available for Feast project 'shopping_assistant': user"
    )


def test_catalog_from_the_feast_registry(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "catalog", "--config", str(config))
    assert code == 0
    assert "14 features" in out  # 9 materialised, 5 written back (user_session)
    assert "user.recent_views" in out
    assert "user_activity / users_parquet" in out
    code, out, _ = run(capsys, "catalog", "--config", str(config), "search", "budget")
    assert code == 0
    assert "1 features matching 'budget'" in out
    assert "user.budget_limit" in out
    assert "Float64" in out


def test_the_console_script_runs(config: Path) -> None:
    script = Path(sys.executable).with_name("llm-featurestore")
    env = {**os.environ, "COLUMNS": "200", "LLM_FEATURESTORE_CONFIG": str(config)}
    done = subprocess.run(
        [str(script), "catalog", "search", "email"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "pii" in done.stdout
    done = subprocess.run(
        [str(script), "inspect", "--entity", "user"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("llm-featurestore: error: Malformed --entity 'user'")
