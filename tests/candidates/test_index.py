"""The faiss index layer: exactness of flat, recall of hnsw/ivf, save/load/add round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graphrec.candidates.config import CandidatesError, IndexConfig
from graphrec.candidates.index import CandidateIndex, resolve_nlist
from graphrec.candidates.search import recall_at_k


def clustered(n: int, dim: int = 16, clusters: int = 40, spread: float = 0.35, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + spread * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def numpy_topk(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    s = q.astype(np.float64) @ x.astype(np.float64).T
    order = np.lexsort((np.broadcast_to(np.arange(x.shape[0]), s.shape), -s), axis=1)[:, :k]
    return np.take_along_axis(s, order, axis=1), order


def test_flat_equals_brute_force_numpy_topk() -> None:
    x, q = clustered(3000), clustered(200, seed=9)
    index = CandidateIndex.build(x, IndexConfig(kind="flat"))
    scores, ids = index.search(q, 25)
    ref_scores, ref_ids = numpy_topk(x, q, 25)
    np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
    # ids agree except where two neighbours' scores tie within float32 rounding
    gap = np.abs(np.diff(ref_scores, axis=1)).min(axis=1) > 1e-5
    assert gap.sum() > 150
    np.testing.assert_array_equal(ids[gap], ref_ids[gap])


@pytest.mark.parametrize(
    "cfg, floor",
    [
        (IndexConfig(kind="hnsw", hnsw_m=16, hnsw_ef_search=64), 0.9),
        (IndexConfig(kind="ivf", ivf_nlist=50, ivf_nprobe=8), 0.8),
    ],
)
def test_approximate_recall_is_sane_on_clustered_data(cfg: IndexConfig, floor: float) -> None:
    x, q = clustered(6000, clusters=60), clustered(300, clusters=60, seed=5)
    _, truth = CandidateIndex.build(x, IndexConfig(kind="flat")).search(q, 50)
    _, ids = CandidateIndex.build(x, cfg, seed=0).search(q, 50)
    recall = recall_at_k(ids, truth)
    assert floor <= recall <= 1.0
    if cfg.kind == "ivf":  # a crippled search must measure worse: the number reacts to the index
        weak = CandidateIndex.build(x, IndexConfig(kind="ivf", ivf_nlist=50, ivf_nprobe=1), seed=0)
        assert recall_at_k(weak.search(q, 50)[1], truth) < recall - 0.05


def test_recall_at_k_counts_overlap() -> None:
    exact = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert recall_at_k(exact, exact) == 1.0
    assert recall_at_k(np.array([[1, 2, 9, 9], [8, 7, -1, -1]]), exact) == pytest.approx(0.5)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf"])
def test_save_load_add_round_trip(kind: str, tmp_path: Path) -> None:
    x = clustered(2000)
    cfg = IndexConfig(kind=kind, ivf_nlist=20, ivf_nprobe=20)
    index = CandidateIndex.build(x, cfg, seed=3)
    q = x[:50]
    before = index.search(q, 10)
    index.save(tmp_path / "index.faiss")
    loaded = CandidateIndex.load(tmp_path / "index.faiss", cfg)
    assert loaded.ntotal == 2000 and loaded.dim == 16
    np.testing.assert_array_equal(loaded.search(q, 10)[1], before[1])
    # new vectors continue the ids and are found right away, also after another save/load
    new = clustered(5, seed=11)
    ids = loaded.add(new)
    np.testing.assert_array_equal(ids, np.arange(2000, 2005))
    loaded.save(tmp_path / "index2.faiss")
    again = CandidateIndex.load(tmp_path / "index2.faiss", cfg)
    scores, found = again.search(new, 1)
    np.testing.assert_array_equal(found[:, 0], ids)
    np.testing.assert_allclose(scores[:, 0], 1.0, atol=1e-5)


def test_added_duplicate_of_a_pin_finds_that_pin() -> None:
    x = clustered(3000)
    index = CandidateIndex.build(x, IndexConfig(kind="hnsw", hnsw_m=16))
    twin = x[[123, 2001]] * 3.0  # same content, different norm: normalised on the way in
    new_ids = index.add(twin)
    _, ids = index.search(twin, 5)
    for row, (pin, new) in enumerate(zip([123, 2001], new_ids)):
        assert {pin, new} <= set(ids[row, :2].tolist())


def test_add_rejects_wrong_ids_and_dimension(tmp_path: Path) -> None:
    index = CandidateIndex.build(clustered(100), IndexConfig())
    with pytest.raises(CandidatesError, match="continue after"):
        index.add(clustered(2), ids=np.array([5, 6]))
    with pytest.raises(CandidatesError, match="dimension"):
        index.add(np.ones((1, 3), np.float32))
    with pytest.raises(CandidatesError, match="not a hnsw index"):
        index.save(tmp_path / "flat.faiss")
        CandidateIndex.load(tmp_path / "flat.faiss", IndexConfig(kind="hnsw"))


def test_search_pads_when_index_is_smaller_than_k() -> None:
    index = CandidateIndex.build(clustered(3), IndexConfig())
    scores, ids = index.search(clustered(2, seed=1), 5)
    assert (ids[:, 3:] == -1).all() and np.isinf(scores[:, 3:]).all()


def test_resolve_nlist_keeps_enough_points_per_list() -> None:
    assert resolve_nlist(IndexConfig(kind="ivf"), 1_000_000) == 1000
    assert resolve_nlist(IndexConfig(kind="ivf", ivf_nlist=500), 1000) == 25
    assert resolve_nlist(IndexConfig(kind="ivf"), 10) == 1
