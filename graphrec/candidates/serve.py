"""Answer candidate queries given by id (a DataFrame of ``pin_id`` / ``board_id``) from a bundle.

This is what the MLflow model's ``predict`` runs. It uses the same search and exclusions as the
batch job, so a query returns the rows the job wrote for it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from graphrec.candidates.bundle import IndexBundle
from graphrec.candidates.config import CandidatesError

OUTPUT_COLUMNS = ("query_type", "query_id", "rank", "candidate_pin_id", "score")


def _query_column(df: pd.DataFrame, column: str) -> np.ndarray:
    if column not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[column].notna().to_numpy() & (df[column].astype("string").fillna("") != "").to_numpy()


def _long(
    bundle: IndexBundle,
    positions: np.ndarray,
    ids: np.ndarray,
    rows: np.ndarray,
    k: int,
    query_type: str,
    batch_size: int,
) -> list[pd.DataFrame]:
    parts = []
    for lo in range(0, len(rows), batch_size):  # bounded memory; each batch is one vectorised search
        sl = slice(lo, lo + batch_size)
        top = bundle.pin_candidates(rows[sl], k) if query_type == "pin" else bundle.board_candidates(rows[sl], k)
        r, rank, cand, score = top.flat()
        parts.append(
            pd.DataFrame(
                {
                    "_pos": positions[sl][r],
                    "query_type": query_type,
                    "query_id": ids[sl][r],
                    "rank": rank.astype(np.int64),
                    "candidate_pin_id": bundle.pin_ids[cand].astype(str),
                    "score": score.astype(np.float32),
                }
            )
        )
    return parts


def recommend_frame(bundle: IndexBundle, queries: pd.DataFrame, k: int, batch_size: int = 8192) -> pd.DataFrame:
    """Top-``k`` candidate pins for each query row, in long format.

    Each row of ``queries`` names one query: a ``pin_id`` (similar pins, the pin itself
    excluded) or a ``board_id`` (pins for the board, its saved pins excluded), not both.

    Returns a DataFrame with columns ``query_type`` (``pin``/``board``), ``query_id``, ``rank``
    (1 = best), ``candidate_pin_id``, ``score`` (inner product), ordered by input row then rank.

    Args:
        bundle: the loaded serving bundle.
        queries: DataFrame with a ``pin_id`` and/or ``board_id`` column.
        k: candidates per query.
        batch_size: queries per search call.
    """
    if not isinstance(queries, pd.DataFrame):
        queries = pd.DataFrame(queries)
    if k < 1:
        raise CandidatesError(f"k must be >= 1, got {k}")
    is_pin, is_board = _query_column(queries, "pin_id"), _query_column(queries, "board_id")
    if "pin_id" not in queries.columns and "board_id" not in queries.columns:
        raise CandidatesError(f"input needs a 'pin_id' or 'board_id' column, got {list(queries.columns)}")
    bad = np.nonzero(is_pin == is_board)[0]
    if len(bad):
        raise CandidatesError(f"row {int(bad[0])}: give exactly one of pin_id / board_id per row")
    parts: list[pd.DataFrame] = []
    for qtype, mask, lookup in (("pin", is_pin, bundle.pin_rows), ("board", is_board, bundle.board_rows)):
        pos = np.nonzero(mask)[0]
        if len(pos):
            ids = queries[f"{qtype}_id"].to_numpy()[pos].astype(str).astype(object)
            parts += _long(bundle, pos, ids, lookup(ids), k, qtype, batch_size)
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype=t) for c, t in zip(OUTPUT_COLUMNS, ("str", "str", "int64", "str", "float32"))}
        )
    out = pd.concat(parts, ignore_index=True).sort_values(["_pos", "rank"], kind="stable")
    return out.drop(columns="_pos").reset_index(drop=True)[list(OUTPUT_COLUMNS)]
