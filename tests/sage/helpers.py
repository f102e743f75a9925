"""Small graphs and configs shared by the sage tests."""

from __future__ import annotations

import numpy as np

from graphrec.sage.adjacency import Bipartite
from graphrec.sage.config import SageConfig
from graphrec.utils.config import load_config

TINY = [
    "train.epochs=2",
    "train.batch_size=64",
    "model.hidden_dim=32",
    "model.out_dim=16",
    "loss.easy_negatives=32",
    "loss.hard_pool=8",
    "sampler.n_walks=8",
    "train.checkpoint_every=3",
]


def tiny_config(*extra: str) -> SageConfig:
    """A config small enough for unit tests."""
    return load_config(SageConfig, None, [*TINY, *extra])


def random_bipartite(n_pins: int, n_boards: int, saves_per_pin: int, seed: int) -> Bipartite:
    """Every pin on 1..saves_per_pin random boards."""
    rng = np.random.default_rng(seed)
    k = rng.integers(1, saves_per_pin + 1, n_pins)
    pin = np.repeat(np.arange(n_pins), k)
    board = rng.integers(0, n_boards, len(pin))
    return Bipartite.from_edges(pin, board, n_pins, n_boards)


def two_communities(n_pins: int = 120, n_boards: int = 30, seed: int = 0) -> tuple[Bipartite, np.ndarray, np.ndarray]:
    """Two disjoint communities: pins/boards of community c only connect inside c.

    Returns ``(graph, pin_community, board_community)``; the last 10 % of each community's pins
    are cold (no edges).
    """
    rng = np.random.default_rng(seed)
    pin_c = np.arange(n_pins) % 2
    board_c = np.arange(n_boards) % 2
    warm = np.arange(n_pins) < int(0.9 * n_pins)
    pins, boards = [], []
    for c in (0, 1):
        ps = np.flatnonzero((pin_c == c) & warm)
        bs = np.flatnonzero(board_c == c)
        for _ in range(3):
            pins.append(ps)
            boards.append(rng.choice(bs, len(ps)))
    bip = Bipartite.from_edges(np.concatenate(pins), np.concatenate(boards), n_pins, n_boards)
    return bip, pin_c, board_c
