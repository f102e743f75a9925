"""``graphrec.load_run``: recommendations from a run directory equal the batch candidate tables,
respect the saved-pin exclusion, join titles, and fail clearly on bad ids or directories."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import graphrec
from graphrec.api import Run
from graphrec.candidates.config import CandidatesError


@pytest.fixture(scope="module")
def run(tiny_run: Path) -> Run:
    return graphrec.load_run(tiny_run)


def _saved(tiny_run: Path, board_id: str) -> set[str]:
    g = pd.read_parquet(tiny_run / "graph" / "pins.parquet").set_index("pin_idx")["pin_id"]
    b = pd.read_parquet(tiny_run / "graph" / "boards.parquet").set_index("board_id").loc[board_id, "board_idx"]
    tr = pd.read_parquet(tiny_run / "graph" / "saves_train.parquet")
    return set(g.loc[tr.loc[tr["board_idx"] == b, "pin_idx"]])


def test_recommend_equals_the_batch_table_and_excludes_saved_pins(run: Run, tiny_run: Path) -> None:
    table = pd.read_parquet(tiny_run / "candidates" / "board_candidates.parquet")
    boards = table["board_id"].drop_duplicates().iloc[[0, 7, 30]].tolist()
    got = run.recommend(boards, k=10)
    assert run.source == "index" and list(got.columns) == ["board_id", "rank", "pin_id", "score", "is_cold"]
    assert got["board_id"].tolist() == [b for b in boards for _ in range(10)]
    want = table[table["board_id"].isin(boards)].set_index("board_id").loc[boards]
    assert got["pin_id"].tolist() == want["candidate_pin_id"].tolist()
    np.testing.assert_allclose(got["score"], want["score"], atol=1e-6)
    for b in boards:
        assert not _saved(tiny_run, b) & set(got.loc[got["board_id"] == b, "pin_id"])
    assert (got.groupby("board_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()


def test_include_saved_pins_brings_saved_pins_back(run: Run, tiny_run: Path) -> None:
    board = run.graph.boards["board_id"].iloc[0]
    saved = _saved(tiny_run, board)
    everything = run.recommend(board, k=run.bundle.n_pins, exclude_saved=False)
    assert saved <= set(everything["pin_id"]) and len(everything) == run.bundle.n_pins
    excluded = run.recommend(board, k=run.bundle.n_pins)
    assert set(excluded["pin_id"]) == set(everything["pin_id"]) - saved


def test_similar_pins_titles_and_cold_flags(run: Run, tiny_run: Path) -> None:
    pins = pd.read_parquet(tiny_run / "graph" / "pins.parquet")
    table = pd.read_parquet(tiny_run / "candidates" / "pin_candidates.parquet")
    cold = pins.loc[pins["is_cold"], "pin_id"].iloc[0]
    got = run.similar_pins([cold, "p001"], k=5, titles=True)
    assert list(got.columns) == ["query_pin_id", "rank", "pin_id", "score", "is_cold", "title"]
    assert not (got["query_pin_id"] == got["pin_id"]).any()
    want = table[table["pin_id"] == cold].sort_values("rank")["candidate_pin_id"].iloc[:5].tolist()
    assert got.loc[got["query_pin_id"] == cold, "pin_id"].tolist() == want
    meta = pins.set_index("pin_id")
    assert got["title"].tolist() == meta.loc[got["pin_id"], "title"].tolist()
    assert got["is_cold"].tolist() == meta.loc[got["pin_id"], "is_cold"].tolist()


def test_without_candidates_an_exact_index_is_built_from_the_embeddings(tiny_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    for part in ("graph", "embeddings"):
        shutil.copytree(tiny_run / part, run_dir / part)
    r = graphrec.load_run(run_dir)
    assert r.source == "embeddings"
    board = r.graph.boards["board_id"].iloc[3]
    want = graphrec.load_run(tiny_run).recommend(board, k=8)  # the tiny run's index is flat (exact)
    got = r.recommend(board, k=8)
    assert got["pin_id"].tolist() == want["pin_id"].tolist()


def test_bad_ids_and_directories_fail_clearly(run: Run, tmp_path: Path) -> None:
    with pytest.raises(CandidatesError, match="unknown board_id.*no-such-board"):
        run.recommend(["no-such-board"])
    with pytest.raises(CandidatesError, match="unknown pin_id"):
        run.similar_pins(["nope"])
    with pytest.raises(CandidatesError, match="k must be >= 1"):
        run.recommend(run.graph.boards["board_id"].iloc[:1], k=0)
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        graphrec.load_run(tmp_path)
