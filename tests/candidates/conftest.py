"""Fixtures: embedding directories for the tiny synthetic graph (planted-style vectors)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph_build.graph import PinBoardGraph, load_graph
from graphrec.embeddings import boards_from_pins, l2_normalize, write_embeddings

DIM = 16


def planted_vectors(graph: PinBoardGraph, seed: int = 0, noise: float = 0.6) -> np.ndarray:
    """Pin vectors = planted style centre + niche offset + noise (clustered like real embeddings)."""
    rng = np.random.default_rng(seed)
    truth = graph.truth("pin_styles").sort_values("pin_idx")
    style, niche = truth["style"].to_numpy(), truth["niche"].to_numpy()
    centres = rng.normal(size=(style.max() + 1, DIM))
    offsets = 0.5 * rng.normal(size=(niche.max() + 1, DIM))
    return l2_normalize(centres[style] + offsets[niche] + noise * rng.normal(size=(graph.n_pins, DIM)))


@pytest.fixture(scope="session")
def graph(synth_graph: Path) -> PinBoardGraph:
    return load_graph(synth_graph)


@pytest.fixture(scope="session")
def emb_dir(graph: PinBoardGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Content-style embeddings (no board vectors: the job uses boards_from_pins)."""
    out = tmp_path_factory.mktemp("emb") / "content"
    write_embeddings(out, graph, model_name="content", pin=planted_vectors(graph))
    return out


@pytest.fixture(scope="session")
def graph_emb_dir(graph: PinBoardGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Graph-style embeddings with explicit board vectors (deliberately not the pins' mean)."""
    pin = planted_vectors(graph, seed=1)
    board = l2_normalize(
        boards_from_pins(graph, pin) + 0.3 * np.random.default_rng(2).normal(size=(graph.n_boards, DIM))
    )
    out = tmp_path_factory.mktemp("emb") / "full"
    write_embeddings(out, graph, model_name="full", pin=pin, board=board)
    return out
