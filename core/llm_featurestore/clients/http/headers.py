"""Extra request headers of an HTTP backend: plain ones from the settings, secret ones
from the environment.

Settings files are shared, committed and logged, so a header that carries a credential
is never written in them: :func:`check_headers` refuses ``headers`` entries whose name
says they hold one (``Authorization``, ``Cookie``, ``X-Api-Key``, anything with
``token``, ``secret``, ``key``, ``password``, ``auth`` or ``session``) and points to
the settings that read it from an environment variable instead (``token_env``,
``header_env``). :func:`env_headers` reads those variables when a connection pool is
built, so the values never sit in the settings, the client's attributes or a repr.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from llm_featurestore.errors import FeatureConfigError

__all__ = ["check_header_names", "check_headers", "env_headers", "secret_looking"]

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
"""An HTTP header name (RFC 9110 ``token``)."""
_SECRET_WORDS = re.compile(r"auth|token|secret|key|passw|cookie|session|credential", re.I)


def secret_looking(name: str) -> bool:
    """Whether a header called ``name`` would carry a credential."""
    return bool(_SECRET_WORDS.search(name))


def check_header_names(setting: str, names: Mapping[str, object]) -> None:
    """Raise :class:`ValueError` naming ``setting`` when a key is not a header name."""
    bad = sorted(name for name in names if not _TOKEN.match(name))
    if bad:
        raise ValueError(
            f"{setting} has names that are not HTTP header names: {', '.join(map(repr, bad))} "
            "(letters, digits and !#$%&'*+-.^_`|~ only)"
        )


def check_headers(headers: Mapping[str, str]) -> None:
    """Raise :class:`ValueError` when ``headers`` (written in the settings) holds one
    that carries a credential, or a name that is not a header name."""
    check_header_names("headers", headers)
    secret = sorted(name for name in headers if secret_looking(name))
    if secret:
        raise ValueError(
            f"headers would write a credential into the settings ({', '.join(secret)}): "
            "read it from the environment instead, with token_env (a bearer token) or "
            "header_env={header: ENV_VAR}"
        )


def _read(owner: str, variable: str, setting: str, what: str) -> str:
    value = os.environ.get(variable, "").strip()
    if not value:
        raise FeatureConfigError(
            f"{owner}: the environment variable {variable} (named by {setting}) is unset or "
            f"empty. Set it to the {what}, or remove it from {setting}"
        )
    return value


def env_headers(
    owner: str, token_env: str | None, header_env: Mapping[str, str] | None
) -> dict[str, str]:
    """The headers read from the environment now: ``header_env``'s ``{header: $VAR}``
    and ``Authorization: Bearer $token_env``.

    Raises:
        FeatureConfigError: a named variable is unset or empty (the message names it and
            the setting; never a value).
    """
    headers = {
        header: _read(owner, variable, "header_env", f"value of {header}")
        for header, variable in (header_env or {}).items()
    }
    if token_env is not None:
        headers["Authorization"] = "Bearer " + _read(owner, token_env, "token_env", "bearer token")
    return headers
