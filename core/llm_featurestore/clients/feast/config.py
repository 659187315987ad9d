"""The settings of :class:`~llm_featurestore.clients.feast.FeastClient`.

Importable without the Feast SDK, so :mod:`llm_featurestore.config` can read every
backend's settings cheaply.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import Field, field_validator

from llm_featurestore.settings import BackendConfig

__all__ = ["FeastClientConfig"]


class FeastClientConfig(BackendConfig):
    """Which Feast repo (and project) a :class:`FeastClient` reads."""

    config_name = "feast"

    type: Literal["feast"] = "feast"
    repo_path: str = Field(description="Folder holding feature_store.yaml.")
    project: str | None = Field(None, description="Feast project; the repo's own by default.")
    direct_reads: bool = Field(
        True,
        description="Read Feast's Redis and SQLite online stores directly (Feast's own key "
        "layout, without the SDK's per-read overhead) when the request allows it; false "
        "reads every request through the Feast SDK.",
    )

    @field_validator("repo_path", mode="before")
    @classmethod
    def _path_as_text(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value
