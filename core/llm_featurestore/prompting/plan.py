"""Which entities one enrichment reads, or why it reads nothing.

:func:`plan` is pure: it checks the entity ids and matches them against the
features a task needs (:meth:`~llm_featurestore.prompting.policy.PromptPolicy.
required_features`). :func:`read_request` turns a plan into the read flow's request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llm_featurestore.errors import FeatureConfigError
from llm_featurestore.prompting.policy import PromptPolicy
from llm_featurestore.reading import ReadRequest
from llm_featurestore.request_sources import RequestDataSpec

__all__ = ["LookupPlan", "entity_ids", "plan", "read_request", "with_request_data"]

_FIX_MAPPING = (
    "Fix task_features (or default_features) in EnricherConfig to name features the store has."
)


@dataclass(frozen=True)
class LookupPlan:
    """The lookups one enrichment needs: one batch call per entity type.

    ``skipped_reason`` is set (and ``features`` empty) when nothing should be fetched.
    """

    task_type: str
    entities: dict[str, str] = field(default_factory=dict)
    """entity type -> entity id."""
    features: dict[str, list[str]] = field(default_factory=dict)
    """entity type -> feature names, for the entity types in ``entities``."""
    skipped_reason: str | None = None
    request_data: dict[str, dict[str, Any]] = field(default_factory=dict)
    """entity type -> request field -> value, sent with that entity's read."""


def plan(
    policy: PromptPolicy,
    user_id: str | None,
    organization_id: str | None,
    task_type: str,
    context: Mapping[str, str] | None,
) -> LookupPlan:
    """The entities to read for ``task_type`` and their features, or why none.

    ``skipped_reason`` is ``"task_disabled"``, ``"no_features_mapped"`` or
    ``"no_entities"`` when nothing is read. Raises like :func:`entity_ids`.
    """
    if task_type not in policy.enabled:
        return LookupPlan(task_type, skipped_reason="task_disabled")
    required = policy.required_features(task_type)
    if not required:
        return LookupPlan(task_type, skipped_reason="no_features_mapped")
    ids = entity_ids(user_id, organization_id, context)
    entities = {et: ids[et] for et in required if et in ids}
    if not entities:
        return LookupPlan(task_type, skipped_reason="no_entities")
    return LookupPlan(task_type, entities, {et: required[et] for et in entities})


def with_request_data(
    lookup: LookupPlan,
    spec: RequestDataSpec | None,
    query: str | None,
    inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
) -> LookupPlan:
    """``lookup`` with the request data ``spec`` resolves to for its entities.

    Raises:
        FeatureValidationError: a source is missing (see :meth:`RequestDataSpec.resolve`).
    """
    if lookup.skipped_reason is not None or not spec:
        return lookup
    sources = [inputs] if isinstance(inputs, Mapping) else list(inputs or [])
    data = spec.resolve(query=query, inputs=sources, entity_types=lookup.entities)
    return replace(lookup, request_data=data)


def read_request(lookup: LookupPlan) -> ReadRequest:
    """The read-flow request of ``lookup`` (gated by the monitor for its task type)."""
    return ReadRequest(
        lookup.entities,
        lookup.features,
        lookup.task_type,
        fix=_FIX_MAPPING,
        request_data=lookup.request_data,
    )


def entity_ids(
    user_id: str | None, organization_id: str | None, context: Mapping[str, str] | None
) -> dict[str, str]:
    """entity type -> id from ``context`` and the explicit user and organization ids.

    Empty ids are ignored.

    Raises:
        FeatureConfigError: an id is not a string, or ``context`` names a different id
            for ``user``/``organization`` than the arguments.
    """
    ids: dict[str, str] = {}
    for entity_type, entity_id in (context or {}).items():
        if entity_id is None or entity_id == "":
            continue
        if not isinstance(entity_id, str):
            raise FeatureConfigError(
                f"context[{entity_type!r}] must be an entity id string, got {entity_id!r}"
            )
        ids[entity_type] = entity_id
    explicit: tuple[tuple[str, str, object], ...] = (
        ("user", "user_id", user_id),
        ("organization", "organization_id", organization_id),
    )
    for entity_type, argument, given in explicit:
        if given is None or given == "":
            continue
        if not isinstance(given, str):
            raise FeatureConfigError(
                f"{entity_type}_id must be a string, got {type(given).__name__} {given!r}"
            )
        if ids.get(entity_type, given) != given:
            raise FeatureConfigError(
                f"context gives {entity_type} id {ids[entity_type]!r} but {argument} is "
                f"{given!r}: pass one of them"
            )
        ids[entity_type] = given
    return ids
