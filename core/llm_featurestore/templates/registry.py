"""Prompt templates stored and versioned in a feature store, read through its clients.

::

    registry = TemplateRegistry(client)            # any writable client, or a ServingClient
    v1 = registry.publish("answer", "Facts:\\n{feature_context}\\nQ: {question}",
                          model_family="gpt-4o")
    v2 = registry.publish("answer", "{feature_context}\\nAnswer briefly: {question}",
                          model_family="gpt-4o")
    registry.set_split("answer", {1: 0.5, 2: 0.5})   # A/B by a stable hash of the user id
    template = registry.choose("answer", user_id="u1")
    prompt = template.render(result.variables, question="Any ideas?")

Layout (entity type ``prompt_template`` by default, so a Feast repo declares one entity
and two feature views, and any backend can hold it):

- ``"<template_id>@v<n>"`` holds one version: ``content``, ``variables`` (list of
  names), ``model_family``, ``version``, ``content_hash``, ``created_at`` (ISO 8601).
  Written once by :meth:`TemplateRegistry.publish`, never again.
- ``"<template_id>"`` holds the head: ``latest_version``, ``active_version`` and
  ``split`` (JSON ``{"<version>": weight}``, ``""`` for none).

Publishing reads the head, refuses to write a version that already exists (a live
version never changes in place), writes the new version, then the head. Feature stores
have no compare-and-set, so two processes publishing the same template at the same
instant can both read the same head; the second's existence check then refuses, unless
both also checked before either wrote. Publish from one place (a deploy job).

Reads of the head are not cached here (use a ServingClient's cache for that); versions
are immutable, so each registry keeps the versions it has read. A read that fails (the
store is down, or a ServingClient in fallback mode answers UNAVAILABLE) raises
:class:`~llm_featurestore.errors.FeatureStoreUnavailableError`: choosing a template has no
safe default, so the caller decides (keep the last template it had, for example).

Sync and async methods drive the same steps (:func:`_publish_steps` and friends: a
generator yielding the reads and writes), so they differ only in how they wait.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from llm_featurestore.clients.base import FeatureStoreClient
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureValidationError,
    UnknownEntityTypeError,
)
from llm_featurestore.models import FeatureStatus, FeatureVector
from llm_featurestore.templates.layout import (
    HEAD_FEATURES,
    TEMPLATE_ENTITY_TYPE,
    VERSION_FEATURES,
    TemplateHead,
    check_split,
    check_version,
    chosen_version,
    found,
    head_features,
    head_of,
    require_head,
    version_features,
    version_of,
)
from llm_featurestore.templates.model import (
    PromptTemplateVersion,
    check_template_id,
    content_hash,
    declared_variables,
    version_key,
)

__all__ = ["TemplateRegistry"]


@dataclass(frozen=True)
class _Read:
    entity_id: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class _Write:
    entity_id: str
    features: dict[str, Any]


_Op = _Read | _Write
_Steps = Generator[_Op, Any, Any]


class TemplateRegistry:
    """Publish, activate, split and choose prompt templates kept in a feature store.

    Args:
        client: Reads go through its ``get_features``; writes need ``write_features``
            (a writable backend, or a :class:`~llm_featurestore.serving.ServingClient`
            over one, whose cache then forgets what was written).
        entity_type: The entity type the templates are stored under.
    """

    def __init__(
        self, client: FeatureStoreClient, *, entity_type: str = TEMPLATE_ENTITY_TYPE
    ) -> None:
        self.client = client
        self.entity_type = entity_type
        self._versions: dict[tuple[str, int], PromptTemplateVersion] = {}

    # -- steps (shared by the sync and async methods) ------------------------------------

    def _head_steps(self, template_id: str) -> _Steps:
        vector = yield _Read(check_template_id(template_id), HEAD_FEATURES)
        return head_of(template_id, vector)

    def _version_steps(self, template_id: str, version: int) -> _Steps:
        cached = self._versions.get((template_id, version))
        if cached is not None:
            return cached
        vector = yield _Read(version_key(template_id, version), VERSION_FEATURES)
        found = version_of(template_id, version, vector)
        self._versions[(template_id, version)] = found
        return found

    def _publish_steps(
        self, template_id: str, content: str, model_family: str, variables: Sequence[str] | None
    ) -> _Steps:
        names = declared_variables(content, variables)
        if not isinstance(model_family, str) or not model_family:
            raise FeatureValidationError("model_family must be a non-empty string, e.g. 'gpt-4o'")
        head = yield from self._head_steps(template_id)
        number = (head.latest_version if head else 0) + 1
        key = version_key(template_id, number)
        existing = yield _Read(key, ("content",))
        if found(existing, key):
            raise FeatureValidationError(
                f"Version {number} of template {template_id!r} already exists but the head "
                f"says the latest is {number - 1}: another publish is in progress or the head "
                "was edited by hand; a published version is never overwritten"
            )
        published = PromptTemplateVersion(
            template_id=template_id,
            version=number,
            content=content,
            variables=names,
            model_family=model_family,
            content_hash=content_hash(content),
            created_at=datetime.now(timezone.utc),
        )
        yield _Write(key, version_features(published))
        active = head.active_version if head and head.active_version else number
        split = head.split if head else {}
        yield _Write(template_id, head_features(TemplateHead(template_id, number, active, split)))
        self._versions[(template_id, number)] = published
        return published

    def _activate_steps(self, template_id: str, version: int) -> _Steps:
        head = require_head(template_id, (yield from self._head_steps(template_id)))
        check_version(head, version)
        new = TemplateHead(template_id, head.latest_version, version, head.split)
        yield _Write(template_id, head_features(new))
        return new

    def _split_steps(self, template_id: str, weights: Mapping[int, float]) -> _Steps:
        head = require_head(template_id, (yield from self._head_steps(template_id)))
        new = TemplateHead(
            template_id, head.latest_version, head.active_version, check_split(head, weights)
        )
        yield _Write(template_id, head_features(new))
        return new

    def _choose_steps(self, template_id: str, user_id: str | None) -> _Steps:
        head = require_head(template_id, (yield from self._head_steps(template_id)))
        return (yield from self._version_steps(template_id, chosen_version(head, user_id)))

    # -- drivers -------------------------------------------------------------------------

    def _run(self, steps: _Steps) -> Any:
        answer: Any = None
        try:
            while True:
                op = steps.send(answer)
                if isinstance(op, _Read):
                    try:
                        answer = self.client.get_features(op.entity_id, self.entity_type, op.names)
                    except UnknownEntityTypeError:
                        answer = self._none_yet(op)
                else:
                    answer = self._writer().write_features(
                        op.entity_id, self.entity_type, op.features
                    )
        except StopIteration as done:
            return done.value

    async def _arun(self, steps: _Steps) -> Any:
        answer: Any = None
        try:
            while True:
                op = steps.send(answer)
                if isinstance(op, _Read):
                    try:
                        answer = await self.client.aget_features(
                            op.entity_id, self.entity_type, op.names
                        )
                    except UnknownEntityTypeError:
                        answer = self._none_yet(op)
                else:
                    answer = await self._writer().awrite_features(
                        op.entity_id, self.entity_type, op.features
                    )
        except StopIteration as done:
            return done.value

    def _none_yet(self, op: _Read) -> FeatureVector:
        """A schemaless store (local, redis) knows an entity type once it holds a row:
        before the first publish, templates are simply absent."""
        status = FeatureStatus.UNKNOWN_ENTITY_TYPE
        source = str(getattr(self.client, "source", "store"))
        return FeatureVector.unavailable(
            op.entity_id, self.entity_type, op.names, status=status, source=source
        )

    def _writer(self) -> Any:
        if not callable(getattr(self.client, "write_features", None)):
            raise FeatureConfigError(
                f"{type(self.client).__name__} cannot write, so templates cannot be published "
                "through it; pass a writable client (local, redis, feast, feast_http) or a "
                "ServingClient over one"
            )
        return self.client

    # -- public API ----------------------------------------------------------------------

    def publish(
        self,
        template_id: str,
        content: str,
        *,
        model_family: str,
        variables: Sequence[str] | None = None,
    ) -> PromptTemplateVersion:
        """Store ``content`` as the template's next version (the first one becomes active).

        Args:
            template_id: The template; letters, digits, ``_.:-``.
            content: ``str.format`` text with named fields.
            model_family: The model family it targets.
            variables: The fields the caller expects; checked against the text.

        Raises:
            FeatureValidationError: bad id, text or variables; or the version exists.
            FeatureStoreUnavailableError: the store could not be read.
        """
        return self._run(self._publish_steps(template_id, content, model_family, variables))  # type: ignore[no-any-return]

    async def apublish(
        self,
        template_id: str,
        content: str,
        *,
        model_family: str,
        variables: Sequence[str] | None = None,
    ) -> PromptTemplateVersion:
        """Async twin of :meth:`publish`."""
        return await self._arun(self._publish_steps(template_id, content, model_family, variables))  # type: ignore[no-any-return]

    def head(self, template_id: str) -> TemplateHead:
        """The template's latest and active versions and split.

        Raises:
            FeatureConfigError: no such template.
        """
        return require_head(template_id, self._run(self._head_steps(template_id)))

    async def ahead(self, template_id: str) -> TemplateHead:
        """Async twin of :meth:`head`."""
        return require_head(template_id, await self._arun(self._head_steps(template_id)))

    def get(self, template_id: str, version: int) -> PromptTemplateVersion:
        """One version. Raises FeatureConfigError when it does not exist."""
        return self._run(self._version_steps(check_template_id(template_id), version))  # type: ignore[no-any-return]

    async def aget(self, template_id: str, version: int) -> PromptTemplateVersion:
        """Async twin of :meth:`get`."""
        return await self._arun(self._version_steps(check_template_id(template_id), version))  # type: ignore[no-any-return]

    def activate(self, template_id: str, version: int) -> TemplateHead:
        """Make ``version`` the one :meth:`choose` returns (when no split applies)."""
        return self._run(self._activate_steps(template_id, version))  # type: ignore[no-any-return]

    async def aactivate(self, template_id: str, version: int) -> TemplateHead:
        """Async twin of :meth:`activate`."""
        return await self._arun(self._activate_steps(template_id, version))  # type: ignore[no-any-return]

    def set_split(self, template_id: str, weights: Mapping[int, float]) -> TemplateHead:
        """Split users between versions (``{1: 0.9, 2: 0.1}``, normalised); ``{}`` ends it.

        A user's version depends only on the template id, the user id and the weights
        (:func:`split_bucket`), so it is the same in every process.
        """
        return self._run(self._split_steps(template_id, weights))  # type: ignore[no-any-return]

    async def aset_split(self, template_id: str, weights: Mapping[int, float]) -> TemplateHead:
        """Async twin of :meth:`set_split`."""
        return await self._arun(self._split_steps(template_id, weights))  # type: ignore[no-any-return]

    def choose(self, template_id: str, user_id: str | None = None) -> PromptTemplateVersion:
        """The version to use for ``user_id``: by the split when there is one and a user,
        else the active version."""
        return self._run(self._choose_steps(template_id, user_id))  # type: ignore[no-any-return]

    async def achoose(self, template_id: str, user_id: str | None = None) -> PromptTemplateVersion:
        """Async twin of :meth:`choose`."""
        return await self._arun(self._choose_steps(template_id, user_id))  # type: ignore[no-any-return]
