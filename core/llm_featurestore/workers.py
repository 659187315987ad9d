"""The library's one worker pool, for blocking work that must run beside a request.

Sync reads of several entity types run concurrently on it (the first in the caller's
thread). Its size comes from ``LLM_FEATURESTORE_WORKERS`` (default 16); it is created on
first use and shut down at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["WORKERS_ENV", "shared_pool"]

WORKERS_ENV = "LLM_FEATURESTORE_WORKERS"
_DEFAULT_WORKERS = 16

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _size() -> int:
    raw = os.environ.get(WORKERS_ENV, "")
    if not raw:
        return _DEFAULT_WORKERS
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if size < 1:
        from llm_featurestore.errors import FeatureConfigError

        raise FeatureConfigError(f"{WORKERS_ENV} must be a positive integer, got {raw!r}")
    return size


def shared_pool() -> ThreadPoolExecutor:
    """The shared pool (created on first use)."""
    global _pool
    if _pool is None:
        with _lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(max_workers=_size(), thread_name_prefix="llmfs")
                atexit.register(_pool.shutdown, wait=False, cancel_futures=True)
    return _pool
