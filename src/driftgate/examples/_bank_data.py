"""Reference data of the bank example: categories, merchants and their two spellings.

Each merchant has its classic card-statement name (the established banks) and the name the
new bank integration uses. Some renames keep the name readable (`SHELL` → `SHELL-RETAIL`),
some do not (`TFL TRAVEL CH` → `TfL*Contactless`, `SAINSBURYS S/MKTS` → `SBRY-LCL`); a few
merchants are deliberately confusable across categories, as in real statements: Tesco sells
groceries and fuel (`TESCO PFS`), Amazon sells goods and video, Uber drives and delivers
food, John Lewis owns Waitrose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["store", "online", "dd", "so", "credit"]

CATEGORIES: tuple[str, ...] = (
    "groceries",
    "dining",
    "transport",
    "fuel",
    "utilities",
    "rent",
    "entertainment",
    "health",
    "shopping",
    "income",
)

# Relative frequency of each category in the golden set (card traffic is mostly
# groceries and dining; rent is monthly). The smallest share still gives ~25 cases of 480.
CATEGORY_WEIGHTS: dict[str, int] = {
    "groceries": 16,
    "dining": 14,
    "transport": 12,
    "fuel": 7,
    "utilities": 9,
    "rent": 5,
    "entertainment": 9,
    "health": 7,
    "shopping": 13,
    "income": 8,
}

# Amount ranges in the account currency (absolute values; income is a credit).
AMOUNTS: dict[str, tuple[float, float]] = {
    "groceries": (2.5, 140.0),
    "dining": (2.2, 75.0),
    "transport": (1.75, 85.0),
    "fuel": (20.0, 95.0),
    "utilities": (18.0, 160.0),
    "rent": (650.0, 2200.0),
    "entertainment": (4.99, 120.0),
    "health": (3.0, 240.0),
    "shopping": (4.0, 420.0),
    "income": (25.0, 4200.0),
}

# (city as printed by the established banks, three-letter code of the new bank)
CITIES: tuple[tuple[str, str], ...] = (
    ("LONDON", "LND"),
    ("MANCHESTER", "MAN"),
    ("BRISTOL", "BRS"),
    ("LEEDS", "LDS"),
    ("GLASGOW", "GLA"),
    ("BIRMINGHAM", "BHM"),
    ("EDINBURGH", "EDI"),
    ("CARDIFF", "CDF"),
    ("LIVERPOOL", "LPL"),
    ("NOTTINGHAM", "NTM"),
    ("BRIGHTON", "BTN"),
    ("OXFORD", "OXF"),
)

ESTABLISHED_BANKS: tuple[str, ...] = ("northwind", "harbour")
NEW_BANK = "lumen"


@dataclass(frozen=True, slots=True)
class Merchant:
    key: str
    category: str
    classic: str  # as printed by the established banks
    renamed: str  # as sent by the new bank integration
    kind: (
        Kind  # store | online (card not present) | dd (direct debit) | so (standing order) | credit
    )
    weight: int = 1  # how often it is drawn, relative to the other merchants of its category


# Merchants that dominate real statements (and carry the story's renames) are drawn more.
POPULAR: dict[str, int] = {
    "TESCO STORES": 3,
    "SAINSBURYS S/MKTS": 2,
    "PRET A MANGER": 2,
    "TFL TRAVEL CH": 4,
    "UBER TRIP": 2,
    "AMAZON.CO.UK": 3,
    "NETFLIX.COM": 2,
    "SALARY ACME LTD": 3,
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _m(category: str, kind: Kind, *pairs: tuple[str, str]) -> list[Merchant]:
    return [
        Merchant(
            key=_slug(classic),
            category=category,
            classic=classic,
            renamed=renamed,
            kind=kind,
            weight=POPULAR.get(classic, 1),
        )
        for classic, renamed in pairs
    ]


MERCHANTS: dict[str, list[Merchant]] = {
    "groceries": _m(
        "groceries",
        "store",
        ("TESCO STORES", "TESCO-EXP"),
        ("SAINSBURYS S/MKTS", "SBRY-LCL"),
        ("ASDA STORES", "ASDA-GRP"),
        ("MORRISONS", "WM-MORRISON"),
        ("ALDI STORES", "ALDI-UK"),
        ("LIDL GB", "LIDL*GB"),
        ("WAITROSE", "JLP-WAITROSE"),
        ("CO-OP GROUP FOOD", "COOP-FOOD"),
        ("M&S SIMPLY FOOD", "MARKS&SPENCER-SF"),
        ("ICELAND FOODS", "ICELAND-FZN"),
    )
    + _m("groceries", "online", ("OCADO RETAIL", "OCADO.COM")),
    "dining": _m(
        "dining",
        "store",
        ("PRET A MANGER", "PRET-A-MGR"),
        ("STARBUCKS", "SBUX"),
        ("COSTA COFFEE", "COSTA-CFE"),
        ("NANDOS", "NANDOS-CHKN"),
        ("MCDONALDS", "MCD-RESTAURANTS"),
        ("GREGGS", "GREGGS-PLC"),
        ("WAGAMAMA", "WAGAMAMA-LTD"),
        ("PIZZA EXPRESS", "PZEXP"),
    )
    + _m(
        "dining",
        "online",
        ("DELIVEROO", "DELIVEROO*ORDER"),
        ("JUST EAT", "JUSTEAT.CO.UK"),
        ("UBER EATS", "UBER*EATS"),
    ),
    "transport": _m(
        "transport",
        "online",
        ("TFL TRAVEL CH", "TfL*Contactless"),
        ("TRAINLINE.COM", "TRAINLINE*TKT"),
        ("UBER TRIP", "UBER*TRIP"),
        ("LIME RIDE", "LIME*RIDE"),
    )
    + _m(
        "transport",
        "store",
        ("NATIONAL EXPRESS", "NATEXP-COACH"),
        ("STAGECOACH BUS", "SCOACH-BUS"),
        ("AVANTI WEST COAST", "AVANTI-WC"),
        ("ADDISON LEE", "ADDLEE-CAB"),
        ("NCP CAR PARK", "NCP-PARKING"),
    ),
    "fuel": _m(
        "fuel",
        "store",
        ("SHELL", "SHELL-RETAIL"),
        ("BP", "BP-CONNECT"),
        ("ESSO", "EG-ESSO"),
        ("TESCO PFS", "TESCO-PFS"),
        ("SAINSBURYS PETROL", "SBRY-PETROL"),
        ("TEXACO", "TEXACO-VALERO"),
        ("JET PETROL", "JET-FUEL"),
        ("ASDA EXPRESS PETROL", "ASDA-EXPR-PFS"),
    ),
    "utilities": _m(
        "utilities",
        "dd",
        ("BRITISH GAS", "BG-ENERGY"),
        ("OCTOPUS ENERGY", "OCTOPUS-NRG"),
        ("EDF ENERGY", "EDF-CUSTOMERS"),
        ("THAMES WATER", "THAMESWTR-UTIL"),
        ("BT GROUP", "BT-BROADBAND"),
        ("VIRGIN MEDIA", "VMED-O2"),
        ("VODAFONE LTD", "VODAFONE-UK"),
        ("EE LIMITED", "EE-MOBILE"),
        ("LB HACKNEY CTAX", "CTAX-HACKNEY"),
    ),
    "rent": _m(
        "rent",
        "so",
        ("FOXTONS LETTINGS", "FOXTONS-RENT"),
        ("OPENRENT", "OPENRENT*RENT"),
        ("GRAINGER PLC", "GRAINGER-RESI"),
        ("GET LIVING", "GETLIVING-LDN"),
        ("LANDLORD J MARSH", "J-MARSH-RENT"),
        ("QUINTAIN LIVING", "TIPI-QUINTAIN"),
        ("RENT A OKAFOR", "A-OKAFOR-RENT"),
    ),
    "entertainment": _m(
        "entertainment",
        "online",
        ("NETFLIX.COM", "NETFLIX*SUB"),
        ("SPOTIFY UK", "SPOTIFY*P2B"),
        ("DISNEY PLUS", "DISNEYPLUS"),
        ("TICKETMASTER UK", "TM*TICKETMSTR"),
        ("STEAM PURCHASE", "STEAMGAMES.COM"),
        ("PLAYSTATION NETWORK", "PSN*SONY"),
        ("AMAZON PRIME VIDEO", "PRIME-VIDEO*AMZN"),
    )
    + _m("entertainment", "store", ("ODEON CINEMAS", "ODEON-CIN"), ("VUE CINEMAS", "VUE-ENT")),
    "health": _m(
        "health",
        "store",
        ("BOOTS", "BOOTS-UK"),
        ("SUPERDRUG", "SUPERDRUG-STR"),
        ("LLOYDS PHARMACY", "LLOYDSPHARM"),
        ("SPECSAVERS", "SPECSVRS-OPT"),
        ("MYDENTIST", "MYDENTIST-IDH"),
    )
    + _m("health", "dd", ("BUPA", "BUPA-INSUR"), ("PUREGYM", "PUREGYM-MBR"))
    + _m("health", "online", ("NHS PRESCRIPTION", "NHSBSA-PPC")),
    "shopping": _m(
        "shopping",
        "online",
        ("AMAZON.CO.UK", "AMZN Mktp UK"),
        ("EBAY", "EBAY*O2"),
    )
    + _m(
        "shopping",
        "store",
        ("ARGOS", "ARGOS-RTL"),
        ("JOHN LEWIS", "JLP-JOHNLEWIS"),
        ("IKEA", "IKEA-UK"),
        ("PRIMARK", "PRIMARK-STORES"),
        ("NEXT RETAIL", "NEXT-DIRECTORY"),
        ("CURRYS", "CURRYS-PCW"),
        ("ZARA UK", "ZARA-INDITEX"),
    ),
    "income": _m(
        "income",
        "credit",
        ("SALARY ACME LTD", "ACME-LTD-PAYROLL"),
        ("HMRC TAX REFUND", "HMRC-REFUND"),
        ("INTEREST PAID", "CREDIT-INTEREST"),
        ("DWP CHILD BENEFIT", "DWP-CHB"),
        ("TRANSFER FROM J DOE", "J-DOE"),
        ("PAYPAL TRANSFER", "PAYPAL*WITHDRAW"),
        ("VINTED PAYOUT", "VINTED*PAYOUT"),
        ("STRIPE PAYOUT", "STRIPE*PAYOUTS"),
    ),
}

assert set(MERCHANTS) == set(CATEGORIES) == set(CATEGORY_WEIGHTS) == set(AMOUNTS)
