"""Recommendations from a finished ``graphrec run`` directory, in the spirit of implicit's API.

    import graphrec
    run = graphrec.load_run("runs/demo")
    run.recommend(["b0001", "b0002"], k=20)          # board_id, rank, pin_id, score, is_cold
    run.similar_pins(["p0017"], k=10, titles=True)  # query_pin_id, rank, pin_id, score, ..., title

Answers come from the run's serving bundle (``candidates/index``: the faiss index, id maps, query
vectors and saved-pin exclusions) when the candidates stage ran, so they equal the batch tables
and the MLflow model, and include pins inserted later by ``graphrec add-pins``. Without it an exact
in-memory index is built from ``graph/`` and ``embeddings/``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from graph_build.graph import PinBoardGraph, load_graph
from graphrec.candidates.bundle import BUNDLE_JSON, IndexBundle, load_bundle
from graphrec.candidates.config import CandidatesConfig, CandidatesError
from graphrec.candidates.search import TopK

log = logging.getLogger(__name__)
INDEX = Path("candidates") / "index"


def _ids(ids: str | Iterable[str]) -> list[str]:
    return [ids] if isinstance(ids, str) else [str(i) for i in ids]


@dataclass
class Run:
    """A loaded run directory.

    Args:
        root: the run directory (output of ``graphrec run``).
        graph: its graph (pins, boards, saves; titles and the warm/cold split).
        bundle: the serving bundle the answers come from.
        source: ``index`` (``candidates/index`` of the run) or ``embeddings`` (built in memory).
    """

    root: Path
    graph: PinBoardGraph
    bundle: IndexBundle
    source: str

    @property
    def dataset(self) -> str:
        return self.graph.name

    def recommend(
        self, board_ids: str | Iterable[str], k: int = 20, exclude_saved: bool = True, titles: bool = False
    ) -> pd.DataFrame:
        """Top-``k`` pins for each board.

        Args:
            board_ids: board id(s); unknown ids raise ``CandidatesError``.
            k: pins per board.
            exclude_saved: leave out pins already saved to the board (the run's
                ``candidates.exclude_saved_splits``, by default the train saves).
            titles: add the pin ``title`` column.

        Returns:
            ``board_id, rank, pin_id, score, is_cold`` (+ ``title``), by input order then rank
            (1 = best); a board without a vector (no saved pins) has no rows. ``is_cold`` is
            true for pins without train saves, NA for pins added after training.
        """
        ids = _ids(board_ids)
        rows = _lookup(self._board_index, ids, "board_id")
        if exclude_saved:
            top = self.bundle.board_candidates(rows, _k(k))
        else:
            vec = self.bundle.board_vectors[rows]
            has = np.abs(vec).sum(axis=1) > 0
            top = _empty(len(rows), _k(k))
            if has.any():
                sub = self.bundle.vector_candidates(vec[has], _k(k))
                top.ids[has], top.scores[has], top.counts[has] = sub.ids, sub.scores, sub.counts
        return self._frame(top, ids, "board_id", titles)

    def similar_pins(self, pin_ids: str | Iterable[str], k: int = 20, titles: bool = False) -> pd.DataFrame:
        """Top-``k`` most similar pins of each pin (itself excluded).

        Returns:
            ``query_pin_id, rank, pin_id, score, is_cold`` (+ ``title``).
        """
        ids = _ids(pin_ids)
        top = self.bundle.pin_candidates(_lookup(self._pin_index, ids, "pin_id"), _k(k))
        return self._frame(top, ids, "query_pin_id", titles)

    def pins(self, pin_ids: str | Iterable[str]) -> pd.DataFrame:
        """``pin_id, is_cold, title`` of indexed pins (title NA for pins added after training)."""
        ids = _ids(pin_ids)
        _lookup(self._pin_index, ids, "pin_id")  # unknown ids raise
        info = self._pin_info(pd.Series(ids, dtype=object)).assign(pin_id=ids)
        return info[["pin_id", "is_cold", "title"]]

    def saved_pins(self, board_id: str) -> list[str]:
        """Pin ids saved to ``board_id`` in the training graph."""
        b = int(_lookup(self._board_index, [board_id], "board_id")[0])
        tr = self.graph.saves["train"]
        idx = tr.loc[tr["board_idx"] == b, "pin_idx"].to_numpy()
        return self.graph.pins.set_index("pin_idx").loc[idx, "pin_id"].astype(str).tolist()

    def _frame(self, top: TopK, ids: list[str], qcol: str, titles: bool) -> pd.DataFrame:
        r, rank, cand, score = top.flat()
        df = pd.DataFrame(
            {
                qcol: np.asarray(ids, dtype=object)[r],
                "rank": rank.astype(np.int64),
                "pin_id": self.bundle.pin_ids[cand].astype(str),
                "score": score.astype(np.float32),
            }
        )
        info = self._pin_info(df["pin_id"])
        df["is_cold"] = info["is_cold"].to_numpy()
        if titles:
            df["title"] = info["title"].to_numpy()
        return df

    @cached_property
    def _pin_index(self) -> pd.Index:
        return pd.Index(self.bundle.pin_ids.astype(str))

    @cached_property
    def _board_index(self) -> pd.Index:
        return pd.Index(self.bundle.board_ids.astype(str))

    @cached_property
    def _pin_meta(self) -> pd.DataFrame:
        pins = self.graph.pins
        meta = pins.assign(pin_id=pins["pin_id"].astype(str)).set_index("pin_id")
        return meta[[c for c in ("is_cold", "title") if c in meta.columns]]

    def _pin_info(self, pin_ids: pd.Series) -> pd.DataFrame:
        out = self._pin_meta.reindex(pin_ids.astype(str).to_numpy())
        out["is_cold"] = out["is_cold"].astype("boolean") if "is_cold" in out else pd.NA
        if "title" not in out:
            out["title"] = pd.NA
        return out.reset_index(drop=True)


def _lookup(index: pd.Index, ids: list[str], what: str) -> np.ndarray:
    rows = index.get_indexer(ids)
    if (rows < 0).any():
        raise CandidatesError(f"unknown {what}(s): {[i for i, r in zip(ids, rows) if r < 0][:5]}")
    return rows.astype(np.int64)


def _k(k: int) -> int:
    if int(k) < 1:
        raise CandidatesError(f"k must be >= 1, got {k}")
    return int(k)


def _empty(n: int, k: int) -> TopK:
    return TopK(np.full((n, k), -1, np.int64), np.full((n, k), np.nan, np.float32), np.zeros(n, np.int64))


def _in_memory_bundle(root: Path) -> IndexBundle:
    from graphrec.candidates.job import _build, _inputs

    cfg = CandidatesConfig(recall_sample=0)
    graph, emb, _, meta = _inputs(root / "graph", root / "embeddings", cfg)
    return _build(graph, emb, cfg, meta)


def load_run(run_dir: str | Path) -> Run:
    """Load a ``graphrec run`` output directory for recommendations.

    Uses ``candidates/index`` when present, else builds an exact index from ``embeddings/``.
    Raises ``FileNotFoundError`` when the directory is not a run directory.
    """
    root = Path(run_dir)
    if not (root / "graph" / "manifest.json").is_file():
        raise FileNotFoundError(
            f"{root}: not a run directory (no graph/manifest.json); give the --out directory of `graphrec run`"
        )
    graph = load_graph(root / "graph")
    if (root / INDEX / BUNDLE_JSON).is_file():
        bundle, source = load_bundle(root / INDEX), "index"
        built_for = bundle.meta.get("graph", {}).get("manifest_sha256")
        from graphrec.embeddings import graph_fingerprint

        if built_for and built_for != graph_fingerprint(graph):
            raise CandidatesError(
                f"{root / INDEX} was built for another graph than "
                f"{root / 'graph'}; "
                "re-run `graphrec run` (or `graphrec candidates --force`)"
            )
    elif (root / "embeddings" / "manifest.json").is_file():
        bundle, source = _in_memory_bundle(root), "embeddings"
    else:
        raise FileNotFoundError(f"{root}: no candidates/index/ nor embeddings/; the run did not finish")
    log.debug("loaded %s (%s, %d pins indexed)", root, source, bundle.n_pins)
    return Run(root=root, graph=graph, bundle=bundle, source=source)
