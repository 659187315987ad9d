"""Deterministic customers, organisations and support tickets for the support bot.

Customers (entity ``user``): ``tier``, ``recent_tickets`` (newest first),
``products_owned``, ``account_age_days`` and ``email`` (personal data: never shown to
the model). Organisations (entity ``organization``, the brand the bot answers for):
``brand_voice``, ``tone`` and ``style_guide``. About one customer in eight has ticket
history older than the enricher's freshness threshold, so the monitor shows stale
rates; a few ticket authors are unknown to the store (cold start).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from llm_featurestore.clients.base import WritableFeatureStore

__all__ = [
    "ORGANIZATIONS",
    "SAMPLE_TICKETS",
    "Ticket",
    "generate_tickets",
    "load_store",
]

ORGANIZATIONS: dict[str, dict[str, Any]] = {
    "voltix": {
        "brand_voice": "Friendly and plain-spoken; no jargon",
        "tone": "warm, upbeat",
        "style_guide": "Use the customer's product names; end with one clear next step",
    },
    "lumen": {
        "brand_voice": "Precise and courteous",
        "tone": "formal",
        "style_guide": "Numbered steps; never promise delivery dates",
    },
}

_PRODUCTS = {
    "voltix": [
        "Voltix Router X2",
        "Voltix Mesh Node",
        "Voltix Nova laptop",
        "Voltix Pulse earbuds",
    ],
    "lumen": ["Lumen Smart Bulb", "Lumen Hub", "Lumen Terra tablet", "Lumen Echo speaker"],
}
_ISSUES = [
    "{product} keeps disconnecting",
    "{product} will not update firmware",
    "refund for a damaged {product}",
    "{product} battery drains overnight",
    "how to pair {product} with my phone",
]
_TIERS = ["basic", "basic", "basic", "plus", "plus", "gold"]
STALE_AFTER = timedelta(days=30)
"""The support bot's freshness threshold; older ticket history is dropped as stale."""


@dataclass(frozen=True)
class Ticket:
    """One incoming support question."""

    user_id: str
    organization_id: str
    question: str
    product: str
    """The product the question is about: a good answer names it."""


SAMPLE_TICKETS = [
    Ticket("c100", "voltix", "My router drops the wifi again, what now?", "Voltix Router X2"),
    Ticket("c200", "lumen", "The bulb will not pair with the hub.", "Lumen Smart Bulb"),
    Ticket("new-customer", "voltix", "Do you ship to Canada?", ""),
]
"""Shown in full by the demo: a gold customer with history, a basic one, a new one."""


def _customers(n: int, seed: int) -> dict[str, tuple[dict[str, Any], bool]]:
    """user id -> (features, stale history?)."""
    rng = random.Random(seed)
    customers: dict[str, tuple[dict[str, Any], bool]] = {
        "c100": (
            {
                "tier": "gold",
                "recent_tickets": [
                    "Voltix Router X2 keeps disconnecting (3 days ago, open)",
                    "Voltix Mesh Node will not update firmware (last month, solved)",
                ],
                "products_owned": ["Voltix Router X2", "Voltix Mesh Node"],
                "account_age_days": 1460,
                "email": "gold.customer@example.com",
            },
            False,
        ),
        "c200": (
            {
                "tier": "basic",
                "recent_tickets": [],
                "products_owned": ["Lumen Smart Bulb", "Lumen Hub"],
                "account_age_days": 40,
                "email": "basic.customer@example.com",
            },
            False,
        ),
    }
    for i in range(n - len(customers)):
        org = rng.choice(sorted(ORGANIZATIONS))
        owned = rng.sample(_PRODUCTS[org], rng.randint(1, 3))
        tickets = [
            rng.choice(_ISSUES).format(product=rng.choice(owned)) + " (solved)"
            for _ in range(rng.randint(0, 2))
        ]
        customers[f"c{1000 + i}"] = (
            {
                "tier": rng.choice(_TIERS),
                "recent_tickets": tickets,
                "products_owned": owned,
                "account_age_days": rng.randint(1, 3000),
                "email": f"customer{1000 + i}@example.com",
            },
            rng.random() < 0.125,
        )
    return customers


def load_store(store: WritableFeatureStore, *, n_customers: int = 300, seed: int = 11) -> int:
    """Write every customer and organisation into ``store``; returns the customers written."""
    now = datetime.now(timezone.utc)
    customers = _customers(n_customers, seed)
    for user_id, (features, stale) in customers.items():
        history = {"recent_tickets": features["recent_tickets"]}
        rest = {k: v for k, v in features.items() if k != "recent_tickets"}
        store.write_features(user_id, "user", rest, event_timestamp=now - timedelta(hours=1))
        age = STALE_AFTER + timedelta(days=10) if stale else timedelta(hours=2)
        store.write_features(user_id, "user", history, event_timestamp=now - age)
    for org_id, features in ORGANIZATIONS.items():
        store.write_features(org_id, "organization", features, event_timestamp=now)
    return len(customers)


def generate_tickets(n: int, *, n_customers: int = 300, seed: int = 11) -> list[Ticket]:
    """``n`` tickets from known customers, plus one in twenty from unknown ones."""
    rng = random.Random(seed + 1)
    customers = _customers(n_customers, seed)
    ids = sorted(customers)
    tickets = []
    for i in range(n):
        if i % 20 == 19:
            org = rng.choice(sorted(ORGANIZATIONS))
            product = rng.choice(_PRODUCTS[org])
            tickets.append(Ticket(f"guest-{i}", org, f"Question about {product}", product))
            continue
        user_id = rng.choice(ids)
        owned = customers[user_id][0]["products_owned"]
        product = rng.choice(owned)
        org = "voltix" if product.startswith("Voltix") else "lumen"
        issue = rng.choice(_ISSUES).format(product="it")
        tickets.append(Ticket(user_id, org, f"Help: {issue}.", product))
    return tickets
