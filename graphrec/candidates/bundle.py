"""The serving bundle: a faiss index plus everything needed to answer queries by id.

A bundle directory (``CAND_DIR/index/``, also the MLflow pyfunc model's artifact) holds:

* ``index.faiss``: the index over L2-normalised pin vectors (id = row of ``pins.parquet``);
* ``pins.parquet`` (``id``, ``pin_id``) and ``boards.parquet`` (``board_idx``, ``board_id``);
* ``pin_emb.npy`` / ``board_emb.npy``: the query vectors (float32, normalised; a board without
  a vector has a zero row and gets no candidates);
* ``saved.npz``: boards x pins CSR of the saves that are excluded from board candidates;
* ``bundle.json``: kind, index config and parameters, counts, input fingerprints, recall estimate.

New pins (``add_pins``) are appended to the index, the id table and ``pin_emb.npy``: their ids
continue after the catalogue. Nothing is pickled.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import scipy.sparse as sp

from graphrec.candidates._faiss import faiss
from graphrec.candidates.config import CandidatesError, IndexConfig
from graphrec.candidates.index import CandidateIndex, as_queries
from graphrec.candidates.search import TopK, recall_at_k, self_exclusion, top_k_excluding
from graphrec.utils.config import from_dict, to_dict
from graphrec.utils.io import atomic_output_dir, fsync_tree, sha256_file, write_json, write_parquet
from graphrec.utils.modeldir import read_manifest

log = logging.getLogger(__name__)
KIND = "graphrec.candidate_index"
BUNDLE_JSON = "bundle.json"
FILES = ("index.faiss", "pins.parquet", "boards.parquet", "pin_emb.npy", "board_emb.npy", "saved.npz")


@dataclass
class IndexBundle:
    """A loaded (or freshly built) serving bundle.

    Args:
        index: the faiss index; id i = row i of ``pin_ids`` / ``pin_vectors``.
        pin_ids: pin id strings of every indexed vector (catalogue first, then added pins).
        board_ids: board id strings (row = ``board_idx``).
        pin_vectors: ``ntotal x d`` normalised pin vectors (the pin queries).
        board_vectors: ``n_boards x d`` normalised board vectors (zero row = no vector).
        saved: ``n_boards x n_catalogue`` CSR of saves excluded from board candidates.
        meta: the ``bundle.json`` content.
    """

    index: CandidateIndex
    pin_ids: np.ndarray
    board_ids: np.ndarray
    pin_vectors: np.ndarray
    board_vectors: np.ndarray
    saved: sp.csr_matrix
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_pins(self) -> int:
        return len(self.pin_ids)

    def pin_rows(self, pin_ids: Any) -> np.ndarray:
        """Index ids of pin id strings; unknown ids raise CandidatesError."""
        return _lookup(self.pin_ids, pin_ids, "pin_id")

    def board_rows(self, board_ids: Any) -> np.ndarray:
        """``board_idx`` of board id strings; unknown ids raise CandidatesError."""
        return _lookup(self.board_ids, board_ids, "board_id")

    def pin_candidates(self, rows: np.ndarray, k: int) -> TopK:
        """Top-k pins for indexed pins ``rows`` (ids), excluding the pin itself."""
        rows = np.asarray(rows, dtype=np.int64)
        return top_k_excluding(self.index, self.pin_vectors[rows], k, self_exclusion(rows, self.index.ntotal))

    def board_candidates(self, rows: np.ndarray, k: int) -> TopK:
        """Top-k pins for boards ``rows`` (``board_idx``), excluding pins already saved to them.

        Boards whose vector is zero (no pins to describe them) get no results.
        """
        rows = np.asarray(rows, dtype=np.int64)
        has_vec = np.abs(self.board_vectors[rows]).sum(axis=1) > 0
        top = TopK(
            np.full((len(rows), k), -1, np.int64),
            np.full((len(rows), k), np.nan, np.float32),
            np.zeros(len(rows), np.int64),
        )
        q = rows[has_vec]
        if len(q):
            sub = top_k_excluding(self.index, self.board_vectors[q], k, self.saved[q])
            top.ids[has_vec], top.scores[has_vec], top.counts[has_vec] = sub.ids, sub.scores, sub.counts
        return top

    def vector_candidates(self, vectors: np.ndarray, k: int, exclude_ids: np.ndarray | None = None) -> TopK:
        """Top-k pins for arbitrary vectors (e.g. new pins), optionally excluding one id per query."""
        ex = None if exclude_ids is None else self_exclusion(exclude_ids, self.index.ntotal)
        return top_k_excluding(self.index, as_queries(vectors), k, ex)

    def top_boards(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Boards that best fit ``vectors``: exact ``(scores, board_idx)``, each q x k."""
        flat = faiss.IndexFlatIP(self.board_vectors.shape[1])
        flat.add(np.ascontiguousarray(self.board_vectors))
        scores, rows = flat.search(as_queries(vectors), min(k, len(self.board_ids)))
        return scores, rows.astype(np.int64)

    def add_pins(self, pin_ids: Any, vectors: np.ndarray) -> np.ndarray:
        """Insert new pins (searchable at once) and return their ids (continuing after the catalogue).

        Args:
            pin_ids: new pin id strings (must not be indexed already).
            vectors: ``len(pin_ids) x d`` vectors (normalised here).
        """
        new = np.asarray(pin_ids, dtype=object)
        x = as_queries(vectors)
        if len(new) != len(x):
            raise CandidatesError(f"{len(new)} pin ids but {len(x)} vectors")
        known = pd.Index(self.pin_ids).get_indexer(new) >= 0
        if known.any() or pd.Index(new).has_duplicates:
            raise CandidatesError(f"pin ids already indexed or repeated: {list(new[known][:5])}")
        ids = self.index.add(x)
        self.pin_ids = np.concatenate([self.pin_ids, new])
        self.pin_vectors = np.concatenate([self.pin_vectors, x])
        return ids

    def save(self, out: str | Path, overwrite: bool = False) -> dict[str, Any]:
        """Write the bundle directory atomically; return its ``bundle.json``."""
        with atomic_output_dir(out, overwrite=overwrite) as tmp:
            meta = self.write_files(tmp)
        self.meta = meta
        return meta

    def save_aside(self, cand_dir: str | Path) -> Path:
        """Write the bundle completely (fsynced) to a new ``CAND_DIR/.index.next-*`` directory,
        to be switched in by :func:`graphrec.candidates.layout.commit`; ``self.meta`` is updated."""
        from graphrec.candidates.layout import STAGED_INDEX

        staged = Path(tempfile.mkdtemp(prefix=STAGED_INDEX, dir=cand_dir))
        self.meta = self.write_files(staged)
        fsync_tree(staged)
        return staged

    def write_files(self, tmp: Path) -> dict[str, Any]:
        """Write every bundle file into the (empty) directory ``tmp``; return ``bundle.json``."""
        self.index.save(tmp / "index.faiss")
        write_parquet(
            tmp / "pins.parquet",
            pd.DataFrame({"id": np.arange(self.n_pins, dtype=np.int64), "pin_id": self.pin_ids.astype(str)}),
        )
        write_parquet(
            tmp / "boards.parquet",
            pd.DataFrame(
                {"board_idx": np.arange(len(self.board_ids), dtype=np.int64), "board_id": self.board_ids.astype(str)}
            ),
        )
        np.save(tmp / "pin_emb.npy", self.pin_vectors)
        np.save(tmp / "board_emb.npy", self.board_vectors)
        sp.save_npz(tmp / "saved.npz", self.saved.tocsr())
        meta = {
            **self.meta,
            "schema_version": 1,
            "kind": KIND,
            "index": self.index.params(),
            "index_config": to_dict(self.index.cfg),
            "dim": self.index.dim,
            "ntotal": self.index.ntotal,
            "n_boards": len(self.board_ids),
            "files_sha256": {f: sha256_file(tmp / f) for f in FILES},
        }
        write_json(tmp / BUNDLE_JSON, meta)
        return meta


