"""The three commands end to end on a tiny synthetic graph, and their one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import graphrec.cli.data  # noqa: F401  (registers build-graph)
import graphrec.cli.sage  # noqa: F401  (registers the sage commands)
from graph_build.graph import load_graph
from graphrec.cli import app
from graphrec.embeddings import load_embeddings
from tests.sage.helpers import TINY

runner = CliRunner()
SETS = [x for s in TINY for x in ("--set", s)]


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == 0, res.output
    return res.output


def _fails(args: list[str], code: int = 1) -> str:
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exit_code == code, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, res.output
    return lines[0]


@pytest.fixture(scope="module")
def trained(synth_graph: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sage_cli")
    d = {"graph": synth_graph, "feat": root / "raw", "model": root / "model", "emb": root / "emb"}
    _ok(["raw-features", "--graph", synth_graph, "--out", d["feat"], "--dim", 16, "--seed", 0])
    _ok(["train-sage", "--graph", synth_graph, "--emb", d["feat"], "--out", d["model"], *SETS])
    _ok(["embed-graph", "--graph", synth_graph, "--emb", d["feat"], "--model", d["model"], "--out", d["emb"]])
    return d


def test_end_to_end_writes_the_contracted_directories(trained: dict[str, Path]) -> None:
    g = load_graph(trained["graph"])
    feats = load_embeddings(trained["feat"], g)
    assert feats.model_name == "raw" and feats.pin.shape == (g.n_pins, 16)
    assert sorted(p.name for p in trained["model"].iterdir()) == [
        "checkpoints",
        "config.json",
        "manifest.json",
        "model.safetensors",
    ]
    manifest = json.loads((trained["model"] / "manifest.json").read_text())
    assert manifest["kind"] == "graphrec.sage_model" and len(manifest["history"]) == 2
    assert not list(trained["model"].parent.glob(".*checkpoints*"))
    emb = load_embeddings(trained["emb"], g)
    assert emb.model_name == "sage_raw" and emb.manifest["kind"] == "graphrec.graph_embeddings"
    assert emb.pin.shape == (g.n_pins, 16) and emb.board.shape == (g.n_boards, 16)
    np.testing.assert_allclose(np.linalg.norm(emb.pin, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(emb.board, axis=1), 1.0, atol=1e-5)
    # cold pins are embedded too, and not all alike
    cold = emb.pin[g.is_cold]
    assert len(cold) > 5 and np.abs(cold - cold.mean(0)).max() > 0.1


def test_same_seed_gives_identical_bytes(trained: dict[str, Path], tmp_path: Path) -> None:
    g = trained["graph"]
    _ok(["raw-features", "--graph", g, "--out", tmp_path / "raw", "--dim", 16, "--seed", 0])
    assert (tmp_path / "raw" / "pin_content.npy").read_bytes() == (trained["feat"] / "pin_content.npy").read_bytes()
    _ok(["train-sage", "--graph", g, "--emb", tmp_path / "raw", "--out", tmp_path / "m", *SETS])
    _ok(
        [
            "embed-graph",
            "--graph",
            g,
            "--emb",
            tmp_path / "raw",
            "--model",
            tmp_path / "m",
            "--out",
            tmp_path / "e",
            "--name",
            "full",
        ]
    )
    for f in ("pin_emb.npy", "board_emb.npy"):
        assert (tmp_path / "e" / f).read_bytes() == (trained["emb"] / f).read_bytes()
    assert load_embeddings(tmp_path / "e").model_name == "full"
    _ok(["train-sage", "--graph", g, "--emb", tmp_path / "raw", "--out", tmp_path / "m1", *SETS, "--set", "seed=1"])
    _ok(
        [
            "embed-graph",
            "--graph",
            g,
            "--emb",
            tmp_path / "raw",
            "--model",
            tmp_path / "m1",
            "--out",
            tmp_path / "e1",
        ]
    )
    assert (tmp_path / "e1" / "pin_emb.npy").read_bytes() != (trained["emb"] / "pin_emb.npy").read_bytes()


def test_bad_inputs_fail_with_one_line_and_leave_nothing(
    trained: dict[str, Path], tmp_path: Path, tiny_dataset: Path
) -> None:
    g, feat, model = trained["graph"], trained["feat"], trained["model"]
    out = tmp_path / "x" / "out"
    other = tmp_path / "other_graph"
    _ok(["build-graph", "--data", tiny_dataset, "--out", other])
    msg = _fails(["train-sage", "--graph", other, "--emb", feat, "--out", out])
    assert "computed for graph" in msg
    msg = _fails(["embed-graph", "--graph", other, "--emb", feat, "--model", model, "--out", out])
    assert "computed for graph" in msg
    assert "not an embedding directory" in _fails(
        ["train-sage", "--graph", g, "--emb", tmp_path / "nope", "--out", out]
    )
    assert "not a graph directory" in _fails(["train-sage", "--graph", tmp_path / "nope", "--emb", feat, "--out", out])
    assert "unknown config key" in _fails(
        ["train-sage", "--graph", g, "--emb", feat, "--out", out, "--set", "train.epoch=3"]
    )
    assert "train.isolate_prob" in _fails(
        ["train-sage", "--graph", g, "--emb", feat, "--out", out, "--set", "train.isolate_prob=1.5"]
    )
    assert "not a SAGE model directory" in _fails(
        ["embed-graph", "--graph", g, "--emb", feat, "--model", feat, "--out", out]
    )
    assert "content embedding directory" in _fails(
        ["embed-graph", "--graph", g, "--emb", trained["emb"], "--model", model, "--out", out]
    )
    assert "already exists" in _fails(
        ["embed-graph", "--graph", g, "--emb", feat, "--model", model, "--out", trained["emb"]]
    )
    assert "--resume" in _fails(["train-sage", "--graph", g, "--emb", feat, "--out", out, "--resume"])
    assert not (tmp_path / "x").exists()
    # features of the right graph but another dimension
    _ok(["raw-features", "--graph", g, "--out", tmp_path / "raw8", "--dim", 8])
    assert "dim 8" in _fails(["embed-graph", "--graph", g, "--emb", tmp_path / "raw8", "--model", model, "--out", out])
    assert not (tmp_path / "x").exists()


def test_resume_continues_an_interrupted_run_to_the_same_model(
    trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphrec.sage.train as train_mod

    g, feat = trained["graph"], trained["feat"]
    out = tmp_path / "m"
    real = train_mod.save_checkpoint

    def killed_after_first(*args, **kwargs):  # the process "dies" right after checkpoint 3 is complete
        path = real(*args, **kwargs)
        if args[1] == 3:
            raise KeyboardInterrupt
        return path

    monkeypatch.setattr(train_mod, "save_checkpoint", killed_after_first)
    res = runner.invoke(app, [str(a) for a in ["train-sage", "--graph", g, "--emb", feat, "--out", out, *SETS]])
    assert res.exit_code != 0 and not out.exists()
    partial = tmp_path / ".m.checkpoints"
    assert (partial / "ckpt-3.json").exists()
    monkeypatch.setattr(train_mod, "save_checkpoint", real)
    _ok(["train-sage", "--graph", g, "--emb", feat, "--out", out, *SETS, "--resume"])
    assert not partial.exists()
    from safetensors.numpy import load_file

    a, b = load_file(str(out / "model.safetensors")), load_file(str(trained["model"] / "model.safetensors"))
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    shutil.rmtree(out)


def test_new_pins_are_embedded_inductively_like_embed_graph(trained: dict[str, Path]) -> None:
    from graphrec.sage.inference import InductiveEmbedder

    g = load_graph(trained["graph"])
    feats = load_embeddings(trained["feat"], g)
    emb = load_embeddings(trained["emb"], g)
    ie = InductiveEmbedder.from_dirs(trained["graph"], trained["feat"], trained["model"])
    cold = np.flatnonzero(g.is_cold)[:5]
    new = ie.embed_new_pins(feats.pin[cold])  # no saves: exactly the cold-pin path of embed-graph
    np.testing.assert_allclose(new, emb.pin[cold], atol=1e-5)
    # a copy of a warm pin that brings its saves lands nearer to that pin than its content alone
    warm = np.flatnonzero(~g.is_cold)[:20]
    pin, board = g.edges("train")
    sel = np.isin(pin, warm)
    local = np.searchsorted(warm, pin[sel])
    with_saves = ie.embed_new_pins(feats.pin[warm], saves=(local, board[sel]))
    alone = ie.embed_new_pins(feats.pin[warm])
    target = emb.pin[warm]
    assert (with_saves * target).sum(1).mean() > (alone * target).sum(1).mean()
    with pytest.raises(ValueError, match="content must be"):
        ie.embed_new_pins(feats.pin[:2, :3])
    with pytest.raises(ValueError, match="saves"):
        ie.embed_new_pins(feats.pin[:2], saves=(np.array([2]), np.array([0])))


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_matches_uninterrupted(trained: dict[str, Path], tmp_path: Path) -> None:
    """A real kill -9 of `graphrec train-sage`, then `--resume`, gives the uninterrupted weights."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from safetensors.numpy import load_file

    g, feat = trained["graph"], trained["feat"]
    sets = [*SETS, "--set", "train.epochs=6", "--set", "train.checkpoint_every=1", "--set", "train.batch_size=16"]
    exe = [str(Path(sys.executable).parent / "graphrec")]
    env = {**os.environ, "GRAPHREC_MLFLOW": "0", "OMP_NUM_THREADS": "1"}
    ref = tmp_path / "ref"
    subprocess.run(
        [*exe, "-q", "train-sage", "--graph", str(g), "--emb", str(feat), "--out", str(ref), *sets],
        check=True,
        env=env,
    )
    out = tmp_path / "m"
    ck = tmp_path / ".m.checkpoints"
    proc = subprocess.Popen(
        [*exe, "-q", "train-sage", "--graph", str(g), "--emb", str(feat), "--out", str(out), *sets], env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (ck.is_dir() and any(ck.glob("ckpt-*.json"))):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and any(ck.glob("ckpt-*.json"))
    subprocess.run(
        [*exe, "-q", "train-sage", "--graph", str(g), "--emb", str(feat), "--out", str(out), *sets, "--resume"],
        check=True,
        env=env,
    )
    a, b = load_file(str(out / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def _train_then_hang(args: list[str]) -> None:
    """Child of the fast kill test: `train-sage` that stalls after its first checkpoint."""
    import time

    import graphrec.sage.train as train_mod

    real = train_mod.train_sage

    def stalled(*a, **k):
        return real(*a, **k, on_checkpoint=lambda step: time.sleep(600))

    train_mod.train_sage = stalled
    runner.invoke(app, args)


def test_sigkill_of_a_forked_training_then_resume_matches_uninterrupted(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    """Fast equivalent of the slow subprocess test: a forked `train-sage` is killed with SIGKILL
    right after its first checkpoint; `train-sage --resume` then gives the uninterrupted weights."""
    import multiprocessing
    import os
    import signal
    import time

    from safetensors.numpy import load_file

    g, feat = trained["graph"], trained["feat"]
    sets = [*SETS, "--set", "train.epochs=3", "--set", "train.checkpoint_every=2", "--set", "train.batch_size=16"]
    ref, out = tmp_path / "ref", tmp_path / "m"
    base = ["train-sage", "--graph", str(g), "--emb", str(feat)]
    _ok([*base, "--out", ref, *sets])
    ck = tmp_path / ".m.checkpoints"
    proc = multiprocessing.get_context("fork").Process(
        target=_train_then_hang, args=([*base, "--out", str(out), *sets],)
    )
    proc.start()
    deadline = time.time() + 120
    while time.time() < deadline and proc.is_alive() and not any(ck.glob("ckpt-*.json")):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    assert proc.exitcode == -signal.SIGKILL
    assert not out.exists() and any(ck.glob("ckpt-*.json"))
    _ok([*base, "--out", out, *sets, "--resume"])
    a, b = load_file(str(out / "model.safetensors")), load_file(str(ref / "model.safetensors"))
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert not (tmp_path / ".m.checkpoints").exists()


def test_embed_graph_ray_options_are_checked_before_any_work(trained: dict[str, Path], tmp_path: Path) -> None:
    args = ["embed-graph", "--graph", trained["graph"], "--emb", trained["feat"], "--model", trained["model"]]
    args += ["--out", tmp_path / "e"]
    assert "--ray-shards needs --ray or --ray-address" in _fails([*args, "--ray-shards", "2"])
    assert "ray shards must be >= 1" in _fails([*args, "--ray", "--ray-shards", "0"])
    assert not (tmp_path / "e").exists()
