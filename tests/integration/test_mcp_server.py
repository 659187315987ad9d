"""``llm-featurestore mcp``: the official ``mcp`` client talks to the server.

Over stdio (the CLI as a subprocess, as an MCP host launches it) and over streamable
HTTP; in-process for the identity rules. The store is a local JSON file with two users;
``email`` is personal data the policy withholds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from llm_featurestore import EnricherConfig, FeatureEnricher
from llm_featurestore.clients import LocalFeatureStore
from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.mcp import McpConfig, McpHttpConfig, build_server
from llm_featurestore.serving import ServingClient
from tests.fixtures.servers import free_port, port_open, running_process, wait_until

pytestmark = pytest.mark.timeout(120)

TASKS = {"support": {"user": ["tier", "email"]}}


def _store(path: Path) -> LocalFeatureStore:
    store = LocalFeatureStore(path)
    store.write_features("u1", "user", {"tier": "gold", "email": "jane@example.com"})
    store.write_features("u2", "user", {"tier": "silver", "email": "bob@example.com"})
    return store


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    _store(tmp_path / "store.json")
    doc = {
        "feature_store": {"provider": "local", "local": {"data_path": "store.json"}},
        "enricher": {"task_features": TASKS},
        "mcp": {"task_type": "support", "identity_header": "X-User-Id"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _stdio(config: Path, *extra: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "llm_featurestore.cli", "mcp", "--config", str(config), *extra],
    )


def _text(result: Any) -> str:
    assert not result.is_error, result.content
    return "".join(block.text for block in result.content)


# --------------------------------------------------------------------- stdio


@pytest.mark.asyncio
async def test_stdio_lists_the_tools_and_answers_for_the_configured_user(
    config_file: Path,
) -> None:
    async with Client(_stdio(config_file, "--entity", "user:u1")) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"user_facts", "lookup_features", "enrich_prompt"}
        for tool in tools.values():
            assert "entity_id" not in tool.input_schema.get("properties", {})
            assert "user.email" not in (tool.description or "")
        facts = _text(await client.call_tool("user_facts", {}))
        assert "- Tier: gold (present)" in facts
        assert "jane@example.com" not in facts
        assert "Email" not in facts

        looked = await client.call_tool("lookup_features", {"features": ["tier", "email"]})
        data = looked.structured_content
        assert data is not None
        assert data["entities"] == {"user": "u1"}
        assert [f["name"] for f in data["facts"]] == ["user.tier"]
        assert data["facts"][0]["value"] == "gold"
        assert data["unknown"] == ["email"]  # withheld: not even named as available
        assert "user.email" not in data["available"]

        prompt = _text(await client.call_tool("enrich_prompt", {"prompt": "Where is my order?"}))
        assert prompt.startswith("[Context from user profile]")
        assert prompt.endswith("Where is my order?")
        assert "jane@example.com" not in prompt


@pytest.mark.asyncio
async def test_a_model_cannot_pick_another_user_through_tool_arguments(
    config_file: Path,
) -> None:
    async with Client(_stdio(config_file, "--entity", "user:u1")) as client:
        forged = _text(await client.call_tool("user_facts", {"entity_id": "u2", "user_id": "u2"}))
        assert "gold" in forged
        assert "silver" not in forged


def test_a_bad_config_exits_with_a_clear_error(config_file: Path, tmp_path: Path) -> None:
    doc = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    doc["mcp"] = {"task_typ": "support"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "llm_featurestore.cli", "mcp", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "mcp.task_typ" in proc.stderr
    assert "task_type" in proc.stderr
    assert proc.stdout == ""  # stdout is the protocol channel: nothing else goes there


def test_an_unknown_task_exits_naming_the_enabled_ones(config_file: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "llm_featurestore.cli",
            "mcp",
            "--config",
            str(config_file),
            "--task",
            "suport",
            "--entity",
            "user:u1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "mcp.task_type" in proc.stderr
    assert "'suport'" in proc.stderr
    assert "support" in proc.stderr.replace("'suport'", "")


# ---------------------------------------------------------------------- HTTP


@pytest.fixture
def http_server(config_file: Path) -> Iterator[str]:
    port = free_port()
    args = [sys.executable, "-m", "llm_featurestore.cli", "mcp", "--config", str(config_file)]
    with running_process([*args, "--http", "--port", str(port)], stdin=subprocess.DEVNULL):
        wait_until(lambda: port_open(port), what="llm-featurestore mcp --http")
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.mark.asyncio
async def test_http_takes_the_user_from_the_session_header(http_server: str) -> None:
    for user, tier in (("u1", "gold"), ("u2", "silver")):
        http = httpx2.AsyncClient(headers={"X-User-Id": user})
        async with http, Client(streamable_http_client(http_server, http_client=http)) as client:
            assert f"- Tier: {tier} (present)" in _text(await client.call_tool("user_facts", {}))


@pytest.mark.asyncio
async def test_http_without_a_user_answers_with_what_to_set(http_server: str) -> None:
    async with Client(http_server) as client:
        result = await client.call_tool("user_facts", {})
    assert result.is_error
    message = "".join(block.text for block in result.content)
    assert "No user for this session" in message
    assert "X-User-Id" in message


# ------------------------------------------------------------ in-process rules


def _enricher(tmp_path: Path, client: Any = None) -> FeatureEnricher:
    store = client or _store(tmp_path / "store.json")
    return FeatureEnricher(store, EnricherConfig(task_features=TASKS))


@pytest.mark.asyncio
async def test_the_entity_argument_exists_only_when_the_config_allows_it(
    tmp_path: Path,
) -> None:
    server = build_server(
        _enricher(tmp_path), McpConfig(task_type="support", allow_entity_argument=True)
    )
    async with Client(server) as client:
        tools = (await client.list_tools()).tools
        assert all("entity_id" in t.input_schema["required"] for t in tools)
        assert "silver" in _text(await client.call_tool("user_facts", {"entity_id": "u2"}))


@pytest.mark.asyncio
async def test_a_dead_store_answers_that_no_facts_are_available(tmp_path: Path) -> None:
    class Dead(LocalFeatureStore):
        def get_batch_features(self, *args: Any, **kwargs: Any) -> Any:
            raise ConnectionError("store is down")

    client = ServingClient(Dead(), timeout_ms=None)
    server = build_server(
        _enricher(tmp_path, client), McpConfig(task_type="support", entities={"user": "u1"})
    )
    async with Client(server) as mcp_client:
        facts = _text(await mcp_client.call_tool("user_facts", {}))
        prompt = _text(await mcp_client.call_tool("enrich_prompt", {"prompt": "hi"}))
        data = (await mcp_client.call_tool("lookup_features", {})).structured_content
    assert facts == "No facts about the user are available (the feature store is unavailable)."
    assert prompt == "hi"
    assert data is not None
    assert data["facts"] == []
    assert "unavailable" in data["note"]


def test_config_errors_name_the_fix(tmp_path: Path) -> None:
    enricher = _enricher(tmp_path)
    with pytest.raises(FeatureConfigError, match=r"mcp\.task_type: .*'nope'.*support"):
        build_server(enricher, McpConfig(task_type="nope"))
    with pytest.raises(FeatureConfigError, match="maps no features"):
        build_server(
            FeatureEnricher(
                _store(tmp_path / "other.json"),
                EnricherConfig(task_features=TASKS, enabled_task_types=["support", "faq"]),
            ),
            McpConfig(task_type="faq"),
        )
    with pytest.raises(
        FeatureConfigError, match=r"(?s)mcp\.http.*host.*127\.0\.0\.1.*'0\.0\.0\.0'"
    ):
        McpHttpConfig(host="0.0.0.0")
    with pytest.raises(FeatureConfigError, match="identity_header"):
        McpConfig(identity_header="X User")
    assert McpHttpConfig(host="::1").host == "::1"


def test_identity_order_argument_then_header_then_config(tmp_path: Path) -> None:
    from llm_featurestore.mcp import FeatureTools

    open_tools = FeatureTools(
        _enricher(tmp_path),
        McpConfig(
            task_type="support",
            entities={"user": "u1"},
            identity_header="X-User-Id",
            allow_entity_argument=True,
        ),
    )
    assert open_tools.identity(None) == {"user": "u1"}
    assert open_tools.identity({"x-user-id": "u2"}) == {"user": "u2"}
    assert open_tools.identity({"X-User-Id": "u2"}, "u3") == {"user": "u3"}
    closed = FeatureTools(_enricher(tmp_path), McpConfig(task_type="support"))
    with pytest.raises(FeatureConfigError, match="entity_id is not accepted"):
        closed.identity(None, "u2")
    with pytest.raises(FeatureConfigError, match=r"No user for this session.*--entity user:ID"):
        closed.identity({"X-User-Id": "u2"})  # no identity_header configured: ignored
    assert json.dumps(open_tools.identity(None))  # plain data for the structured answer