def _lookup(known: np.ndarray, wanted: Any, what: str) -> np.ndarray:
    wanted = np.asarray(wanted, dtype=object)
    rows = pd.Index(known).get_indexer(wanted)
    if (rows < 0).any():
        raise CandidatesError(f"unknown {what}(s): {[str(w) for w in wanted[rows < 0][:5]]}")
    return rows.astype(np.int64)


def build_bundle(
    pin_vectors: np.ndarray,
    board_vectors: np.ndarray,
    pin_ids: Any,
    board_ids: Any,
    saved: sp.csr_matrix,
    cfg: IndexConfig,
    seed: int = 0,
    meta: dict[str, Any] | None = None,
) -> IndexBundle:
    """Build the index over ``pin_vectors`` and wrap everything as a bundle.

    Args:
        pin_vectors: ``n_pins x d`` pin vectors (row = ``pin_idx``; normalised here).
        board_vectors: ``n_boards x d`` board vectors (normalised; zero rows stay zero).
        pin_ids, board_ids: id strings in row order.
        saved: ``n_boards x n_pins`` saves to exclude from board candidates.
        cfg: the index configuration.
        seed: seeds IVF training.
        meta: extra ``bundle.json`` fields (fingerprints, run key, ...).
    """
    pins = as_queries(pin_vectors)
    boards = as_queries(board_vectors) if len(board_ids) else np.zeros((0, pins.shape[1]), np.float32)
    if boards.shape[1] != pins.shape[1]:
        raise CandidatesError(f"board vectors have dimension {boards.shape[1]}, pin vectors {pins.shape[1]}")
    saved = sp.csr_matrix(saved, dtype=np.int8)
    saved.data[:] = 1
    index = CandidateIndex.build(pins, cfg, seed=seed)
    return IndexBundle(
        index=index,
        pin_ids=np.asarray(pin_ids, dtype=object),
        board_ids=np.asarray(board_ids, dtype=object),
        pin_vectors=pins,
        board_vectors=boards,
        saved=saved,
        meta=dict(meta or {}),
    )


