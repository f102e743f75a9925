"""The ``full`` teacher: candidates scored on validation, the best kept, as exact factors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from graph_build.graph import load_graph
from graphrec.hybrid.config import TeacherConfig
from graphrec.hybrid.teacher import binary, fit_teacher, simplex, truncated, warm_recall, zscore_rows
from graphrec.utils.config import ConfigError


def test_simplex_grid() -> None:
    grid = simplex(3, 0.25)
    assert len(grid) == 15 and all(abs(sum(w) - 1) < 1e-12 for w in grid)
    assert (1.0, 0.0, 0.0) in grid and (0.25, 0.25, 0.5) in grid


def test_truncated_svd_is_exact_at_full_rank_and_seeded() -> None:
    s = np.random.default_rng(0).standard_normal((30, 12)).astype(np.float32)
    b, p = truncated(s, 12, seed=1)
    np.testing.assert_allclose(b @ p.T, s, atol=1e-4)
    b2, p2 = truncated(s, 5, seed=1)
    assert b2.shape == (30, 5) and np.array_equal(b2, truncated(s, 5, seed=1)[0])


def test_crossfit_gain_is_scored_on_the_other_fold() -> None:
    from graphrec.hybrid.teacher import crossfit_gain

    single = np.full(8, 0.5)
    lucky = np.array([1.0, 0.5] * 4)  # great on fold 0 (even boards) only
    honest = np.full(8, 0.6)
    # chosen on fold 1 (odd boards): honest (0.6 > 0.5), scored on fold 0: +0.1; chosen on fold 0:
    # lucky (1.0), scored on fold 1: 0.0 -> mean +0.05 (the in-sample gain of lucky is +0.25)
    assert crossfit_gain([lucky, honest], single) == pytest.approx(0.05)


def test_warm_recall_by_hand() -> None:
    scores = np.array([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]], np.float32)
    known = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], np.float32))
    held = sp.csr_matrix(np.array([[0, 0, 1, 0], [0, 1, 0, 1]], np.float32))
    # board 0: pin 0 masked, top-2 = {1, 2}: 1/1; board 1: top-2 = {3, 2}: 1/2
    assert warm_recall(scores, known, held, 2) == pytest.approx(0.75)
    z = zscore_rows(scores)
    np.testing.assert_allclose(z.mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(1), 1, atol=1e-5)


@pytest.fixture(scope="module")
def teacher(synth_graph: Path):
    graph = load_graph(synth_graph)
    return graph, fit_teacher(graph, TeacherConfig(factors=(8, 16)), 20, seed=0)


def test_teacher_is_the_best_candidate_on_validation_and_its_factors_score_it(teacher) -> None:
    graph, t = teacher
    singles = [r["val_warm_recall"] for r in t.rows if r["model"] in ("als", "ease", "rp3beta")]
    assert t.chosen["val_warm_recall"] >= max(r["val_warm_recall"] for r in t.rows if r["model"] == "als")
    assert {r["model"] for r in t.rows} >= {"als", "ease", "rp3beta", "blend"} and len(
        singles
    ) == 2 * 2 + 3 + 6  # als 2 x 2, ease 3, rp3beta 2 x 3
    warm = np.flatnonzero(~graph.is_cold)
    got = warm_recall(t.board @ t.pin[warm].T, binary(graph, "train")[:, warm], binary(graph, "val")[:, warm], 20)
    assert got == pytest.approx(t.chosen["val_warm_recall"], abs=1e-9)
    assert not t.pin[graph.is_cold].any()  # cold pins have no collaborative vector


def test_given_families_are_candidates_alone_not_blend_components() -> None:
    from graphrec.hybrid.teacher import candidate_weights

    w = candidate_weights(["als", "ease", "rp3beta", "lightgcn"], 0.25)
    assert len(w) == 15 + 1 and w[-1] == (0, 0, 0, 1) and all(x[3] == 0 for x in w[:-1])
    assert [x[:3] for x in w[:-1]] == simplex(3, 0.25)


def test_lightgcn_is_left_out_of_the_search_without_its_given_factors(teacher) -> None:
    _, t = teacher  # the default families include lightgcn, but only graphrec run's fit-lightgcn gives it
    assert "lightgcn" in TeacherConfig().models and "lightgcn" not in {r["model"] for r in t.rows}


def test_a_given_family_that_is_best_on_validation_becomes_the_teacher(synth_graph: Path) -> None:
    """Factors fitted elsewhere (LightGCN) compete with the search's own fits: given vectors
    whose scores are the validation saves themselves (recall 1) must win, as a blend through its SVD."""
    graph = load_graph(synth_graph)
    perfect = (binary(graph, "val").toarray().astype(np.float32), np.eye(graph.n_pins, dtype=np.float32))
    t = fit_teacher(graph, TeacherConfig(factors=(8,)), 20, seed=0, given={"lightgcn": (*perfect, {"epochs": 7})})
    row = next(r for r in t.rows if r["model"] == "lightgcn")
    assert row["epochs"] == 7 and row["val_warm_recall"] == pytest.approx(1.0)
    assert t.best_single == pytest.approx(1.0)
    assert t.chosen["model"] == "blend_svd" and t.chosen["weights"] == {
        "als": 0,
        "ease": 0,
        "rp3beta": 0,
        "lightgcn": 1,
    }
    assert t.chosen["val_warm_recall"] > max(r["val_warm_recall"] for r in t.rows if r["model"] == "als")


def test_teacher_same_seed_same_bytes(teacher) -> None:
    graph, t = teacher
    again = fit_teacher(graph, TeacherConfig(factors=(8, 16)), 20, seed=0)
    assert np.array_equal(t.board, again.board) and np.array_equal(t.pin, again.pin)


def test_dense_limit_falls_back_to_als(synth_graph: Path) -> None:
    graph = load_graph(synth_graph)
    t = fit_teacher(graph, TeacherConfig(factors=(8,), dense_max=10), 20, seed=0)
    assert {r["model"] for r in t.rows} == {"als"} and t.chosen["model"] == "als"


@pytest.mark.parametrize(
    "kw",
    [
        {"models": ("ease",)},
        {"models": ("als", "bpr")},
        {"blend_step": 0.3},
        {"ease_lambdas": (0.0,)},
        {"rank": 0},
        {"rp3_betas": ()},
    ],
)
def test_bad_teacher_config_names_the_key(kw) -> None:
    with pytest.raises(ConfigError, match="full.teacher"):
        TeacherConfig(**kw)
