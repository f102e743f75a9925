"""Pin images: validate an ``images.npy`` array or decode per-pin image files into one array."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from graph_build.errors import DatasetError
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)

IMAGES_FILE = "images.npy"


def open_image_array(path: Path) -> np.ndarray:
    """Memory-map ``images.npy`` and check it is uint8 N x H x W x 3."""
    if not path.is_file():
        raise DatasetError(path, "pins use column 'image_row' but images.npy is missing from the dataset directory")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DatasetError(path, f"not a readable .npy array: {exc}") from None
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise DatasetError(path, f"expected a uint8 array of shape N x H x W x 3, got {arr.dtype} {arr.shape}")
    return arr


def check_image_rows(rows: pd.Series, n_images: int, path: Path) -> np.ndarray:
    """Validate the ``image_row`` column: integers in [0, n_images), missing = no image (-1)."""
    col = "image_row"
    if pd.api.types.is_bool_dtype(rows) or not (pd.api.types.is_numeric_dtype(rows) or rows.isna().all()):
        raise DatasetError(path, "expected integer rows of images.npy", column=col)
    values = rows.to_numpy(dtype=np.float64, na_value=np.nan)
    present = ~np.isnan(values)
    not_int = present & (np.floor(values) != values)
    out_of_range = present & ((values < 0) | (values >= n_images))
    for mask, what in ((not_int, "is not an integer"), (out_of_range, f"is outside images.npy rows 0..{n_images - 1}")):
        hits = np.flatnonzero(mask)
        if hits.size:
            r = int(hits[0])
            raise DatasetError(path, f"image_row {values[r]:g} {what}", row=r + 1, column=col)
    return np.where(present, values, -1).astype(np.int64)


def decode_image_files(root: Path, images: pd.Series, table: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode the ``image`` column (paths relative to ``root``) into one uint8 array.

    Returns ``(array, image_row)``; pins without an image get row -1. Images of different sizes
    are resized to the most common size, so downstream models see one shape.
    """
    col = "image"
    present = images.notna().to_numpy() & (images.astype("object").fillna("").astype(str).str.len() > 0).to_numpy()
    rows_with = np.flatnonzero(present)
    decoded: list[np.ndarray] = []
    for r in progress(rows_with, desc="decode images", unit="img"):
        rel = str(images.iloc[r])
        p = root / rel
        if not p.is_file():
            raise DatasetError(table, f"image file {rel!r} does not exist (paths are relative to {root})",
                               row=int(r) + 1, column=col)
        try:
            with Image.open(p) as im:
                decoded.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DatasetError(table, f"image file {rel!r} cannot be decoded: {exc}", row=int(r) + 1, column=col) from None
    image_row = np.full(len(images), -1, dtype=np.int64)
    image_row[rows_with] = np.arange(len(rows_with))
    if not decoded:
        return np.zeros((0, 1, 1, 3), dtype=np.uint8), image_row
    shapes = Counter(a.shape for a in decoded)
    target = shapes.most_common(1)[0][0]
    if len(shapes) > 1:
        log.warning("images have %d different sizes; resizing all to the most common %s", len(shapes), target[:2])
    out = np.empty((len(decoded), *target), dtype=np.uint8)
    for i, a in enumerate(decoded):
        if a.shape != target:
            a = np.asarray(Image.fromarray(a).resize((target[1], target[0]), Image.Resampling.BILINEAR))
        out[i] = a
    return out, image_row
