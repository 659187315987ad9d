"""The URL rule of the HTTP backends' settings (no ``httpx`` import: configs stay cheap)."""

from __future__ import annotations

__all__ = ["http_url"]


def http_url(url: str, example: str) -> str:
    """``url`` without its trailing slash.

    Raises:
        ValueError: it does not start with http:// or https:// (the message shows ``example``).
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"url must start with http:// or https://, e.g. {example}")
    return url.rstrip("/")
