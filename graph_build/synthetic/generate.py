"""``graphrec synth``: a seeded synthetic fashion catalogue written as a contract dataset.

Planted structure (written to ``truth/`` so evaluation can compute an oracle):

* every pin has a **style** (visible in its image pattern/palette, its text and its brand, with
  noise) and a **niche** inside the style (only a faint trace in the image: colour brightness);
* owners like 3 styles; each board mixes 1-3 of its owner's styles and prefers one niche per
  style, so co-saves reveal niches that content alone barely shows (what graph models add);
* pins are created uniformly over time and saved only after creation, with popularity that
  grows with exposure, so the newest pins are the cold ones.

All sampling is vectorised; images are drawn in chunks straight into a memory-mapped
``images.npy``, so 1M pins / 10M saves fit comfortably in memory.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph_build.synthetic import draw
from graph_build.synthetic.vocab import (
    BOARD_THEMES,
    CATEGORIES,
    GENERIC_WORDS,
    PATTERN_WORDS,
    STYLES,
    brands,
    colour_rgb,
    style_names,
)
from graphrec.utils.config import check_min, check_positive, check_range
from graphrec.utils.io import atomic_output_dir, check_output_free, write_json, write_parquet
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)
_DAY = 86400


SYNTH = "data.synth"
"""Where SynthConfig sits in a run config (``graphrec synth`` reads the same section)."""


@dataclass(frozen=True)
class SynthConfig:
    """Size and noise of the synthetic catalogue.

    Args:
        n_pins: catalogue size.
        n_styles: planted styles (24 have distinct vocabularies; more reuse them).
        niches_per_style: hidden sub-styles per style that boards prefer.
        saves_per_pin: mean saves per pin (sets the number of boards).
        mean_board_size: mean saves per board (log-normal sizes, at least 2).
        boards_per_owner: mean boards per owner.
        niche_focus: chance a save comes from the board's preferred niche of the chosen style.
        save_noise: share of saves that go to a random pin of any style.
        text_noise: chance a style word in a title/description comes from another style.
        colour_noise: chance a pin's colour is off its style's palette.
        image_size: square image side in pixels.
        n_brands: number of brands.
        start, end: ISO dates bounding pin creation and saves.
        seed: the one seed.
    """

    n_pins: int = 5000
    n_styles: int = 12
    niches_per_style: int = 4
    saves_per_pin: float = 10.0
    mean_board_size: float = 20.0
    boards_per_owner: float = 3.0
    niche_focus: float = 0.7
    save_noise: float = 0.05
    text_noise: float = 0.2
    colour_noise: float = 0.25
    image_size: int = 32
    n_brands: int = 40
    start: str = "2024-01-01"
    end: str = "2025-12-31"
    seed: int = 0

    def __post_init__(self) -> None:
        check_min(SYNTH, self, 1, "n_styles", "niches_per_style", "n_brands")
        check_min(SYNTH, self, self.n_styles * self.niches_per_style, "n_pins")  # n_styles * niches_per_style
        check_min(SYNTH, self, 8, "image_size")
        check_positive(SYNTH, self, "saves_per_pin", "mean_board_size", "boards_per_owner")
        check_range(SYNTH, self, "niche_focus", "save_noise", "text_noise", "colour_noise", hi_closed=True)


@dataclass
class _Styles:
    names: list[str]
    words: np.ndarray  # S x 5 object
    occasions: np.ndarray  # S x 2 object
    pattern: list[str]
    period: np.ndarray
    palette: np.ndarray  # S x 3 colour indices
    price_level: np.ndarray
    brands: np.ndarray  # S x 4 brand indices
    category_probs: np.ndarray  # S x n_categories


def _styles(cfg: SynthConfig, rng: np.random.Generator) -> _Styles:
    names = style_names(cfg.n_styles)
    colour_names, _ = colour_rgb()
    base = [STYLES[n.split("-")[0]] for n in names]
    variant = np.array([0 if "-" not in n else int(n.rsplit("-", 1)[1]) for n in names])
    pattern = [
        b[2] if v == 0 else draw.PATTERNS[(i * 3 + v) % len(draw.PATTERNS)]
        for i, (b, v) in enumerate(zip(base, variant))
    ]
    palette = np.array([[colour_names.index(c) for c in b[3]] for b in base])
    palette[variant > 0] = rng.integers(len(colour_names), size=(int((variant > 0).sum()), 3))
    return _Styles(
        names=names,
        words=np.array([b[0] for b in base], dtype=object),
        occasions=np.array([b[1] for b in base], dtype=object),
        pattern=pattern,
        period=rng.integers(4, 9, size=cfg.n_styles),
        palette=palette,
        price_level=np.array([b[4] for b in base]),
        brands=np.stack([rng.permutation(cfg.n_brands)[:4] for _ in range(cfg.n_styles)]),
        category_probs=rng.dirichlet(np.full(len(CATEGORIES), 1.5), size=cfg.n_styles),
    )


def _timestamp(date: str) -> int:
    return int(pd.Timestamp(date, tz="UTC").timestamp())


def _sample_rows(probs: np.ndarray, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draw per item from ``probs[rows]`` using uniforms ``u``."""
    cum = np.cumsum(probs, axis=1)
    return np.minimum((u[:, None] > cum[rows]).sum(axis=1), probs.shape[1] - 1)


