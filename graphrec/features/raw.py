"""Raw content features of every pin: the non-learned stand-in for PinCLIP.

Three blocks, each reduced and normalised on its own, then concatenated and reduced to ``dim``:

* **image** (when the graph has images): ``side x side`` area-downsampled pixels + channel
  mean/std, PCA over the pins that have an image. Pins without an image get no image block (a
  zero block after centring: the average image, not a black one), so their vector is made of
  the other blocks only.
* **text**: sublinear TF-IDF of title + description unigrams and bigrams, reduced by a
  truncated SVD (LSA).
* **metadata**: one-hot categorical levels and standardised numerics, PCA'd when wide.

Each block is centred and its rows L2-normalised (times the block weight); the concatenation is
reduced by PCA to ``dim`` and L2-normalised. All randomness (randomized SVD test matrices) comes
from one seeded generator, so the same seed gives the same bytes.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from graph_build.graph import PinBoardGraph
from graphrec.embeddings import l2_normalize, write_embeddings
from graphrec.features.image import image_block
from graphrec.features.linalg import randomized_pca
from graphrec.features.meta import metadata_block
from graphrec.features.text import tfidf
from graphrec.utils.config import check_min

log = logging.getLogger(__name__)
MODEL_NAME = "raw"


@dataclass(frozen=True)
class RawFeatureConfig:
    """Raw feature settings.

    Args:
        dim: output dimension (default 64).
        seed: seed of the randomized SVDs.
        block_dim: components kept per block before the final reduction.
        image_side: image downsampling grid.
        text_min_df, text_max_features: TF-IDF vocabulary limits.
        image_weight, text_weight, meta_weight: block weights in the concatenation.
    """

    dim: int = 64
    seed: int = 0
    block_dim: int = 64
    image_side: int = 8
    text_min_df: int = 2
    text_max_features: int = 50_000
    image_weight: float = 1.0
    text_weight: float = 1.0
    meta_weight: float = 1.0

    def __post_init__(self) -> None:
        check_min("raw", self, 1, "dim", "block_dim", "image_side", "text_min_df", "text_max_features")
        check_min("raw", self, 0, "image_weight", "text_weight", "meta_weight")


def _finish_block(x: np.ndarray, weight: float) -> np.ndarray:
    """Centre columns, L2-normalise rows, scale by the block weight."""
    x = x - x.mean(axis=0, keepdims=True)
    return l2_normalize(x) * np.float32(weight)


def _image(graph: PinBoardGraph, cfg: RawFeatureConfig, rng: np.random.Generator) -> np.ndarray | None:
    images = graph.images()
    if images is None or "image_row" not in graph.pins.columns:
        return None
    rows = graph.pins["image_row"].to_numpy(np.float64)
    has = np.isfinite(rows) & (rows >= 0)
    if has.sum() < 2:
        return None
    feats = image_block(images, rows[has].astype(np.int64), side=cfg.image_side)
    block = np.zeros((graph.n_pins, min(cfg.block_dim, feats.shape[1], int(has.sum()))), np.float32)
    block[has] = _finish_block(randomized_pca(feats, block.shape[1], rng), cfg.image_weight)
    log.info("image block: %d of %d pins have an image", int(has.sum()), graph.n_pins)
    return block


def _text(graph: PinBoardGraph, cfg: RawFeatureConfig, rng: np.random.Generator) -> np.ndarray | None:
    pins = graph.pins
    text = pins["title"].astype(str) + " " + pins["description"].fillna("").astype(str)
    m = tfidf(text.reset_index(drop=True), min_df=cfg.text_min_df, max_features=cfg.text_max_features)
    if m.shape[1] == 0:
        return None
    log.info("text block: %d terms", m.shape[1])
    return _finish_block(randomized_pca(m, cfg.block_dim, rng, center=False), cfg.text_weight)


def _meta(graph: PinBoardGraph, cfg: RawFeatureConfig, rng: np.random.Generator) -> np.ndarray | None:
    m = metadata_block(graph.pins, graph.categorical_columns, graph.numeric_columns)
    if m is None:
        return None
    x = m.toarray() if m.shape[1] <= cfg.block_dim else randomized_pca(m, cfg.block_dim, rng)
    return _finish_block(np.asarray(x, np.float32), cfg.meta_weight)


def raw_features(graph: PinBoardGraph, cfg: RawFeatureConfig) -> tuple[np.ndarray, dict[str, Any]]:
    """``([n_pins, dim] L2-normalised float32, info)`` for every pin of ``graph``."""
    rng = np.random.default_rng([cfg.seed, 11])
    blocks = {name: fn(graph, cfg, rng) for name, fn in (("image", _image), ("text", _text), ("meta", _meta))}
    used = {k: v for k, v in blocks.items() if v is not None}
    if not used:
        raise ValueError(f"{graph.root}: pins have no image, text or metadata to build raw features from")
    x = np.concatenate(list(used.values()), axis=1)
    z = randomized_pca(x, cfg.dim, rng) if x.shape[1] > cfg.dim else x - x.mean(axis=0, keepdims=True)
    if z.shape[1] < cfg.dim:
        log.warning("raw features: only %d informative dimensions; padding to %d with zeros", z.shape[1], cfg.dim)
        z = np.pad(z, ((0, 0), (0, cfg.dim - z.shape[1])))
    info = {"config": asdict(cfg), "blocks": {k: int(v.shape[1]) for k, v in used.items()}}
    return l2_normalize(z), info


def write_raw_features(
    graph: PinBoardGraph, out: str | Path, cfg: RawFeatureConfig, overwrite: bool = False
) -> dict[str, Any]:
    """Compute raw features and write them as a content embedding directory (model_name ``raw``)."""
    pin, info = raw_features(graph, cfg)
    return write_embeddings(
        out, graph, model_name=MODEL_NAME, pin=pin, extra={"raw_features": info}, overwrite=overwrite
    )
