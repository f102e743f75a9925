"""Shared infrastructure: pickle-free checkpoints, the embedding directory contract, MLflow helper."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from graph_build.graph import load_graph
from graphrec.embeddings import EmbeddingDirError, load_embeddings, write_embeddings
from graphrec.tracking import NULL, open_run, sanitize
from graphrec.utils.checkpoint import latest_step, load_checkpoint, save_checkpoint


def _train_steps(model, opt, n):
    for _ in range(n):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()


def test_checkpoint_roundtrip_restores_model_optimizer_and_rngs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(7)
    _train_steps(model, opt, 3)
    rng.random(5)
    save_checkpoint(tmp_path, 3, model, opt, rng, extra={"epoch": 1})
    _train_steps(model, opt, 2)
    expected_np = rng.random(3)
    expected_w = [p.detach().clone() for p in model.parameters()]

    model2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    rng2 = np.random.default_rng(123)
    meta = load_checkpoint(tmp_path, model2, opt2, rng2)
    assert meta["step"] == 3 and meta["extra"] == {"epoch": 1}
    _train_steps(model2, opt2, 2)  # same torch RNG stream, same Adam moments -> same weights
    for a, b in zip(expected_w, model2.parameters()):
        torch.testing.assert_close(a, b)
    np.testing.assert_array_equal(rng2.random(3), expected_np)


def test_only_complete_checkpoints_count_and_old_ones_are_pruned(tmp_path: Path) -> None:
    model = torch.nn.Linear(2, 2)
    for step in (1, 2, 3):
        save_checkpoint(tmp_path, step, model, keep=2)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == ["ckpt-2.json", "ckpt-3.json"]
    (tmp_path / "ckpt-9.safetensors").write_bytes(b"partial write, no json")
    assert latest_step(tmp_path) == 3
    assert load_checkpoint(tmp_path / "none", model) is None


def test_embedding_dir_roundtrip_and_graph_check(synth_graph: Path, tmp_path: Path) -> None:
    g = load_graph(synth_graph)
    pin = np.random.default_rng(0).normal(size=(g.n_pins, 8)).astype(np.float32)
    m = write_embeddings(tmp_path / "e", g, model_name="content", pin=pin)
    assert m["kind"] == "graphrec.pin_content" and m["dim"] == 8
    e = load_embeddings(tmp_path / "e", g)
    np.testing.assert_array_equal(e.pin, pin)
    assert e.board is None and e.model_name == "content"
    board = np.zeros((g.n_boards, 8), np.float32)
    write_embeddings(tmp_path / "f", g, model_name="full", pin=pin, board=board)
    assert load_embeddings(tmp_path / "f").board.shape == (g.n_boards, 8)
    with pytest.raises(EmbeddingDirError, match="n_pins x d"):
        write_embeddings(tmp_path / "bad", g, model_name="x", pin=pin[:-1])
    with pytest.raises(EmbeddingDirError, match="NaN"):
        write_embeddings(tmp_path / "nan", g, model_name="x", pin=np.full_like(pin, np.nan))
    assert not (tmp_path / "bad").exists() and not (tmp_path / "nan").exists()
    other = tmp_path / "other_graph"
    shutil.copytree(synth_graph, other)
    (other / "manifest.json").write_text((other / "manifest.json").read_text().replace('"seed": 3', '"seed": 4'))
    with pytest.raises(EmbeddingDirError, match="different graph|not for"):
        load_embeddings(tmp_path / "e", load_graph(other))


def test_metric_names_are_sanitised() -> None:
    assert sanitize("cold/recall@20") == "cold/recall_at_20"
    assert sanitize("a:b") == "a_b"


def test_stage_runs_nest_and_failures_are_marked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    monkeypatch.setenv("GRAPHREC_MLFLOW", "1")
    with open_run("parent", params={"a": {"b": 1}}) as parent:
        with parent.child("child") as child:
            child.log_metrics({"x": 1.0, "not a number": "n/a"})
    client = mlflow.MlflowClient()
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id
    assert client.get_run(child.run_id).data.metrics == {"x": 1.0}
    assert client.get_run(parent.run_id).data.params == {"a.b": "1"}
    with pytest.raises(RuntimeError):
        with open_run("broken") as broken:
            raise RuntimeError("stage failed")
    assert client.get_run(broken.run_id).info.status == "FAILED"
    with open_run("off", enabled=False) as off:  # --no-mlflow
        assert off is NULL and not off.enabled
        with off.child("child of off") as child:
            assert child is NULL
    monkeypatch.setenv("GRAPHREC_MLFLOW", "0")
    with open_run("off") as off:
        assert off is NULL


def test_boards_from_pins_is_the_normalised_mean_of_train_pins(synth_graph: Path) -> None:
    from graphrec.embeddings import boards_from_pins

    g = load_graph(synth_graph)
    pin = np.random.default_rng(1).normal(size=(g.n_pins, 6)).astype(np.float32)
    board = boards_from_pins(g, pin)
    b = 5
    members = g.saves["train"].pin_idx[g.saves["train"].board_idx == b].to_numpy()
    mean = pin[members].mean(0)
    np.testing.assert_allclose(board[b], mean / np.linalg.norm(mean), rtol=1e-5)


def test_resume_from_continues_only_a_checkpoint_of_the_same_identity(tmp_path: Path) -> None:
    from graphrec.utils.checkpoint import checkpoint_dir, resume_from, save_checkpoint
    from graphrec.utils.config import ConfigError

    ck = checkpoint_dir(tmp_path / "model")
    assert ck == tmp_path / ".model.checkpoints"
    with pytest.raises(FileNotFoundError, match="no interrupted run"):
        resume_from(ck, {"config": {"lr": 1}}, True)
    assert resume_from(ck, {"config": {"lr": 1}}, "auto") is False
    save_checkpoint(ck, 3, torch.nn.Linear(2, 2), extra={"identity": {"config": {"lr": 1, "ks": (1, 2)}}})
    assert resume_from(ck, {"config": {"lr": 1, "ks": (1, 2)}}, "auto") is True  # tuples read back as lists
    assert resume_from(ck, {"config": {"lr": 1, "ks": (1, 2)}}, True) is True
    with pytest.raises(ConfigError, match="different config"):
        resume_from(ck, {"config": {"lr": 2}}, True)
    assert ck.exists()  # a refused --resume keeps the checkpoints
    assert resume_from(ck, {"config": {"lr": 2}}, "auto") is False and not ck.exists()  # stale: removed
    save_checkpoint(ck, 3, torch.nn.Linear(2, 2), extra={"identity": {"config": {"lr": 1}}})
    assert resume_from(ck, {"config": {"lr": 1}}, False) is False and not ck.exists()  # start over
