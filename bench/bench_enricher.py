"""Enricher cost: ``enrich()`` over an in-process store with 10 features vs the bare read.

The baseline (the same 10-feature batch read from the same ``LocalFeatureStore``) is
timed in the same run; ``overhead_us`` is a case's p50 minus the baseline's p50.
Target: ``enrich()`` p50 at most 150 us beyond the store read.
"""

from __future__ import annotations

import itertools
from typing import Any

from bench._timing import row, time_async, time_sync
from llm_featurestore.clients.local import LocalFeatureStore
from llm_featurestore.enricher import EnricherConfig, FeatureEnricher

TARGET_OVERHEAD_US = 150.0

FEATURES: dict[str, Any] = {
    "purchase_history": ["running shoes", "rain jacket", "leather belt", "wool socks", "cap"],
    "browsing": "trail running gear",
    "preferences": {"style": "casual athletic", "size": "M"},
    "favorite_category": "outdoor",
    "avg_order_value": 120.456,
    "purchases_30d": 3,
    "lifetime_value": 15234.5,
    "tier": "gold",
    "is_member": True,
    "preferred_brand": "Northwind",
}
NAMES = list(FEATURES)


USERS = 1000


def _store() -> LocalFeatureStore:
    store = LocalFeatureStore()
    for i in range(USERS):
        # Values differ per user, so a cold run never reuses a memoised token count.
        store.write_features(
            str(i),
            "user",
            {**FEATURES, "browsing": f"trail running gear {i}", "purchases_30d": i},
        )
    store.write_features("o1", "organization", {"brand_voice": "playful", "tone": "warm"})
    return store


def run(n: int = 2000) -> list[dict[str, Any]]:
    """Time the enricher; one row per case with p50/p99 in microseconds.

    Rows: the bare store read (baseline), ``enrich()`` sync and async, the pure
    ``enrich_from_vectors()`` step alone, a tight budget that forces dropping and
    shortening, two entity types fetched concurrently, and a pass-through.
    """
    store = _store()
    config = EnricherConfig(task_features={"reco": {"user": NAMES}})
    enricher = FeatureEnricher(store, config)
    tight = FeatureEnricher(
        store, EnricherConfig(task_features={"reco": {"user": NAMES}}, max_feature_tokens=40)
    )
    two = FeatureEnricher(
        store,
        EnricherConfig(
            task_features={"reco": {"user": NAMES, "organization": ["brand_voice", "tone"]}}
        ),
    )
    vectors = {"user": store.get_features("7", "user", NAMES)}
    prompt = "Which jacket should I buy for autumn trail runs?"

    result = enricher.enrich(prompt, user_id="7", task_type="reco")
    assert len(result.features_used) == len(NAMES), result.features_used

    raw = time_sync(lambda: store.get_batch_features(["7"], "user", NAMES), n)

    def overhead(p50: float) -> dict[str, Any]:
        return {"overhead_us": round(p50 - raw[0], 1)}

    cold_ids = itertools.cycle([str(i) for i in range(USERS)])
    cold = FeatureEnricher(store, config)

    def cold_enrich() -> Any:
        return cold.enrich(prompt, user_id=next(cold_ids), task_type="reco")

    cold_raw = itertools.cycle([str(i) for i in range(USERS)])
    raw_cold = time_sync(lambda: store.get_batch_features([next(cold_raw)], "user", NAMES), n)

    cases: list[tuple[str, tuple[float, float]]] = [
        (
            f"enrich(), 10 features, same user (target overhead <= {TARGET_OVERHEAD_US:g} us)",
            time_sync(lambda: enricher.enrich(prompt, user_id="7", task_type="reco"), n),
        ),
        (
            "enrich(), 10 features, a different user each call (cold token memo)",
            time_sync(cold_enrich, n, warmup=0),
        ),
        (
            "aenrich(), 10 features",
            time_async(lambda: enricher.aenrich(prompt, user_id="7", task_type="reco"), n),
        ),
        (
            "enrich(), budget 40 tokens (drop + shorten)",
            time_sync(lambda: tight.enrich(prompt, user_id="7", task_type="reco"), n),
        ),
        (
            "enrich(), user + organization (concurrent lookups, thread pool)",
            time_sync(
                lambda: two.enrich(prompt, user_id="7", organization_id="o1", task_type="reco"),
                n,
            ),
        ),
        (
            "aenrich(), user + organization (asyncio.gather)",
            time_async(
                lambda: two.aenrich(prompt, user_id="7", organization_id="o1", task_type="reco"),
                n,
            ),
        ),
    ]
    rows = [
        row("local: bare 10-feature store read (baseline)", *raw, overhead_us=0.0),
        row("local: bare read, a different user each call", *raw_cold, overhead_us=0.0),
    ]
    rows += [row(case, *timing, raw[0], **overhead(timing[0])) for case, timing in cases]
    pure = time_sync(lambda: enricher.enrich_from_vectors(prompt, vectors, "reco"), n)
    rows.append(
        row("enrich_from_vectors(), 10 features (no lookup)", *pure, overhead_us=round(pure[0], 1))
    )
    passthrough = time_sync(lambda: enricher.enrich(prompt, user_id="7", task_type="other"), n)
    rows.append(row("enrich(), task not enabled (pass-through)", *passthrough, overhead_us=None))
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
