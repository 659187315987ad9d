"""The column-wise decoder of FeastHttpClient equals the shared cell rule (property test)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from llm_featurestore.clients.cells import Cell, assemble
from llm_featurestore.clients.feast_http import parse_response, resolve_http_names
from llm_featurestore.models import FeatureStatus

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=timezone.utc)
EPOCH = "1970-01-01T00:00:00Z"
REFS = ["a:x", "a:y"]
SERVER_STATUS = {
    "PRESENT": FeatureStatus.PRESENT,
    "NULL_VALUE": FeatureStatus.NULL_VALUE,
    "NOT_FOUND": FeatureStatus.NOT_FOUND,
    "OUTSIDE_MAX_AGE": FeatureStatus.STALE,
    "INVALID": FeatureStatus.NOT_FOUND,
}

cell = st.tuples(
    st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3)),
    st.sampled_from(sorted(SERVER_STATUS)),
    st.one_of(st.just(EPOCH), st.integers(0, 10 * 86400)),
)


def stamp(raw: str | int) -> tuple[str, datetime | None]:
    if raw == EPOCH:
        return EPOCH, None
    ts = NOW - timedelta(seconds=int(raw))
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ"), ts


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(st.lists(cell, min_size=2, max_size=2), min_size=1, max_size=6),
    ttl=st.one_of(st.none(), st.integers(1, 5 * 86400)),
)
def test_decoder_equals_assemble(
    rows: list[list[tuple[Any, str, str | int]]], ttl: int | None
) -> None:
    ids = [str(i) for i in range(len(rows))]
    results: list[dict[str, Any]] = [
        {"values": ids, "statuses": ["PRESENT"] * len(ids), "event_timestamps": [EPOCH] * len(ids)}
    ]
    for col in range(len(REFS)):
        cells = [row[col] for row in rows]
        results.append(
            {
                "values": [v for v, _, _ in cells],
                "statuses": [s for _, s, _ in cells],
                "event_timestamps": [stamp(t)[0] for _, _, t in cells],
            }
        )
    doc = {"metadata": {"feature_names": ["user_id", "a__x", "a__y"]}, "results": results}
    plan = resolve_http_names("user", REFS, None)
    fast = parse_response(
        doc, plan, ids, "user", now=NOW, ttl_seconds=None if ttl is None else {"a": ttl}
    )
    for eid, row, vector in zip(ids, rows, fast, strict=True):
        cells = {
            ref: Cell(value, stamp(t)[1], SERVER_STATUS[status])
            for ref, (value, status, t) in zip(REFS, row, strict=True)
        }
        generic = assemble(
            eid,
            "user",
            REFS,
            cells,
            source="feast_http",
            now=NOW,
            max_age=None if ttl is None else timedelta(seconds=ttl),
            null_needs_timestamp=True,
        )
        assert vector == generic
