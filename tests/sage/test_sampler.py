"""The importance sampler: DGL cross-check, invariants, communities that never mix."""

from __future__ import annotations

import numpy as np
import pytest

from graphrec.sage.adjacency import BOARD, PIN, Bipartite
from graphrec.sage.config import SamplerConfig
from graphrec.sage.sampler import random_walks, sample_neighborhoods, top_visited
from tests.sage.helpers import random_bipartite, two_communities


def _dgl_graph(bip: Bipartite):
    import dgl
    import torch

    pin, board = bip.edges()
    p, b = torch.from_numpy(pin), torch.from_numpy(board)
    return dgl.heterograph(
        {(PIN, "saved_to", BOARD): (p, b), (BOARD, "contains", PIN): (b, p)},
        num_nodes_dict={PIN: bip.n_pins, BOARD: bip.n_boards},
    )


def _dgl_counts(bip: Bipartite, length: int, restart: float, walks: int, k: int, seed: int) -> np.ndarray:
    """Visit counts per (origin, pin) from dgl.sampling.PinSAGESampler, self visits removed."""
    import dgl
    import torch

    dgl.seed(seed)
    sampler = dgl.sampling.PinSAGESampler(_dgl_graph(bip), PIN, BOARD, length, restart, walks, k)
    frontier = sampler(torch.arange(bip.n_pins))
    src, dst = (t.numpy() for t in frontier.edges())
    counts = np.zeros((bip.n_pins, bip.n_pins))
    counts[dst, src] = frontier.edata["weights"].numpy()
    np.fill_diagonal(counts, 0)
    return counts


def _our_counts(bip: Bipartite, length: int, restart: float, walks: int, seed: int) -> np.ndarray:
    cfg = SamplerConfig(n_walks=walks, walk_length=length, restart_prob=restart)
    same, _ = random_walks(bip, PIN, np.arange(bip.n_pins), cfg, np.random.default_rng(seed))
    counts = np.zeros((bip.n_pins, bip.n_pins))
    rows = np.repeat(np.arange(bip.n_pins), same.shape[1])
    ok = same.ravel() >= 0
    np.add.at(counts, (rows[ok], same.ravel()[ok]), 1)
    np.fill_diagonal(counts, 0)
    return counts


def _expected(bip: Bipartite, length: int, restart: float) -> np.ndarray:
    """Exact expected pin visits per walk: sum_t (1 - restart)^(t-1) P^t, P = pin -> board -> pin."""
    p = (bip.row_normalized(PIN) @ bip.row_normalized(BOARD)).toarray()
    out, step = np.zeros_like(p), np.eye(len(p))
    for t in range(length):
        step = step @ p
        out += (1 - restart) ** t * step
    np.fill_diagonal(out, 0)
    return out


def _normalise(c: np.ndarray) -> np.ndarray:
    return c / np.maximum(c.sum(1, keepdims=True), 1e-12)


