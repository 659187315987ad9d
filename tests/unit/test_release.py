"""Release hygiene that needs no build: the standard LICENSE, one version, a Keep a
Changelog CHANGELOG, and packaging metadata that claims nothing false.
(Building the sdist and wheel and installing them: tests/integration/test_fresh_install.py.)
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

import llm_featurestore

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from 3.11")

ROOT = Path(__file__).resolve().parents[2]
# The Apache License 2.0 exactly as the ASF publishes it (LICENSE-2.0.txt).
APACHE_2_MD5 = "3b83ef96387f14655fc854ddc3c6bd57"
KEEP_A_CHANGELOG_KINDS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_the_license_is_the_standard_apache_2_text(pyproject: dict[str, Any]) -> None:
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == APACHE_2_MD5
    assert pyproject["project"]["license"] == "Apache-2.0"
    assert "LICENSE" in pyproject["tool"]["hatch"]["build"]["targets"]["sdist"]["include"]


def test_the_version_is_set_in_one_place(pyproject: dict[str, Any]) -> None:
    project = pyproject["project"]
    assert "version" not in project
    assert "version" in project["dynamic"]
    source = ROOT / pyproject["tool"]["hatch"]["version"]["path"]
    assert source == Path(llm_featurestore.__file__).resolve()
    assignments = re.findall(
        r'^__version__ = "([^"]+)"$', source.read_text(encoding="utf-8"), re.MULTILINE
    )
    assert assignments == [llm_featurestore.__version__]
    assert re.fullmatch(r"\d+\.\d+\.\d+", llm_featurestore.__version__)


def test_project_urls_are_real_addresses_or_absent(pyproject: dict[str, Any]) -> None:
    for label, url in pyproject["project"].get("urls", {}).items():
        assert url.startswith("https://"), (label, url)
        assert not re.search(r"example|todo|your|xxx|placeholder", url, re.IGNORECASE), url


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "[Keep a Changelog](https://keepachangelog.com/en/1.1.0/)" in text
    releases = re.findall(r"^## (.+)$", text, re.MULTILINE)
    assert releases[0] == "[Unreleased]"
    for release in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", release), release
    kinds = set(re.findall(r"^### (.+)$", text, re.MULTILINE))
    assert kinds
    assert kinds <= KEEP_A_CHANGELOG_KINDS
    assert llm_featurestore.__version__ in text.split("\n## ")[1]  # what Unreleased will be


def test_the_changelog_names_what_the_package_has() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    for name in (
        "FeastClient",
        "FeastHttpClient",
        "RedisFeatureStore",
        "TectonClient",
        "LocalFeatureStore",
        "ServingClient",
        "FeatureReader",
        "FeatureEnricher",
        "FeatureMonitor",
        "FeatureCatalog",
        "langchain_featurestore",
        "llamaindex_featurestore",
        "llm-featurestore mcp",
        "--json",
        "--version",
    ):
        assert name in text, name
