"""The ``llm-featurestore`` command line on the local store (no servers)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_featurestore.cli import CliError, main, parse_entity
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import FeatureStoreUnavailableError
from llm_featurestore.models import FeatureVector

TASK_FEATURES = {
    "product_recommendation": {"user": ["favorite_category", "recent_purchases", "email", "tier"]},
    "content_generation": {"organization": ["brand_voice"]},
}


class DeadStore(FeatureStoreClient):
    """A backend whose reads always fail (a store that is down)."""

    source = "dead"

    def __init__(self, **_: Any) -> None:
        pass

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        raise FeatureStoreUnavailableError("connection refused by 127.0.0.1:1")

    def list_features(self, entity_type: str) -> list[str]:
        return ["favorite_category", "recent_purchases", "email", "tier"]

    def health_check(self) -> bool:
        return False


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    # rich wraps at the terminal width; a wide one keeps assertions on whole lines.
    monkeypatch.setenv("COLUMNS", "220")
    monkeypatch.delenv("LLM_FEATURESTORE_CONFIG", raising=False)


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "features.json"
    store = LocalFeatureStore(path)
    store.write_features(
        "u1",
        "user",
        {
            "favorite_category": "running",
            "recent_purchases": ["road shoes", "socks"],
            "email": "u1@example.com",
        },
    )
    store.write_features(
        "u1",
        "user",
        {"tier": "gold"},
        event_timestamp=datetime.now(timezone.utc) - timedelta(days=3),
    )
    store.write_features("acme", "organization", {"brand_voice": "warm and direct"})
    return path


def write_config(tmp_path: Path, store_path: Path, **sections: Any) -> Path:
    doc: dict[str, Any] = {
        "feature_store": {"provider": "local", "local": {"data_path": store_path.name}},
        "enricher": {"task_features": TASK_FEATURES, "freshness_threshold_seconds": 86400},
    }
    for key, value in sections.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- parse_entity ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user:123", ("user", "123")),
        ("organization:acme-co", ("organization", "acme-co")),
        ("user:a:b", ("user", "a:b")),
        ("user_v2:9", ("user_v2", "9")),
    ],
)
def test_parse_entity_splits_type_and_id(text: str, expected: tuple[str, str]) -> None:
    assert parse_entity(text) == expected


@pytest.mark.parametrize("text", ["user", "user:", ":123", "1user:2", "user: 1", "us er:1"])
def test_parse_entity_rejects_malformed_text(text: str) -> None:
    with pytest.raises(
        CliError, match=r"Malformed --entity .*use TYPE:ID, e\.g\. --entity user:123"
    ):
        parse_entity(text)


# -- inspect ---------------------------------------------------------------------------


def test_inspect_shows_statuses_ages_drops_and_the_block(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, out, err = run(
        capsys,
        "inspect", "--config", str(config), "--entity", "user:u1",
        "--task", "product_recommendation", "--prompt", "What next?",
    )  # fmt: skip
    assert code == 0, err
    assert "user:u1 (source local)" in out
    assert "favorite_category" in out
    assert "present" in out
    assert "running" in out
    # tier is three days old, the threshold one day: dropped as stale, with its age.
    assert "stale" in out or "dropped: stale" in out
    assert "3.0d" in out
    # email looks like personal data: dropped, and its value is not printed.
    assert "dropped: sensitive" in out
    assert "u1@example.com" not in out
    assert "user.email: sensitive" in out
    assert "[Context from user profile]" in out
    assert "- Favorite category: running" in out
    assert "- Recent purchases: road shoes, socks" in out
    assert "tokens (budget 200)" in out
    assert "Final prompt" in out
    assert "What next?" in out


def test_inspect_without_prompt_does_not_print_a_final_prompt(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, out, _ = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:u1",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 0
    assert "Context block:" in out
    assert "Final prompt" not in out


def test_inspect_reads_the_config_path_from_the_environment(
    tmp_path: Path,
    store_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLM_FEATURESTORE_CONFIG", str(write_config(tmp_path, store_path)))
    code, out, _ = run(
        capsys, "inspect", "--entity", "organization:acme", "--task", "content_generation"
    )
    assert code == 0
    assert "warm and direct" in out


def test_inspect_token_budget_drops_low_priority_features(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enricher = {"task_features": TASK_FEATURES, "max_feature_tokens": 33}
    config = write_config(tmp_path, store_path, enricher=enricher)
    code, out, _ = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:u1",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 0
    assert "over_budget" in out
    assert "(budget 33)" in out
    assert "- Favorite category: running" in out
    assert "Recent purchases:" not in out.split("Context block")[1]


def test_unknown_entity_id_is_an_error_unless_cold_start(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = {
        "provider": "local",
        "local": {"data_path": store_path.name},
        "defaults": {"user": {"favorite_category": "general"}},
    }
    config = write_config(tmp_path, store_path, feature_store=store)
    base = ["inspect", "--config", str(config), "--entity", "user:nobody"]
    code, out, err = run(capsys, *base, "--task", "product_recommendation")
    assert code == 2
    assert out == ""
    assert err.strip() == (
        "llm-featurestore: error: Unknown entity user:nobody: the local store has no value "
        "for any of its 4 features; check the id, or pass --cold-start to see what a new "
        "entity gets"
    )
    code, out, _ = run(capsys, *base, "--task", "product_recommendation", "--cold-start")
    assert code == 0
    assert "user:nobody is not in the store: cold start" in out
    assert "defaulted" in out
    # A default is never stated as a fact about the user: it stays out of the prompt.
    assert "dropped: defaulted" in out
    assert "- Favorite category" not in out


def test_unknown_entity_type_is_an_error(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, _, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "shop:1",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 2
    assert err.strip() == (
        "llm-featurestore: error: Unknown entity type 'shop'. Available: organization, user"
    )


def test_an_entity_the_task_does_not_read_is_an_error(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, _, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "organization:acme",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 2
    assert "Task 'product_recommendation' reads features of user; pass --entity user:ID" in err


def test_unknown_task_lists_the_enabled_ones(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, _, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:u1", "--task", "poetry"
    )
    assert code == 2
    assert "Unknown task type 'poetry'. Available: content_generation, faq, general" in err
    assert f"add it under enricher.task_features in {config}" in err


def test_malformed_entity_and_conflicting_ids_are_errors(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, _, err = run(capsys, "inspect", "--config", str(config), "--entity", "u1")
    assert code == 2
    assert err.startswith("llm-featurestore: error: Malformed --entity 'u1'")
    assert err.count("\n") == 1
    code, _, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:a", "--entity", "user:b"
    )
    assert code == 2
    assert "--entity names two ids for 'user': pick one" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Configuration file not found: {path}"),
        ("feature_store: [", "Configuration {path} is not valid YAML: "),
        ("- a\n- b\n", "Configuration {path} must be a mapping with a 'feature_store' section"),
        ("enricher: {}\n", "Configuration {path} has no 'feature_store' section"),
        (
            "feature_store: {provider: bogus}\n",
            "Invalid feature store configuration ({path}): feature_store: Value error, "
            "Unknown provider 'bogus'. Available: feast, feast_http, local, redis, tecton",
        ),
        (
            "feature_store: {provider: local}\nenricher: {max_feature_tokens: 0}\n",
            "Invalid EnricherConfig ({path}): enricher.max_feature_tokens: Input should be "
            "greater than or equal to 1 (got 0)",
        ),
        (
            "feature_store: {provider: local, timeout_ms: -1}\n",
            "feature_store.timeout_ms: Input should be greater than 0",
        ),
    ],
)
def test_a_bad_config_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = run(capsys, "inspect", "--config", str(path), "--entity", "user:1")
    assert code == 2
    assert out == ""
    assert err.startswith("llm-featurestore: error: ")
    assert err.count("\n") == 1
    assert message.format(path=path) in err


def test_no_config_at_all_says_how_to_give_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "inspect", "--entity", "user:1")
    assert code == 2
    assert "No configuration: pass --config FILE or set $LLM_FEATURESTORE_CONFIG" in err


def test_a_dead_store_falls_back_and_exits_1(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = {"provider": "tests.unit.test_cli:DeadStore"}
    config = write_config(tmp_path, store_path, feature_store=store)
    code, out, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:u1",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 1
    assert "unavailable" in out
    assert "No usable feature: the prompt passes through unchanged" in out
    assert "the feature store could not be read: every feature timed out or was unavailable" in err


def test_a_dead_store_without_fallback_exits_1(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = {"provider": "tests.unit.test_cli:DeadStore", "fallback_on_timeout": False}
    config = write_config(tmp_path, store_path, feature_store=store)
    code, _, err = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:u1",
        "--task", "product_recommendation",
    )  # fmt: skip
    assert code == 1
    assert err.startswith("llm-featurestore: error: the feature store could not be read")
    assert "connection refused" in err


# -- catalog ---------------------------------------------------------------------------

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
            "feature_view": "user_profile",
            "source": "crm",
        },
    ]
}


def test_catalog_lists_definitions_from_a_catalog_file(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(CATALOG), encoding="utf-8")
    config = write_config(tmp_path, store_path, catalog="catalog.yaml")
    code, out, _ = run(capsys, "catalog", "--config", str(config))
    assert code == 0
    assert "2 features" in out
    assert "user.favorite_category" in out
    assert "Favourite category" in out
    assert "pii" in out
    assert "user_profile / crm" in out


def test_catalog_search_ranks_and_filters(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path, catalog=CATALOG)
    code, out, _ = run(capsys, "catalog", "--config", str(config), "search", "contact")
    assert code == 0
    assert "1 features matching 'contact'" in out
    assert "user.email" in out
    assert "favorite_category" not in out
    code, out, err = run(capsys, "catalog", "--config", str(config), "search", "zebra")
    assert code == 3  # nothing to show is not success (scripts can tell)
    assert out == ""
    assert err.strip() == (
        "llm-featurestore: no feature matches 'zebra' among the 2 features of the 'catalog' "
        f"section of {config}; `llm-featurestore catalog` lists them all"
    )


def test_catalog_without_a_catalog_lists_what_the_store_has(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, out, _ = run(capsys, "catalog", "--config", str(config))
    assert code == 0
    assert "5 features" in out
    for name in ("user.email", "user.tier", "organization.brand_voice"):
        assert name in out


@pytest.mark.parametrize(
    ("words", "message"),
    [
        (["frob"], "Unknown catalog action 'frob': use 'catalog' or 'catalog search TEXT'"),
        (["search"], "catalog search needs a TEXT to search for"),
    ],
)
def test_catalog_usage_errors(
    tmp_path: Path,
    store_path: Path,
    capsys: pytest.CaptureFixture[str],
    words: list[str],
    message: str,
) -> None:
    config = write_config(tmp_path, store_path)
    code, _, err = run(capsys, "catalog", "--config", str(config), *words)
    assert code == 2
    assert message in err


def test_a_bad_catalog_section_is_an_error(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path, catalog=["not", "a", "mapping"])
    code, _, err = run(capsys, "catalog", "--config", str(config))
    assert code == 2
    assert "'catalog' in" in err
    assert "must be a file path or a mapping" in err
    config = write_config(tmp_path, store_path, catalog="missing.yaml")
    code, _, err = run(capsys, "catalog", "--config", str(config))
    assert code == 2
    assert "Cannot read feature catalog" in err


# -- parser, demo, import cost ---------------------------------------------------------


def test_help_exits_0_and_a_missing_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in ("inspect", "catalog", "demo"):
        assert command in out
    code, _, err = run(capsys)
    assert code == 2
    assert "required" in err
    code, _, err = run(capsys, "inspect", "--config", "x.yaml")
    assert code == 2
    assert "--entity" in err


def test_demo_passes_its_options_through(capfd: pytest.CaptureFixture[str]) -> None:
    # The demo runs in its own process (output on the file descriptors, hence capfd).
    code, out, _ = run(capfd, "demo", "--help")
    assert code == 0
    assert "--framework" in out
    code, _, err = run(capfd, "demo", "--framework", "haystack")
    assert code == 2
    assert "invalid choice: 'haystack'" in err


def test_demo_runs_the_repository_it_is_started_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "copy" / "examples" / "shopping_assistant"
    package.mkdir(parents=True)
    (package.parent / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "demo.py").write_text(
        "import os, sys\nprint('demo of', os.path.abspath(__file__), sys.argv[1:])\n"
        "(open('ran.txt', 'w')).write('here')\n"
    )
    nested = tmp_path / "copy" / "somewhere" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    code, out, _ = run(capfd, "demo", "--users", "3")
    assert code == 0
    assert f"demo of {package / 'demo.py'} ['--users', '3']" in out
    assert (tmp_path / "copy" / "ran.txt").read_text() == "here"  # it writes into the copy


def test_demo_outside_a_repository_says_where_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capfd, "demo")
    assert code == 2
    assert out == ""
    assert f"No demo here: examples/shopping_assistant/demo.py is not in {tmp_path}" in err
    assert err.count("\n") == 1
    assert (
        "The demo is not in the wheel: it is the source repository's examples/ (a Feast "
        "repo, its data generator, and an embedding model that needs a pinned CPU torch). "
        "Get a checkout of the llm-featurestore source repository and run `make demo` in "
        "it (it installs everything into .venv first), or `llm-featurestore demo` from any "
        "folder inside it once the `examples` extra is installed"
    ) in err


def test_the_core_never_imports_the_repositorys_examples() -> None:
    import llm_featurestore

    root = Path(llm_featurestore.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "import examples" in path.read_text() or "from examples" in path.read_text()
    ]
    assert offenders == []


def test_importing_the_cli_stays_light() -> None:
    code = (
        "import sys, llm_featurestore.cli; "
        "print(sorted(m for m in ('rich', 'feast', 'langchain_core', 'chromadb', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
