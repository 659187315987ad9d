"""The README's quickstart and configuration reference stay true to the code."""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from llm_featurestore.config import load_config
from llm_featurestore.enricher import EnricherConfig

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def block(after_heading: str, lang: str) -> str:
    """The first ```lang fenced block after the heading ``after_heading``."""
    start = README.index(after_heading)
    opening = f"```{lang}\n"
    body = README.index(opening, start) + len(opening)
    return README[body : README.index("```", body)]


CLI_HEADING = "## Inspect enrichment from the terminal"


def cli_commands() -> list[list[str]]:
    """The README's terminal examples, in order, one argv each (continuation lines
    joined, comments dropped), as ``tests/integration/test_readme_cli.py`` runs them."""
    text = block(CLI_HEADING, "bash").replace("\\\n", " ")
    return [shlex.split(line, comments=True) for line in text.splitlines() if line.strip()]


def test_the_cli_examples_are_plain_commands() -> None:
    commands = cli_commands()
    # What builds the store comes first; the README says so above the block.
    assert commands[0] == ["python", "-m", "examples.shopping_assistant.setup_store"]
    assert all(c[0] == "llm-featurestore" for c in commands[1:])
    assert {c[1] for c in commands[1:]} >= {"inspect", "catalog", "demo"}
    intro = README[README.index(CLI_HEADING) : README.index("```bash", README.index(CLI_HEADING))]
    assert "`make demo` builds the store" in intro
    assert "the first line" in intro


def test_quickstart_runs_and_prints_what_the_readme_shows() -> None:
    code = block("## Quickstart", "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README quickstart", "exec"), {})
    expected_start = README.index("```\n[Context from user profile]")
    expected = README[expected_start + 4 : README.index("```", expected_start + 4)]
    assert out.getvalue().strip() == expected.strip()


def test_configuration_reference_validates(tmp_path: Path) -> None:
    path = tmp_path / "llmfs.yaml"
    path.write_text(block("## Configuration reference", "yaml"), encoding="utf-8")
    config, _ = load_config(path)
    assert config.provider == "feast"
    assert config.cache is not None
    assert config.coalesce is not None
    assert config.defaults["user"]["price_sensitivity_score"] == 0.5
    enricher = EnricherConfig.from_yaml(path)
    assert enricher.max_feature_tokens == 200
    assert enricher.sensitive_features == ["email"]


@pytest.mark.parametrize("command", ["make demo", "make test"])
def test_the_two_commands_are_documented(command: str) -> None:
    assert command in README
