"""Pin images: validate an ``images.npy`` array or decode per-pin image files into one array."""

from __future__ import annotations

import logging
import os
import warnings
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


MAX_PIXELS = 50_000_000  # per image (e.g. 8000 x 6000); above it the file is refused unread
MAX_SIDE = 1024  # the common size images are stored at is capped to this longest side
REDUCE_ABOVE = 4_000_000  # images with more pixels are reduced while decoding (draft / reduce)
EXTRA_ROOTS_ENV = "GRAPHREC_EXTRA_IMAGE_ROOT"
OUTSIDE = "image path {rel!r} is not inside the dataset directory (paths are relative to it; symlinks may not leave it)"


def image_roots(root: Path) -> list[Path]:
    """Where image files may live: the dataset directory, plus any directories named (opt-in) in
    ``GRAPHREC_EXTRA_IMAGE_ROOT`` (os.pathsep-separated), all after resolving symlinks."""
    extra = [Path(p) for p in os.environ.get(EXTRA_ROOTS_ENV, "").split(os.pathsep) if p]
    return [r.resolve() for r in (root, *extra)]


def confined_image_path(root: Path, rel: str, table: Path, row: int, roots: list[Path] | None = None) -> Path:
    """``root / rel`` resolved, if it lies inside an allowed root; else DatasetError.

    The message is the same whether or not an outside file exists (nothing outside is opened
    or even checked for existence); a missing file inside is reported as missing.
    """
    p = (root / rel).resolve()
    if not any(p.is_relative_to(r) for r in (roots or image_roots(root))):
        raise DatasetError(table, OUTSIDE.format(rel=rel), row=row, column="image")
    if not p.is_file():
        raise DatasetError(
            table, f"image file {rel!r} does not exist (paths are relative to {root})", row=row, column="image"
        )
    return p


def _size(p: Path, rel: str, table: Path, row: int) -> tuple[int, int]:
    """(height, width) from the header, refusing images above MAX_PIXELS before decoding."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # only the header is read here
    try:
        with Image.open(p) as im:
            w, h = im.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DatasetError(table, f"image file {rel!r} cannot be decoded: {exc}", row=row, column="image") from None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    if w * h > MAX_PIXELS:
        raise DatasetError(
            table,
            f"image file {rel!r} is too large ({w} x {h} pixels; the limit is {MAX_PIXELS:,} pixels): downscale it",
            row=row,
            column="image",
        )
    return h, w


def _target(shapes: Counter) -> tuple[int, int]:
    h, w = shapes.most_common(1)[0][0]
    scale = min(1.0, MAX_SIDE / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def _decode(p: Path, rel: str, table: Path, row: int, th: int, tw: int) -> np.ndarray:
    """Decode one image straight to ``th x tw`` RGB; large ones are reduced while decoding
    (JPEG DCT scaling via ``draft``, then ``reduce``), so memory stays near the target size."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(p) as im:
                big = im.size[0] * im.size[1] > REDUCE_ABOVE
                if big:
                    im.draft("RGB", (tw, th))
                rgb = im.convert("RGB")
        if big and (f := min(rgb.size[0] // tw, rgb.size[1] // th)) >= 2:
            rgb = rgb.reduce(f)
        if rgb.size != (tw, th):
            rgb = rgb.resize((tw, th), Image.Resampling.BILINEAR)
        return np.asarray(rgb, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DatasetError(table, f"image file {rel!r} cannot be decoded: {exc}", row=row, column="image") from None


def decode_image_files(root: Path, images: pd.Series, table: Path) -> tuple[np.ndarray, np.ndarray]:
    """Decode the ``image`` column (paths relative to ``root``, confined to it) into one array.

    Returns ``(array, image_row)``; pins without an image get row -1. Images of different sizes
    are resized to the most common size (its longest side capped at ``MAX_SIDE``), so downstream
    models see one shape. Headers are read first (sizes, the ``MAX_PIXELS`` limit), then each
    image is decoded straight into the output array: memory is the output plus one image.
    """
    present = images.notna().to_numpy() & (images.astype("object").fillna("").astype(str).str.len() > 0).to_numpy()
    rows_with = np.flatnonzero(present)
    roots = image_roots(root)
    paths, shapes = [], Counter()
    for r in rows_with:
        rel = str(images.iloc[r])
        p = confined_image_path(root, rel, table, int(r) + 1, roots)
        shapes[_size(p, rel, table, int(r) + 1)] += 1
        paths.append((p, rel, int(r) + 1))
    image_row = np.full(len(images), -1, dtype=np.int64)
    image_row[rows_with] = np.arange(len(rows_with))
    if not paths:
        return np.zeros((0, 1, 1, 3), dtype=np.uint8), image_row
    th, tw = _target(shapes)
    if len(shapes) > 1:
        log.warning("images have %d different sizes; resizing all to the most common %s", len(shapes), (th, tw))
    out = np.empty((len(paths), th, tw, 3), dtype=np.uint8)
    for i in progress(range(len(paths)), desc="decode images", unit="img"):
        p, rel, row = paths[i]
        out[i] = _decode(p, rel, table, row, th, tw)
    return out, image_row
