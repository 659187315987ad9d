"""The command line's output contracts: ``--version``, ``--json`` on every command (parsed
here), plain text without rich, exit code 3 when there is nothing to show, what an empty
store says, and how ``demo`` says where to get it."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from email.message import Message
from pathlib import Path
from typing import Any, ClassVar

import pytest

import llm_featurestore
from llm_featurestore.cli import EXIT_NO_MATCH, demo
from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.errors import UnknownEntityTypeError
from llm_featurestore.models import FeatureStatus, FeatureVector
from tests.unit.test_cli import CATALOG, run, store_path, wide_terminal, write_config

__all__ = ["store_path", "wide_terminal"]  # fixtures re-exported for pytest

INSPECT = ["--entity", "user:u1", "--task", "product_recommendation"]


def as_json(text: str) -> Any:
    return json.loads(text)


@pytest.fixture
def no_rich(monkeypatch: pytest.MonkeyPatch) -> None:
    """Imports of rich fail, as on a core-only install."""
    for name in [m for m in sys.modules if m == "rich" or m.startswith("rich.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "rich", None)


# -- --version and help ----------------------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, f"llm-featurestore {llm_featurestore.__version__}\n", "")
    code, out, _ = run(capsys, "--json", "--version")
    assert code == 0
    assert as_json(out) == {"name": "llm-featurestore", "version": llm_featurestore.__version__}


def test_help_names_the_flags_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "--version" in out
    assert "--json" in out
    assert "3 nothing to show" in " ".join(out.split())


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert (code, out) == (2, "")
    assert err.endswith("llm-featurestore: error: a COMMAND is required (or --version)\n")
    code, out, err = run(capsys, "--json")
    assert (code, out) == (2, "")
    assert as_json(err) == {"error": "a COMMAND is required (or --version)", "exit_code": 2}


# -- inspect --json --------------------------------------------------------------------


@pytest.mark.parametrize("where", ["after", "before"])
def test_inspect_json_is_the_whole_report(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    config = write_config(tmp_path, store_path)
    args = ["inspect", "--config", str(config), *INSPECT, "--prompt", "What next?"]
    argv = [*args, "--json"] if where == "after" else ["--json", *args]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    report = as_json(out)
    assert report["task"] == "product_recommendation"
    (user,) = report["entities"]
    assert (user["entity_type"], user["entity_id"], user["source"], user["known"]) == (
        "user",
        "u1",
        "local",
        True,
    )
    by_name = {f["name"]: f for f in user["features"]}
    assert by_name["favorite_category"]["value"] == "running"
    assert by_name["favorite_category"]["in_prompt"] is True
    assert by_name["recent_purchases"]["value"] == ["road shoes", "socks"]
    assert by_name["tier"]["drop_reason"] == "stale"
    assert by_name["tier"]["age_seconds"] > 2 * 86400
    # A sensitive value is hidden from JSON as from text.
    assert by_name["email"]["value"] is None
    assert by_name["email"]["hidden"] == "sensitive"
    assert "u1@example.com" not in out
    assert {d["feature"]: d["reason"] for d in report["dropped"]} == {
        "email": "sensitive",
        "tier": "stale",
    }
    assert report["context_block"].startswith("[Context from user profile]")
    assert report["budget"] == 200
    assert report["tokens"] > 0
    assert report["features_used"] == ["user.favorite_category", "user.recent_purchases"]
    assert report["final_prompt"].endswith("What next?")


def test_inspect_json_cold_start_and_no_prompt(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path)
    code, out, _ = run(
        capsys, "inspect", "--config", str(config), "--entity", "user:nobody",
        "--entity", "organization:acme", "--task", "product_recommendation",
        "--cold-start", "--json",
    )  # fmt: skip
    assert code == 0
    report = as_json(out)
    assert [e["known"] for e in report["entities"]] == [False]
    assert report["ignored_entities"] == ["organization:acme"]
    assert (report["prompt"], report["final_prompt"]) == (None, None)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["inspect", "--config", "x.yaml"], 2, "the following arguments are required: --entity"),
        (
            ["inspect", "--config", "missing.yaml", *INSPECT],
            2,
            "Configuration file not found: missing.yaml",
        ),
        (["catalog", "--config", "x.yaml", "frob"], 2, "Unknown catalog action 'frob'"),
        (["mcp", "--config", "missing.yaml"], 2, "Configuration file not found: missing.yaml"),
        (["demo"], 2, "demo writes for people and has no --json output"),
    ],
)
def test_json_errors_are_one_json_line_on_stderr(
    capsys: pytest.CaptureFixture[str], argv: list[str], code: int, message: str
) -> None:
    got, out, err = run(capsys, "--json", *argv)
    assert (got, out) == (code, "")
    assert err.count("\n") == 1
    error = as_json(err)
    assert error["exit_code"] == code
    assert error["error"].startswith(message)


def test_a_dead_store_in_json_prints_the_report_and_a_json_error(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = {"provider": "tests.unit.test_cli:DeadStore"}
    config = write_config(tmp_path, store_path, feature_store=store)
    code, out, err = run(capsys, "inspect", "--config", str(config), *INSPECT, "--json")
    assert code == 1
    report = as_json(out)
    assert {f["status"] for f in report["entities"][0]["features"]} == {"unavailable"}
    assert report["store_available"] is False
    assert as_json(err) == {
        "error": "the feature store could not be read: every feature timed out or was unavailable",
        "exit_code": 1,
    }


# -- catalog --json and exit code 3 ----------------------------------------------------


def test_catalog_json_lists_definitions_and_sources(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path, catalog=CATALOG)
    code, out, _ = run(capsys, "catalog", "--config", str(config), "--json")
    assert code == 0
    report = as_json(out)
    assert (report["query"], report["count"], report["searched"]) == (None, 2, 2)
    assert report["origin"] == f"the 'catalog' section of {config}"
    email = next(f for f in report["features"] if f["key"] == "user.email")
    assert (email["sensitivity"], email["is_sensitive"], email["feature_view"]) == (
        "pii",
        True,
        "user_profile",
    )
    assert (report["on_demand_views"], report["request_sources"], report["push_sources"]) == (
        [],
        [],
        [],
    )
    code, out, _ = run(capsys, "catalog", "--config", str(config), "--json", "search", "contact")
    assert code == 0
    report = as_json(out)
    assert [f["key"] for f in report["features"]] == ["user.email"]
    assert "push_sources" not in report  # sources come with the listing only


def test_a_search_without_match_exits_3_in_json_too(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store_path, catalog=CATALOG)
    code, out, err = run(capsys, "--json", "catalog", "--config", str(config), "search", "zebra")
    assert (code, err) == (EXIT_NO_MATCH, "")
    report = as_json(out)
    assert (report["count"], report["searched"], report["features"]) == (0, 2, [])


def test_an_empty_catalog_exits_3_and_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tmp_path / "nothing.json")
    code, out, err = run(capsys, "catalog", "--config", str(config))
    assert (code, out) == (3, "")
    assert err.strip() == (
        "llm-featurestore: the catalog is empty: the local store holds no feature "
        "definition; write features to it first (the README's example store is built by "
        "`python -m examples.shopping_assistant.setup_store`, or `make demo`, in a checkout)"
    )
    config = write_config(tmp_path, tmp_path / "nothing.json", catalog={"features": []})
    code, _, err = run(capsys, "catalog", "--config", str(config), "search", "budget")
    assert code == 3
    assert err.strip() == (
        f"llm-featurestore: the catalog is empty: the 'catalog' section of {config} holds "
        "no feature definition; add feature definitions to it"
    )


def test_an_unapplied_feast_repo_says_to_apply_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's failure before `make demo`: the Feast repo exists, nothing applied."""
    pytest.importorskip("feast")
    repo = tmp_path / "feature_repo"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(
        "project: empty_shop\nprovider: local\nregistry: data/registry.db\n"
        "online_store: {type: sqlite, path: data/online_store.db}\n"
        "entity_key_serialization_version: 3\n",
        encoding="utf-8",
    )
    store = {"provider": "feast", "feast": {"repo_path": "feature_repo"}}
    config = write_config(tmp_path, tmp_path / "unused.json", feature_store=store)
    code, _, err = run(capsys, "catalog", "--config", str(config), "search", "budget")
    assert code == 3
    assert (
        f"the catalog is empty: the Feast registry of {repo} holds no feature definition; "
        f"run `feast apply` in {repo} and materialise first"
    ) in err
    code, _, err = run(capsys, "inspect", "--config", str(config), *INSPECT)
    assert code == 2
    assert err.strip() == (
        "llm-featurestore: error: Unknown entity type 'user'. Available for Feast project "
        "'empty_shop': (none). The store serves no entity type yet: run `feast apply` in "
        f"{repo} and materialise first (the README's example store is built by "
        "`python -m examples.shopping_assistant.setup_store`, or `make demo`, in a checkout)"
    )


