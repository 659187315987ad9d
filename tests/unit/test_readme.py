"""The README's quickstart and configuration reference stay true to the code."""

from __future__ import annotations

import contextlib
import io
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
