"""The released artefacts, as a user gets them: the sdist and the wheel carry the LICENSE and
the one version, and the wheel installed with no extras into a new venv runs the command
line (``--version``, ``catalog`` on a YAML catalog, ``inspect`` on a local store) and says
what to install for what it lacks.
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import llm_featurestore
from llm_featurestore.clients.local import LocalFeatureStore
from tests.fixtures.fresh_venv import ROOT, BuiltDist, FreshVenv

pytestmark = [pytest.mark.integration, pytest.mark.slow]

VERSION = llm_featurestore.__version__
CATALOG = {
    "features": [
        {
            "name": "favorite_category",
            "entity_type": "user",
            "dtype": "string",
            "description": "Category bought most often",
            "label": "Favourite category",
        },
        {
            "name": "email",
            "entity_type": "user",
            "dtype": "string",
            "description": "Contact address",
            "sensitivity": "pii",
        },
    ]
}


@pytest.fixture(scope="module")
def core(fresh_venv: Callable[..., FreshVenv]) -> FreshVenv:
    return fresh_venv()


@pytest.fixture(scope="module")
def config(core: FreshVenv) -> Path:
    """A local store holding one user, and a config naming it and a YAML catalog."""
    folder = core.workdir
    store = LocalFeatureStore(folder / "features.json")
    store.write_features("u1", "user", {"favorite_category": "running", "email": "u1@example.com"})
    (folder / "catalog.yaml").write_text(yaml.safe_dump(CATALOG), encoding="utf-8")
    doc = {
        "feature_store": {"provider": "local", "local": {"data_path": "features.json"}},
        "enricher": {"task_features": {"shop": {"user": ["favorite_category", "email"]}}},
        "catalog": "catalog.yaml",
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_wheel_and_the_sdist_ship_the_license_and_the_version(built_dist: BuiltDist) -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert built_dist.wheel.name == f"llm_featurestore-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(built_dist.wheel) as wheel:
        info = f"llm_featurestore-{VERSION}.dist-info"
        assert wheel.read(f"{info}/licenses/LICENSE").decode() == license_text
        metadata = wheel.read(f"{info}/METADATA").decode()
    assert f"\nVersion: {VERSION}\n" in metadata
    assert "\nLicense-Expression: Apache-2.0\n" in metadata
    assert "\nLicense-File: LICENSE\n" in metadata
    with tarfile.open(built_dist.sdist) as sdist:
        base = f"llm_featurestore-{VERSION}"
        names = set(sdist.getnames())
        member = sdist.extractfile(f"{base}/LICENSE")
        assert member is not None
        assert member.read().decode() == license_text
    assert {f"{base}/CHANGELOG.md", f"{base}/README.md", f"{base}/pyproject.toml"} <= names


def test_a_core_install_holds_no_extra(core: FreshVenv) -> None:
    installed = core.distributions()
    assert "llm-featurestore" in installed
    extras = {"rich", "langchain-core", "llama-index-core", "feast", "redis", "chromadb", "mcp"}
    assert installed & extras == set()


def test_version(core: FreshVenv) -> None:
    done = core.run("llm-featurestore", "--version")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"llm-featurestore {VERSION}\n", "")
    done = core.run("llm-featurestore", "--json", "--version")
    assert json.loads(done.stdout) == {"name": "llm-featurestore", "version": VERSION}


def test_catalog_on_a_yaml_catalog_prints_plain_text(core: FreshVenv, config: Path) -> None:
    done = core.run("llm-featurestore", "catalog", "--config", str(config))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "2 features"
    assert lines[1].split() == ["Feature", "Type", "Sensitivity", "Label", "Description", "Source"]
    assert lines[3].split()[:3] == ["user.email", "string", "pii"]
    assert "┃" not in done.stdout  # no rich here: plain text
    done = core.run("llm-featurestore", "catalog", "--config", str(config), "--json")
    report = json.loads(done.stdout)
    assert [f["key"] for f in report["features"]] == ["user.email", "user.favorite_category"]
    done = core.run("llm-featurestore", "catalog", "--config", str(config), "search", "zebra")
    assert done.returncode == 3
    assert "no feature matches 'zebra' among the 2 features" in done.stderr


def test_inspect_on_a_local_store(core: FreshVenv, config: Path) -> None:
    args = ["inspect", "--config", str(config), "--entity", "user:u1", "--task", "shop"]
    done = core.run("llm-featurestore", *args, "--prompt", "What next?")
    assert done.returncode == 0, done.stderr
    assert "user:u1 (source local)" in done.stdout
    assert "- Favourite category: running" in done.stdout
    assert "dropped: sensitive" in done.stdout
    assert "u1@example.com" not in done.stdout
    assert done.stdout.rstrip().endswith("What next?")
    done = core.run("llm-featurestore", *args, "--json")
    report = json.loads(done.stdout)
    (user,) = report["entities"]
    values = {f["name"]: (f["value"], f["in_prompt"]) for f in user["features"]}
    assert values == {"favorite_category": ("running", True), "email": (None, False)}


@pytest.mark.parametrize(
    ("package", "distribution", "extra"),
    [
        ("langchain_featurestore", "langchain-core", "langchain"),
        ("llamaindex_featurestore", "llama-index-core", "llamaindex"),
    ],
)
def test_an_adapter_without_its_framework_names_the_pip_line(
    core: FreshVenv, package: str, distribution: str, extra: str
) -> None:
    done = core.python_code(
        "from llm_featurestore.errors import MissingDependencyError\n"
        "try:\n"
        f"    import {package}\n"
        "except MissingDependencyError as exc:\n"
        "    print(isinstance(exc, ImportError), exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"True The '{distribution}' package is required for {package} but is not installed. "
        f"Install it with: pip install 'llm-featurestore[{extra}]'"
    )


def test_demo_from_the_wheel_says_how_to_get_it(core: FreshVenv) -> None:
    done = core.run("llm-featurestore", "demo")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "No demo here: examples/shopping_assistant/demo.py is not in" in done.stderr
    assert "The demo is not in the wheel" in done.stderr
    assert "run `make demo` in it" in done.stderr
