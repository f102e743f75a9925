"""Fixed vocabularies of the synthetic catalogue: styles, colours, categories, brands."""

from __future__ import annotations

import numpy as np

# name -> (style words, occasions, pattern, palette colour names, price level 0..2)
STYLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, tuple[str, str, str], int]] = {
    "boho": (
        ("boho", "flowy", "earthy", "fringe", "free-spirited"),
        ("festivals", "beach days"),
        "zigzag",
        ("terracotta", "mustard", "cream"),
        1,
    ),
    "minimalist": (
        ("minimal", "clean", "sleek", "understated", "essential"),
        ("the office", "everyday"),
        "solid",
        ("white", "black", "grey"),
        2,
    ),
    "streetwear": (
        ("street", "oversized", "urban", "hype", "graphic"),
        ("the skatepark", "weekends"),
        "diagonal",
        ("black", "red", "white"),
        1,
    ),
    "preppy": (
        ("preppy", "collegiate", "polished", "classic", "crisp"),
        ("campus", "brunch"),
        "checks",
        ("navy", "white", "forest"),
        2,
    ),
    "grunge": (
        ("grunge", "distressed", "moody", "ripped", "layered"),
        ("gigs", "late nights"),
        "checks",
        ("charcoal", "burgundy", "olive"),
        0,
    ),
    "romantic": (
        ("romantic", "delicate", "lacy", "soft", "dreamy"),
        ("date night", "weddings"),
        "dots",
        ("blush", "cream", "lilac"),
        1,
    ),
    "sporty": (
        ("sporty", "athletic", "performance", "active", "breathable"),
        ("the gym", "running"),
        "hstripes",
        ("electric", "white", "lime"),
        1,
    ),
    "vintage": (
        ("vintage", "retro", "thrifted", "heritage", "timeless"),
        ("markets", "dinner parties"),
        "dots",
        ("mustard", "teal", "rust"),
        1,
    ),
    "punk": (
        ("punk", "studded", "rebel", "edgy", "leather"),
        ("concerts", "nights out"),
        "diagonal",
        ("black", "red", "silver"),
        0,
    ),
    "coastal": (
        ("coastal", "breezy", "linen", "relaxed", "sunlit"),
        ("the seaside", "summer"),
        "hstripes",
        ("sky", "white", "sand"),
        2,
    ),
    "cottagecore": (
        ("cottagecore", "floral", "pastoral", "gingham", "whimsical"),
        ("picnics", "gardens"),
        "checks",
        ("sage", "cream", "blush"),
        0,
    ),
    "techwear": (
        ("techwear", "utility", "technical", "modular", "waterproof"),
        ("commuting", "city hikes"),
        "vstripes",
        ("black", "charcoal", "olive"),
        2,
    ),
    "glam": (
        ("glam", "sparkly", "luxe", "statement", "metallic"),
        ("parties", "galas"),
        "gradient",
        ("gold", "black", "burgundy"),
        2,
    ),
    "workwear": (
        ("workwear", "rugged", "durable", "canvas", "hardwearing"),
        ("the workshop", "outdoors"),
        "vstripes",
        ("rust", "navy", "sand"),
        1,
    ),
    "y2k": (
        ("y2k", "playful", "glossy", "butterfly", "cyber"),
        ("clubs", "festivals"),
        "gradient",
        ("pink", "lilac", "silver"),
        0,
    ),
    "scandi": (
        ("scandi", "muted", "cosy", "functional", "hygge"),
        ("weekends", "cafes"),
        "solid",
        ("grey", "sand", "white"),
        2,
    ),
    "western": (
        ("western", "rodeo", "suede", "frontier", "ranch"),
        ("the ranch", "road trips"),
        "zigzag",
        ("tan", "rust", "cream"),
        1,
    ),
    "gothic": (
        ("gothic", "dark", "victorian", "velvet", "mysterious"),
        ("the opera", "evenings"),
        "solid",
        ("black", "burgundy", "purple"),
        1,
    ),
    "safari": (
        ("safari", "khaki", "adventure", "explorer", "pocketed"),
        ("travel", "expeditions"),
        "dots",
        ("khaki", "olive", "sand"),
        1,
    ),
    "nautical": (
        ("nautical", "sailor", "marine", "anchored", "striped"),
        ("sailing", "the harbour"),
        "hstripes",
        ("navy", "white", "red"),
        2,
    ),
    "artsy": (
        ("artsy", "eclectic", "painterly", "bold", "expressive"),
        ("galleries", "studios"),
        "zigzag",
        ("teal", "mustard", "pink"),
        0,
    ),
    "retro": (
        ("seventies", "groovy", "psychedelic", "disco", "flared"),
        ("roller discos", "parties"),
        "gradient",
        ("orange", "mustard", "brown"),
        0,
    ),
    "urban": (
        ("city", "modern", "sharp", "tailored", "commuter"),
        ("meetings", "city breaks"),
        "vstripes",
        ("grey", "navy", "black"),
        2,
    ),
    "classic": (
        ("classic", "elegant", "refined", "tailored", "heritage"),
        ("dinners", "the theatre"),
        "checks",
        ("camel", "navy", "cream"),
        2,
    ),
}

COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (240, 240, 236),
    "black": (25, 25, 28),
    "grey": (128, 128, 132),
    "charcoal": (60, 62, 66),
    "navy": (30, 40, 90),
    "sky": (130, 185, 230),
    "teal": (20, 128, 128),
    "electric": (40, 90, 240),
    "red": (200, 30, 40),
    "burgundy": (110, 20, 40),
    "pink": (240, 120, 180),
    "blush": (235, 190, 185),
    "lilac": (190, 160, 220),
    "purple": (100, 40, 140),
    "orange": (240, 130, 30),
    "rust": (170, 75, 30),
    "terracotta": (200, 100, 70),
    "mustard": (215, 170, 40),
    "gold": (212, 175, 55),
    "sand": (220, 200, 160),
    "tan": (200, 160, 110),
    "camel": (190, 145, 90),
    "khaki": (170, 160, 110),
    "brown": (110, 70, 40),
    "cream": (245, 235, 205),
    "olive": (110, 115, 50),
    "forest": (30, 90, 50),
    "sage": (160, 185, 150),
    "lime": (170, 220, 50),
    "silver": (190, 195, 200),
}

# category -> words used in titles
CATEGORIES: dict[str, tuple[str, ...]] = {
    "dress": ("dress", "gown", "frock"),
    "top": ("top", "tee", "blouse"),
    "trousers": ("trousers", "pants", "slacks"),
    "skirt": ("skirt", "midi skirt", "mini skirt"),
    "jacket": ("jacket", "coat", "blazer"),
    "shoes": ("shoes", "boots", "sneakers"),
    "bag": ("bag", "tote", "handbag"),
    "hat": ("hat", "cap", "beanie"),
}

PATTERN_WORDS = {
    "solid": "plain",
    "hstripes": "striped",
    "vstripes": "pinstriped",
    "diagonal": "diagonal-print",
    "checks": "checked",
    "dots": "polka-dot",
    "gradient": "ombre",
    "zigzag": "chevron",
}
BOARD_THEMES = ("ideas", "inspo", "outfits", "wishlist", "looks", "finds", "closet", "moodboard")
GENERIC_WORDS = ("new", "favourite", "must-have", "everyday", "cute", "lovely", "stylish", "perfect")
_BRAND_A = ("Aur", "Bel", "Cor", "Dun", "Elv", "Fal", "Gor", "Hal", "Iv", "Jas", "Kel", "Lum", "Mor", "Nov", "Or")
_BRAND_B = ("ora", "ette", "wick", "ston", "ley", "mont", "ara", "ix")


def style_names(n_styles: int) -> list[str]:
    """The first ``n_styles`` style names; beyond the base list, numbered variants."""
    base = list(STYLES)
    return [base[i % len(base)] + (f"-{i // len(base) + 1}" if i >= len(base) else "") for i in range(n_styles)]


def brands(n: int) -> list[str]:
    return [(_BRAND_A[i % len(_BRAND_A)] + _BRAND_B[(i // len(_BRAND_A)) % len(_BRAND_B)]) for i in range(n)]


def colour_rgb() -> tuple[list[str], np.ndarray]:
    names = list(COLOURS)
    return names, np.array([COLOURS[n] for n in names], dtype=np.float32)
