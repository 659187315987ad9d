"""Exceptions raised by llm-featurestore.

The hierarchy::

    FeatureStoreError                      root: catch this to catch everything below
    ├── FeatureConfigError                 bad feature names, entity types or configuration;
    │                                      the message lists what is available
    ├── FeatureValidationError             a value that may not be stored (also a ValueError)
    ├── FeatureStoreUnavailableError       the store could not be reached or answered with an error
    │   └── FeatureTimeoutError            the store did not answer within the timeout
    └── MissingDependencyError             an optional extra is not installed (also an ImportError)
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "FeatureConfigError",
    "FeatureStoreError",
    "FeatureStoreUnavailableError",
    "FeatureTimeoutError",
    "FeatureValidationError",
    "MissingDependencyError",
    "unknown_name_message",
]


class FeatureStoreError(Exception):
    """Root of every error this library raises on purpose."""


class FeatureConfigError(FeatureStoreError):
    """A feature name, entity type or configuration value is wrong.

    The message names the offending value and lists the valid ones.
    """


class FeatureValidationError(FeatureStoreError, ValueError):
    """A feature value (or name) was rejected before it was stored."""


class FeatureStoreUnavailableError(FeatureStoreError):
    """The backing store could not be reached, or failed while answering."""


class FeatureTimeoutError(FeatureStoreUnavailableError):
    """The backing store did not answer within the configured timeout."""


class MissingDependencyError(FeatureStoreError, ImportError):
    """An optional dependency is missing; the message gives the pip command."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"The '{package}' package is required for this feature but is not installed. "
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
