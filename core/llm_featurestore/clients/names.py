"""One rule for feature names: full references, bare names and their messages.

Stores that group features in views (Feast ``view:feature``, Tecton ``view.feature``)
accept a full reference, or a feature's bare name when exactly one view has it. A
bare name in several views is ambiguous. :class:`NameIndex` resolves names of one
scope (an entity type, or a feature service) and words the unknown and ambiguous
errors the same way for every backend and the catalog.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llm_featurestore.errors import FeatureConfigError, unknown_name_message

__all__ = ["NameIndex", "ambiguous_message", "service_keys"]


def ambiguous_message(name: str, candidates: Iterable[str], *, scope: str) -> str:
    """The error text for a bare name that several views define.

    >>> ambiguous_message("t", ["v:t", "w:t"], scope="entity 'u'")
    "Ambiguous feature 't' for entity 'u': it is in 2 feature views. Use one of: v:t, w:t"
    """
    refs = sorted(set(candidates))
    return (
        f"Ambiguous feature '{name}' for {scope}: it is in {len(refs)} feature views. "
        f"Use one of: {', '.join(refs)}"
    )


def service_keys(pairs: Sequence[tuple[str, str]]) -> list[str]:
    """Result keys for a feature service's ``(view, feature)`` pairs.

    A feature's bare name when no other pair shares it, else ``"view:feature"``.

    >>> service_keys([("a", "x"), ("a", "y"), ("b", "y")])
    ['x', 'a:y', 'b:y']
    """
    counts: dict[str, int] = {}
    for _, name in pairs:
        counts[name] = counts.get(name, 0) + 1
    return [name if counts[name] == 1 else f"{view}:{name}" for view, name in pairs]


class NameIndex:
    """The full references of one scope, and the bare names that resolve to them.

    Args:
        refs: Full references, ``view<sep>feature``.
        scope: How messages name the scope, e.g. ``"entity 'user'"``.
        sep: The separator between view and feature.
        hint: Appended to the unknown-name message (e.g. where else names come from).
    """

    __slots__ = ("bare", "hint", "refs", "scope", "sep")

    def __init__(self, refs: Iterable[str], *, scope: str, sep: str = ":", hint: str = "") -> None:
        self.refs: tuple[str, ...] = tuple(dict.fromkeys(refs))
        self.scope = scope
        self.sep = sep
        self.hint = hint
        self.bare: dict[str, list[str]] = {}
        for ref in self.refs:
            self.bare.setdefault(ref.rpartition(sep)[2], []).append(ref)

    def available(self) -> list[str]:
        """Sorted refs plus the bare names that resolve to exactly one ref."""
        unique = (name for name, refs in self.bare.items() if len(refs) == 1)
        return sorted({*self.refs, *unique})

    def knows(self, name: str) -> bool:
        """True when ``name`` is a ref or the bare name of at least one feature."""
        return name in self.refs or name in self.bare

    def resolve(self, name: str) -> str:
        """The full reference for ``name``.

        Raises:
            FeatureConfigError: unknown (the message lists the available names), or
                a bare name several views define (the message lists their refs).
        """
        if name in self.refs:
            return name
        candidates = self.bare.get(name)
        if candidates is not None and len(candidates) == 1:
            return candidates[0]
        if candidates:
            raise FeatureConfigError(ambiguous_message(name, candidates, scope=self.scope))
        raise FeatureConfigError(self.unknown(name))

    def unknown(self, name: str) -> str:
        """The error text for a name this scope does not have."""
        return unknown_name_message("feature", name, self.available(), scope=self.scope) + self.hint
