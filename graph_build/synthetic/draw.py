"""Procedural garment images: a category silhouette filled with a style's pattern and palette.

Everything is precomputed as small banks (silhouettes x shifts, patterns x phases) and images
are composed by fancy indexing over a chunk of pins at once.
"""

from __future__ import annotations

import numpy as np

from graph_build.synthetic.vocab import CATEGORIES

SHIFTS = [(dy, dx) for dy in (-2, 0, 2) for dx in (-2, 0, 2)]
PATTERNS = ("solid", "hstripes", "vstripes", "diagonal", "checks", "dots", "gradient", "zigzag")
N_PHASES = 4


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size * 2 - 1
    return np.meshgrid(c, c, indexing="xy")  # x to the right, y downwards


def silhouette(category: str, size: int) -> np.ndarray:
    """Boolean garment mask for ``category`` on a ``size`` x ``size`` canvas."""
    x, y = _grid(size)
    ax = np.abs(x)
    if category == "dress":
        m = (y > -0.8) & (y < 0.9) & (ax < 0.18 + 0.42 * (y + 0.8) / 1.7)
    elif category == "top":
        m = ((ax < 0.35) & (y > -0.55) & (y < 0.75)) | ((ax < 0.75) & (y > -0.55) & (y < -0.15))
    elif category == "trousers":
        m = ((ax < 0.4) & (y > -0.8) & (y < -0.3)) | ((ax > 0.06) & (ax < 0.42) & (y >= -0.3) & (y < 0.95))
    elif category == "skirt":
        m = (y > -0.35) & (y < 0.6) & (ax < 0.22 + 0.38 * (y + 0.35) / 0.95)
    elif category == "jacket":
        body = (ax < 0.42) & (y > -0.65) & (y < 0.85) & (ax > 0.03)
        m = body | ((ax < 0.85) & (y > -0.65) & (y < 0.45) & (ax > 0.42))
    elif category == "shoes":
        m = ((x > -0.8) & (x < 0.7) & (y > 0.25) & (y < 0.65)) | ((x > -0.8) & (x < -0.3) & (y > -0.25) & (y <= 0.25))
    elif category == "bag":
        ring = np.hypot(x, y + 0.1)
        m = ((ax < 0.62) & (y > -0.1) & (y < 0.8)) | ((ring > 0.3) & (ring < 0.42) & (y <= -0.1))
    elif category == "hat":
        m = ((np.hypot(x, y - 0.3) < 0.55) & (y < 0.3)) | ((ax < 0.88) & (y >= 0.25) & (y < 0.42))
    else:
        raise ValueError(f"unknown category {category!r}")
    return m


def silhouette_bank(size: int) -> np.ndarray:
    """Float32 masks indexed [category, shift]."""
    cats = list(CATEGORIES)
    bank = np.zeros((len(cats), len(SHIFTS), size, size), dtype=np.float32)
    for i, c in enumerate(cats):
        m = silhouette(c, size).astype(np.float32)
        for j, (dy, dx) in enumerate(SHIFTS):
            bank[i, j] = np.roll(m, (dy, dx), axis=(0, 1))
    return bank


def pattern(kind: str, size: int, period: float, phase: float) -> np.ndarray:
    """Pattern intensity in [0, 1] (1 = primary colour)."""
    x, y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32), indexing="xy")
    w = 2 * np.pi / period
    if kind == "solid":
        p = np.ones_like(x)
    elif kind == "hstripes":
        p = (np.sin(w * y + phase) > 0).astype(np.float32)
    elif kind == "vstripes":
        p = (np.sin(w * x + phase) > 0.5).astype(np.float32)
    elif kind == "diagonal":
        p = (np.sin(w * (x + y) / 1.4 + phase) > 0).astype(np.float32)
    elif kind == "checks":
        p = ((np.sin(w * x + phase) > 0) ^ (np.sin(w * y + phase) > 0)).astype(np.float32)
    elif kind == "dots":
        p = 1.0 - ((np.sin(w * x + phase) > 0.6) & (np.sin(w * y + phase) > 0.6)).astype(np.float32)
    elif kind == "gradient":
        p = np.clip(0.5 + 0.5 * np.sin(y / size * np.pi + phase / 2), 0, 1)
    elif kind == "zigzag":
        p = (np.sin(w * y + 1.5 * np.abs(((x / period) % 2) - 1) * np.pi + phase) > 0).astype(np.float32)
    else:
        raise ValueError(f"unknown pattern {kind!r}")
    return p.astype(np.float32)


def pattern_bank(kinds: list[str], periods: np.ndarray, size: int) -> np.ndarray:
    """Float32 patterns indexed [style, phase]."""
    bank = np.zeros((len(kinds), N_PHASES, size, size), dtype=np.float32)
    for s, (k, per) in enumerate(zip(kinds, periods)):
        for ph in range(N_PHASES):
            bank[s, ph] = pattern(k, size, float(per), ph * np.pi / 2)
    return bank


def compose(
    masks: np.ndarray,
    patterns: np.ndarray,
    primary: np.ndarray,
    secondary: np.ndarray,
    background: np.ndarray,
    noise: np.ndarray,
) -> np.ndarray:
    """uint8 images B x H x W x 3 from per-pin masks, patterns and colours (all float32).

    pixel = bg + mask * (secondary - bg + pattern * (primary - secondary)) + noise, computed in
    place to keep memory traffic low (this is the hot loop of ``graphrec synth``).
    """
    bg = background[:, None, None, :]
    img = patterns[..., None] * (primary - secondary)[:, None, None, :]
    img += (secondary - background)[:, None, None, :]
    img *= masks[..., None]
    img += bg
    img += noise
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)
