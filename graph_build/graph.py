"""The graph directory contract and its reader.

A graph directory (written by ``graphrec build-graph``) holds:

* ``manifest.json``: schema_version, dataset, counts (pins, boards, cold pins, saves per
  split), split parameters, seed, sha256 of input and output files, stats.
* ``pins.parquet``: ``pin_idx``, ``pin_id``, ``is_cold``, ``title``, ``description``, optional
  ``created_at``/``image``/``image_row``, metadata columns.
* ``boards.parquet``: ``board_idx``, ``board_id``, ``title`` (+ ``owner_id`` and extra columns).
* ``saves_train.parquet``, ``saves_val.parquet``, ``saves_test.parquet``: ``pin_idx``,
  ``board_idx``, optional ``saved_at`` (int64 unix seconds), sorted by (board_idx, pin_idx).
* ``train_csr.npz``: the train pin x board adjacency (scipy CSR, no pickles).
* ``images.npy`` (uint8 N x H x W x 3) when pins have images; ``truth/`` for synthetic data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

from graphrec.utils.io import read_json

SCHEMA_VERSION = 1
SPLITS = ("train", "val", "test")
MANIFEST = "manifest.json"


class GraphDirError(ValueError):
    """A graph directory that is missing files or was written by an incompatible version."""


@dataclass
class PinBoardGraph:
    """A loaded graph directory. Node indices are ``pin_idx`` / ``board_idx`` (contiguous)."""

    root: Path
    manifest: dict[str, Any]
    pins: pd.DataFrame
    boards: pd.DataFrame
    saves: dict[str, pd.DataFrame]

    @property
    def n_pins(self) -> int:
        return len(self.pins)

    @property
    def n_boards(self) -> int:
        return len(self.boards)

    @property
    def name(self) -> str:
        return str(self.manifest["dataset"]["name"])

    @property
    def seed(self) -> int:
        return int(self.manifest["seed"])

    @cached_property
    def is_cold(self) -> np.ndarray:
        return self.pins["is_cold"].to_numpy(dtype=bool)

    @property
    def categorical_columns(self) -> list[str]:
        return list(self.manifest["columns"]["categorical"])

    @property
    def numeric_columns(self) -> list[str]:
        return list(self.manifest["columns"]["numeric"])

    def edges(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """``(pin_idx, board_idx)`` int64 arrays of one split."""
        df = self.saves[split]
        return df["pin_idx"].to_numpy(np.int64, copy=True), df["board_idx"].to_numpy(np.int64, copy=True)

    def csr(self, split: str = "train") -> sp.csr_matrix:
        """Pin x board adjacency (float32 ones) of one split."""
        if split == "train":
            return self._train_csr
        pin, board = self.edges(split)
        return to_csr(pin, board, self.n_pins, self.n_boards)

    @cached_property
    def _train_csr(self) -> sp.csr_matrix:
        return sp.load_npz(self.root / "train_csr.npz").tocsr()

    def images(self) -> np.ndarray | None:
        """The image array, memory-mapped (rows are referenced by ``pins.image_row``)."""
        p = self.root / "images.npy"
        return np.load(p, mmap_mode="r", allow_pickle=False) if p.exists() else None

    def truth(self, name: str) -> pd.DataFrame | None:
        """A planted-truth table (synthetic data), e.g. ``pin_styles`` or ``board_styles``."""
        p = self.root / "truth" / f"{name}.parquet"
        return pd.read_parquet(p) if p.exists() else None


def to_csr(pin: np.ndarray, board: np.ndarray, n_pins: int, n_boards: int) -> sp.csr_matrix:
    data = np.ones(len(pin), dtype=np.float32)
    m = sp.csr_matrix((data, (pin, board)), shape=(n_pins, n_boards))
    m.sum_duplicates()
    m.sort_indices()
    return m


def load_graph(root: str | Path) -> PinBoardGraph:
    """Read a graph directory, checking the manifest and the files it names."""
    root = Path(root)
    mpath = root / MANIFEST
    if not mpath.is_file():
        raise GraphDirError(f"{root}: not a graph directory (no {MANIFEST}); build one with `graphrec build-graph`")
    manifest = read_json(mpath)
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise GraphDirError(
            f"{mpath}: schema_version {manifest.get('schema_version')} != {SCHEMA_VERSION}; rebuild the graph"
        )
    needed = ["pins.parquet", "boards.parquet", "train_csr.npz"] + [f"saves_{s}.parquet" for s in SPLITS]
    for f in needed:
        if not (root / f).is_file():
            raise GraphDirError(f"{root}: missing {f}; the graph directory is incomplete, rebuild it")
    pins = pq.read_table(root / "pins.parquet").to_pandas()
    boards = pq.read_table(root / "boards.parquet").to_pandas()
    saves = {s: pq.read_table(root / f"saves_{s}.parquet").to_pandas() for s in SPLITS}
    return PinBoardGraph(root=root, manifest=manifest, pins=pins, boards=boards, saves=saves)
