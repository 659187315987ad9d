"""An optional OpenAI-compatible chat endpoint, called with ``httpx`` (no SDK needed).

Configured from the environment: ``OPENAI_API_KEY`` (required to enable it),
``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``; any server that speaks
``POST /chat/completions`` works, e.g. vLLM, Ollama, LM Studio) and ``OPENAI_MODEL``
(default ``gpt-4o-mini``). Without a key the demo shows the final prompt instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from pydantic import SecretStr

__all__ = ["ChatEndpoint", "LLMError"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"


class LLMError(RuntimeError):
    """The endpoint could not be reached or answered with something unusable."""


@dataclass(frozen=True)
class ChatEndpoint:
    """One OpenAI-compatible ``/chat/completions`` endpoint.

    Attributes:
        api_key: Sent as ``Authorization: Bearer <key>``; never printed.
        base_url: Up to and including the version path, e.g. ``http://127.0.0.1:8000/v1``.
        model: The ``model`` field of the request.
        timeout_s: Whole-request timeout.
    """

    api_key: SecretStr
    base_url: str = DEFAULT_BASE_URL
    model: str = DEFAULT_MODEL
    timeout_s: float = 60.0
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    transport: httpx.BaseTransport | None = None
    """Custom httpx transport (proxies, tests); the default network transport when None."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChatEndpoint | None:
        """The endpoint described by ``OPENAI_*`` variables, or ``None`` without a key."""
        env = os.environ if env is None else env
        key = env.get("OPENAI_API_KEY", "").strip()
        if not key:
            return None
        return cls(
            api_key=SecretStr(key),
            base_url=(env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
            model=env.get("OPENAI_MODEL") or DEFAULT_MODEL,
        )

    def describe(self) -> str:
        """``model @ base_url`` (no secret)."""
        return f"{self.model} @ {self.base_url}"

    def complete(self, messages: Sequence[Mapping[str, str]], *, temperature: float = 0.2) -> str:
        """Send ``messages`` (``{"role", "content"}`` dicts) and return the reply text.

        Raises:
            LLMError: connection failure, a non-2xx answer (status and body excerpt in
                the message) or a response without ``choices[0].message.content``.
        """
        headers = {
            "Authorization": f"Bearer {self.api_key.get_secret_value()}",
            **self.extra_headers,
        }
        body = {"model": self.model, "messages": list(messages), "temperature": temperature}
        url = f"{self.base_url}/chat/completions"
        try:
            with httpx.Client(transport=self.transport, timeout=self.timeout_s) as http:
                response = http.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise LLMError(f"Cannot reach {url}: {exc}. Check OPENAI_BASE_URL.") from exc
        if response.status_code >= 400:
            raise LLMError(
                f"{url} answered {response.status_code}: {response.text[:200]!r}. "
                "Check OPENAI_API_KEY and OPENAI_MODEL."
            )
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(
                f"{url} answered without choices[0].message.content: {response.text[:200]!r}"
            ) from exc
        if not isinstance(content, str):
            raise LLMError(f"{url} answered with non-text content: {content!r}")
        return content
