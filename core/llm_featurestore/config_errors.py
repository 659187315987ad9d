"""How configuration errors are worded: one formatter for every settings class.

:func:`config_error` turns pydantic's ``ValidationError`` into one
:class:`~llm_featurestore.errors.FeatureConfigError` with one line per problem, each
starting with the key's dotted location::

    Invalid feature store configuration (config.yaml):
      feature_store.timout_ms: unknown key; valid keys: cache, ...; did you mean 'timeout_ms'?
      feature_store.cache.ttl_seconds: expected a number (got 'soon')
      feature_store.local.max_age_seconds: Input should be greater than 0 (got -1)

* an unknown key lists the valid keys of its section and, when one is close, the one
  probably meant (:func:`closest_name`);
* a value of the wrong type says the type expected, read from the field's annotation
  (:func:`describe_type`): ``expected a number, a mapping of string to number, or null``
  for a setting that takes one of several types, on one line;
* any other problem (a bound, a pattern, a model's own check) keeps pydantic's wording;
* the value given follows in ``(got ...)``, cut at 80 characters (mappings are not shown).

:func:`problem_error` words a problem found outside pydantic (a configuration source of
the wrong type, for example) in the same shape.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr, ValidationError

from llm_featurestore.errors import FeatureConfigError

__all__ = ["closest_name", "config_error", "describe_type", "problem_error", "shown_value"]

_MAX_INPUT_CHARS = 80
_PARSING_ERRORS = frozenset(
    {"float_parsing", "int_parsing", "int_from_float", "bool_parsing", "none_required"}
)
_KIND_TYPES = {
    "float": "a number",
    "int": "an integer",
    "int_from": "an integer",
    "bool": "true or false",
    "string": "a string",
    "dict": "a mapping",
    "model": "a mapping",
    "model_attributes": "a mapping",
    "list": "a list",
    "tuple": "a list",
    "set": "a list",
    "path": "a path",
    "none": "null",
}
"""The type an error kind expects, when the annotation cannot be found (``float_type``)."""
_NAMED_TYPES: dict[Any, tuple[str, str]] = {
    bool: ("true or false", "booleans"),
    int: ("an integer", "integers"),
    float: ("a number", "numbers"),
    str: ("a string", "strings"),
    SecretStr: ("a string", "strings"),
    Path: ("a path", "paths"),
    datetime: ("a date and time", "dates and times"),
    date: ("a date", "dates"),
    Any: ("any value", "values"),
}
_MAPPINGS = (dict, Mapping)
_SEQUENCES = (list, tuple, set, frozenset, Sequence)


def closest_name(name: str, valid: Iterable[str]) -> str | None:
    """The name of ``valid`` that ``name`` was probably meant to be, or ``None``.

    The same name in another case or with ``-`` for ``_`` first; then the closest
    spelling (:func:`difflib.get_close_matches`, ratio at least 0.6); then a valid name
    that ``name`` begins (``ttl`` for ``ttl_seconds``), the shortest of them.

    >>> closest_name("timout_ms", ["timeout_ms", "cache"])
    'timeout_ms'
    """
    choices = {_normal(c): c for c in sorted(set(valid), key=lambda c: (len(c), c))}
    wanted = _normal(name)
    if not wanted or not choices:
        return None
    if wanted in choices:
        return choices[wanted]
    close = difflib.get_close_matches(wanted, list(choices), n=1, cutoff=0.6)
    if close:
        return choices[close[0]]
    if len(wanted) >= 3:
        for normal, choice in choices.items():
            if normal.startswith(wanted):
                return choice
    return None


def _normal(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def describe_type(annotation: Any) -> str:
    """The type ``annotation`` admits, in words: ``a number or null``,
    ``a mapping of string to number``, ``one of 'drop', 'mask'``, ``a list of strings``."""
    return _describe(annotation, plural=False)


def _describe(annotation: Any, *, plural: bool) -> str:
    ann = _strip(annotation)
    if ann is NoneType:
        return "nulls" if plural else "null"
    if _is_union(ann):
        words = list(dict.fromkeys(_describe(a, plural=plural) for a in get_args(ann)))
        return _either(words)
    if get_origin(ann) is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(ann))
    if isinstance(ann, type) and issubclass(ann, Enum):
        return "one of " + ", ".join(repr(m.value) for m in ann)
    if ann in _NAMED_TYPES:
        return _NAMED_TYPES[ann][1 if plural else 0]
    origin, args = get_origin(ann), get_args(ann)
    if _is_model(ann) or origin in _MAPPINGS or ann in _MAPPINGS:
        noun = "mappings" if plural else "a mapping"
        if len(args) == 2 and _strip(args[1]) is not Any:
            return f"{noun} of {_bare(args[0])} to {_bare(args[1])}"
        return noun
    if origin in _SEQUENCES or ann in _SEQUENCES:
        if args and len(args) <= 2 and not _is_union(_strip(args[0])):
            return f"{'lists' if plural else 'a list'} of {_describe(args[0], plural=True)}"
        return "lists" if plural else "a list"
    name = getattr(ann, "__name__", str(ann))
    return name if plural else f"a {name}"


def _bare(annotation: Any) -> str:
    """The description without its article, for use inside another (``string``)."""
    words = _describe(annotation, plural=False)
    for article in ("a ", "an "):
        if words.startswith(article):
            return words[len(article) :]
    return words


def _either(words: list[str]) -> str:
    if len(words) <= 2:
        return " or ".join(words)
    return f"{', '.join(words[:-1])}, or {words[-1]}"


def _strip(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` metadata."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, UnionType)


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


def shown_value(value: Any) -> str:
    """``value`` as messages show it after ``got``: its repr, cut at 80 characters."""
    shown = repr(value)
    if len(shown) > _MAX_INPUT_CHARS:
        shown = shown[: _MAX_INPUT_CHARS - 3] + "..."
    return shown


def problem_error(
    name: str,
    problems: Sequence[tuple[str, str]],
    *,
    origin: str | os.PathLike[str] | None = None,
) -> FeatureConfigError:
    """The :class:`FeatureConfigError` of ``problems``: ``(dotted location, text)`` pairs
    under ``Invalid <name> (<origin>):``, one per line."""
    where = f" ({os.fspath(origin)})" if origin is not None else ""
    lines = [f"Invalid {name}{where}:", *(f"  {loc}: {text}" for loc, text in problems)]
    return FeatureConfigError("\n".join(lines))


def config_error(
    exc: ValidationError,
    model: type[BaseModel],
    *,
    origin: str | os.PathLike[str] | None = None,
    prefix: Sequence[str] = (),
) -> FeatureConfigError:
    """One :class:`FeatureConfigError` listing every problem of ``exc`` (see the module).

    Args:
        exc: What validating ``model`` raised.
        model: The configuration class validated.
        origin: Where the data came from (a file path), for the first line.
        prefix: The location of the data in its document, e.g. ``("feature_store",)``.
    """
    name = getattr(model, "config_name", "") or model.__name__
    problems = [
        (".".join([*prefix, *loc]) or name, text) for loc, text in _problems(exc.errors(), model)
    ]
    return problem_error(name, list(dict.fromkeys(problems)), origin=origin)


# --------------------------------------------------------------------------- locating errors


@dataclass
class _Place:
    """Where an error's location leads inside the model."""

    shown: list[str]
    """The location to print: field names and mapping keys, without union member tags."""
    annotation: Any
    """The annotation found there; ``None`` when the location leaves the known fields."""
    union: tuple[str, ...] | None = None
    """The printed location of the first union crossed on the way, if any."""
    deep: bool = False
    """The error lies inside one union member (its value had that member's outer type)."""


