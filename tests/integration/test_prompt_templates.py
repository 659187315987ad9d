"""Prompt templates as versioned features (issue 16 item 1), on real stores: a file-backed
local store (also read from another process) and a real redis-server, directly and
through a ServingClient; sync and async drive the same steps."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.prompts import ChatPromptTemplate
from llama_index.core.prompts import PromptTemplate

from langchain_featurestore.templates import as_chat_prompt
from llamaindex_featurestore.templates import as_prompt_template
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreUnavailableError,
    FeatureValidationError,
)
from llm_featurestore.monitor import FeatureMonitor
from llm_featurestore.serving import ServingClient
from llm_featurestore.templates import (
    TEMPLATE_ENTITY_TYPE,
    TemplateRegistry,
    content_hash,
    split_bucket,
)
from tests.fixtures.redis import dead_redis_client

pytestmark = pytest.mark.integration

V1 = "Facts:\n{feature_context}\nQuestion: {question}"
V2 = "{feature_context}\nAnswer in one line: {question}"


@pytest.fixture(params=["local", "redis", "serving"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "local":
        yield LocalFeatureStore(tmp_path / "templates.json")
    elif request.param == "serving":
        yield ServingClient(LocalFeatureStore(tmp_path / "templates.json"))
    else:
        url = request.getfixturevalue("redis_url")
        store = RedisFeatureStore(url, namespace=f"tpl-{uuid.uuid4().hex[:8]}")
        yield store
        store.close()


def test_publish_versions_activate_and_read_back(client: Any) -> None:
    registry = TemplateRegistry(client)
    v1 = registry.publish("answer", V1, model_family="gpt-4o")
    v2 = registry.publish(
        "answer", V2, model_family="gpt-4o", variables=["question", "feature_context"]
    )
    assert (v1.version, v2.version) == (1, 2)
    assert v1.variables == ("feature_context", "question")
    assert v2.content_hash == content_hash(V2) != v1.content_hash
    head = registry.head("answer")
    assert (head.latest_version, head.active_version, head.split) == (2, 1, {})
    # A fresh registry reads everything from the store, not from its memory.
    fresh = TemplateRegistry(client)
    assert fresh.choose("answer") == v1
    assert fresh.get("answer", 2) == v2
    fresh.activate("answer", 2)
    assert TemplateRegistry(client).choose("answer", user_id="u1") == v2


def test_a_published_version_never_changes(client: Any) -> None:
    registry = TemplateRegistry(client)
    registry.publish("answer", V1, model_family="gpt-4o")
    # Someone rewinds the head by hand: publishing must refuse to overwrite version 1.
    client.write_features(
        "answer", TEMPLATE_ENTITY_TYPE, {"latest_version": 0, "active_version": 1, "split": ""}
    )
    with pytest.raises(
        FeatureValidationError, match="Version 1 of template 'answer' already exists"
    ):
        registry.publish("answer", V2, model_family="gpt-4o")
    assert TemplateRegistry(client).get("answer", 1).content == V1


async def test_async_twins_drive_the_same_steps(client: Any) -> None:
    registry = TemplateRegistry(client)
    v1 = await registry.apublish("answer", V1, model_family="gpt-4o")
    v2 = await registry.apublish("answer", V2, model_family="claude")
    await registry.aactivate("answer", 2)
    assert (await registry.ahead("answer")).active_version == 2
    assert await TemplateRegistry(client).achoose("answer") == v2
    assert await TemplateRegistry(client).aget("answer", 1) == v1
    head = await registry.aset_split("answer", {1: 1, 2: 3})
    assert head.split == {1: 0.25, 2: 0.75}


def test_split_is_stable_and_follows_the_weights(tmp_path: Path) -> None:
    path = tmp_path / "templates.json"
    registry = TemplateRegistry(LocalFeatureStore(path))
    registry.publish("answer", V1, model_family="gpt-4o")
    registry.publish("answer", V2, model_family="gpt-4o")
    registry.set_split("answer", {1: 0.7, 2: 0.3})
    users = [f"u{i}" for i in range(2000)]
    here = {u: registry.choose("answer", user_id=u).version for u in users}
    share = sum(v == 2 for v in here.values()) / len(users)
    assert 0.26 < share < 0.34
    # Another process, another registry: every user gets the same version.
    code = (
        "import json, sys\n"
        "from llm_featurestore.clients.local import LocalFeatureStore\n"
        "from llm_featurestore.templates import TemplateRegistry\n"
        "r = TemplateRegistry(LocalFeatureStore(sys.argv[1]))\n"
        "print(json.dumps({f'u{i}': r.choose('answer', user_id=f'u{i}').version "
        "for i in range(2000)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == here
    # No user id: the active version; ending the split: the active version for everyone.
    assert registry.choose("answer").version == 1
    registry.set_split("answer", {})
    assert {registry.choose("answer", user_id=u).version for u in users[:50]} == {1}


def test_split_bucket_is_uniform_and_per_template() -> None:
    buckets = [split_bucket("answer", f"u{i}") for i in range(4000)]
    assert all(0.0 <= b < 1.0 for b in buckets)
    assert 0.47 < sum(b < 0.5 for b in buckets) / len(buckets) < 0.53
    assert split_bucket("answer", "u1") != split_bucket("greeting", "u1")


def test_rendering_fills_variables_from_the_enrichment(tmp_path: Path) -> None:
    store = LocalFeatureStore()
    store.write_features("u1", "user", {"tier": "gold"})
    registry = TemplateRegistry(LocalFeatureStore(tmp_path / "t.json"))
    version = registry.publish("answer", V1, model_family="gpt-4o")
    config = EnricherConfig(task_features={"shop": {"user": ["tier"]}}, enabled_task_types=["shop"])
    result = FeatureEnricher(store, config).enrich("Any ideas?", "u1", task_type="shop")
    text = version.render(result.variables, question="Any ideas?")
    assert text == f"Facts:\n{result.context_block}\nQuestion: Any ideas?"
    assert "- Tier: gold" in text
    with pytest.raises(FeatureValidationError, match=r"answer@v1 needs question; got values for "):
        version.render(result.variables)
    # A value holding braces is inserted as text, never parsed as a field.
    assert version.render(feature_context="{question}", question="q") == (
        "Facts:\n{question}\nQuestion: q"
    )


def test_langchain_and_llamaindex_interop(tmp_path: Path) -> None:
    registry = TemplateRegistry(LocalFeatureStore(tmp_path / "t.json"))
    version = registry.publish("answer", V1, model_family="gpt-4o")
    chat = as_chat_prompt(version, then=[("human", "{question}")])
    assert isinstance(chat, ChatPromptTemplate)
    assert sorted(chat.input_variables) == ["feature_context", "question"]
    messages = chat.invoke({"feature_context": "F", "question": "Q"}).to_messages()
    assert [m.type for m in messages] == ["system", "human"]
    assert messages[0].content == version.render(feature_context="F", question="Q")
    assert chat.metadata is not None
    assert chat.metadata["template_version"] == 1
    prompt = as_prompt_template(version)
    assert isinstance(prompt, PromptTemplate)
    assert prompt.format(feature_context="F", question="Q") == version.render(
        feature_context="F", question="Q"
    )
    assert prompt.metadata["content_hash"] == version.content_hash


def test_monitor_records_quality_per_version(tmp_path: Path) -> None:
    registry = TemplateRegistry(LocalFeatureStore(tmp_path / "t.json"))
    v1 = registry.publish("answer", V1, model_family="gpt-4o")
    v2 = registry.publish("answer", V2, model_family="gpt-4o")
    other = registry.publish("greeting", "Hello {name}", model_family="gpt-4o")
    monitor = FeatureMonitor(window_size=3)
    for score in (0.2, 0.4, 0.6, 0.8):
        monitor.record_template_quality(v1, score)
    monitor.record_template_quality(v2, 0.9)
    monitor.record_template_quality(other, 0.1)
    stats = monitor.template_stats("answer")
    assert list(stats) == ["answer@v1", "answer@v2"]
    assert stats["answer@v1"].scored == 4
    assert stats["answer@v1"].window_samples == 3
    assert stats["answer@v1"].mean_quality == pytest.approx(0.6)
    assert stats["answer@v2"].mean_quality == pytest.approx(0.9)
    assert set(monitor.template_stats()) == {"answer@v1", "answer@v2", "greeting@v1"}
    with pytest.raises(FeatureConfigError, match="inference_quality must be a finite number"):
        monitor.record_template_quality(v1, float("nan"))
    with pytest.raises(FeatureConfigError, match="template must be a PromptTemplateVersion"):
        monitor.record_template_quality("answer@v1", 0.5)
    monitor.reset()
    assert monitor.template_stats() == {}


@pytest.mark.parametrize(
    ("content", "variables", "message"),
    [
        ("Hello {0}", None, r"Template field \{0\} is not a plain name"),
        ("Hello {user.name}", None, r"Template field \{user.name\} is not a plain name"),
        ("Hello {", None, "Template text does not parse"),
        ("Hi {name}", ["name", "tier"], "declared tier, which the text never uses"),
        ("Hi {name} {tier}", ["name"], "the text uses tier, which are not declared"),
    ],
)
def test_bad_templates_are_refused(
    tmp_path: Path, content: str, variables: list[str] | None, message: str
) -> None:
    registry = TemplateRegistry(LocalFeatureStore(tmp_path / "t.json"))
    with pytest.raises(FeatureValidationError, match=message):
        registry.publish("answer", content, model_family="gpt-4o", variables=variables)
    with pytest.raises(FeatureConfigError, match="Unknown template 'answer': publish a version"):
        registry.choose("answer")


def test_bad_ids_versions_and_weights(tmp_path: Path) -> None:
    registry = TemplateRegistry(LocalFeatureStore(tmp_path / "t.json"))
    with pytest.raises(FeatureValidationError, match="template_id 'a b' is not valid"):
        registry.publish("a b", V1, model_family="gpt-4o")
    with pytest.raises(FeatureValidationError, match="model_family must be a non-empty string"):
        registry.publish("answer", V1, model_family="")
    registry.publish("answer", V1, model_family="gpt-4o")
    with pytest.raises(FeatureConfigError, match=r"has no version 3; its versions are 1\.\.1"):
        registry.activate("answer", 3)
    with pytest.raises(FeatureConfigError, match="has no version 2; publish it first"):
        registry.get("answer", 2)
    with pytest.raises(FeatureConfigError, match="Split weight of version 1 must be a positive"):
        registry.set_split("answer", {1: 0})


def test_a_dead_store_raises_instead_of_choosing_blindly() -> None:
    dead = dead_redis_client()
    with pytest.raises(FeatureStoreUnavailableError):
        TemplateRegistry(dead).choose("answer")
    # In fallback mode the serving layer answers UNAVAILABLE; publishing over an unknown
    # head could overwrite version 1, so the registry refuses.
    serving = ServingClient(dead_redis_client())
    with pytest.raises(FeatureStoreUnavailableError, match="Could not read template 'answer'"):
        TemplateRegistry(serving).publish("answer", V1, model_family="gpt-4o")


def test_a_read_only_client_cannot_publish() -> None:
    class ReadOnly(LocalFeatureStore):
        write_features = None  # type: ignore[assignment]

    with pytest.raises(FeatureConfigError, match="ReadOnly cannot write, so templates cannot"):
        TemplateRegistry(ReadOnly()).publish("answer", V1, model_family="gpt-4o")
