"""Which feature names a Redis namespace holds: a per-process copy of its registry sets.

Every write adds its names to ``{ns}:{entity_type}:__features__`` and its type to
``{ns}:__entity_types__`` (see :mod:`.codec`). Reads check requested names against a
copy of the first set, re-read only when a requested name is not in it, so names
another process wrote are found. The check is one generator (:meth:`NameRegistry.check`)
that yields the keys of the sets it needs; the store drives it sync or async.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Sequence

from llm_featurestore.clients.base import check_feature_names
from llm_featurestore.clients.redis.codec import features_key, types_key
from llm_featurestore.errors import unknown_entity_type

__all__ = ["NameRegistry", "NamesFlow"]

NamesFlow = Generator[str, "set[bytes]", frozenset[str]]
"""Yields the key of each set to read with ``SMEMBERS``, receives its members, and
returns the names known for the entity type."""

_NONE: frozenset[str] = frozenset()


class NameRegistry:
    """The feature names known per entity type of one namespace."""

    __slots__ = ("_known", "namespace")

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._known: dict[str, frozenset[str]] = {}

    def knows(self, entity_type: str, feature_names: Sequence[str]) -> bool:
        """True when every name is in the copy (no I/O needed: the hot path)."""
        known = self._known.get(entity_type, _NONE)
        return all(n in known for n in feature_names)

    def check(
        self, entity_type: str, feature_names: Sequence[str], *, refresh: bool = False
    ) -> NamesFlow:
        """Check that every name is known, re-reading the registry when needed.

        Args:
            entity_type: The type the names belong to.
            feature_names: The names to check (none, to only list them).
            refresh: Re-read the registry even when the copy knows every name.

        Raises:
            UnknownEntityTypeError: nothing was ever written for ``entity_type``; the
                message lists the namespace's types.
            FeatureConfigError: a name is unknown; the message lists the known ones.
        """
        if not refresh and self.knows(entity_type, feature_names):
            return self._known.get(entity_type, _NONE)
        members = yield features_key(self.namespace, entity_type)
        known = frozenset(m.decode("utf-8") for m in members)
        if not known:
            types = yield types_key(self.namespace)
            raise unknown_entity_type(
                entity_type,
                (t.decode("utf-8", "replace") for t in types),
                scope=f"Redis namespace '{self.namespace}'",
            )
        self._known[entity_type] = known
        check_feature_names(feature_names, known, entity_type)
        return known

    def learn(self, entity_type: str, names: Iterable[str]) -> None:
        """Add names this process just wrote (only to a type already copied)."""
        known = self._known.get(entity_type)
        if known is not None:
            self._known[entity_type] = known | frozenset(names)
