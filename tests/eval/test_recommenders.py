"""One contract suite run against every recommender (the implicit-style shared test mixin)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from eval.config import BASELINES, ORACLE
from eval.recommenders import available_models, build_recommender, load_runs, select_models
from eval.recommenders.base import UNSCOREABLE, NotFittedError, Recommender
from graph_build.graph import PinBoardGraph
from graphrec.embeddings import EmbeddingDirError, write_embeddings
from tests.eval.conftest import tiny_config
from tests.eval.helpers import fake_minilm

MODELS = list(BASELINES) + ["content", "sage_raw", ORACLE]
COLD_BLIND = {"popularity", "als", "bpr", "lightgcn", "ease", "rp3beta"}
TUNED = {"als", "ease", "rp3beta", "blend", "lightgcn"}
"""Models whose hyperparameters are chosen on the val split (fitted on train only)."""


def _make(name: str, graph: PinBoardGraph, runs: dict[str, Path], seed: int = 0) -> Recommender:
    return build_recommender(name, tiny_config(seed=seed), load_runs(list(runs.values()), graph))


@pytest.fixture(scope="module", autouse=True)
def _fast_text_encoder() -> Iterator[None]:
    """content_minilm / blend on hashed words, not MiniLM (the real encoder: test_baselines)."""
    with fake_minilm():
        yield


@pytest.fixture(scope="module")
def fitted(graph: PinBoardGraph, runs: dict[str, Path], _fast_text_encoder: None) -> dict[str, Recommender]:
    return {name: _make(name, graph, runs).fit(graph) for name in MODELS}


def _without_held_out(graph: PinBoardGraph, keep_val: bool = False) -> PinBoardGraph:
    empty = {s: graph.saves[s].iloc[:0] for s in (("test",) if keep_val else ("val", "test"))}
    return dataclasses.replace(graph, saves={**graph.saves, **empty})


@pytest.mark.parametrize("name", MODELS)
class TestRecommenderContract:
    def test_name_and_cold_flag(self, name: str, fitted: dict[str, Recommender]) -> None:
        m = fitted[name]
        assert m.name == name
        assert m.can_score_cold == (name not in COLD_BLIND)

    def test_scoring_before_fit_is_an_error(self, name: str, graph: PinBoardGraph, runs: dict[str, Path]) -> None:
        with pytest.raises(NotFittedError, match="fit"):
            _make(name, graph, runs).score_boards(np.arange(3))

    def test_score_shapes_and_values(self, name: str, fitted: dict[str, Recommender], graph: PinBoardGraph) -> None:
        m = fitted[name]
        b = m.score_boards(np.array([0, 5, 7]))
        p = m.score_pins(np.array([1, 2]))
        assert b.shape == (3, graph.n_pins) and p.shape == (2, graph.n_pins)
        assert b.dtype == torch.float32 and p.dtype == torch.float32
        for s in (b, p):
            assert torch.isfinite(s).all()
            real = s[s > UNSCOREABLE]
            assert real.numel() > 0 and (real.abs() < 1e20).all()

    def test_recommend_returns_sorted_unique_ids_without_excluded(
        self, name: str, fitted: dict[str, Recommender], graph: PinBoardGraph
    ) -> None:
        m = fitted[name]
        boards = np.arange(0, graph.n_boards, 7)
        train = graph.csr("train").T.tocsr()
        ids, scores = m.recommend(boards, 30, exclude=train)
        assert ids.shape == scores.shape == (len(boards), 30)
        assert (np.diff(scores, axis=1) <= 0).all()
        for row, b in zip(ids, boards):  # small loop over 50 rows in a test, not in the library
            assert len(set(row.tolist())) == 30
            assert not set(row.tolist()) & set(train[b].indices.tolist())

    def test_similar_pins_excludes_the_query(self, name: str, fitted: dict[str, Recommender]) -> None:
        pins = np.array([0, 3, 9])
        ids, scores = fitted[name].similar_pins(pins, 10)
        assert ids.shape == (3, 10) and not (ids == pins[:, None]).any()
        assert (np.diff(scores, axis=1) <= 0).all()

    def test_cold_pins_rank_last_exactly_when_the_model_cannot_score_them(
        self, name: str, fitted: dict[str, Recommender], graph: PinBoardGraph
    ) -> None:
        ids, _ = fitted[name].recommend(np.arange(0, graph.n_boards, 5), graph.n_pins)
        n_warm = int((~graph.is_cold).sum())
        cold_last = not graph.is_cold[ids[:, :n_warm]].any()
        if name in COLD_BLIND:
            assert cold_last
        else:
            assert not cold_last, "a model that can score cold pins should put some above warm ones"

    def test_fit_uses_only_train_saves_and_is_deterministic(
        self, name: str, fitted: dict[str, Recommender], graph: PinBoardGraph, runs: dict[str, Path]
    ) -> None:
        again = _make(name, graph, runs).fit(_without_held_out(graph, keep_val=name in TUNED))
        boards = np.arange(0, graph.n_boards, 11)
        torch.testing.assert_close(again.score_boards(boards), fitted[name].score_boards(boards))
        torch.testing.assert_close(again.score_pins(np.arange(20)), fitted[name].score_pins(np.arange(20)))


@pytest.mark.parametrize("name", ["als", "bpr", "lightgcn"])
def test_seed_changes_learned_models(
    name: str, fitted: dict[str, Recommender], graph: PinBoardGraph, runs: dict[str, Path]
) -> None:
    other = _make(name, graph, runs, seed=1).fit(graph)
    assert not torch.equal(other.score_boards(np.arange(5)), fitted[name].score_boards(np.arange(5)))


def test_lightgcn_propagation_is_pygs_with_its_gradient(graph: PinBoardGraph) -> None:
    """The symmetric sparse product (forward and backward) equals PyG's LightGCN convolutions."""
    from torch_geometric.nn import LightGCN

    from eval.recommenders.lightgcn import normalized_adjacency, propagate

    torch.manual_seed(0)
    model = LightGCN(graph.n_boards + graph.n_pins, 8, 2)
    for conv in model.convs:
        conv.normalize = False
    adj = normalized_adjacency(graph)
    w = torch.randn(graph.n_boards + graph.n_pins, 8)
    ours = propagate(model, adj)
    (ours * w).sum().backward()
    g_ours, model.embedding.weight.grad = model.embedding.weight.grad.clone(), None
    pyg = model.get_embedding(adj)
    (pyg * w).sum().backward()
    torch.testing.assert_close(ours, pyg, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_ours, model.embedding.weight.grad, rtol=1e-5, atol=1e-6)
    assert g_ours.abs().sum() > 0


