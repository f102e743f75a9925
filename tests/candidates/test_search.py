"""Exclusions: the query pin itself and pins already saved to a board; k results kept when possible."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from graphrec.candidates.config import IndexConfig
from graphrec.candidates.index import CandidateIndex
from graphrec.candidates.search import self_exclusion, top_k_excluding


def unit(n: int, dim: int = 8, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_self_is_excluded_and_k_results_remain() -> None:
    x = unit(500)
    index = CandidateIndex.build(x, IndexConfig())
    rows = np.arange(500)
    top = top_k_excluding(index, x, 20, self_exclusion(rows, 500))
    assert (top.counts == 20).all()
    assert not (top.ids == rows[:, None]).any()
    # without the exclusion the pin itself is rank 1: the test above could fail
    plain = top_k_excluding(index, x, 20)
    assert (plain.ids[:, 0] == rows).all()
    np.testing.assert_array_equal(top.ids[:, :19], plain.ids[:, 1:20])


def test_saved_pins_are_excluded_even_when_they_fill_the_top() -> None:
    x = unit(300, seed=1)
    index = CandidateIndex.build(x, IndexConfig())
    q = unit(4, seed=2)
    _, nearest = index.search(q, 120)
    # query 0: its 100 nearest pins are "saved" (more than k); query 1: nothing; query 2: 3 pins;
    # query 3: every pin but 7 is saved, so only 7 results are possible
    rows = [0] * 100 + [2] * 3 + [3] * 293
    cols = list(nearest[0, :100]) + list(nearest[2, :3]) + list(np.setdiff1d(np.arange(300), np.arange(7)))
    excluded = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(4, 300))
    top = top_k_excluding(index, q, 10, excluded)
    np.testing.assert_array_equal(top.counts, [10, 10, 10, 7])
    np.testing.assert_array_equal(top.ids[0], nearest[0, 100:110])
    np.testing.assert_array_equal(top.ids[1], nearest[1, :10])
    np.testing.assert_array_equal(top.ids[2], nearest[2, 3:13])
    assert set(top.ids[3, :7]) == set(range(7)) and (top.ids[3, 7:] == -1).all()
    for r in range(4):
        assert not set(top.ids[r][top.ids[r] >= 0]) & set(excluded[r].indices)
        s = top.scores[r, : top.counts[r]]
        assert (np.diff(s) <= 0).all()


def test_ties_break_by_id_and_flat_layout() -> None:
    base = unit(5, seed=3)
    x = np.repeat(base, 4, axis=0)[::-1].copy()  # 4 identical copies of each vector, ids scrambled
    index = CandidateIndex.build(x, IndexConfig())
    top = top_k_excluding(index, base[:2], 4)
    for r in range(2):
        assert (np.diff(top.ids[r]) > 0).all()  # equal scores: ascending ids
    rows, rank, ids, scores = top.flat()
    assert rank.tolist() == [1, 2, 3, 4, 1, 2, 3, 4] and rows.tolist() == [0] * 4 + [1] * 4
