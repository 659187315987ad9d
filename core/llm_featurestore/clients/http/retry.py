"""When an HTTP backend sends a request again: one pure policy, driven by the sync and
async send loops of :class:`~llm_featurestore.clients.http.base.HttpBackend`.

Reads (``idempotent``) are retried up to ``retries`` times after a connection error and
after a transient answer (500, 502, 503, 504, unless the backend recognises the body
as a request error), each time after an exponential backoff with jitter: the wait is
between half and all of ``min(retry_backoff_max_s, retry_backoff_s * 2**n)``. The
read's ``timeout_s`` is a deadline across its attempts: each attempt may take only what
is left, and no retry starts when less than a tenth of the budget would remain after
its wait, so a read never takes longer than ``timeout_s`` plus one connection's close.

Writes and pushes keep the rule every request had before: resent immediately, up to
``retries`` times, after a connection error only (they carry the same rows and
timestamps, so a resend stores the same row), each attempt with the full timeout.

For both: a timeout and a TLS failure are never retried, and a backend whose server
closes connections it answered with an error (``resend_dropped``) resends once per
request, immediately, after a pooled connection the server had closed, whatever
``retries`` (the retry after a 5xx may meet the connection that answer closed).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from llm_featurestore.clients.http.tls import tls_failure

__all__ = ["DROPPED", "TRANSIENT_STATUSES", "Attempts"]

DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
"""How a request fails on a pooled connection the server had closed."""
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
"""Answers a read is retried after (a backend may exclude bodies it knows)."""
_MIN_SHARE = 0.1
"""No retry starts with less than this share of the read's timeout left after its wait."""


@dataclass
class Attempts:
    """The attempts of one request: each attempt's timeout, and whether (and after how
    long) to send again. ``clock`` and ``jitter`` (``[0, 1)``) are injectable for tests."""

    retries: int
    timeout_s: float
    backoff_s: float
    backoff_max_s: float
    idempotent: bool
    resend_dropped: bool = False
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[], float] = random.random
    failed: int = 0
    """Attempts that failed so far."""
    retried: int = 0
    """Retries counted against ``retries`` so far (a dropped-connection resend is not one)."""
    resent_dropped: bool = False
    """Whether the one resend after a dropped pooled connection was made."""
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.clock() + self.timeout_s

    def timeout(self) -> float | None:
        """Seconds the next attempt may take (a read's remaining budget), or ``None`` for
        the client's own timeout (writes and pushes)."""
        if not self.idempotent:
            return None
        return max(self.deadline - self.clock(), 0.001)

    def after_error(self, exc: Exception) -> float | None:
        """Seconds to wait before sending again after ``exc``; ``None``: give up."""
        if isinstance(exc, httpx.TimeoutException) or tls_failure(exc) is not None:
            return None
        self.failed += 1
        if self.resend_dropped and not self.resent_dropped and isinstance(exc, DROPPED):
            self.resent_dropped = True  # e.g. after a 5xx, which feast serve closes after
            return 0.0 if self._fits(0.0) else None
        return self._retry()

    def after_answer(self, transient: bool) -> float | None:
        """Seconds to wait before asking again after an answer (``transient``: one a read
        may be retried after); ``None``: keep this answer."""
        if not (transient and self.idempotent):
            return None
        self.failed += 1
        return self._retry()

    def _retry(self) -> float | None:
        if self.retried >= self.retries:
            return None
        wait = 0.0
        if self.idempotent:
            cap = min(self.backoff_max_s, self.backoff_s * 2**self.retried)
            wait = cap / 2 + self.jitter() * cap / 2
            if not self._fits(wait):
                return None
        self.retried += 1
        return wait

    def _fits(self, wait: float) -> bool:
        """Whether an attempt after ``wait`` would still have a fair share of the budget."""
        if not self.idempotent:
            return True
        return self.deadline - (self.clock() + wait) >= _MIN_SHARE * self.timeout_s
