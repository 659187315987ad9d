"""How prompt templates are laid out in a feature store, and the pure rules on them.

One version per entity ``"<template_id>@v<n>"`` and one head per ``"<template_id>"``
(see :mod:`llm_featurestore.templates.registry`); this module turns rows into
:class:`TemplateHead` / :class:`~llm_featurestore.templates.model.PromptTemplateVersion`
and back, checks versions and split weights, and picks a user's version.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from llm_featurestore.errors import FeatureConfigError, FeatureStoreUnavailableError
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.templates.model import PromptTemplateVersion

__all__ = [
    "HEAD_FEATURES",
    "TEMPLATE_ENTITY_TYPE",
    "VERSION_FEATURES",
    "TemplateHead",
    "check_split",
    "check_version",
    "chosen_version",
    "found",
    "head_features",
    "head_of",
    "require_head",
    "split_bucket",
    "version_features",
    "version_of",
]

TEMPLATE_ENTITY_TYPE = "prompt_template"
HEAD_FEATURES = ("latest_version", "active_version", "split")
VERSION_FEATURES = ("content", "variables", "model_family", "version", "content_hash", "created_at")


@dataclass(frozen=True)
class TemplateHead:
    """A template's pointers: its newest version, the active one and the A/B split."""

    template_id: str
    latest_version: int
    active_version: int | None
    split: dict[int, float]


def split_bucket(template_id: str, user_id: str) -> float:
    """The user's stable place in ``[0, 1)`` for this template's split (SHA-256 based,
    the same in every process and on every machine)."""
    digest = hashlib.sha256(f"{template_id}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def found(vector: FeatureVector, what: str) -> bool:
    """True when the entity has a row; raises when the read itself failed."""
    if vector.failed:
        raise FeatureStoreUnavailableError(
            f"Could not read {what} ({vector.entity_id!r}) from the {vector.source} store: "
            f"{', '.join(sorted({s.value for s in vector.statuses.values()}))}"
        )
    return any(s in (FeatureStatus.PRESENT, FeatureStatus.STALE) for s in vector.statuses.values())


def head_of(template_id: str, vector: FeatureVector) -> TemplateHead | None:
    if not found(vector, f"template {template_id!r}"):
        return None
    raw = vector.features.get("split") or ""
    split = {int(k): float(v) for k, v in json.loads(raw).items()} if raw else {}
    active = vector.features.get("active_version")
    return TemplateHead(
        template_id,
        int(vector.features.get("latest_version") or 0),
        int(active) if active else None,
        split,
    )


def version_of(template_id: str, version: int, vector: FeatureVector) -> PromptTemplateVersion:
    if not found(vector, f"template {template_id!r} version {version}"):
        raise FeatureConfigError(
            f"Template {template_id!r} has no version {version}; publish it first or pick "
            "one of the versions TemplateRegistry.head() reports"
        )
    f = vector.features
    created = datetime.fromisoformat(str(f["created_at"]))
    return PromptTemplateVersion(
        template_id=template_id,
        version=int(f["version"]),
        content=str(f["content"]),
        variables=tuple(f.get("variables") or ()),
        model_family=str(f["model_family"]),
        content_hash=str(f["content_hash"]),
        created_at=created,
    )


def head_features(head: TemplateHead) -> dict[str, Any]:
    split = json.dumps({str(k): v for k, v in sorted(head.split.items())}) if head.split else ""
    return {
        "latest_version": head.latest_version,
        "active_version": head.active_version or 0,
        "split": split,
    }


def require_head(template_id: str, head: TemplateHead | None) -> TemplateHead:
    if head is None:
        raise FeatureConfigError(
            f"Unknown template {template_id!r}: publish a version first (TemplateRegistry.publish)"
        )
    return head


def check_version(head: TemplateHead, version: Any) -> int:
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not (1 <= version <= head.latest_version)
    ):
        raise FeatureConfigError(
            f"Template {head.template_id!r} has no version {version!r}; its versions are "
            f"1..{head.latest_version}"
        )
    return version


def check_split(head: TemplateHead, weights: Mapping[int, float]) -> dict[int, float]:
    if not weights:
        return {}
    out: dict[int, float] = {}
    for version, weight in weights.items():
        check_version(head, version)
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or not (math.isfinite(weight) and weight > 0)
        ):
            raise FeatureConfigError(
                f"Split weight of version {version} must be a positive number, got {weight!r}"
            )
        out[version] = float(weight)
    total = sum(out.values())
    return {version: weight / total for version, weight in sorted(out.items())}


def chosen_version(head: TemplateHead, user_id: str | None) -> int:
    if head.split and user_id is not None:
        bucket = split_bucket(head.template_id, user_id)
        edge = 0.0
        for version, weight in head.split.items():
            edge += weight
            if bucket < edge:
                return version
        return list(head.split)[-1]  # rounding: the bucket fell past the last edge
    if head.active_version is None:
        raise FeatureConfigError(f"Template {head.template_id!r} has no active version")
    return head.active_version


def version_features(version: PromptTemplateVersion) -> dict[str, Any]:
    return {
        "content": version.content,
        "variables": list(version.variables),
        "model_family": version.model_family,
        "version": version.version,
        "content_hash": version.content_hash,
        "created_at": version.created_at.isoformat(),
    }
