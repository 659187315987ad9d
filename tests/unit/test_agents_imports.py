"""The agent integrations load only when used: the adapters' other parts keep needing
only their framework's core (``langchain`` for the middleware and tool is the
``[agents]`` extra; the LlamaIndex tool's shared answer module lives in the LangChain
adapter for now)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("package", "absent"),
    [
        ("langchain_featurestore", "langchain.agents"),
        ("langchain_featurestore", "langgraph"),
        ("llamaindex_featurestore", "langchain_core"),
    ],
)
def test_importing_the_adapter_does_not_load(package: str, absent: str) -> None:
    code = f"import sys, {package}; print({absent!r} in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_lazy_names_resolve_to_the_agent_modules() -> None:
    import langchain_featurestore
    import llamaindex_featurestore
    from langchain_featurestore import agents, tools
    from llamaindex_featurestore import tools as li_tools

    assert langchain_featurestore.FeatureContextMiddleware is agents.FeatureContextMiddleware
    assert langchain_featurestore.feature_facts_tool is tools.feature_facts_tool
    assert llamaindex_featurestore.feature_facts_tool is li_tools.feature_facts_tool
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = langchain_featurestore.nope  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = llamaindex_featurestore.nope  # type: ignore[attr-defined]