def _lightgcn(graph: PinBoardGraph, **kw) -> Recommender:
    from eval.config import LightGCNConfig
    from eval.recommenders.lightgcn import LightGCNRecommender

    return LightGCNRecommender(LightGCNConfig(dim=8, batch_size=256, lr=0.05, **kw), seed=0).fit(graph)


def test_lightgcn_keeps_the_best_validation_epoch_and_stops_after_patience(graph: PinBoardGraph) -> None:
    m = _lightgcn(graph, epochs=12, eval_every=1, patience=2)
    grid = m.chosen["grid"]
    recalls = [row["val_all_recall@20"] for row in grid]
    best = int(np.argmax(recalls))  # the first best wins a tie, as np.argmax
    assert m.chosen["values"] == {"epochs": grid[best]["epochs"]}
    assert [row["epochs"] for row in grid] == list(range(1, len(grid) + 1))
    assert len(grid) == 12 or len(grid) == best + 1 + 2  # all epochs, or stopped 2 after the best
    # the kept vectors are the best epoch's: training exactly that many epochs gives the same bytes
    again = _lightgcn(graph, epochs=grid[best]["epochs"], patience=0)
    assert again.chosen is None
    boards = np.arange(graph.n_boards)
    torch.testing.assert_close(again.score_boards(boards), m.score_boards(boards), rtol=0, atol=0)


def test_lightgcn_without_patience_never_reads_the_validation_saves(graph: PinBoardGraph) -> None:
    m = _lightgcn(graph, epochs=3, patience=0)
    blind = _lightgcn(_without_held_out(graph), epochs=3, patience=0)
    boards = np.arange(graph.n_boards)
    torch.testing.assert_close(blind.score_boards(boards), m.score_boards(boards), rtol=0, atol=0)


def test_lightgcn_written_once_then_loaded_scores_as_its_own_fit(graph: PinBoardGraph, tmp_path: Path) -> None:
    """graphrec run fits LightGCN once (fit-lightgcn) and evaluate loads it: the same bytes as
    fitting it in evaluate, the same chosen epochs; another identity or graph is refused."""
    from eval.recommenders.lightgcn import LightGCNRecommender, write_lightgcn_dir
    from graphrec.utils.modeldir import ModelDirError

    cfg = tiny_config(max_queries=9)
    fresh = build_recommender("lightgcn", cfg, {}).fit(graph)
    manifest = write_lightgcn_dir(graph, cfg, tmp_path / "lightgcn")
    assert manifest["chosen"] == fresh.chosen and manifest["identity"]["max_boards"] == 9
    loaded = build_recommender("lightgcn", cfg, {}, prefit={"lightgcn": tmp_path / "lightgcn"}).fit(graph)
    boards = np.arange(graph.n_boards)
    torch.testing.assert_close(loaded.score_boards(boards), fresh.score_boards(boards), rtol=0, atol=0)
    assert loaded.chosen == fresh.chosen and loaded.prefit_seconds == manifest["fit_seconds"]
    other = LightGCNRecommender(cfg.lightgcn, seed=1, max_boards=9, prefit=tmp_path / "lightgcn")
    with pytest.raises(ModelDirError, match=r"lightgcn: fitted with .*'seed': 0.*not the requested"):
        other.fit(graph)
    with pytest.raises(ModelDirError, match="not a fitted factor directory"):
        LightGCNRecommender(cfg.lightgcn, 0, 9, prefit=tmp_path).fit(graph)


