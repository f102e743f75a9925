"""The content-predicted popularity prior of cold pins (graphrec/hybrid/prior.py) and its place in ``full``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from graphrec.hybrid.calibrate import board_vectors, pin_vectors
from graphrec.hybrid.prior import CLIP, PopularityPrior, fit_prior


def _data(n: int = 400, d: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    degree = np.rint(np.expm1(np.clip(1.0 + 0.8 * x[:, 0], 0, None)))  # popularity grows with feature 0
    warm, cold = np.arange(0, 300), np.arange(300, n)
    return x.astype(np.float32), degree, warm, cold


def test_prior_ranks_cold_pins_by_the_feature_popularity_follows() -> None:
    x, degree, warm, cold = _data()
    prior = fit_prior(x, degree, warm, cold, ridge=0.01)
    z = prior(x[cold])
    assert abs(float(z.mean())) < 0.05 and abs(float(z.std()) - 1.0) < 0.05  # standardised over cold pins
    assert np.corrcoef(z, x[cold, 0])[0, 1] > 0.9
    assert abs(np.corrcoef(z, x[cold, 1])[0, 1]) < 0.2  # a feature popularity does not follow
    assert np.abs(prior(100 * x[cold])).max() <= CLIP  # extreme content is clipped


def test_prior_is_zero_without_warm_or_cold_pins_or_signal() -> None:
    x, degree, warm, cold = _data()
    assert not PopularityPrior.none()(x).any()
    assert not fit_prior(x, degree, warm[:1], cold, 0.1)(x).any()
    assert not fit_prior(x, degree, warm, cold[:0], 0.1)(x).any()
    assert not fit_prior(np.zeros_like(x), degree, warm, cold, 0.1)(x).any()  # constant content: no spread


def test_prior_column_adds_weight_times_z_to_cold_scores_only() -> None:
    from graphrec.hybrid.calibrate import BoardStats

    rng = np.random.default_rng(1)
    board, pin = rng.standard_normal((6, 4)).astype(np.float32), rng.standard_normal((10, 4)).astype(np.float32)
    cold = np.arange(10) >= 7
    z = rng.standard_normal(10).astype(np.float32)
    stats = BoardStats(np.zeros(6, np.float32), np.ones(6, np.float32), np.zeros(6, np.float32), 1.0)
    rec = np.zeros(6, np.float32)
    p = pin_vectors(pin, pin, cold, 1.0, z)
    without = board_vectors(board, stats, 0.0, 0.0, rec, 0.0) @ p.T
    with_prior = board_vectors(board, stats, 0.0, 0.0, rec, 1.5) @ p.T
    assert np.allclose(with_prior - without, np.where(cold, 1.5 * z, 0.0)[None, :], atol=1e-4)


def test_full_chooses_the_prior_weight_on_validation_and_saves_it(tmp_path, synth_graph) -> None:
    from graph_build.graph import load_graph
    from graphrec.hybrid.config import CalibrationConfig, FullConfig, StudentConfig
    from graphrec.hybrid.train import fit_full

    graph = load_graph(synth_graph)
    rng = np.random.default_rng(0)
    content = rng.standard_normal((graph.n_pins, 8)).astype(np.float32)
    cal = CalibrationConfig(offsets=(-2.0, 0.0, 2.0), recency=(0.0,), popularity=(0.0, 3.0), criterion="macro")
    cfg = FullConfig(student=StudentConfig(epochs=2, hidden_dim=16, kind="mlp"), calibration=cal)
    model = fit_full(graph, content, cfg)
    grid = model.info["grid"]
    assert {r["popularity_weight"] for r in grid} == {0.0, 3.0}
    assert model.prior_weight == grid[0]["popularity_weight"] == model.info["chosen"]["popularity_weight"]
    forced = dataclasses.replace(model, prior_weight=3.0)
    cold = graph.is_cold
    before = model.board_emb() @ model.pin_emb(content, cold).T
    after = forced.board_emb() @ forced.pin_emb(content, cold).T
    # boards are unit rows: warm scores change by a per-board scale only, cold scores move
    scale = np.median(after[:, ~cold] / before[:, ~cold], axis=1, keepdims=True)
    assert np.allclose(after[:, ~cold], scale * before[:, ~cold], atol=1e-5)
    assert not np.allclose(after[:, cold], scale * before[:, cold], atol=1e-3)


def test_bad_popularity_grid_is_a_config_error() -> None:
    from graphrec.hybrid.config import CalibrationConfig
    from graphrec.utils.config import ConfigError

    with pytest.raises(ConfigError, match="popularity"):
        CalibrationConfig(popularity=(-1.0,))
    with pytest.raises(ConfigError, match="popularity"):
        CalibrationConfig(popularity_ridge=0.0)
