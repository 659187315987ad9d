"""langchain-tests' standard ToolsIntegrationTests for the feature tool, over a real
Redis store behind a ServingClient (the tool's reads go through the core read flow)."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import ToolsIntegrationTests

from langchain_featurestore.tools import feature_facts_tool
from llm_featurestore.clients.redis import RedisFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher
from llm_featurestore.serving import ServingClient

pytestmark = pytest.mark.integration

CONFIG = EnricherConfig(
    task_features={"shopping": {"user": ["favorite_category", "tier"]}},
    enabled_task_types=["shopping"],
)


class TestFeatureFactsToolIntegration(ToolsIntegrationTests):
    @pytest.fixture(autouse=True)
    def _store(self, redis_url: str) -> None:
        store = RedisFeatureStore(redis_url, namespace=f"tool-{uuid.uuid4().hex[:8]}")
        store.write_features("u1", "user", {"favorite_category": "shoes", "tier": "gold"})
        self.__class__._client = store

    @property
    def tool_constructor(self) -> BaseTool:
        enricher = FeatureEnricher(ServingClient(self._client), CONFIG)
        return feature_facts_tool(enricher, task_type="shopping", user_id="u1")

    @property
    def tool_invoke_params_example(self) -> dict[str, list[str]]:
        return {"features": ["favorite_category"]}