def _locate(model: type[BaseModel], loc: Sequence[str]) -> _Place:
    place = _Place([], model)
    for index, part in enumerate(loc):
        ann = _strip(place.annotation)
        if place.union is None and _is_union(ann) and len(_members(ann)) > 1:
            place.union, place.deep = tuple(place.shown), index < len(loc) - 1
            place.annotation = _member(_members(ann), part)
            continue
        ann = _members(ann)[0] if _is_union(ann) and len(_members(ann)) == 1 else ann
        if _is_model(ann) and part in ann.model_fields:
            place.annotation = ann.model_fields[part].annotation
        elif get_origin(ann) in _MAPPINGS and len(get_args(ann)) == 2:
            place.annotation = get_args(ann)[1]
        elif get_origin(ann) in _SEQUENCES and get_args(ann):
            place.annotation = get_args(ann)[0]
        else:
            place.shown.extend(loc[index:])
            place.annotation = None
            return place
        place.shown.append(part)
    return place


def _members(union: Any) -> list[Any]:
    """The members of ``union`` other than ``None``."""
    return [a for a in get_args(union) if a is not NoneType]


def _member(members: list[Any], tag: str) -> Any:
    """The member pydantic's ``tag`` names (``'constrained-float'``, ``'dict[str,float]'``,
    a model's class name), or ``None`` when none or several fit."""
    base = tag.replace("constrained-", "").split("[", 1)[0].lower()
    found = [m for m in members if _tag_base(m) == base]
    return found[0] if len(found) == 1 else None


