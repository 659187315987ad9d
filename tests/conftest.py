"""Shared fixtures: backend fixtures live in tests/fixtures/, one module per backend."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.local",
    "tests.fixtures.feast",
    "tests.fixtures.feast_http",
    "tests.fixtures.redis",
    "tests.fixtures.tecton",
    "tests.fixtures.chroma",
]