def estimate_recall(bundle: IndexBundle, k: int, sample: int, seed: int) -> dict[str, Any] | None:
    """recall@k of the index's raw top-k against exact inner-product search, on sampled pin queries.

    Args:
        bundle: the bundle whose index is measured.
        k: cut-off.
        sample: number of pin queries (seeded, without replacement); 0 = skip.
        seed: sample seed.
    """
    n = bundle.index.ntotal
    if sample <= 0 or n == 0:
        return None
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))
    q = bundle.pin_vectors[rows]
    _, approx = bundle.index.search(q, k)
    exact = faiss.IndexFlatIP(bundle.index.dim)
    exact.add(bundle.pin_vectors[:n])
    _, truth = exact.search(q, min(k, n))
    return {
        "k": int(k),
        "queries": len(rows),
        "recall": round(recall_at_k(approx, truth), 6),
        "against": "exact inner-product search (faiss IndexFlatIP) over the same vectors, before exclusions",
    }


def load_bundle(root: str | Path, cfg: IndexConfig | None = None) -> IndexBundle:
    """Read a bundle directory written by :meth:`IndexBundle.save`.

    Args:
        root: the bundle directory (``CAND_DIR/index`` or the pyfunc artifact).
        cfg: override search parameters (same kind); default: the config it was built with.
    """
    root = Path(root)
    meta = read_manifest(
        root,
        KIND,
        what="a candidate index bundle",
        hint="run `graphrec candidates`",
        name=BUNDLE_JSON,
        error=CandidatesError,
    )
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise CandidatesError(f"{root}: bundle is incomplete, missing {missing}")
    if cfg is None:
        cfg = from_dict(IndexConfig, meta["index_config"], prefix="index")
    elif cfg.kind != meta["index"]["kind"]:
        raise CandidatesError(f"{root}: holds a {meta['index']['kind']} index, not {cfg.kind}")
    index = CandidateIndex.load(root / "index.faiss", cfg)
    pins = pq.read_table(root / "pins.parquet").column("pin_id").to_numpy(zero_copy_only=False).astype(object)
    boards = pq.read_table(root / "boards.parquet").column("board_id").to_numpy(zero_copy_only=False).astype(object)
    bundle = IndexBundle(
        index=index,
        pin_ids=pins,
        board_ids=boards,
        pin_vectors=np.load(root / "pin_emb.npy", allow_pickle=False),
        board_vectors=np.load(root / "board_emb.npy", allow_pickle=False),
        saved=sp.load_npz(root / "saved.npz").tocsr(),
        meta=meta,
    )
    if not (index.ntotal == len(pins) == len(bundle.pin_vectors)):
        raise CandidatesError(
            f"{root}: index ({index.ntotal}), pins.parquet ({len(pins)}) and "
            f"pin_emb.npy ({len(bundle.pin_vectors)}) disagree"
        )
    return bundle
