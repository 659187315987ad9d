"""Exceptions raised by llm-featurestore.

The hierarchy::

    FeatureStoreError                      root: catch this to catch everything below
    ├── FeatureConfigError                 bad feature names, entity types or configuration;
    │   │                                  the message lists what is available
    │   ├── InvalidEntityIdError           an id the store cannot take as this entity's key
    │   ├── UnknownEntityTypeError         an entity type this store does not serve
    │   └── EncodingUnavailableError       no tokenizer encoding can be loaded offline
    ├── FeatureValidationError             a value that may not be stored (also a ValueError)
    ├── FeatureStoreUnavailableError       the store could not be reached or answered with an error
    │   ├── FeatureTimeoutError            the store did not answer within the timeout
    │   └── FeatureAuthError               the store refused the credentials (401/403)
    └── MissingDependencyError             an optional extra is not installed (also an ImportError)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "EncodingUnavailableError",
    "FeatureAuthError",
    "FeatureConfigError",
    "FeatureStoreError",
    "FeatureStoreUnavailableError",
    "FeatureTimeoutError",
    "FeatureValidationError",
    "InvalidEntityIdError",
    "MissingDependencyError",
    "UnknownEntityTypeError",
    "unknown_entity_type",
    "unknown_name_message",
]


class FeatureStoreError(Exception):
    """Root of every error this library raises on purpose."""


class FeatureConfigError(FeatureStoreError):
    """A feature name, entity type or configuration value is wrong.

    The message names the offending value and lists the valid ones.
    """


class InvalidEntityIdError(FeatureConfigError):
    """Some entity ids cannot be keys of this entity type (``"guest-7f3a"`` for an Int64
    join key, for example).

    Attributes:
        entity_type: The entity type.
        entity_ids: The ids that were rejected (the others in the request are fine), or
            ``None`` when the store did not say which (callers then retry ids one by one).
    """

    def __init__(self, message: str, *, entity_type: str, entity_ids: Iterable[str] | None) -> None:
        super().__init__(message)
        self.entity_type = entity_type
        self.entity_ids = None if entity_ids is None else tuple(dict.fromkeys(entity_ids))


class UnknownEntityTypeError(FeatureConfigError):
    """The store serves no entity of this type; the message lists the ones it serves.

    Attributes:
        entity_type: The entity type asked for.
        available: The entity types the store serves (sorted; empty when it serves none
            yet), or ``None`` when the raiser did not say.
    """

    def __init__(
        self, message: str, *, entity_type: str, available: Iterable[str] | None = None
    ) -> None:
        super().__init__(message)
        self.entity_type = entity_type
        self.available = None if available is None else tuple(sorted(set(available)))


class EncodingUnavailableError(FeatureConfigError):
    """No tokenizer encoding could be loaded without network access.

    The message lists the places that were searched and the command that fixes it
    (see :func:`llm_featurestore.prompting.tokens.load_encoding`).
    """


def unknown_entity_type(
    entity_type: str, available: Iterable[str], *, scope: str | None = None
) -> UnknownEntityTypeError:
    """The standard :class:`UnknownEntityTypeError`, listing the entity types ``available``."""
    names = list(available)
    return UnknownEntityTypeError(
        unknown_name_message("entity type", entity_type, names, scope=scope),
        entity_type=entity_type,
        available=names,
    )


class FeatureValidationError(FeatureStoreError, ValueError):
    """A feature value (or name) was rejected before it was stored."""


class FeatureStoreUnavailableError(FeatureStoreError):
    """The backing store could not be reached, or failed while answering."""


class FeatureTimeoutError(FeatureStoreUnavailableError):
    """The backing store did not answer within the configured timeout."""


class FeatureAuthError(FeatureStoreUnavailableError):
    """The store refused the credentials (HTTP 401/403): a revoked or wrong key.

    An operational failure, like an outage: in fallback mode reads degrade to
    UNAVAILABLE; the message says which setting holds the key.
    """


class MissingDependencyError(FeatureStoreError, ImportError):
    """An optional dependency is missing; the message gives the pip command.

    Attributes:
        package: The distribution that is missing, e.g. ``"langchain-core"``.
        extra: The llm-featurestore extra that installs it, e.g. ``"langchain"``.
        needed_by: What needs it (e.g. ``"langchain_featurestore"``), or ``None`` for
            "this feature".
    """

    def __init__(self, package: str, extra: str, *, needed_by: str | None = None) -> None:
        self.package = package
        self.extra = extra
        self.needed_by = needed_by
        what = needed_by or "this feature"
        super().__init__(
            f"The '{package}' package is required for {what} but is not installed. "
            f"Install it with: pip install 'llm-featurestore[{extra}]'"
        )


def unknown_name_message(
    kind: str, name: str, available: Iterable[str], *, scope: str | None = None
) -> str:
    """Build the standard "unknown X" message that lists the valid choices.

    >>> unknown_name_message("feature", "budget", ["b", "a"], scope="entity 'user'")
    "Unknown feature 'budget'. Available for entity 'user': a, b"
    """
    names = sorted(set(available))
    where = f" for {scope}" if scope else ""
    listing = ", ".join(names) if names else "(none)"
    return f"Unknown {kind} '{name}'. Available{where}: {listing}"