def test_unknown_entity_type_error_keeps_the_available_types(tmp_path: Path) -> None:
    store = LocalFeatureStore()
    with pytest.raises(UnknownEntityTypeError) as err:
        store.list_features("user")
    assert err.value.available == ()
    store.write_features("o1", "organization", {"brand_voice": "warm"})
    with pytest.raises(UnknownEntityTypeError) as err:
        store.list_features("user")
    assert err.value.available == ("organization",)


# -- plain text without rich -----------------------------------------------------------


def test_inspect_without_rich_prints_plain_text(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str], no_rich: None
) -> None:
    config = write_config(tmp_path, store_path)
    code, out, err = run(
        capsys, "inspect", "--config", str(config), *INSPECT, "--prompt", "What next?"
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "user:u1 (source local)"
    assert lines[1].split() == ["Feature", "Label", "Status", "Age", "Value", "In", "prompt"]
    assert set(lines[2]) == {"-", " "}
    rows = {line.split()[0]: line for line in lines[3:7]}
    assert rows["favorite_category"].split()[-1] == "yes"
    assert rows["tier"].endswith("3.0d  gold                 dropped: stale")
    assert "(hidden: sensitive)  dropped: sensitive" in rows["email"]
    assert "Context block: " in out
    assert "  - Favorite category: running" in lines
    assert lines[-2:] == ["  What next?", ""]
    assert not set(out) & set("┃│╭╰━─")
    assert "u1@example.com" not in out


def test_catalog_without_rich_prints_plain_text(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str], no_rich: None
) -> None:
    config = write_config(tmp_path, store_path, catalog=CATALOG)
    code, out, _ = run(capsys, "catalog", "--config", str(config))
    assert code == 0
    lines = out.splitlines()
    # Columns two spaces apart, each as wide as its widest cell; no trailing blanks.
    widths = [len(dashes) for dashes in lines[2].split("  ")]
    assert widths == [22, 6, 11, 18, 26, 18]
    assert [lines[0], lines[-1]] == ["2 features", ""]
    assert [_cells(line, widths) for line in lines[1:-1] if not line.startswith("-")] == [
        ["Feature", "Type", "Sensitivity", "Label", "Description", "Source"],
        ["user.email", "string", "pii", "Email", "Contact address", "user_profile / crm"],
        [
            "user.favorite_category",
            "string",
            "public",
            "Favourite category",
            "Category bought most often",
            "-",
        ],
    ]
    assert all(line == line.rstrip() for line in lines)


