"""A missing optional extra fails on first use with the exact pip command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from llm_featurestore._deps import require
from llm_featurestore.errors import FeatureStoreError, MissingDependencyError


def test_require_names_the_extra_and_chains_the_import_error() -> None:
    with pytest.raises(MissingDependencyError) as err:
        require("llmfs_no_such_module.sub", extra="redis")
    assert str(err.value) == (
        "The 'llmfs_no_such_module' package is required for this feature but is not "
        "installed. Install it with: pip install 'llm-featurestore[redis]'"
    )
    assert isinstance(err.value, ImportError)
    assert isinstance(err.value, FeatureStoreError)
    assert isinstance(err.value.__cause__, ImportError)
    assert require("json", extra="core").dumps([]) == "[]"


def _run_without(blocked: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter where importing ``blocked`` fails."""
    prelude = f"import sys; sys.modules[{blocked!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("blocked", "code", "extra"),
    [
        ("feast", "from llm_featurestore import FeastClient", "feast"),
        ("redis", "from llm_featurestore import RedisFeatureStore", "redis"),
        ("httpx", "from llm_featurestore.clients.tecton import TectonClient", "tecton"),
        (
            "redis",
            "from llm_featurestore import load_client\n"
            "load_client({'provider': 'redis', 'redis': {}})",
            "redis",
        ),
    ],
)
def test_backends_say_which_extra_to_install(blocked: str, code: str, extra: str) -> None:
    result = _run_without(blocked, code)
    assert result.returncode == 1
    assert "MissingDependencyError" in result.stderr
    assert f"pip install 'llm-featurestore[{extra}]'" in result.stderr


def test_the_core_works_without_any_extra() -> None:
    code = (
        "from llm_featurestore import LocalFeatureStore, ServingClient\n"
        "s = LocalFeatureStore(); s.write_features('u', 'user', {'a': 1})\n"
        "print(ServingClient(s).get_features('u', 'user', ['a']).features)"
    )
    prelude = "".join(
        f"sys.modules[{m!r}] = None; " for m in ("feast", "redis", "chromadb", "langchain_core")
    )
    result = subprocess.run(
        [sys.executable, "-c", "import sys; " + prelude + "\n" + code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'a': 1}"


@pytest.mark.parametrize(
    ("blocked", "package", "distribution", "extra"),
    [
        ("langchain_core", "langchain_featurestore", "langchain-core", "langchain"),
        ("llama_index", "llamaindex_featurestore", "llama-index-core", "llamaindex"),
    ],
)
def test_an_adapter_without_its_framework_gives_the_pip_line(
    blocked: str, package: str, distribution: str, extra: str
) -> None:
    code = (
        "from llm_featurestore.errors import MissingDependencyError\n"
        "try:\n"
        f"    import {package}\n"
        "except MissingDependencyError as exc:\n"
        "    print(isinstance(exc, ImportError), type(exc.__cause__).__name__)\n"
        "    print(exc)\n"
    )
    result = _run_without(blocked, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "True ModuleNotFoundError",
        f"The '{distribution}' package is required for {package} but is not installed. "
        f"Install it with: pip install 'llm-featurestore[{extra}]'",
    ]


def test_the_error_names_what_needs_the_package() -> None:
    err = MissingDependencyError("llama-index-core", "llamaindex", needed_by="an adapter")
    assert (err.package, err.extra, err.needed_by) == (
        "llama-index-core",
        "llamaindex",
        "an adapter",
    )
    assert str(err).startswith("The 'llama-index-core' package is required for an adapter but")
