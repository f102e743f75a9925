"""Fixtures of the evaluation tests: tiny configs, embedding dirs built from planted truth or noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eval.config import (
    ABConfig,
    ALSConfig,
    BlendConfig,
    BPRConfig,
    EASEConfig,
    EvalConfig,
    LightGCNConfig,
    RP3betaConfig,
)
from graph_build.graph import PinBoardGraph, load_graph
from graphrec.embeddings import l2_normalize, write_embeddings

TINY_OVERRIDES = [
    "als.factors=8",
    "als.iterations=3",
    "bpr.factors=8",
    "bpr.iterations=10",
    "lightgcn.dim=8",
    "lightgcn.epochs=2",
    "ab.n_bootstrap=100",
    "ab.n_permutations=100",
    "ab.feed_size=10",
    "als.factors_grid=[8]",
    "als.regularization_grid=[0.05]",
    "als.alpha_grid=[5.0,10.0]",
    "ease.lambdas=[50.0,200.0]",
    "rp3beta.alphas=[0.5]",
    "rp3beta.betas=[0.0,0.5]",
]
"""The same tiny settings as ``--set`` overrides (CLI tests)."""


def tiny_config(**kw) -> EvalConfig:
    """Small, fast baselines and statistics (training quality is not what these tests check)."""
    base = dict(
        als=ALSConfig(factors=8, iterations=3, factors_grid=(8,), regularization_grid=(0.05,), alpha_grid=(5.0, 10.0)),
        bpr=BPRConfig(factors=8, iterations=10),
        lightgcn=LightGCNConfig(dim=8, epochs=2),
        ease=EASEConfig(lambdas=(50.0, 200.0)),
        rp3beta=RP3betaConfig(alphas=(0.5,), betas=(0.0, 0.5)),
        blend=BlendConfig(cf_models=("als", "rp3beta")),
        ab=ABConfig(n_bootstrap=100, n_permutations=100, feed_size=10),
    )
    base.update(kw)
    return EvalConfig(**base)


def truth_content(graph: PinBoardGraph, noise: float, seed: int) -> np.ndarray:
    """Content-like pin vectors: the planted style (strong) and niche (weak) plus Gaussian noise."""
    from eval.recommenders.oracle import load_truth, pin_one_hot

    t = load_truth(graph)
    style = np.zeros((graph.n_pins, t.n_styles))
    style[np.arange(graph.n_pins), t.pin_style] = 1.0
    x = np.hstack([style, 0.5 * pin_one_hot(t)])
    return l2_normalize(x + np.random.default_rng(seed).normal(0, noise, x.shape))


@pytest.fixture(scope="session")
def graph(synth_graph: Path) -> PinBoardGraph:
    return load_graph(synth_graph)


@pytest.fixture(scope="session")
def runs(synth_graph: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``content`` (planted truth + noise, pin vectors only) and ``sage_raw`` (random, with board vectors)."""
    g = load_graph(synth_graph)
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(7)
    write_embeddings(root / "content", g, model_name="content", pin=truth_content(g, 0.15, 0))
    write_embeddings(
        root / "sage_raw",
        g,
        model_name="sage_raw",
        pin=l2_normalize(rng.normal(size=(g.n_pins, 8))),
        board=l2_normalize(rng.normal(size=(g.n_boards, 8))),
    )
    return {"content": root / "content", "sage_raw": root / "sage_raw"}