def _cells(line: str, widths: list[int]) -> list[str]:
    cells, start = [], 0
    for width in widths:
        cells.append(line[start : start + width].strip())
        start += width + 2
    return cells


# -- inspect opens the store before the timed read -------------------------------------


class RecordingStore(FeatureStoreClient):
    """A store that records the order of the calls it gets."""

    source = "recording"
    calls: ClassVar[list[str]] = []

    def __init__(self, **_: Any) -> None:
        pass

    def get_batch_features(
        self, entity_ids: Sequence[str], entity_type: str, feature_names: Sequence[str]
    ) -> list[FeatureVector]:
        self.calls.append("read")
        return [
            FeatureVector.build(
                entity_id=e,
                entity_type=entity_type,
                feature_names=feature_names,
                values={n: "x" for n in feature_names},
                statuses={n: FeatureStatus.PRESENT for n in feature_names},
                source=self.source,
            )
            for e in entity_ids
        ]

    def list_features(self, entity_type: str) -> list[str]:
        self.calls.append("list")
        return ["favorite_category", "recent_purchases", "email", "tier"]

    def health_check(self) -> bool:
        self.calls.append("health_check")
        return True


def test_inspect_opens_the_store_before_the_timed_read(
    tmp_path: Path, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RecordingStore.calls.clear()
    store = {"provider": "tests.unit.test_cli_output:RecordingStore"}
    config = write_config(tmp_path, store_path, feature_store=store)
    code, _, err = run(capsys, "inspect", "--config", str(config), *INSPECT)
    assert code == 0, err
    assert RecordingStore.calls == ["list", "health_check", "read"]


# -- demo ------------------------------------------------------------------------------


def test_demo_in_a_checkout_names_the_missing_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "examples" / "shopping_assistant").mkdir(parents=True)
    (tmp_path / "examples" / "shopping_assistant" / "demo.py").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(
        demo,
        "_DEMO_NEEDS",
        {"json": "json", "llmfs_no_such_module": "llmfs-none", "llmfs_none.sub": "llmfs-sub"},
    )
    code, out, err = run(capfd, "demo")
    assert (code, out) == (2, "")
    assert err.strip() == (
        f"llm-featurestore: error: The demo in {tmp_path} needs packages that are not "
        "installed: llmfs-none, llmfs-sub. Run `make demo` there (it installs them into "
        ".venv, torch first as the CPU build), or install the `examples` extra into this "
        "environment"
    )


def test_demo_howto_names_the_source_url_when_the_metadata_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from importlib import metadata

    assert "a checkout of the llm-featurestore source repository" in demo.demo_howto()
    published = Message()
    published["Project-URL"] = "Homepage, https://llmfs.invalid/"
    published["Project-URL"] = "Source, https://llmfs.invalid/src.git"
    monkeypatch.setattr(metadata, "metadata", lambda _: published)
    assert "Get `git clone https://llmfs.invalid/src.git` and run `make demo` in it" in (
        demo.demo_howto()
    )
