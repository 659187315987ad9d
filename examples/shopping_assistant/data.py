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
class _ProductType:
    category: str
    noun: str
    price: tuple[float, float]
    qualities: tuple[str, ...]
    uses: tuple[str, ...]


_MODELS = ["Aero", "Tempo", "Summit", "Nova", "Drift", "Atlas", "Pulse", "Vista", "Echo", "Terra"]

_BRANDS: dict[str, list[str]] = {
    "running": ["Pacer", "Stride", "VeloRun", "Kinetic"],
    "outerwear": ["NorthPeak", "Frostline", "Harbor & Pine", "Glacier Co."],
    "electronics": ["Voltix", "Lumen", "Arcwave", "Nimbus"],
    "home": ["Hearth", "Oakline", "Brewly", "Nestwell"],
    "outdoor": ["Ridgeway", "TrailCraft", "Basecamp", "Alpenglow"],
    "fashion": ["Urbane", "Thread & Co", "Maison Lark", "Copper Row"],
}

# Each type: category, noun, price range, quality phrases, use phrases. The nouns and
# phrases deliberately overlap across categories (shoes, warm, work) so that a plain
# semantic search mixes categories and price bands.
_TYPES: list[_ProductType] = [
    # running
    _ProductType(
        "running",
        "road running shoes",
        (90, 190),
        ("cushioned", "lightweight", "responsive foam"),
        ("marathon training", "daily miles on pavement", "race day"),
    ),
    _ProductType(
        "running",
        "trail running shoes",
        (100, 200),
        ("grippy lugs", "rock plate", "breathable mesh"),
        ("muddy trail runs", "ultramarathons", "mountain running"),
    ),
    _ProductType(
        "running",
        "running socks",
        (12, 28),
        ("blister-free", "moisture-wicking", "seamless toe"),
        ("long runs", "marathon day", "everyday training"),
    ),
    _ProductType(
        "running",
        "GPS running watch",
        (150, 450),
        ("accurate GPS", "heart-rate tracking", "long battery"),
        ("pacing a marathon", "interval training", "tracking weekly mileage"),
    ),
    _ProductType(
        "running",
        "hydration vest",
        (45, 130),
        ("bounce-free", "two soft flasks", "light"),
        ("long distance runs", "trail races", "marathon training"),
    ),
    _ProductType(
        "running",
        "running shorts",
        (25, 65),
        ("split-leg", "quick-dry", "zip pocket"),
        ("summer runs", "race day", "track sessions"),
    ),
    _ProductType(
        "running",
        "insulated running jacket",
        (90, 180),
        ("windproof", "reflective", "light insulation"),
        ("winter runs", "cold morning miles", "running in the dark"),
    ),
    # outerwear
    _ProductType(
        "outerwear",
        "winter parka",
        (180, 650),
        ("down-filled", "waterproof", "fur-lined hood"),
        ("freezing city winters", "snowy commutes", "keeping warm in the cold"),
    ),
    _ProductType(
        "outerwear",
        "down jacket",
        (130, 420),
        ("packable", "warm", "800-fill down"),
        ("cold weekends", "winter travel", "layering in the cold"),
    ),
    _ProductType(
        "outerwear",
        "wool overcoat",
        (160, 520),
        ("tailored", "warm wool blend", "classic"),
        ("winter office days", "evenings out", "keeping warm in style"),
    ),
    _ProductType(
        "outerwear",
        "rain shell",
        (80, 300),
        ("waterproof", "breathable", "taped seams"),
        ("rainy commutes", "wet hikes", "spring showers"),
    ),
    _ProductType(
        "outerwear",
        "insulated gloves",
        (25, 80),
        ("warm", "touchscreen fingertips", "fleece-lined"),
        ("winter mornings", "snow days", "cold commutes"),
    ),
    _ProductType(
        "outerwear",
        "fleece jacket",
        (45, 140),
        ("cosy", "warm", "recycled fleece"),
        ("chilly evenings", "layering under a shell", "autumn walks"),
    ),
    # electronics
    _ProductType(
        "electronics",
        "laptop",
        (850, 2400),
        ("fast processor", "bright display", "all-day battery"),
        ("work and travel", "video editing", "office productivity"),
    ),
    _ProductType(
        "electronics",
        "ultrabook laptop",
        (650, 1800),
        ("thin and light", "premium aluminium", "long battery"),
        ("work on the go", "business travel", "remote work"),
    ),
    _ProductType(
        "electronics",
        "everyday notebook PC",
        (260, 480),
        ("affordable", "solid keyboard", "full HD screen"),
        ("work and study", "everyday browsing", "working from home"),
    ),
    _ProductType(
        "electronics",
        "tablet",
        (180, 900),
        ("sharp screen", "stylus support", "light"),
        ("notes at work", "reading on the go", "travel entertainment"),
    ),
    _ProductType(
        "electronics",
        "noise-cancelling headphones",
        (80, 420),
        ("quiet", "comfortable", "long battery"),
        ("focus at work", "flights and travel", "commuting"),
    ),
    _ProductType(
        "electronics",
        "external monitor",
        (140, 750),
        ("4K", "USB-C", "adjustable stand"),
        ("a home office", "working from home", "laptop docking"),
    ),
    _ProductType(
        "electronics",
        "wireless earbuds",
        (40, 260),
        ("sweat-proof", "secure fit", "clear calls"),
        ("running and workouts", "commuting", "calls at work"),
    ),
    # home
    _ProductType(
        "home",
        "heated throw blanket",
        (35, 130),
        ("soft", "warm", "machine washable"),
        ("cold winter nights", "keeping warm on the sofa", "chilly evenings"),
    ),
    _ProductType(
        "home",
        "space heater",
        (40, 160),
        ("quiet", "energy-efficient", "warm in minutes"),
        ("a cold home office", "winter evenings", "keeping a room warm"),
    ),
    _ProductType(
        "home",
        "standing desk",
        (250, 850),
        ("sturdy", "electric height adjustment", "cable tray"),
        ("working from home", "a home office", "long work days"),
    ),
    _ProductType(
        "home",
        "coffee maker",
        (40, 320),
        ("programmable", "thermal carafe", "fast brew"),
        ("busy mornings", "the home office", "weekend brunch"),
    ),
    _ProductType(
        "home",
        "foam roller",
        (20, 60),
        ("firm", "textured", "travel size"),
        ("recovery after runs", "stretching", "sore legs"),
    ),
    # outdoor
    _ProductType(
        "outdoor",
        "hiking boots",
        (110, 280),
        ("waterproof", "ankle support", "grippy outsole"),
        ("day hikes", "rocky trails", "long distance trekking"),
    ),
    _ProductType(
        "outdoor",
        "winter sleeping bag",
        (70, 380),
        ("warm to -10C", "compressible", "down fill"),
        ("winter camping", "cold nights outdoors", "keeping warm in the tent"),
    ),
    _ProductType(
        "outdoor",
        "backpacking tent",
        (130, 600),
        ("two-person", "lightweight", "storm-proof"),
        ("weekend camping", "thru-hikes", "alpine trips"),
    ),
    _ProductType(
        "outdoor",
        "trekking poles",
        (40, 160),
        ("carbon", "foldable", "cork grips"),
        ("steep descents", "long distance hiking", "trail running in the mountains"),
    ),
    _ProductType(
        "outdoor",
        "travel backpack",
        (60, 260),
        ("padded laptop sleeve", "weatherproof", "carry-on size"),
        ("work and travel", "commuting with a laptop", "weekend trips"),
    ),
    # fashion
    _ProductType(
        "fashion",
        "casual sneakers",
        (55, 170),
        ("minimal", "leather", "all-day comfort"),
        ("everyday wear", "weekend outings", "city walks"),
    ),
    _ProductType(
        "fashion",
        "leather boots",
        (130, 360),
        ("Chelsea style", "warm lining", "durable"),
        ("winter outfits", "office days", "evenings out"),
    ),
    _ProductType(
        "fashion",
        "wool sweater",
        (45, 160),
        ("merino", "warm", "chunky knit"),
        ("cold days", "layering in winter", "keeping warm"),
    ),
    _ProductType(
        "fashion",
        "dress shoes",
        (90, 320),
        ("polished leather", "cushioned insole", "classic"),
        ("the office", "weddings", "formal evenings"),
    ),
]

CATEGORIES: list[str] = sorted({t.category for t in _TYPES})


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
        ptype = _TYPES[i % len(_TYPES)]
        round_no = i // len(_TYPES)
        low, high = ptype.price
        mid = (low + high) / 2
        band = (mid, high) if round_no % 2 == 0 else (low, mid)
        price = _round_price(rng.uniform(*band))
        brand = _BRANDS[ptype.category][(i // len(_TYPES) + i) % len(_BRANDS[ptype.category])]
        model = _MODELS[rng.randrange(len(_MODELS))]
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
    catalogue = generate_products(len(_TYPES) * 2, seed)
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
                last_viewed_brand=rng.choice(_BRANDS[category]),
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
