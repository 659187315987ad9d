"""The process-wide ``feast.FeatureStore`` per repo, and its binding to an event loop.

Every client of one repo shares one store, so they share its registry cache and its
online-store connections (:func:`shared_feature_store`).

:func:`use_running_loop` and :func:`provider_of` are the one place that touches
Feast's private attributes (``FeatureStore._get_provider()``, the online store's
``_client_async``) and adds one of its own (``_llmfs_loop_state``): Feast's Redis store
caches a ``redis.asyncio`` client that only works on the loop it was created on, and
Feast offers no public way to rebind or close it; a write's merge reads the
provider's raw ``online_read``. If a Feast upgrade renames these, only this module
changes. (The direct read path uses Feast's private layout helpers too, listed in
:mod:`llm_featurestore.clients.feast.direct`.)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from llm_featurestore._deps import require
from llm_featurestore.errors import FeatureConfigError

_feast = require("feast", extra="feast")
_feast_repo_config = require("feast.repo_config", extra="feast")

__all__ = [
    "clear_feature_store_cache",
    "native_async",
    "provider_of",
    "shared_feature_store",
    "use_running_loop",
]

_STORES: dict[tuple[str, str | None], Any] = {}
_STORES_LOCK = threading.Lock()


def shared_feature_store(repo_path: str | Path, project: str | None = None) -> Any:
    """The process-wide ``feast.FeatureStore`` for ``repo_path`` (and ``project``).

    One store per resolved repo path and project, created on first use, so every
    client of one repo shares its registry cache and online-store connections.

    Raises:
        FeatureConfigError: ``repo_path`` holds no readable ``feature_store.yaml``.
    """
    path = Path(repo_path).expanduser().resolve()
    key = (str(path), project)
    store = _STORES.get(key)
    if store is not None:
        return store
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = _open_store(path, project)
    return store


def clear_feature_store_cache() -> None:
    """Forget every shared ``FeatureStore`` (the next client opens the repo again)."""
    with _STORES_LOCK:
        _STORES.clear()


def _open_store(path: Path, project: str | None) -> Any:
    yaml_file = path / "feature_store.yaml"
    if not yaml_file.is_file():
        raise FeatureConfigError(
            f"No Feast repo at {path}: {yaml_file.name} not found. Pass repo_path= the "
            "directory that holds feature_store.yaml (run `feast init` to create one)."
        )
    try:
        config = _feast_repo_config.load_repo_config(path, yaml_file)
        if project is not None:
            config.project = project
        return _feast.FeatureStore(repo_path=str(path), config=config)
    except Exception as exc:
        raise FeatureConfigError(f"Cannot load the Feast repo at {path}: {exc}") from exc


def provider_of(store: Any) -> Any:
    """``store``'s Feast provider (its online store's raw ``online_read``, for merges)."""
    return store._get_provider()


def native_async(store: Any) -> bool:
    """True when ``store``'s online store reads natively async (Redis), else False."""
    try:
        return bool(store._get_provider().async_supported.online.read)
    except Exception:
        return False


async def use_running_loop(store: Any) -> None:
    """Bind Feast's cached async online-store client to the running event loop.

    Feast's Redis store creates one ``redis.asyncio`` client and keeps it, but that
    client only works on the loop it was created on. So the shared store is bound
    to one loop at a time: on a new loop the cached client is dropped (Feast then
    makes a fresh one), and an async generator registered with the loop closes
    the client when the loop shuts down (``asyncio.run`` and ``asyncio.Runner``
    finalise async generators before closing the loop), so no connection leaks.
    """
    loop = asyncio.get_running_loop()
    online = store._get_provider().online_store
    state = getattr(online, "_llmfs_loop_state", None)
    if state is not None and state[0]() is loop:
        return
    if getattr(online, "_client_async", None) is not None:
        online._client_async = None
    closer = _close_async_client_at_loop_end(online, loop)
    online._llmfs_loop_state = (weakref.ref(loop), closer)
    await closer.__anext__()


async def _close_async_client_at_loop_end(
    online: Any, loop: asyncio.AbstractEventLoop
) -> AsyncIterator[None]:
    """Suspend until ``loop`` finalises its async generators, then close the client."""
    try:
        yield
    finally:
        state = getattr(online, "_llmfs_loop_state", None)
        if state is not None and state[0]() is loop:
            client = getattr(online, "_client_async", None)
            online._client_async = None
            online._llmfs_loop_state = None
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
