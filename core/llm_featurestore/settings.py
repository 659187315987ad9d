"""The base of every configuration model, and the one way its errors are worded.

Every configuration class of the library (serving, enricher, monitor, catalog,
backends) derives from :class:`ConfigModel`: unknown keys are refused, instances are
frozen, and a bad value raises :class:`~llm_featurestore.errors.FeatureConfigError`
(never pydantic's ``ValidationError``) whose message names each bad key with its
dotted location, the value given, and for an unknown key the valid ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from llm_featurestore.errors import FeatureConfigError

__all__ = [
    "BackendConfig",
    "ConfigModel",
    "MaxAgeSeconds",
    "config_error",
    "settings_from",
    "validate_config",
]

_M = TypeVar("_M", bound=BaseModel)
_MAX_INPUT_CHARS = 80


class ConfigModel(BaseModel):
    """A frozen configuration model that refuses unknown keys.

    Constructing one with bad values raises :class:`FeatureConfigError`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_name: ClassVar[str] = ""
    """How messages name this model (its YAML section); the class name by default."""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise config_error(exc, type(self)) from None

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        # Nested in another model (or through model_validate), a ConfigModel validates
        # without this __init__, so the enclosing model reports errors with their full
        # location; only a direct call words its own FeatureConfigError.
        super().__pydantic_init_subclass__(**kwargs)
        cls.__pydantic_custom_init__ = False
        cls.model_rebuild(force=True, raise_errors=False)


MaxAgeSeconds = float | dict[str, float] | None
"""A backend's ``max_age_seconds`` setting: one number, or entity type -> seconds."""


class BackendConfig(ConfigModel):
    """The settings of one backend (Feast's ``<Class>Config`` convention).

    Subclasses narrow ``type`` to their provider name, the ``provider:`` of a YAML
    configuration (``type: Literal["redis"] = "redis"``), and hold every other
    setting with its default and bounds, written only there.
    """

    type: str


_C = TypeVar("_C", bound=ConfigModel)


def settings_from(model: type[_C], config: _C | None, fields: Mapping[str, Any]) -> _C:
    """A constructor's settings: ``config`` as given, or ``model`` built from ``fields``.

    Raises:
        FeatureConfigError: both were given, ``config`` is not a ``model``, or a field
            is unknown or out of bounds (the message names it and the valid keys).
    """
    if config is None:
        return model(**fields)
    if not isinstance(config, model):
        raise FeatureConfigError(
            f"Expected a {model.__name__}, got {type(config).__name__}: pass the settings "
            f"model or its fields ({', '.join(model.model_fields)})"
        )
    if fields:
        raise FeatureConfigError(
            f"Pass a {model.__name__} or its fields, not both (got {', '.join(sorted(fields))})"
        )
    return config


def validate_config(
    model: type[_M],
    data: Any,
    *,
    origin: str | os.PathLike[str] | None = None,
    prefix: Sequence[str] = (),
) -> _M:
    """``model.model_validate(data)``, raising :class:`FeatureConfigError` on bad input.

    Args:
        model: The configuration class.
        data: A mapping of its fields.
        origin: Where ``data`` came from (a file path), for the message.
        prefix: The location of ``data`` in its document, e.g. ``("feature_store",)``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, model, origin=origin, prefix=prefix) from None


def config_error(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    origin: str | os.PathLike[str] | None = None,
    prefix: Sequence[str] = (),
) -> FeatureConfigError:
    """One :class:`FeatureConfigError` listing every problem of ``exc``, one per line."""
    name = getattr(model, "config_name", "") or model.__name__
    where = f" ({os.fspath(origin)})" if origin is not None else ""
    lines = [f"Invalid {name}{where}:"]
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        dotted = ".".join([*prefix, *loc]) or name
        lines.append(f"  {dotted}: {_describe(err, model, loc)}")
    return FeatureConfigError("\n".join(lines))


def _describe(err: Mapping[str, Any], model: type[BaseModel], loc: list[str]) -> str:
    if err["type"] == "extra_forbidden":
        valid = _fields_at(model, loc[:-1])
        listing = f"; valid keys: {', '.join(sorted(valid))}" if valid else ""
        return f"unknown key{listing}"
    msg = str(err["msg"])
    if err["type"] != "missing" and "input" in err and not isinstance(err["input"], Mapping):
        shown = repr(err["input"])
        if len(shown) > _MAX_INPUT_CHARS:
            shown = shown[: _MAX_INPUT_CHARS - 3] + "..."
        msg = f"{msg} (got {shown})"
    return msg


def _fields_at(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` (best effort)."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
        if current is None:
            return []
    return list(current.model_fields) if _is_model(current) else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if _is_model(annotation):
        return annotation  # type: ignore[no-any-return]
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)
