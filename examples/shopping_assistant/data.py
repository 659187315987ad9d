"""Deterministic synthetic data for the shopping assistant: users and a product catalogue.

Everything is generated from a seeded :class:`random.Random`, so the same sizes and
seed always give the same users and products (only the event timestamps move with
``as_of``). Three personas have fixed ids and hand-written features that tell a story:

* ``1001``, the marathon runner who bought running shoes last week;
* ``1002``, the shopper who browsed winter coats yesterday without buying;
* ``1003``, the customer who set a $500 budget limit.

The catalogue cycles through every product type before repeating one, so even a
reduced catalogue (e.g. 80 products) holds every type, including the cross-category
look-alikes that make plain vector retrieval ignore a persona's constraints (hiking
boots next to running shoes, blankets next to winter coats, $1,500 laptops next to
$400 ones).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from examples.shopping_assistant.catalog_types import BRANDS, CATEGORIES, MODELS, TYPES

__all__ = [
    "CATEGORIES",
    "COLD_START_USER",
    "DATA_VERSION",
    "PERSONAS",
    "Persona",
    "Product",
    "UserRow",
    "generate_products",
    "generate_users",
    "load_products",
    "write_dataset",
]

DATA_VERSION = 3
"""Bumped whenever the generators or the Feast definitions change, so existing workspaces
are regenerated and applied again (3: the ``user_session`` view of the write-back)."""

USER_FEATURES = [
    "favorite_category",
    "price_sensitivity_score",
    "budget_limit",
    "email",
    "avg_order_value",
    "purchases_30d",
    "last_viewed_brand",
    "recent_purchases",
    "recent_views",
]
"""Every user feature, in the order the feature views declare them."""


@dataclass(frozen=True)
class Product:
    """One catalogue item, indexed into Chroma with everything but ``description`` as metadata."""

    product_id: str
    name: str
    category: str
    brand: str
    price: float
    description: str

    def metadata(self) -> dict[str, Any]:
        """Chroma-safe metadata (str/float only)."""
        return {
            "product_id": self.product_id,
            "name": self.name,
            "category": self.category,
            "brand": self.brand,
            "price": self.price,
        }


@dataclass(frozen=True)
class UserRow:
    """One user's features plus the row's event timestamp."""

    user_id: str
    favorite_category: str
    price_sensitivity_score: float
    budget_limit: float | None
    email: str
    avg_order_value: float
    purchases_30d: int
    last_viewed_brand: str
    recent_purchases: list[str] = field(default_factory=list)
    recent_views: list[str] = field(default_factory=list)
    age_seconds: float = 0.0
    """How long before ``as_of`` the row was observed."""


@dataclass(frozen=True)
class Persona:
    """A demo persona: who they are, what they ask, and the constraint they carry."""

    user_id: str
    title: str
    story: str
    question: str
    category: str | None
    """Every personalised result must be in this category (None: no constraint)."""
    max_price: float | None
    """Every personalised result must cost at most this (None: no constraint)."""


PERSONAS: list[Persona] = [
    Persona(
        user_id="1001",
        title="Marathon runner",
        story="Bought road running shoes last week; training for a spring marathon.",
        question="What should I get for my long distance training?",
        category="running",
        max_price=None,
    ),
    Persona(
        user_id="1002",
        title="Winter-coat browser",
        story="Browsed winter coats yesterday without buying anything.",
        question="Something warm for cold evenings?",
        category="outerwear",
        max_price=None,
    ),
    Persona(
        user_id="1003",
        title="$500 budget",
        story="Set a $500 budget limit; shopping for a work laptop.",
        question="I need a laptop for work and travel.",
        category="electronics",
        max_price=500.0,
    ),
]
COLD_START_USER = Persona(
    user_id="new-visitor-1",
    title="Brand-new user (cold start)",
    story="First visit: the feature store knows nothing, so defaults apply.",
    question="Something warm for cold evenings?",
    category=None,
    max_price=None,
)

_PERSONA_ROWS: list[UserRow] = [
    UserRow(
        user_id="1001",
        favorite_category="running",
        price_sensitivity_score=0.35,
        budget_limit=None,
        email="maya.runner@example.com",
        avg_order_value=135.0,
        purchases_30d=3,
        last_viewed_brand="Pacer",
        recent_purchases=["Pacer Tempo road running shoes (last week)", "Stride running socks"],
        recent_views=["Kinetic GPS running watch", "VeloRun hydration vest"],
        age_seconds=600.0,
    ),
    UserRow(
        user_id="1002",
        favorite_category="outerwear",
        price_sensitivity_score=0.55,
        budget_limit=None,
        email="sam.browser@example.com",
        avg_order_value=210.0,
        purchases_30d=0,
        last_viewed_brand="NorthPeak",
        recent_purchases=[],
        recent_views=[
            "NorthPeak Summit winter parka (yesterday)",
            "Frostline Atlas down jacket (yesterday)",
        ],
        age_seconds=900.0,
    ),
    UserRow(
        user_id="1003",
        favorite_category="electronics",
        price_sensitivity_score=0.9,
        budget_limit=500.0,
        email="lee.budget@example.com",
        avg_order_value=180.0,
        purchases_30d=1,
        last_viewed_brand="Voltix",
        recent_purchases=["Arcwave wireless earbuds"],
        recent_views=["Voltix Nova laptop", "Lumen everyday notebook PC"],
        age_seconds=1200.0,
    ),
]


def _round_price(value: float) -> float:
    # Prices end in .99 like a real shop; always positive.
    return max(round(value) - 0.01, 4.99)


def generate_products(n: int = 600, seed: int = 7) -> list[Product]:
    """``n`` products, cycling through every product type before repeating one.

    Within each type, prices alternate between the lower and upper half of the type's
    range, so a reduced catalogue still spans the range (a $1,500 laptop and a $300
    one both exist from ``n >= 2 * number of types``).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(seed)
    products: list[Product] = []
    for i in range(n):
        ptype = TYPES[i % len(TYPES)]
        round_no = i // len(TYPES)
        low, high = ptype.price
        mid = (low + high) / 2
        band = (mid, high) if round_no % 2 == 0 else (low, mid)
        price = _round_price(rng.uniform(*band))
        brand = BRANDS[ptype.category][(i // len(TYPES) + i) % len(BRANDS[ptype.category])]
        model = MODELS[rng.randrange(len(MODELS))]
        quality = rng.sample(ptype.qualities, 2)
        use = rng.choice(ptype.uses)
        series = f" {round_no + 1}" if round_no else ""  # unique names: one per type per round
        name = f"{brand} {model}{series} {ptype.noun}"
        description = (
            f"{name}: {quality[0]} and {quality[1]} {ptype.noun}, made for {use}. "
            f"Category: {ptype.category}."
        )
        products.append(
            Product(
                product_id=f"p{i:04d}",
                name=name,
                category=ptype.category,
                brand=brand,
                price=price,
                description=description,
            )
        )
    return products


def _product_names_in(products: Sequence[Product], category: str) -> list[str]:
    return [p.name for p in products if p.category == category]


def generate_users(n: int = 1000, seed: int = 7) -> list[UserRow]:
    """The three personas followed by ``n - 3`` random users with ids ``"1004"``, ...

    Raises:
        ValueError: ``n`` is smaller than the number of personas.
    """
    if n < len(_PERSONA_ROWS):
        raise ValueError(f"n must be at least {len(_PERSONA_ROWS)} (the personas), got {n}")
    rng = random.Random(seed + 1)
    catalogue = generate_products(len(TYPES) * 2, seed)
    users: list[UserRow] = list(_PERSONA_ROWS)
    for k in range(n - len(_PERSONA_ROWS)):
        uid = str(1004 + k)
        category = rng.choice(CATEGORIES)
        names = _product_names_in(catalogue, category)
        sensitivity = round(rng.random(), 2)
        users.append(
            UserRow(
                user_id=uid,
                favorite_category=category,
                price_sensitivity_score=sensitivity,
                budget_limit=(
                    float(rng.choice([100, 200, 300, 500, 800])) if sensitivity > 0.8 else None
                ),
                email=f"user{uid}@example.com",
                avg_order_value=round(rng.lognormvariate(4.6, 0.6), 2),
                purchases_30d=rng.choice([0, 0, 1, 1, 2, 3, 4, 6]),
                last_viewed_brand=rng.choice(BRANDS[category]),
                recent_purchases=rng.sample(names, rng.randint(0, 3)),
                recent_views=rng.sample(names, rng.randint(0, 3)),
                age_seconds=round(rng.uniform(60, 6 * 3600)),
            )
        )
    return users


def write_dataset(
    data_dir: Path,
    *,
    n_users: int = 1000,
    n_products: int = 600,
    seed: int = 7,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """Write ``users.parquet`` (Feast's offline data) and ``products.jsonl`` into ``data_dir``.

    The parquet file has one row per user with ``event_timestamp`` = ``as_of`` minus the
    row's age, and ``created`` = ``as_of``. Returns the manifest (also written to
    ``manifest.json``): sizes, seed and ``as_of`` in ISO-8601.
    """
    import pandas as pd  # type: ignore[import-untyped]  # heavy: only when writing

    as_of = (as_of or datetime.now(timezone.utc)).astimezone(timezone.utc)
    data_dir.mkdir(parents=True, exist_ok=True)
    users = generate_users(n_users, seed)
    rows = []
    for u in users:
        row = asdict(u)
        row["event_timestamp"] = as_of - timedelta(seconds=row.pop("age_seconds"))
        row["created"] = as_of
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["budget_limit"] = frame["budget_limit"].astype("float64")
    frame.to_parquet(data_dir / "users.parquet", index=False)
    products = generate_products(n_products, seed)
    with (data_dir / "products.jsonl").open("w", encoding="utf-8") as fh:
        for p in products:
            fh.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
    manifest = {
        "version": DATA_VERSION,
        "n_users": n_users,
        "n_products": n_products,
        "seed": seed,
        "as_of": as_of.isoformat(),
    }
    (data_dir / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest


def load_products(data_dir: Path) -> list[Product]:
    """Read the products :func:`write_dataset` wrote."""
    with (data_dir / "products.jsonl").open(encoding="utf-8") as fh:
        return [Product(**json.loads(line)) for line in fh if line.strip()]