def _pins(cfg: SynthConfig, st: _Styles, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n, S, K = cfg.n_pins, cfg.n_styles, cfg.niches_per_style
    groups = np.concatenate([np.arange(S * K), rng.integers(S * K, size=n - S * K)])
    style_p = rng.dirichlet(np.full(S, 5.0))
    groups[S * K :] = rng.choice(S, size=n - S * K, p=style_p) * K + rng.integers(K, size=n - S * K)
    groups = rng.permutation(groups)
    style, niche = groups // K, groups % K
    category = _sample_rows(st.category_probs, style, rng.random(n))
    n_col = len(colour_rgb()[0])
    on_palette = rng.random(n) >= cfg.colour_noise
    colour = np.where(on_palette, st.palette[style, rng.integers(0, 2, size=n)], rng.integers(n_col, size=n))
    colour2 = np.where(rng.random(n) < 0.8, st.palette[style, 2], rng.integers(n_col, size=n))
    brand = np.where(rng.random(n) < 0.7, st.brands[style, rng.integers(4, size=n)], rng.integers(cfg.n_brands, size=n))
    price = np.round(np.exp(rng.normal(np.log(20.0 * 3.0 ** st.price_level[style]), 0.4)), 2)
    t0, t1 = _timestamp(cfg.start), _timestamp(cfg.end)
    created = rng.integers(t0, t1 - _DAY, size=n)
    exposure = (t1 - created) / (t1 - t0)
    appeal = rng.pareto(2.0, size=n) + 1.0
    popularity = appeal * exposure**0.7
    return dict(
        style=style,
        niche=niche,
        category=category,
        colour=colour,
        colour2=colour2,
        brand=brand,
        price=price,
        created=created,
        appeal=appeal,
        popularity=popularity,
        t1=np.int64(t1),
    )


def _pick(table: np.ndarray, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return table[rows, rng.integers(table.shape[1], size=len(rows))]


def _noisy_style(style: np.ndarray, p: float, S: int, rng: np.random.Generator) -> np.ndarray:
    return np.where(rng.random(len(style)) < p, rng.integers(S, size=len(style)), style)


def _pin_text(cfg: SynthConfig, st: _Styles, pins: dict[str, np.ndarray], rng: np.random.Generator):
    n, S = cfg.n_pins, cfg.n_styles
    colour_names = np.array(colour_rgb()[0], dtype=object)
    cat_words = np.array([CATEGORIES[c] for c in CATEGORIES], dtype=object)
    brand_names = np.array(brands(cfg.n_brands), dtype=object)
    s = pins["style"]
    cw = _pick(cat_words, pins["category"], rng)
    w1 = _pick(st.words, _noisy_style(s, cfg.text_noise, S, rng), rng)
    w2 = _pick(st.words, _noisy_style(s, cfg.text_noise, S, rng), rng)
    w3 = _pick(st.words, _noisy_style(s, cfg.text_noise, S, rng), rng)
    occ = _pick(st.occasions, _noisy_style(s, cfg.text_noise, S, rng), rng)
    generic = np.array(GENERIC_WORDS, dtype=object)[rng.integers(len(GENERIC_WORDS), size=n)]
    pattern_word = np.array([PATTERN_WORDS[p] for p in st.pattern], dtype=object)[
        _noisy_style(s, cfg.text_noise, S, rng)
    ]
    with_brand = rng.random(n) < 0.5
    lead = np.where(with_brand, brand_names[pins["brand"]] + " ", np.where(rng.random(n) < 0.5, generic + " ", ""))
    title = lead + w1 + " " + colour_names[pins["colour"]] + " " + cw
    desc = (
        pattern_word
        + " "
        + cw
        + " in "
        + colour_names[pins["colour"]]
        + " and "
        + colour_names[pins["colour2"]]
        + ". "
        + w2
        + " and "
        + w3
        + " vibes, made for "
        + occ
        + "."
    )
    return title.astype(str), desc.astype(str)


def _boards(cfg: SynthConfig, st: _Styles, rng: np.random.Generator) -> dict[str, np.ndarray]:
    S, K = cfg.n_styles, cfg.niches_per_style
    n_boards = max(1, int(round(cfg.n_pins * cfg.saves_per_pin / cfg.mean_board_size)))
    n_owners = max(1, int(np.ceil(n_boards / cfg.boards_per_owner)))
    n_slots = min(3, S)
    owner_styles = np.argsort(rng.random((n_owners, S)), axis=1)[:, :n_slots]
    owner = rng.integers(n_owners, size=n_boards)
    slot_perm = np.argsort(rng.random((n_boards, n_slots)), axis=1)
    styles = np.take_along_axis(owner_styles[owner], slot_perm, axis=1)
    k = np.minimum(rng.choice([1, 2, 3], size=n_boards, p=[0.45, 0.35, 0.2]), n_slots)
    w = rng.gamma(2.0, size=(n_boards, n_slots)) * (np.arange(n_slots)[None, :] < k[:, None])
    w /= w.sum(axis=1, keepdims=True)
    sigma = 0.7
    sizes = np.maximum(
        2, np.round(np.exp(rng.normal(np.log(cfg.mean_board_size) - sigma**2 / 2, sigma, size=n_boards)))
    )
    return dict(
        owner=owner,
        styles=styles,
        weights=w,
        niche=rng.integers(K, size=(n_boards, n_slots)),
        sizes=sizes.astype(np.int64),
    )


def _saves(cfg: SynthConfig, pins: dict[str, np.ndarray], boards: dict[str, np.ndarray], rng: np.random.Generator):
    K, n = cfg.niches_per_style, cfg.n_pins
    sb = np.repeat(np.arange(len(boards["sizes"])), boards["sizes"])
    m = len(sb)
    slot = _sample_rows(boards["weights"], sb, rng.random(m))
    style = boards["styles"][sb, slot]
    niche = np.where(rng.random(m) < cfg.niche_focus, boards["niche"][sb, slot], rng.integers(K, size=m))
    group = style * K + niche
    pin_group = pins["style"] * K + pins["niche"]
    order = np.argsort(pin_group, kind="stable")
    cum = np.cumsum(pins["popularity"][order])
    gstart = np.searchsorted(pin_group[order], np.arange(cfg.n_styles * K), side="left")
    gend = np.searchsorted(pin_group[order], np.arange(cfg.n_styles * K), side="right")
    lo = np.where(gstart > 0, cum[np.maximum(gstart - 1, 0)], 0.0)
    hi = cum[gend - 1]
    target = lo[group] + rng.random(m) * (hi[group] - lo[group])
    pos = np.clip(np.searchsorted(cum, target, side="right"), gstart[group], gend[group] - 1)
    noise = rng.random(m) < cfg.save_noise
    pos[noise] = np.minimum(np.searchsorted(cum, rng.random(int(noise.sum())) * cum[-1], side="right"), n - 1)
    pin = order[pos]
    created = pins["created"][pin]
    saved_at = created + (rng.random(m) * (pins["t1"] - created)).astype(np.int64)
    key = sb * np.int64(n) + pin
    _, first = np.unique(key, return_index=True)  # one save per (board, pin); sorted by board
    return sb[first], pin[first], saved_at[first]


def _ids(prefix: str, n: int) -> np.ndarray:
    width = len(str(max(n - 1, 0)))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _write_images(
    path: Path, cfg: SynthConfig, st: _Styles, pins: dict[str, np.ndarray], rng: np.random.Generator
) -> None:
    """Draw every pin's image and stream the chunks into ``images.npy`` (no memmap: constant RSS)."""
    n, size = cfg.n_pins, cfg.image_size
    sil = draw.silhouette_bank(size)
    pat = draw.pattern_bank(st.pattern, st.period, size)
    _, rgb = colour_rgb()
    shift = rng.integers(len(draw.SHIFTS), size=n)
    phase = rng.integers(draw.N_PHASES, size=n)
    bright = (0.85 + 0.3 * pins["niche"] / max(1, cfg.niches_per_style - 1)).astype(np.float32)
    bg = (225 + rng.normal(0, 8, size=(n, 3))).astype(np.float32)
    # Pixel noise from a bank of tiles: per-pixel Gaussians for 1M images dominated the run time.
    noise_bank = rng.normal(0, 9, size=(512, size, size, 3)).astype(np.float32)
    noise_id = rng.integers(len(noise_bank), size=n)
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
        "fortran_order": False,
        "shape": (n, size, size, 3),
    }
    chunk = 8192
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for a in progress(range(0, n, chunk), desc="draw images", unit="chunk"):
            b = min(n, a + chunk)
            img = draw.compose(
                sil[pins["category"][a:b], shift[a:b]],
                pat[pins["style"][a:b], phase[a:b]],
                np.clip(rgb[pins["colour"][a:b]] * bright[a:b, None], 0, 255),
                rgb[pins["colour2"][a:b]],
                bg[a:b],
                noise_bank[noise_id[a:b]],
            )
            fh.write(img.tobytes())


def _dict_column(indices: np.ndarray, ids: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(ids.tolist(), pa.string()))


def write_synthetic(cfg: SynthConfig, out_dir: str | Path, *, overwrite: bool = False) -> dict[str, Any]:
    """Generate the catalogue and write it as a contract dataset directory. Returns dataset.json."""
    check_output_free(out_dir, overwrite=overwrite)
    rng = np.random.default_rng(cfg.seed)
    st = _styles(cfg, rng)
    pins = _pins(cfg, st, rng)
    title, desc = _pin_text(cfg, st, pins, rng)
    boards = _boards(cfg, st, rng)
    sb, sp_, saved_at = _saves(cfg, pins, boards, rng)
    pin_ids, board_ids = _ids("p", cfg.n_pins), _ids("b", len(boards["sizes"]))
    colour_names, _ = colour_rgb()
    price_band = np.where(pins["price"] < 30, "$", np.where(pins["price"] < 100, "$$", "$$$"))
    dom = boards["styles"][np.arange(len(board_ids)), boards["weights"].argmax(axis=1)]
    board_word = _pick(st.words, _noisy_style(dom, cfg.text_noise, cfg.n_styles, rng), rng)
    theme = np.array(BOARD_THEMES, dtype=object)[rng.integers(len(BOARD_THEMES), size=len(board_ids))]
    board_title = np.where(rng.random(len(board_ids)) < 0.1, "", board_word + " " + theme).astype(str)
    info = {
        "name": "synthetic-fashion",
        "generator": "graphrec synth",
        "config": asdict(cfg),
        "derived_boards": False,
        "notes": "planted styles/niches in truth/; newest pins are the cold ones",
    }
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        _write_images(tmp / "images.npy", cfg, st, pins, rng)
        write_parquet(
            tmp / "pins.parquet",
            pd.DataFrame(
                {
                    "pin_id": pin_ids.astype(str),
                    "title": title,
                    "description": desc,
                    "image_row": np.arange(cfg.n_pins, dtype=np.int64),
                    "created_at": pins["created"],
                    "category": np.array(list(CATEGORIES))[pins["category"]],
                    "colour": np.array(colour_names)[pins["colour"]],
                    "brand": np.array(brands(cfg.n_brands))[pins["brand"]],
                    "price_band": price_band,
                    "price": pins["price"],
                }
            ),
        )
        write_parquet(
            tmp / "boards.parquet",
            pd.DataFrame(
                {
                    "board_id": board_ids.astype(str),
                    "title": board_title,
                    "owner_id": np.char.add("u", boards["owner"].astype(str)),
                }
            ),
        )
        pq.write_table(
            pa.table(
                {
                    "board_id": _dict_column(sb, board_ids),
                    "pin_id": _dict_column(sp_, pin_ids),
                    "saved_at": pa.array(saved_at),
                }
            ),
            tmp / "saves.parquet",
            compression="zstd",
        )
        _write_truth(tmp / "truth", st, pins, boards, pin_ids, board_ids)
        write_json(tmp / "dataset.json", info)
    log.info("synthetic catalogue: %d pins, %d boards, %d saves -> %s", cfg.n_pins, len(board_ids), len(sb), out_dir)
    return info


def _write_truth(path: Path, st: _Styles, pins, boards, pin_ids, board_ids) -> None:
    path.mkdir()
    # A save of group g lands on pin p with probability popularity_p / (sum over g's pins), where
    # popularity = appeal * exposure^0.7 (exposure: the share of the period the pin existed); a noise
    # save (probability save_noise) on pin p with popularity_p / (sum over all pins). The truth keeps
    # the time-free part, appeal: held-out saves are the latest, where new pins are not disadvantaged.
    pop = pins["appeal"]
    group = pins["style"] * (int(pins["niche"].max()) + 1) + pins["niche"]
    group_pop = np.bincount(group, weights=pop)
    write_parquet(
        path / "pin_styles.parquet",
        pd.DataFrame(
            {
                "pin_id": pin_ids.astype(str),
                "style": pins["style"],
                "niche": pins["niche"],
                "group_share": pop / group_pop[group],
                "global_share": pop / pop.sum(),
            }
        ),
    )
    nb, slots = boards["styles"].shape
    w = boards["weights"].ravel()
    keep = w > 0
    write_parquet(
        path / "board_styles.parquet",
        pd.DataFrame(
            {
                "board_id": np.repeat(board_ids, slots)[keep].astype(str),
                "style": boards["styles"].ravel()[keep],
                "niche": boards["niche"].ravel()[keep],
                "weight": w[keep],
            }
        ),
    )
    colour_names, _ = colour_rgb()
    write_json(
        path / "styles.json",
        {
            "styles": [
                {
                    "style": i,
                    "name": n,
                    "words": list(st.words[i]),
                    "pattern": st.pattern[i],
                    "period": int(st.period[i]),
                    "palette": [colour_names[c] for c in st.palette[i]],
                }
                for i, n in enumerate(st.names)
            ]
        },
    )
