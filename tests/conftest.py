"""Shared fixtures: backend fixtures live in tests/fixtures/, one module per backend."""

from __future__ import annotations

import pytest

from llm_featurestore.serving.degrade import forget_logged_causes

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.local",
    "tests.fixtures.feast",
    "tests.fixtures.feast_http",
    "tests.fixtures.secured",
    "tests.fixtures.feast_init_repo",
    "tests.fixtures.feast_push_repo",
    "tests.fixtures.feast_types_repo",
    "tests.fixtures.redis",
    "tests.fixtures.tecton",
    "tests.fixtures.chroma",
    "tests.fixtures.fresh_venv",
]


@pytest.fixture(autouse=True)
def _fresh_cause_logs() -> None:
    """Degraded reads log once per cause; each test starts with nothing logged yet."""
    forget_logged_causes()