def test_same_neighbour_sets_as_dgl_when_deterministic() -> None:
    # Disjoint boards of 4 pins, one traversal, many walks: every board mate is visited, so the
    # neighbourhood is exactly the 3 mates for both samplers.
    pin = np.arange(40)
    bip = Bipartite.from_edges(pin, pin // 4, 40, 10)
    ours = sample_neighborhoods(
        bip,
        SamplerConfig(n_walks=200, walk_length=1, pin_pins=3, pin_boards=1, board_pins=4, board_boards=0),
        np.random.default_rng(0),
    )
    dgl_counts = _dgl_counts(bip, 1, 0.5, 200, 4, seed=0)
    for i in range(40):
        mates = set(range(4 * (i // 4), 4 * (i // 4) + 4)) - {i}
        assert set(ours.rel[(PIN, PIN)].idx[i]) == mates
        assert set(np.flatnonzero(dgl_counts[i])) == mates
        np.testing.assert_allclose(ours.rel[(PIN, PIN)].weight[i].sum(), 1.0, rtol=1e-6)
    assert (ours.rel[(PIN, BOARD)].idx[:, 0] == pin // 4).all()


def test_visit_frequencies_match_dgl_and_the_exact_expectation() -> None:
    bip = random_bipartite(40, 15, 2, seed=1)
    length, restart, walks = 2, 0.5, 4000
    ours = _normalise(_our_counts(bip, length, restart, walks, seed=0))
    theirs = _normalise(_dgl_counts(bip, length, restart, walks, k=bip.n_pins, seed=0))
    exact = _normalise(_expected(bip, length, restart))
    tv = lambda a, b: 0.5 * np.abs(a - b).sum(1)  # noqa: E731  (total variation per origin)
    assert tv(ours, exact).max() < 0.05
    assert tv(theirs, exact).max() < 0.05
    assert tv(ours, theirs).max() < 0.07
    # Same top-5 ranking wherever the exact 5th and 6th visit rates are clearly apart.
    order = np.argsort(-exact, axis=1, kind="stable")
    gap = np.take_along_axis(exact, order[:, 4:6], 1)
    clear = np.flatnonzero(gap[:, 0] - gap[:, 1] > 0.05)
    assert len(clear) >= 5
    for i in clear:
        top = set(order[i, :5])
        assert set(np.argsort(-ours[i], kind="stable")[:5]) == top
        assert set(np.argsort(-theirs[i], kind="stable")[:5]) == top


def test_top_visited_counts_ties_padding_and_self() -> None:
    visits = np.array([[5, 3, 3, 5, 5, -1, 2, 0], [-1, -1, -1, -1, -1, -1, -1, -1]])
    nb = top_visited(visits, k=3, exclude=np.array([0, 1]))
    assert nb.idx[0].tolist() == [5, 3, 2]  # 3 visits, 2 visits, then ties broken by smaller id
    np.testing.assert_allclose(nb.weight[0], [0.5, 1 / 3, 1 / 6], rtol=1e-6)
    assert nb.idx[1].tolist() == [-1, -1, -1] and nb.weight[1].sum() == 0


def test_cold_pins_have_empty_neighbourhoods_and_are_nobodys_neighbour() -> None:
    bip, _, _ = two_communities()
    cold = np.flatnonzero(bip.degree(PIN) == 0)
    assert len(cold) > 0
    nb = sample_neighborhoods(bip, SamplerConfig(n_walks=16), np.random.default_rng(0))
    for (dst, src), rel in nb.rel.items():
        if dst == PIN:
            assert (rel.weight[cold] == 0).all() and (rel.idx[cold] == -1).all()
        if src == PIN:
            assert not np.isin(rel.idx, cold).any()
        assert np.all((rel.idx >= 0) == (rel.weight > 0))
        sums = rel.weight.sum(1)
        assert np.allclose(sums[sums > 0], 1.0, atol=1e-5)


def test_two_disjoint_communities_never_mix_in_any_relation() -> None:
    bip, pin_c, board_c = two_communities()
    nb = sample_neighborhoods(bip, SamplerConfig(n_walks=32, walk_length=3, restart_prob=0.2), np.random.default_rng(0))
    comm = {PIN: pin_c, BOARD: board_c}
    for (dst, src), rel in nb.rel.items():
        ok = rel.idx >= 0
        rows = np.broadcast_to(np.arange(len(rel.idx))[:, None], rel.idx.shape)
        assert (comm[src][rel.idx[ok]] == comm[dst][rows[ok]]).all(), (dst, src)


@pytest.mark.parametrize("chunk", [7, 65536])
def test_same_seed_same_neighbourhoods(chunk: int) -> None:
    bip = random_bipartite(50, 10, 3, seed=2)
    cfg = SamplerConfig(chunk=chunk)
    a = sample_neighborhoods(bip, cfg, np.random.default_rng(5))
    b = sample_neighborhoods(bip, cfg, np.random.default_rng(5))
    c = sample_neighborhoods(bip, cfg, np.random.default_rng(6))
    for key in a.rel:
        np.testing.assert_array_equal(a.rel[key].idx, b.rel[key].idx)
        np.testing.assert_array_equal(a.rel[key].weight, b.rel[key].weight)
    assert any((a.rel[k].idx != c.rel[k].idx).any() for k in a.rel)
