"""Static catalogues of the simulated world: institutions, merchant categories, devices, names.

Everything here is data; `world.py` samples from it. Fraud uses the same catalogues as
legitimate traffic (no fraud-only merchant, device model or name), so no column gives it away.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


@dataclass(frozen=True, slots=True)
class Institution:
    """A bank or gateway sending transactions: the `source` field, its customers, BINs, format."""

    source: str
    name: str
    countries: tuple[tuple[str, float], ...]  # customers' home countries and their weights
    share: float  # share of all customers
    bins: tuple[tuple[str, int], ...]  # (BIN, PAN length)
    native_format: str  # the format it writes in the `multi-bank` layout


INSTITUTIONS: tuple[Institution, ...] = (
    Institution(
        "nordbank-eu",
        "Nordbank",
        (("DE", 0.45), ("FR", 0.16), ("NL", 0.09), ("AT", 0.08), ("ES", 0.11), ("IT", 0.11)),
        0.34,
        (("455673", 16), ("455674", 16), ("535110", 16), ("522184", 16)),
        "cardnet-json",
    ),
    Institution(
        "albion-bank-uk",
        "Albion Bank",
        (("GB", 1.0),),
        0.26,
        (("475129", 16), ("465859", 16), ("543460", 16), ("557347", 16)),
        "bank-csv",
    ),
    Institution(
        "liberty-pay-us",
        "Liberty Pay",
        (("US", 1.0),),
        0.26,
        (("414720", 16), ("426684", 16), ("542418", 16), ("379764", 15)),
        "iso8583-log",
    ),
    Institution(
        "sakura-card-jp",
        "Sakura Card",
        (("JP", 1.0),),
        0.14,
        (("353011", 16), ("356600", 16), ("490222", 16), ("524112", 16)),
        "json",
    ),
)


class Kind(IntEnum):
    """Where a merchant category is sold: in a shop, online, or both."""

    PHYSICAL = 1
    ONLINE = 2
    BOTH = 3


@dataclass(frozen=True, slots=True)
class Category:
    """A merchant category (MCC) and its spending: median amount in EUR and lognormal sigma."""

    mcc: str
    label: str
    kind: Kind
    weight: float  # how often an average customer buys in it
    median_eur: float
    sigma: float
    words: tuple[str, ...]  # merchant name endings


CATEGORIES: tuple[Category, ...] = (
    Category("5411", "grocery", Kind.BOTH, 0.22, 32.0, 0.7, ("Market", "Grocers", "Foods")),
    Category("5499", "convenience", Kind.PHYSICAL, 0.08, 9.0, 0.6, ("Corner Shop", "Express")),
    Category("5812", "restaurant", Kind.PHYSICAL, 0.10, 38.0, 0.6, ("Bistro", "Kitchen", "Grill")),
    Category("5814", "fast_food", Kind.PHYSICAL, 0.09, 12.0, 0.5, ("Burger", "Noodles", "Deli")),
    Category("5541", "fuel", Kind.PHYSICAL, 0.06, 55.0, 0.35, ("Fuel", "Petrol", "Service")),
    Category("5912", "pharmacy", Kind.PHYSICAL, 0.04, 18.0, 0.7, ("Pharmacy", "Chemist")),
    Category("5311", "department", Kind.BOTH, 0.04, 70.0, 0.8, ("Department Store", "Galleria")),
    Category("5651", "clothing", Kind.BOTH, 0.05, 60.0, 0.7, ("Fashion", "Outfitters", "Wear")),
    Category("5732", "electronics", Kind.BOTH, 0.025, 160.0, 1.0, ("Electronics", "Tech")),
    Category("5944", "jewellery", Kind.BOTH, 0.005, 220.0, 0.9, ("Jewellers", "Gold")),
    Category("4111", "transit", Kind.PHYSICAL, 0.06, 3.0, 0.6, ("Transit", "Metro")),
    Category("4121", "rideshare", Kind.ONLINE, 0.04, 18.0, 0.5, ("Rides", "Cabs")),
    Category("5815", "digital", Kind.ONLINE, 0.05, 6.0, 0.9, ("Games", "Apps", "Music")),
    Category("5942", "books", Kind.BOTH, 0.02, 20.0, 0.5, ("Books", "Reads")),
    Category("4814", "telecom", Kind.ONLINE, 0.02, 30.0, 0.4, ("Mobile", "Telecom")),
    Category("7011", "hotel", Kind.BOTH, 0.01, 140.0, 0.7, ("Hotel", "Inn", "Suites")),
    Category("4511", "airline", Kind.ONLINE, 0.006, 240.0, 0.8, ("Airways", "Air")),
    Category("5999", "marketplace", Kind.ONLINE, 0.07, 35.0, 0.9, ("Marketplace", "Bazaar")),
    Category("7995", "gambling", Kind.ONLINE, 0.006, 40.0, 1.0, ("Bet", "Casino")),
    Category("8398", "charity", Kind.ONLINE, 0.004, 25.0, 0.8, ("Foundation", "Relief Fund")),
)
MCC_INDEX: dict[str, int] = {c.mcc: i for i, c in enumerate(CATEGORIES)}
PHYSICAL: tuple[int, ...] = tuple(i for i, c in enumerate(CATEGORIES) if c.kind & Kind.PHYSICAL)
ONLINE: tuple[int, ...] = tuple(i for i, c in enumerate(CATEGORIES) if c.kind & Kind.ONLINE)
ATM_MCC = "6011"
TRANSFER_MCC = "4829"

# categories that fraud prefers (resellable goods, cash-like) and legitimate big tickets use
HIGH_VALUE: tuple[int, ...] = tuple(
    MCC_INDEX[m] for m in ("5732", "5944", "5311", "5651", "4511", "7011")
)
RESELLABLE: tuple[int, ...] = tuple(MCC_INDEX[m] for m in ("5732", "5944", "5311", "5651"))
CARD_TESTING: tuple[int, ...] = tuple(MCC_INDEX[m] for m in ("8398", "5815", "5999"))

# channels, entry modes: the indices are what the generated columns hold
CHANNELS: tuple[str, ...] = ("card_present", "ecommerce", "atm", "transfer", "wallet")
CARD_PRESENT, ECOMMERCE, ATM, TRANSFER, WALLET = range(5)
ENTRY_MODES: tuple[str, ...] = (
    "chip",
    "contactless",
    "magstripe",
    "manual",
    "ecommerce",
    "wallet_nfc",
    "wallet_inapp",
    "online_banking",
)
CHIP, CONTACTLESS, MAGSTRIPE, MANUAL, ECOM, WALLET_NFC, WALLET_INAPP, ONLINE_BANKING = range(8)
THREE_DS: tuple[str, ...] = ("authenticated", "frictionless", "not_enrolled")

# customer profile carried in every transaction's attributes (fairness groups, never features):
# age bands with their share of card holders, and banking segments
AGE_BANDS: tuple[tuple[str, float], ...] = (
    ("18-24", 0.11), ("25-34", 0.20), ("35-49", 0.28), ("50-64", 0.24), ("65+", 0.17),
)  # fmt: skip
SEGMENTS: tuple[str, ...] = ("mass", "small_business", "affluent", "private")


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    type: str
    os: str
    user_agent: str
    weight: float  # among customers' devices
    fraud_weight: float  # among fraudsters' devices: older Androids, desktops, emulators


_SAFARI = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
_CHROME = "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0"
DEVICE_PROFILES: tuple[DeviceProfile, ...] = (
    DeviceProfile(
        "mobile",
        "iOS 17.4",
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) {_SAFARI} Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        0.30,
        0.12,
    ),
    DeviceProfile(
        "mobile",
        "iOS 16.7",
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 16_7 like Mac OS X) {_SAFARI} Version/16.6 "
        "Mobile/15E148 Safari/604.1",
        0.08,
        0.08,
    ),
    DeviceProfile(
        "mobile",
        "Android 14",
        f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {_CHROME} Mobile Safari/537.36",
        0.12,
        0.10,
    ),
    DeviceProfile(
        "mobile",
        "Android 13",
        f"Mozilla/5.0 (Linux; Android 13; SM-S911B) {_CHROME} Mobile Safari/537.36",
        0.14,
        0.16,
    ),
    DeviceProfile(
        "mobile",
        "Android 10",
        f"Mozilla/5.0 (Linux; Android 10; SM-G973F) {_CHROME} Mobile Safari/537.36",
        0.04,
        0.16,
    ),
    DeviceProfile(
        "desktop",
        "Windows 11",
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {_CHROME} Safari/537.36",
        0.14,
        0.18,
    ),
    DeviceProfile(
        "desktop",
        "Windows 10",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
        0.05,
        0.12,
    ),
    DeviceProfile(
        "desktop",
        "macOS 14",
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {_SAFARI} Version/17.4 Safari/605.1.15",
        0.08,
        0.03,
    ),
    DeviceProfile(
        "desktop",
        "Linux",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        0.01,
        0.04,
    ),
    DeviceProfile(
        "tablet",
        "iPadOS 17.4",
        f"Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) {_SAFARI} Version/17.4 "
        "Mobile/15E148 Safari/604.1",
        0.04,
        0.01,
    ),
)

# first and last names per language group; countries map to a group below
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "de": (
        ("Anna", "Lukas", "Lena", "Jonas", "Marie", "Felix", "Sophie", "Paul", "Hannah", "Max"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker"),
    ),
    "fr": (
        ("Camille", "Louis", "Chloé", "Hugo", "Léa", "Arthur", "Manon", "Jules", "Inès", "Lucas"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand"),
    ),
    "nl": (
        ("Emma", "Daan", "Julia", "Sem", "Tess", "Lucas", "Sara", "Finn", "Noor", "Levi"),
        ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "Visser", "Smit", "Meijer"),
    ),
    "es": (
        ("Lucía", "Hugo", "Martina", "Mateo", "Sofía", "Pablo", "Julia", "Daniel", "Paula", "Leo"),
        ("García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez"),
    ),
    "it": (
        ("Giulia", "Leonardo", "Sofia", "Francesco", "Aurora", "Alessandro", "Ginevra", "Lorenzo"),
        ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci"),
    ),
    "en": (
        ("Olivia", "Oliver", "Amelia", "George", "Isla", "Noah", "Ava", "Jack", "Emily", "Harry"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies"),
    ),
    "us": (
        ("Liam", "Emma", "Noah", "Olivia", "James", "Ava", "Elijah", "Mia", "Lucas", "Sofia"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis"),
    ),
    "jp": (
        ("Haruto", "Yui", "Sota", "Hina", "Yuto", "Mei", "Riku", "Aoi", "Ren", "Sakura"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura"),
    ),
}
NAME_GROUP: dict[str, str] = {
    "DE": "de",
    "AT": "de",
    "FR": "fr",
    "NL": "nl",
    "ES": "es",
    "IT": "it",
    "GB": "en",
    "IE": "en",
    "US": "us",
    "JP": "jp",
}
EMAIL_DOMAINS: tuple[str, ...] = ("mail.example", "post.example", "inbox.example", "web.example")

# first words of merchant names, combined with the category's words
MERCHANT_STEMS: tuple[str, ...] = (
    "Sunrise", "Oak", "Harbor", "Blue Fox", "Linden", "Maple", "Northern", "Atlas", "Golden",
    "Silver", "Riverside", "Crown", "Pioneer", "Summit", "Lakeside", "Evergreen", "Union",
    "Central", "Park", "Metro", "Star", "Royal", "Urban", "Coastal", "Highland", "Meridian",
    "Beacon", "Orchard", "Cedar", "Willow", "Aurora", "Horizon", "Vista", "Nova", "Zenith",
)  # fmt: skip
ATM_OPERATORS: tuple[str, ...] = ("CashPoint", "QuickCash", "Metro ATM", "Cash Express")