def test_validation_sample_is_a_seeded_sorted_subset_and_bounds_the_early_stopping(graph: PinBoardGraph) -> None:
    from eval.recommenders.selection import ValidationSet

    val = ValidationSet.from_graph(graph, seed=0)
    part = val.sample(7)
    assert len(part.boards) == 7 and np.all(np.diff(part.boards) > 0) and set(part.boards) <= set(val.boards)
    rows = np.searchsorted(val.boards, part.boards)
    assert (part.relevant != val.relevant[rows]).nnz == 0 and (part.excluded != val.excluded[rows]).nnz == 0
    assert np.array_equal(val.sample(7).boards, part.boards) and val.sample(0) is val
    assert val.sample(len(val.boards)) is val
    from eval.recommenders.lightgcn import EarlyStopping

    assert np.array_equal(EarlyStopping(graph, 0, patience=2, max_boards=7).val.boards, part.boards)
    assert EarlyStopping(graph, 0, patience=0, max_boards=7).val is None


def test_grid_selection_scores_the_seeded_sample_of_val_boards(graph: PinBoardGraph, runs: dict[str, Path]) -> None:
    from eval.recommenders.selection import ValidationSet, model_variants, val_recall

    cfg = tiny_config(max_queries=6)
    m = build_recommender("als", cfg, load_runs(list(runs.values()), graph)).fit(graph)
    assert len(m.candidates) > 1
    first = m.candidates[0][1]().fit(graph)
    sample = ValidationSet.from_graph(graph, 0).sample(6)
    expected = val_recall(sample, model_variants(first))[None]["all"]
    assert m.chosen["grid"][0]["val_all_recall@20"] == pytest.approx(expected)
    full = val_recall(ValidationSet.from_graph(graph, 0), model_variants(first))[None]["all"]
    assert expected != pytest.approx(full)  # the sample, not every val board


def test_oracle_is_the_planted_affinity(fitted: dict[str, Recommender], graph: PinBoardGraph) -> None:
    """Hand-derived kernel for a few (board, pin) pairs against the oracle's scores."""
    pins, boards = graph.truth("pin_styles").set_index("pin_idx"), graph.truth("board_styles")
    cfg = graph.manifest["dataset"]["info"]["config"]
    K, focus, noise = cfg["niches_per_style"], cfg["niche_focus"], cfg["save_noise"]
    scores = fitted[ORACLE].score_boards(np.arange(20)).numpy()
    for b in range(20):
        slots = boards[boards["board_idx"] == b]
        for p in (0, 1, 2, 50, 300):
            affinity = sum(
                r.weight * (focus * (r.niche == pins.niche[p]) + (1 - focus) / K)
                for r in slots.itertuples()
                if r.style == pins["style"][p]
            )
            want = (1 - noise) * affinity * pins.group_share[p] + noise * pins.global_share[p]
            assert scores[b, p] == pytest.approx(want, rel=1e-6, abs=1e-12)


def test_embedding_boards_are_the_mean_of_train_pins_or_the_directory(fitted: dict[str, Recommender]) -> None:
    assert fitted["content"].board_source == "mean of train pins"
    assert fitted["sage_raw"].board_source == "board_emb.npy"


def test_model_selection(graph: PinBoardGraph, runs: dict[str, Path], tmp_path: Path) -> None:
    emb = load_runs(list(runs.values()), graph)
    avail = available_models(graph, emb)
    assert avail == [
        "popularity",
        "als",
        "bpr",
        "lightgcn",
        "ease",
        "rp3beta",
        "content_minilm",
        "blend",
        "content",
        "sage_raw",
        "oracle",
    ]
    assert select_models([], avail) == (avail, [])
    assert select_models(["oracle", "full", "als"], avail) == (["oracle", "als"], ["full"])
    with pytest.raises(ValueError, match="unknown model"):
        select_models(["alss"], avail)
    write_embeddings(tmp_path / "dup", graph, model_name="content", pin=np.eye(graph.n_pins, 4, dtype=np.float32))
    with pytest.raises(EmbeddingDirError, match="one embedding directory per model"):
        load_runs([runs["content"], tmp_path / "dup"], graph)
    write_embeddings(tmp_path / "als", graph, model_name="als", pin=np.eye(graph.n_pins, 4, dtype=np.float32))
    with pytest.raises(EmbeddingDirError, match="reserved"):
        load_runs([tmp_path / "als"], graph)


def test_oracle_needs_truth(tiny_dataset: Path, tmp_path: Path) -> None:
    from eval.recommenders.oracle import has_truth
    from graph_build.build import build_graph
    from graph_build.graph import load_graph
    from graph_build.split import SplitConfig

    build_graph(tiny_dataset, tmp_path / "g", SplitConfig(seed=0))
    g = load_graph(tmp_path / "g")
    assert not has_truth(g) and ORACLE not in available_models(g, {})
    with pytest.raises(ValueError, match="only for synthetic graphs"):
        build_recommender(ORACLE, tiny_config(), {}).fit(g)