def _tag_base(member: Any) -> str:
    ann = _strip(member)
    target = get_origin(ann) or ann
    return str(getattr(target, "__name__", None) or getattr(target, "_name", "")).lower()


# --------------------------------------------------------------------------- wording errors


def _problems(errors: list[Any], model: type[BaseModel]) -> list[tuple[list[str], str]]:
    """``(location, text)`` per problem, in pydantic's order; the errors of the members
    of one union become the problems of :func:`_union_problems`."""
    slots: list[Callable[[], list[tuple[list[str], str]]]] = []
    unions: dict[tuple[str, ...], list[tuple[Mapping[str, Any], _Place]]] = {}
    for err in errors:
        loc = [str(p) for p in err["loc"]]
        place = _locate(model, loc)
        if place.union is None:
            problem = (place.shown, _text(err, place, model, loc))
            slots.append(lambda problem=problem: [problem])  # type: ignore[misc]
            continue
        if place.union not in unions:
            unions[place.union] = []
            at = place.union
            slots.append(lambda at=at: _union_problems(at, unions[at], model))  # type: ignore[misc]
        unions[place.union].append((err, place))
    return [problem for slot in slots for problem in slot()]


def _union_problems(
    at: tuple[str, ...],
    branches: list[tuple[Mapping[str, Any], _Place]],
    model: type[BaseModel],
) -> list[tuple[list[str], str]]:
    """The problems of a value no member of a union took: those of the member whose
    type it had (a bound, a bad item), or else one line naming every type admitted."""
    deep = [(e, p) for e, p in branches if p.deep] or [
        (e, p) for e, p in branches if not _is_type_error(e)
    ]
    if deep:
        return [(p.shown, _text(e, p, model, [str(x) for x in e["loc"]])) for e, p in deep]
    first = branches[0][0]
    union = _locate(model, list(at)).annotation
    return [(list(at), f"expected {describe_type(union)}{_got(first)}")]


def _text(err: Mapping[str, Any], place: _Place, model: type[BaseModel], loc: list[str]) -> str:
    if err["type"] == "extra_forbidden":
        return _unknown_key(loc[-1], _fields_at(model, loc[:-1]))
    if _is_type_error(err):
        if place.annotation is not None:
            return f"expected {describe_type(place.annotation)}{_got(err)}"
        kind = str(err["type"]).rsplit("_", 1)[0]
        if kind in _KIND_TYPES:
            return f"expected {_KIND_TYPES[kind]}{_got(err)}"
    return f"{err['msg']}{_got(err)}"


def _unknown_key(key: str, valid: list[str]) -> str:
    if not valid:
        return "unknown key"
    text = f"unknown key; valid keys: {', '.join(sorted(valid))}"
    meant = closest_name(key, valid)
    return f"{text}; did you mean '{meant}'?" if meant else text


def _is_type_error(err: Mapping[str, Any]) -> bool:
    kind = str(err["type"])
    return kind.endswith("_type") or kind in _PARSING_ERRORS


def _got(err: Mapping[str, Any]) -> str:
    if err["type"] == "missing" or "input" not in err:
        return ""
    value = err["input"]
    if isinstance(value, Mapping):
        return " (got a mapping)" if _is_type_error(err) else ""
    return f" (got {shown_value(value)})"


def _fields_at(model: type[BaseModel], loc: Sequence[str]) -> list[str]:
    """The field names of the model found at ``loc`` inside ``model`` (best effort)."""
    ann = _strip(_locate(model, loc).annotation)
    if _is_union(ann):
        models = [m for m in _members(ann) if _is_model(_strip(m))]
        ann = _strip(models[0]) if len(models) == 1 else None
    return list(ann.model_fields) if _is_model(ann) else []
