"""Image block: area-downsampled pixels plus per-channel mean and spread, chunked over a memmap."""

from __future__ import annotations

import numpy as np

from graphrec.utils.logs import progress


def _bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.linspace(0, size, out + 1).round().astype(np.int64)
    return edges[:-1], np.diff(edges)


def image_block(images: np.ndarray, rows: np.ndarray, side: int = 8, chunk: int = 16384) -> np.ndarray:
    """``[len(rows), side * side * 3 + 6]`` float32 features of ``images[rows]`` (values in [0, 1]).

    Args:
        images: uint8 ``N x H x W x 3`` (memory-mapped is fine).
        rows: image rows to read, in output order.
        side: output grid (area averaging into ``side x side`` cells).
        chunk: images read at once.
    """
    _, h, w, _ = images.shape
    side = min(side, h, w)
    (ys, yn), (xs, xn) = _bins(h, side), _bins(w, side)
    area = (yn[:, None] * xn[None, :]).astype(np.float32)[None, :, :, None]
    out = np.empty((len(rows), side * side * 3 + 6), np.float32)
    order = np.argsort(rows, kind="stable")  # read the memmap sequentially
    for lo in progress(range(0, len(rows), chunk), desc="images"):
        sel = order[lo : lo + chunk]
        img = np.asarray(images[rows[sel]], dtype=np.float32) / 255.0
        cells = np.add.reduceat(np.add.reduceat(img, ys, axis=1), xs, axis=2) / area
        npx = img.shape[1] * img.shape[2]
        mean = np.einsum("nhwc->nc", img) / npx
        sq = np.einsum("nhwc,nhwc->nc", img, img) / npx
        stats = np.concatenate([mean, np.sqrt(np.maximum(sq - mean * mean, 0.0))], axis=1)
        out[sel] = np.concatenate([cells.reshape(len(sel), -1), stats], axis=1)
    return out
