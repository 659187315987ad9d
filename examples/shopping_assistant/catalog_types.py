"""The catalogue's vocabulary: every product type (category, noun, price range, qualities,
uses) and the model names, from which :mod:`examples.shopping_assistant.data` generates
products. The types include cross-category look-alikes on purpose (hiking boots next to
running shoes, blankets next to winter coats), which plain vector retrieval confuses.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BRANDS", "CATEGORIES", "MODELS", "TYPES", "ProductType"]


@dataclass(frozen=True)
class ProductType:
    category: str
    noun: str
    price: tuple[float, float]
    qualities: tuple[str, ...]
    uses: tuple[str, ...]


MODELS = ["Aero", "Tempo", "Summit", "Nova", "Drift", "Atlas", "Pulse", "Vista", "Echo", "Terra"]

BRANDS: dict[str, list[str]] = {
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
TYPES: list[ProductType] = [
    # running
    ProductType(
        "running",
        "road running shoes",
        (90, 190),
        ("cushioned", "lightweight", "responsive foam"),
        ("marathon training", "daily miles on pavement", "race day"),
    ),
    ProductType(
        "running",
        "trail running shoes",
        (100, 200),
        ("grippy lugs", "rock plate", "breathable mesh"),
        ("muddy trail runs", "ultramarathons", "mountain running"),
    ),
    ProductType(
        "running",
        "running socks",
        (12, 28),
        ("blister-free", "moisture-wicking", "seamless toe"),
        ("long runs", "marathon day", "everyday training"),
    ),
    ProductType(
        "running",
        "GPS running watch",
        (150, 450),
        ("accurate GPS", "heart-rate tracking", "long battery"),
        ("pacing a marathon", "interval training", "tracking weekly mileage"),
    ),
    ProductType(
        "running",
        "hydration vest",
        (45, 130),
        ("bounce-free", "two soft flasks", "light"),
        ("long distance runs", "trail races", "marathon training"),
    ),
    ProductType(
        "running",
        "running shorts",
        (25, 65),
        ("split-leg", "quick-dry", "zip pocket"),
        ("summer runs", "race day", "track sessions"),
    ),
    ProductType(
        "running",
        "insulated running jacket",
        (90, 180),
        ("windproof", "reflective", "light insulation"),
        ("winter runs", "cold morning miles", "running in the dark"),
    ),
    # outerwear
    ProductType(
        "outerwear",
        "winter parka",
        (180, 650),
        ("down-filled", "waterproof", "fur-lined hood"),
        ("freezing city winters", "snowy commutes", "keeping warm in the cold"),
    ),
    ProductType(
        "outerwear",
        "down jacket",
        (130, 420),
        ("packable", "warm", "800-fill down"),
        ("cold weekends", "winter travel", "layering in the cold"),
    ),
    ProductType(
        "outerwear",
        "wool overcoat",
        (160, 520),
        ("tailored", "warm wool blend", "classic"),
        ("winter office days", "evenings out", "keeping warm in style"),
    ),
    ProductType(
        "outerwear",
        "rain shell",
        (80, 300),
        ("waterproof", "breathable", "taped seams"),
        ("rainy commutes", "wet hikes", "spring showers"),
    ),
    ProductType(
        "outerwear",
        "insulated gloves",
        (25, 80),
        ("warm", "touchscreen fingertips", "fleece-lined"),
        ("winter mornings", "snow days", "cold commutes"),
    ),
    ProductType(
        "outerwear",
        "fleece jacket",
        (45, 140),
        ("cosy", "warm", "recycled fleece"),
        ("chilly evenings", "layering under a shell", "autumn walks"),
    ),
    # electronics
    ProductType(
        "electronics",
        "laptop",
        (850, 2400),
        ("fast processor", "bright display", "all-day battery"),
        ("work and travel", "video editing", "office productivity"),
    ),
    ProductType(
        "electronics",
        "ultrabook laptop",
        (650, 1800),
        ("thin and light", "premium aluminium", "long battery"),
        ("work on the go", "business travel", "remote work"),
    ),
    ProductType(
        "electronics",
        "everyday notebook PC",
        (260, 480),
        ("affordable", "solid keyboard", "full HD screen"),
        ("work and study", "everyday browsing", "working from home"),
    ),
    ProductType(
        "electronics",
        "tablet",
        (180, 900),
        ("sharp screen", "stylus support", "light"),
        ("notes at work", "reading on the go", "travel entertainment"),
    ),
    ProductType(
        "electronics",
        "noise-cancelling headphones",
        (80, 420),
        ("quiet", "comfortable", "long battery"),
        ("focus at work", "flights and travel", "commuting"),
    ),
    ProductType(
        "electronics",
        "external monitor",
        (140, 750),
        ("4K", "USB-C", "adjustable stand"),
        ("a home office", "working from home", "laptop docking"),
    ),
    ProductType(
        "electronics",
        "wireless earbuds",
        (40, 260),
        ("sweat-proof", "secure fit", "clear calls"),
        ("running and workouts", "commuting", "calls at work"),
    ),
    # home
    ProductType(
        "home",
        "heated throw blanket",
        (35, 130),
        ("soft", "warm", "machine washable"),
        ("cold winter nights", "keeping warm on the sofa", "chilly evenings"),
    ),
    ProductType(
        "home",
        "space heater",
        (40, 160),
        ("quiet", "energy-efficient", "warm in minutes"),
        ("a cold home office", "winter evenings", "keeping a room warm"),
    ),
    ProductType(
        "home",
        "standing desk",
        (250, 850),
        ("sturdy", "electric height adjustment", "cable tray"),
        ("working from home", "a home office", "long work days"),
    ),
    ProductType(
        "home",
        "coffee maker",
        (40, 320),
        ("programmable", "thermal carafe", "fast brew"),
        ("busy mornings", "the home office", "weekend brunch"),
    ),
    ProductType(
        "home",
        "foam roller",
        (20, 60),
        ("firm", "textured", "travel size"),
        ("recovery after runs", "stretching", "sore legs"),
    ),
    # outdoor
    ProductType(
        "outdoor",
        "hiking boots",
        (110, 280),
        ("waterproof", "ankle support", "grippy outsole"),
        ("day hikes", "rocky trails", "long distance trekking"),
    ),
    ProductType(
        "outdoor",
        "winter sleeping bag",
        (70, 380),
        ("warm to -10C", "compressible", "down fill"),
        ("winter camping", "cold nights outdoors", "keeping warm in the tent"),
    ),
    ProductType(
        "outdoor",
        "backpacking tent",
        (130, 600),
        ("two-person", "lightweight", "storm-proof"),
        ("weekend camping", "thru-hikes", "alpine trips"),
    ),
    ProductType(
        "outdoor",
        "trekking poles",
        (40, 160),
        ("carbon", "foldable", "cork grips"),
        ("steep descents", "long distance hiking", "trail running in the mountains"),
    ),
    ProductType(
        "outdoor",
        "travel backpack",
        (60, 260),
        ("padded laptop sleeve", "weatherproof", "carry-on size"),
        ("work and travel", "commuting with a laptop", "weekend trips"),
    ),
    # fashion
    ProductType(
        "fashion",
        "casual sneakers",
        (55, 170),
        ("minimal", "leather", "all-day comfort"),
        ("everyday wear", "weekend outings", "city walks"),
    ),
    ProductType(
        "fashion",
        "leather boots",
        (130, 360),
        ("Chelsea style", "warm lining", "durable"),
        ("winter outfits", "office days", "evenings out"),
    ),
    ProductType(
        "fashion",
        "wool sweater",
        (45, 160),
        ("merino", "warm", "chunky knit"),
        ("cold days", "layering in winter", "keeping warm"),
    ),
    ProductType(
        "fashion",
        "dress shoes",
        (90, 320),
        ("polished leather", "cushioned insole", "classic"),
        ("the office", "weddings", "formal evenings"),
    ),
]

CATEGORIES: list[str] = sorted({t.category for t in TYPES})
