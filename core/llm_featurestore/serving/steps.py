"""Every decision of one batch read of the serving layer, written once.

:func:`read_steps` is a generator (the httpx ``Auth.auth_flow`` pattern): it yields the
ids to send to the backend and receives the backend's vectors or error; it returns one
outcome per id. ``ServingClient`` drives it with blocking calls (bounded by its lane)
or awaited ones, so the breaker, the failure table and the retries of ids a store could
not take are the same on both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from llm_featurestore.errors import InvalidEntityIdError
from llm_featurestore.models import FeatureVector
from llm_featurestore.serving.coalescer import Outcome
from llm_featurestore.serving.degrade import split_invalid
from llm_featurestore.serving.failures import Failures, ServingStats

__all__ = ["Answer", "read_steps"]

Answer = list[FeatureVector] | Exception
"""What one backend call gave: its vectors, or the error it raised."""


def read_steps(
    failures: Failures,
    stats: ServingStats,
    ids: list[str],
    entity_type: str,
    names: tuple[str, ...],
    answered: Callable[[list[FeatureVector]], list[FeatureVector]],
) -> Generator[list[str], Answer, list[Outcome]]:
    """The decisions of one read of ``ids`` (see the module docstring).

    An open circuit answers a call without sending it; an invalid id is answered on its
    own (INVALID_ID, or its error without fallback) and the other ids are sent again;
    when the store does not say which id it could not take, the ids are sent one by one.
    Other failures degrade (or raise) by :class:`Failures`. ``answered`` turns a
    successful call's vectors into the outcomes (defaults, cache).
    """
    outcomes: dict[str, Outcome] = {}
    queue = [ids]
    while queue:
        batch = queue.pop(0)
        breaker = failures.breaker
        if breaker is not None and not breaker.allow():
            outcomes.update(zip(batch, failures.refuse(batch, entity_type, names), strict=True))
            continue
        stats.backend_calls += 1
        answer = yield batch
        if not isinstance(answer, Exception):
            vectors = answered(answer)
            if batch is ids:
                return list(vectors)  # the common case: one call answered every id
            outcomes.update(zip(batch, vectors, strict=True))
        elif isinstance(answer, InvalidEntityIdError):
            failures.record_success()  # the store answered; some ids were wrong
            bad, resend = split_invalid(batch, answer)
            if bad:
                rejected = failures.reject(answer, bad, entity_type, names)
                outcomes.update(zip(bad, rejected, strict=True))
            queue[:0] = resend
        else:
            failed = failures.on_failure(answer, batch, entity_type, names)
            outcomes.update(zip(batch, failed, strict=True))
    return [outcomes[eid] for eid in ids]
