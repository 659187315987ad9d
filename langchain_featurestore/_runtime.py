"""Where agent code finds the entity ids: the runtime context, the state, the config.

``create_agent(..., context_schema=Ctx)`` runs are invoked with ``context=Ctx(user_id=
"u1")``; a context may be a dataclass, a pydantic model, a TypedDict or any object with
attributes. The ids are looked up under ``id_keys`` (``{entity_type: key}``) in, first
match wins: the runtime context, the agent state (a key your ``state_schema`` declares),
then ``config["configurable"]``, then the component's own defaults. Never in anything the
model writes (tool arguments or messages).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from langchain_core.runnables import RunnableConfig

from llm_featurestore.enricher import FeatureEnricher
from llm_featurestore.reading import entity_ids

__all__ = ["as_mapping", "id_keys_for", "runtime_ids"]


def as_mapping(obj: Any) -> Mapping[str, Any]:
    """A read-only view of a context object's fields (``{}`` for ``None``)."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    fields = getattr(type(obj), "model_fields", None)  # pydantic models
    if isinstance(fields, Mapping):
        return {name: getattr(obj, name) for name in fields}
    return dict(getattr(obj, "__dict__", {}))


def id_keys_for(
    enricher: FeatureEnricher, task_type: str, id_keys: Mapping[str, str] | None
) -> dict[str, str]:
    """``id_keys``, or by default ``"<entity_type>_id"`` for each entity type the task reads."""
    required = enricher.required_features(task_type)
    return dict(id_keys or {etype: f"{etype}_id" for etype in required})


def runtime_ids(
    keys: Mapping[str, str],
    *,
    context: Any = None,
    state: Mapping[str, Any] | None = None,
    config: RunnableConfig | None = None,
    defaults: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """``{entity_type: id}`` from the sources in the module docstring's order.

    Raises:
        FeatureConfigError: an id that is neither a string nor an integer.
    """
    configurable = (config or {}).get("configurable") or {}
    found = entity_ids([as_mapping(context), state or {}, configurable], keys)
    return {**{k: v for k, v in (defaults or {}).items() if v}, **found}
