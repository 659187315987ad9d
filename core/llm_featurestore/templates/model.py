"""One version of a prompt template: its text, variables, target model family and hash.

A template is ``str.format`` text with named fields (``"Facts:\\n{feature_context}\\n
Question: {question}"``): the syntax both LangChain's ``ChatPromptTemplate`` (f-string
format) and LlamaIndex's ``PromptTemplate`` use, so one version renders the same in both.
Positional (``{}``, ``{0}``), attribute (``{user.name}``) and index (``{items[0]}``)
fields are refused: a template names every value it takes.

Feature values never become template variables one by one: a template reaches the
user's features through ``{feature_context}``, the enricher's block, which carries the
sanitising, framing and sensitivity guarantees (see :mod:`llm_featurestore.prompting`).
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llm_featurestore.errors import FeatureValidationError

__all__ = [
    "PromptTemplateVersion",
    "check_template_id",
    "content_hash",
    "template_variables",
]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_template_id(template_id: str) -> str:
    """``template_id`` if it is a valid id (letters, digits, ``_.:-``; at most 128).

    Raises:
        FeatureValidationError: naming the id and the rule.
    """
    if not isinstance(template_id, str) or not _ID.fullmatch(template_id):
        raise FeatureValidationError(
            f"template_id {template_id!r} is not valid: use 1-128 letters, digits, '_', '.', "
            "':' or '-', starting with a letter or digit (e.g. 'shopping_answer')"
        )
    return template_id


def template_variables(content: str) -> tuple[str, ...]:
    """The named fields of ``content``, in order of first use.

    Raises:
        FeatureValidationError: the text does not parse (an unmatched brace), or uses a
            positional, attribute or index field; the message quotes the field.
    """
    try:
        parsed = list(string.Formatter().parse(content))
    except ValueError as exc:
        raise FeatureValidationError(
            f"Template text does not parse: {exc}; write a literal brace as '{{{{' or '}}}}'"
        ) from None
    names: dict[str, None] = {}
    for _, field, _, _ in parsed:
        if field is None:
            continue
        if not _FIELD.fullmatch(field):
            raise FeatureValidationError(
                f"Template field {{{field}}} is not a plain name: use named fields such as "
                "{question} (no positional {}, attribute {a.b} or index {a[0]} fields)"
            )
        names[field] = None
    return tuple(names)


def content_hash(content: str) -> str:
    """SHA-256 of the template text (hex), which identifies a version's content."""
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


class PromptTemplateVersion(BaseModel):
    """One immutable version of a template, as stored in the feature store.

    Attributes:
        template_id: The template, e.g. ``"shopping_answer"``.
        version: 1, 2, ...; a published version never changes.
        content: The ``str.format`` text.
        variables: Its named fields, in order of first use.
        model_family: The model family it was written for, e.g. ``"gpt-4o"``.
        content_hash: SHA-256 of ``content``.
        created_at: When it was published (UTC).
    """

    model_config = ConfigDict(frozen=True)

    template_id: str
    version: int = Field(ge=1)
    content: str
    variables: tuple[str, ...]
    model_family: str
    content_hash: str
    created_at: datetime

    @property
    def key(self) -> str:
        """``"<template_id>@v<version>"``: the entity id this version is stored under."""
        return version_key(self.template_id, self.version)

    @property
    def metadata(self) -> dict[str, Any]:
        """What tracing should know of this version (no text): ``template_id``,
        ``template_version``, ``content_hash``, ``model_family``."""
        return {
            "template_id": self.template_id,
            "template_version": self.version,
            "content_hash": self.content_hash,
            "model_family": self.model_family,
        }

    def missing(self, values: Mapping[str, Any]) -> list[str]:
        """The variables ``values`` does not supply."""
        return [name for name in self.variables if name not in values]

    def render(self, values: Mapping[str, Any] | None = None, **more: Any) -> str:
        """The text with every variable filled in (extra values are ignored).

        ``values`` is typically an :class:`~llm_featurestore.EnrichmentResult`'s
        ``variables`` (``feature_context``) merged with the caller's own (``question``).

        Raises:
            FeatureValidationError: a variable has no value; names it and the ones given.
        """
        merged = {**(values or {}), **more}
        missing = self.missing(merged)
        if missing:
            raise FeatureValidationError(
                f"Template {self.key} needs {', '.join(missing)}; got values for "
                f"{', '.join(sorted(merged)) or '(none)'}"
            )
        return self.content.format_map({name: merged[name] for name in self.variables})


def version_key(template_id: str, version: int) -> str:
    """The entity id of one version: ``"<template_id>@v<version>"``."""
    return f"{template_id}@v{version}"


def declared_variables(content: str, variables: Sequence[str] | None) -> tuple[str, ...]:
    """The template's variables, checked against ``variables`` when the caller declares them.

    Raises:
        FeatureValidationError: the declared names differ from the text's fields; the
            message names the undeclared and the unused ones.
    """
    found = template_variables(content)
    if variables is None:
        return found
    declared = list(dict.fromkeys(variables))
    undeclared = [name for name in found if name not in declared]
    unused = [name for name in declared if name not in found]
    if undeclared or unused:
        parts = []
        if undeclared:
            parts.append(f"the text uses {', '.join(undeclared)}, which are not declared")
        if unused:
            parts.append(f"declared {', '.join(unused)}, which the text never uses")
        raise FeatureValidationError(
            f"Template variables do not match its text: {'; '.join(parts)} "
            f"(the text's fields: {', '.join(found) or '(none)'})"
        )
    return found
