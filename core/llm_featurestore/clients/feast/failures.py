"""How a failed Feast write or push is reported: a usage error, or an outage.

Values are checked before anything is sent, but Feast checks more (array item types,
the columns of an offline batch source, pyarrow conversions). What it raises then is
classified once, here:

* one of this library's errors passes through;
* a timeout is :class:`FeatureTimeoutError`;
* a registry object that is gone (``feast apply`` removed it) is :class:`FeatureConfigError`;
* a schema, type or column mismatch (``KeyError``, ``ValueError``, ``TypeError``,
  ``AssertionError``, pyarrow's ``ArrowInvalid``/``ArrowTypeError``/``ArrowNotImplementedError``)
  is :class:`FeatureValidationError`, naming the view or source and what to pass;
* anything else (a connection or I/O failure) is :class:`FeatureStoreUnavailableError`.
"""

from __future__ import annotations

from llm_featurestore._deps import require
from llm_featurestore.errors import (
    FeatureConfigError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
    FeatureValidationError,
)

__all__ = ["feast_write_error", "is_timeout", "is_usage_error"]

_pa = require("pyarrow", extra="feast")
_feast_errors = require("feast.errors", extra="feast")

_USAGE: tuple[type[BaseException], ...] = (
    KeyError,
    ValueError,
    TypeError,
    AssertionError,
    IndexError,
    _pa.ArrowException,
)
_OUTAGE: tuple[type[BaseException], ...] = (OSError, MemoryError)
"""Checked first: pyarrow's ``ArrowIOError`` is an ``OSError`` and an ``ArrowException``."""


def is_timeout(exc: BaseException) -> bool:
    """True for the builtin ``TimeoutError`` and drivers' own (redis' ``TimeoutError``)."""
    return isinstance(exc, TimeoutError) or type(exc).__name__ == "TimeoutError"


def is_usage_error(exc: BaseException) -> bool:
    """True when Feast refused the data itself (see the module rules), not the store."""
    return not isinstance(exc, _OUTAGE) and isinstance(exc, _USAGE)


def feast_write_error(exc: Exception, *, what: str, fix: str) -> FeatureStoreError:
    """The error to raise for ``exc``, raised by Feast during ``what``.

    Args:
        exc: What Feast raised.
        what: The operation, e.g. ``"Feast write to feature view 'user_profile'"``.
        fix: What to pass instead, appended to a usage error's message.
    """
    if isinstance(exc, FeatureStoreError):
        return exc
    detail = f"{type(exc).__name__}: {exc}"
    if is_timeout(exc):
        return FeatureTimeoutError(f"{what} timed out: {detail}")
    if isinstance(exc, _feast_errors.FeastObjectNotFoundException):
        return FeatureConfigError(
            f"{what} failed: {exc}. If `feast apply` changed the repo, call refresh()"
        )
    if is_usage_error(exc):
        return FeatureValidationError(f"{what} was refused by Feast ({detail}). {fix}")
    return FeatureStoreUnavailableError(f"{what} failed: {detail}")
