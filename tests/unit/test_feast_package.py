"""The Feast package's public names, its settings model and its errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import llm_featurestore.clients.feast as feast_package
from llm_featurestore.clients.feast import FeastClient, FeastClientConfig
from llm_featurestore.errors import FeatureConfigError


def test_all_is_pinned() -> None:
    assert sorted(feast_package.__all__) == [
        "FeastClient",
        "FeastClientConfig",
        "clear_feature_store_cache",
        "shared_feature_store",
    ]
    for name in feast_package.__all__:
        assert getattr(feast_package, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        feast_package.NoSuchThing  # noqa: B018


def test_the_config_class_imports_without_feast() -> None:
    code = (
        "import sys; sys.modules['feast'] = None\n"
        "from llm_featurestore.clients.feast import FeastClientConfig\n"
        "print(FeastClientConfig(repo_path='r').type, 'feast.repo_config' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "feast False"


def test_the_client_without_feast_says_which_extra_to_install() -> None:
    code = (
        "import sys; sys.modules['feast'] = None\n"
        "from llm_featurestore.clients.feast import FeastClient"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert "pip install 'llm-featurestore[feast]'" in result.stderr


def test_config_defaults_and_paths() -> None:
    config = FeastClientConfig(repo_path=Path("/repo"))  # type: ignore[arg-type]
    assert (config.type, config.repo_path, config.project) == ("feast", "/repo", None)
    assert FeastClient.config_class is FeastClientConfig


def test_missing_repo_path_names_the_key() -> None:
    with pytest.raises(FeatureConfigError) as info:
        FeastClientConfig()  # type: ignore[call-arg]
    assert str(info.value).splitlines() == ["Invalid feast:", "  repo_path: Field required"]


def test_unknown_key_names_it_and_the_valid_keys() -> None:
    with pytest.raises(FeatureConfigError) as info:
        FeastClientConfig(repo_path="r", projcet="p")  # type: ignore[call-arg]
    assert str(info.value).splitlines() == [
        "Invalid feast:",
        "  projcet: unknown key; valid keys: direct_reads, project, repo_path, type; "
        "did you mean 'project'?",
    ]


def test_direct_reads_is_on_by_default_and_a_boolean() -> None:
    assert FeastClientConfig(repo_path="r").direct_reads is True
    assert FeastClientConfig(repo_path="r", direct_reads=False).direct_reads is False
    with pytest.raises(FeatureConfigError) as info:
        FeastClientConfig(repo_path="r", direct_reads="sometimes")  # type: ignore[arg-type]
    assert str(info.value).splitlines()[1].startswith("  direct_reads: expected true or false")


def test_wrong_type_names_the_key() -> None:
    with pytest.raises(FeatureConfigError, match=r"(?m)^  type: Input should be 'feast'"):
        FeastClientConfig(type="redis", repo_path="r")  # type: ignore[arg-type]


def test_client_settings_errors_are_config_errors_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(FeatureConfigError, match=r"(?m)^  projcet: unknown key; valid keys"):
        FeastClient(tmp_path, projcet="p")
    with pytest.raises(FeatureConfigError, match="needs repo_path= or store="):
        FeastClient()
    with pytest.raises(FeatureConfigError, match=r"Pass a FeastClientConfig or its fields"):
        FeastClient(FeastClientConfig(repo_path=str(tmp_path)), repo_path=str(tmp_path))
    with pytest.raises(FeatureConfigError, match=r"feature_store\.yaml not found"):
        FeastClient(FeastClientConfig(repo_path=str(tmp_path)))


def test_an_injected_store_needs_no_repo_path() -> None:
    class Store:
        project = "p"
        repo_path = Path("/somewhere")

    client = FeastClient(store=Store())
    assert client.store.project == "p"
    assert client.config == FeastClientConfig(repo_path="/somewhere")
