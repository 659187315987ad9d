"""The base of every configuration model, and the one way a client takes its settings.

Every configuration class of the library (serving, enricher, monitor, catalog,
backends) derives from :class:`ConfigModel`: unknown keys are refused, instances are
frozen, and a bad value raises :class:`~llm_featurestore.errors.FeatureConfigError`
(never pydantic's ``ValidationError``), worded by :mod:`llm_featurestore.config_errors`:
each bad key with its dotted location and the value given, for an unknown key the valid
ones and the closest, for a wrong type the type expected. Durations are
:data:`PositiveSeconds`. Every client takes its settings through
:func:`client_settings`: the model, its fields, or its first settings by position.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llm_featurestore.config_errors import config_error
from llm_featurestore.errors import FeatureConfigError

__all__ = [
    "BackendConfig",
    "ConfigModel",
    "MaxAgeSeconds",
    "PositiveSeconds",
    "client_settings",
    "config_error",
    "settings_from",
    "validate_config",
]

_M = TypeVar("_M", bound=BaseModel)


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


PositiveSeconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A duration setting (seconds, or milliseconds for ``*_ms`` fields): positive and finite.
Where a duration may be absent, ``None`` (never, or no limit) is the way to say so."""

MaxAgeSeconds = PositiveSeconds | dict[str, PositiveSeconds] | None
"""A backend's ``max_age_seconds`` setting: one number, or entity type -> seconds; each
positive. ``None``: values never read as STALE by age."""


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
        raise _not_the_model(model, config)
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


_SHORTHAND = (str, os.PathLike, int, float, bool)
"""What a setting given by position may be; anything else is a misplaced object."""


def client_settings(
    model: type[_C],
    owner: str,
    args: Sequence[Any],
    fields: Mapping[str, Any],
    *,
    positional: Sequence[str],
) -> _C:
    """A client's settings from its constructor's arguments: the rule of every client.

    A client takes its settings model alone (``RedisFeatureStore(RedisFeatureStoreConfig(
    ...))``), or its fields by keyword, or, as a shorthand, its first settings by
    position in the order ``positional`` names them (``LocalFeatureStore("f.json")``,
    ``TectonClient(url, workspace, feature_service)``) followed by the others by keyword.

    Args:
        model: The client's settings model.
        owner: The client's class name, for messages.
        args: The positional arguments as given; a ``None`` stands for one not given.
        fields: The keyword settings.
        positional: The settings that may be given by position, in order.

    Raises:
        FeatureConfigError: more positional arguments than ``positional`` names, a
            setting given both by position and by keyword, the model together with
            other settings, a first argument that is neither the model nor a setting,
            or a setting that is unknown or out of bounds.
    """
    given = list(args)
    while given and given[-1] is None:
        given.pop()
    if given and isinstance(given[0], model):
        if len(given) > 1:
            raise FeatureConfigError(
                f"{owner}: a {model.__name__} holds every setting; pass it alone, "
                f"not with {len(given) - 1} more positional argument(s)"
            )
        return settings_from(model, given[0], fields)
    if given and not isinstance(given[0], _SHORTHAND):
        raise _not_the_model(model, given[0])
    if len(given) > len(positional):
        raise FeatureConfigError(
            f"{owner} takes at most {len(positional)} positional setting(s) "
            f"({', '.join(positional)}), got {len(given)}: pass the others by keyword"
        )
    named = {k: v for k, v in zip(positional, given, strict=False) if v is not None}
    twice = [k for k in named if k in fields]
    if twice:
        raise FeatureConfigError(
            f"{owner} got {', '.join(twice)} twice, by position and by keyword "
            f"({', '.join(f'{k}=' for k in twice)}): pass each setting once"
        )
    return settings_from(model, None, {**named, **fields})


def _not_the_model(model: type[BaseModel], value: Any) -> FeatureConfigError:
    return FeatureConfigError(
        f"Expected a {model.__name__}, got {type(value).__name__}: pass the settings "
        f"model or its fields ({', '.join(model.model_fields)})"
    )
