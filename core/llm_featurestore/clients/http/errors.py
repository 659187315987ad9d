"""How an HTTP backend words a failed exchange: the rules both HTTP backends share.

* a transport timeout is :class:`FeatureTimeoutError`; any other transport failure
  (refused, reset, DNS) is :class:`FeatureStoreUnavailableError`;
* 401 and 403 are :class:`FeatureAuthError`, naming the setting that holds the
  credentials (the backend's ``auth_hint``);
* 504 is :class:`FeatureTimeoutError`; other statuses a backend does not map itself
  are :class:`FeatureStoreUnavailableError`;
* the server's own words come from :func:`server_message`, which unwraps JSON error
  bodies (Feast nests JSON in a JSON string) and keeps plain text as it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from llm_featurestore.errors import (
    FeatureAuthError,
    FeatureStoreError,
    FeatureStoreUnavailableError,
    FeatureTimeoutError,
)

__all__ = ["ProtocolErrors", "response_error", "server_message", "transport_error"]

ProtocolErrors = Callable[[int, str, str], "FeatureStoreError | None"]
"""A backend's own reading of an error answer: ``(status, raw text, server message)``
to an error, or ``None`` to leave it to the shared rule."""

_MESSAGE_LIMIT = 300


def _sentence(name: str) -> str:
    return name[:1].upper() + name[1:]


def server_message(text: str, *, limit: int = _MESSAGE_LIMIT) -> str:
    """The server's error text: ``message``/``detail``/``error`` of a JSON body, else the text.

    >>> server_message('{"error": "e", "message": "boom"}')
    'boom'
    >>> server_message('"{\\\\"message\\\\": \\\\"nested\\\\"}"')
    'nested'
    """
    message: Any = text
    for _ in range(2):  # Feast wraps its JSON error in a JSON string
        if not isinstance(message, str):
            break
        try:
            message = json.loads(message)
        except ValueError:
            break
    if isinstance(message, Mapping):
        message = message.get("message") or message.get("detail") or message.get("error") or message
    return str(message).strip()[:limit]


def response_error(
    name: str,
    url: str,
    code: int,
    text: str,
    *,
    what: str,
    auth_hint: str,
    protocol: ProtocolErrors | None = None,
) -> FeatureStoreError:
    """The error for a non-200 answer: auth first, then ``protocol``, then the shared rule.

    Args:
        name: How messages name the server (``"Tecton"``, ``"the Feast feature server"``).
        url: The server's base URL.
        code: The HTTP status.
        text: The answer's body.
        what: What was asked, for the message (``"the metadata request"``).
        auth_hint: What to check on 401/403; names the setting holding the credentials.
        protocol: The backend's own mapping of other statuses.
    """
    detail = server_message(text)
    if code in (401, 403):
        return FeatureAuthError(
            f"{_sentence(name)} at {url} refused the credentials (HTTP {code}): {auth_hint}. "
            f"Server said: {detail}"
        )
    mapped = protocol(code, text, detail) if protocol is not None else None
    if mapped is not None:
        return mapped
    if code == 504:
        return FeatureTimeoutError(
            f"{_sentence(name)} at {url} timed out serving {what} (HTTP 504): {detail}"
        )
    return FeatureStoreUnavailableError(
        f"{_sentence(name)} at {url} failed serving {what} (HTTP {code}): {detail}"
    )


def transport_error(
    name: str, url: str, exc: httpx.HTTPError, what: str, timeout_s: float
) -> FeatureStoreUnavailableError:
    """A request that got no answer: a timeout, or the server could not be reached."""
    if isinstance(exc, httpx.TimeoutException):
        return FeatureTimeoutError(
            f"{_sentence(name)} at {url} did not answer {what} within {timeout_s}s "
            f"({type(exc).__name__}); check the server's health or raise timeout_s"
        )
    return FeatureStoreUnavailableError(
        f"Cannot reach {name} at {url} for {what}: {type(exc).__name__}: {exc}. "
        "Check the url and the network"
    )
