"""fashion-products-1k (real product photos + attributes) -> dataset contract.

The source has no user collections. Boards are **derived** from attributes and labelled so
everywhere (``derived`` column, ``derived:`` title prefix, ``derived_boards`` in dataset.json):
"lookbooks" group products by (gender, usage, season) in chunks of at most ``lookbook_size``;
"shelves" group them by (articleType, baseColour). Images are decoded once into images.npy.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from graph_build.adapters.common import require_files, write_dataset
from graph_build.errors import DatasetError
from graphrec.utils.io import check_output_free
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)
ATTRS = ("gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage")


@dataclass(frozen=True)
class FashionOptions:
    """Args:
    lookbook_size: maximum products per derived (gender, usage, season) board.
    min_shelf: minimum products in a derived (articleType, baseColour) board.
    seed: shuffles products before chunking lookbooks.
    """

    lookbook_size: int = 25
    min_shelf: int = 2
    seed: int = 0


def _load_images(src: Path, ids: pd.Series) -> np.ndarray:
    arrays = []
    for i in progress(ids.tolist(), desc="decode images", unit="img"):
        p = src / "images" / f"{i}.jpg"
        if not p.is_file():
            raise DatasetError(src / "styles.csv", f"no image file images/{i}.jpg for id {i}", column="id")
        with Image.open(p) as im:
            arrays.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
    shapes = {a.shape for a in arrays}
    target = max(shapes, key=lambda s: sum(a.shape == s for a in arrays))
    return np.stack(
        [a if a.shape == target else np.asarray(Image.fromarray(a).resize((target[1], target[0]))) for a in arrays]
    )


def _derived_boards(df: pd.DataFrame, opts: FashionOptions) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``df`` has ``id`` and the ATTRS columns with missing values already filled."""
    rng = np.random.default_rng(opts.seed)
    shuffled = df.iloc[rng.permutation(len(df))]
    keys = ["gender", "usage", "season"]
    grp = shuffled.groupby(keys, sort=True)
    chunk = grp.cumcount() // opts.lookbook_size
    look_name = shuffled[keys].astype(str).agg(" ".join, axis=1)
    look = pd.DataFrame(
        {
            "board_id": "derived-look-" + look_name.str.replace(" ", "-") + "-" + chunk.astype(str),
            "title": "derived: " + look_name + " lookbook",
            "pin_id": shuffled["id"].astype(str),
        }
    )
    shelf_name = df["articleType"].astype(str) + " " + df["baseColour"].astype(str)
    shelf = pd.DataFrame(
        {
            "board_id": "derived-shelf-" + shelf_name.str.replace(" ", "-"),
            "title": "derived: " + shelf_name,
            "pin_id": df["id"].astype(str),
        }
    )
    sizes = shelf.groupby("board_id").size()
    shelf = shelf[shelf["board_id"].isin(sizes[sizes >= opts.min_shelf].index)]
    both = pd.concat([look, shelf], ignore_index=True)
    boards = both.drop_duplicates("board_id")[["board_id", "title"]].sort_values("board_id").assign(derived=True)
    return boards.reset_index(drop=True), both[["board_id", "pin_id"]].reset_index(drop=True)


def convert_fashion_products(
    src: str | Path, out: str | Path, opts: FashionOptions, *, overwrite: bool = False
) -> dict[str, Any]:
    """Convert the fashion-products folder ``src`` into a contract dataset at ``out``."""
    src = Path(src)
    check_output_free(out, overwrite=overwrite)
    require_files(src, ("styles.csv", "images"))
    df = pd.read_csv(src / "styles.csv")
    images = _load_images(src, df["id"])
    attrs = df[list(ATTRS)].fillna("unknown").astype(str)
    desc = (
        attrs["gender"]
        + " "
        + attrs["articleType"]
        + " in "
        + attrs["baseColour"]
        + ", "
        + attrs["usage"]
        + " wear for "
        + attrs["season"]
        + " ("
        + attrs["masterCategory"]
        + " / "
        + attrs["subCategory"]
        + ")."
    )
    pins = pd.DataFrame(
        {
            "pin_id": df["id"].astype(str),
            "title": df["productDisplayName"].astype(str),
            "description": desc,
            "image_row": np.arange(len(df), dtype=np.int64),
        }
    )
    for c in ATTRS:
        pins[c] = attrs[c]
    pins["year"] = df["year"].astype(float)
    boards, saves = _derived_boards(pd.concat([df[["id"]], attrs], axis=1), opts)
    info = {
        "name": "fashion-products-1k",
        "source": str(src.resolve()),
        "adapter": "graphrec import fashion-products",
        "options": asdict(opts),
        "derived_boards": True,
        "notes": "boards are DERIVED from product attributes; the source has no user collections",
        "license": "see NOTICE.txt in the source folder (MIT, openai-cookbook examples data)",
    }
    write_dataset(out, pins, boards, saves, info, images=images, overwrite=overwrite)
    log.info("fashion-products: %d pins, %d derived boards, %d saves -> %s", len(pins), len(boards), len(saves), out)
    return info
