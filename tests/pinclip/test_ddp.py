"""train-pinclip on 2 CPU processes (gloo), launched by torch's elastic launcher (~14 s a launch)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graph_build.graph import load_graph
from graphrec.utils.io import read_json
from tests.pinclip.conftest import tiny_config

# Tolerance of the 2-rank model's validation cold neighbour recall@20 against the 1-rank model's.
# Same global batches; only the augmentation / modality-dropout draws differ (keyed by rank).
# Measured after 6 tiny steps: 0.0576 (1 rank) vs 0.0611 (2 ranks).
RECALL_TOLERANCE = 0.03
CFG = {"train__steps": 6, "train__batch_size": 16, "train__log_every": 1}


def _recall(g, model_dir: Path, out: Path) -> float:
    from graphrec.embeddings import load_embeddings
    from graphrec.pinclip.embed import embed_graph_pins
    from graphrec.pinclip.quality import cold_neighbor_recall

    embed_graph_pins(g, model_dir, out)
    return cold_neighbor_recall(g, load_embeddings(out, g).pin, ks=(20,), split="val")["cold_neighbor_recall@20"]


@pytest.fixture(scope="module")
def runs(synth_graph: Path, tmp_path_factory: pytest.TempPathFactory):
    from graphrec.pinclip.api import train_pinclip_dir

    root = tmp_path_factory.mktemp("pinclip_ddp")
    g = load_graph(synth_graph)
    m1 = train_pinclip_dir(g, tiny_config(**CFG), root / "out1" / "m")
    m2 = train_pinclip_dir(g, tiny_config(**CFG, train__nproc=2), root / "out2" / "m")
    return g, root, m1, m2


def test_two_ranks_train_one_model_close_to_one_rank(runs) -> None:
    g, root, m1, m2 = runs
    assert sorted(p.name for p in (root / "out2").iterdir()) == ["m"]  # rank 1 wrote nothing
    assert read_json(root / "out2" / "m" / "config.json")["train"]["nproc"] == 2
    assert "nproc" not in read_json(root / "out1" / "m" / "config.json")["train"]
    h1, h2 = m1["history"], m2["history"]
    assert len(h2) == len(h1) == 6 and h2[-1]["loss"] < h2[0]["loss"]
    r1, r2 = _recall(g, root / "out1" / "m", root / "e1"), _recall(g, root / "out2" / "m", root / "e2")
    assert abs(r1 - r2) <= RECALL_TOLERANCE, (r1, r2)


def test_resume_under_two_ranks_reproduces_the_uninterrupted_run(runs) -> None:
    from graphrec.pinclip.api import train_pinclip_dir
    from graphrec.utils.checkpoint import checkpoint_dir

    g, root, _, _ = runs
    ck = checkpoint_dir(root / "out3" / "m")
    shutil.copytree(root / "out2" / "m" / "checkpoints", ck)
    for p in ck.iterdir():
        if int(p.name.split("-")[1].split(".")[0]) > 4:
            p.unlink()
    train_pinclip_dir(g, tiny_config(**CFG, train__nproc=2), root / "out3" / "m", resume=True)
    a, b = root / "out2" / "m" / "model.safetensors", root / "out3" / "m" / "model.safetensors"
    assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
def test_same_ranks_and_seed_give_the_same_bytes(runs) -> None:
    from graphrec.pinclip.api import train_pinclip_dir

    g, root, _, _ = runs
    train_pinclip_dir(g, tiny_config(**CFG, train__nproc=2), root / "out4" / "m")
    for f in ("model.safetensors", "config.json"):
        assert (root / "out2" / "m" / f).read_bytes() == (root / "out4" / "m" / f).read_bytes()


def test_bad_nproc_is_a_one_line_config_error() -> None:
    from graphrec.utils.config import ConfigError

    with pytest.raises(ConfigError, match="pinclip.train.nproc"):
        tiny_config(train__nproc=0)
    with pytest.raises(ConfigError, match="pinclip.train.batch_size"):
        tiny_config(train__batch_size=2, train__nproc=3)


def test_nproc_reaches_the_config_from_the_cli_and_the_run_config(tmp_path: Path) -> None:
    """``--nproc N`` becomes ``train.nproc=N`` (a bad N is the config's one-line error, nothing
    written); ``graphrec run --set pinclip.train.nproc=N`` sets the same key."""
    from typer.testing import CliRunner

    import graphrec.cli.pinclip  # noqa: F401  (registers train-pinclip)
    from experiments.config import load_run_config
    from graphrec.cli import app

    out = tmp_path / "m"
    res = CliRunner().invoke(app, ["train-pinclip", "--graph", str(tmp_path), "--out", str(out), "--nproc=-1"])
    assert res.exit_code != 0 and "pinclip.train.nproc" in res.output and not out.exists()
    cfg = load_run_config("experiments/configs/default.yaml", ["pinclip.train.nproc=2", "sage.train.nproc=2"])
    assert cfg.pinclip.train.nproc == 2 and cfg.sage.train.nproc == 2


def _gather_worker(n: int) -> tuple[list[list[float]], list[list[float]]]:
    """One rank of the gather test: its stride of a known global tensor, gathered and differentiated."""
    import torch

    from graphrec.distributed.ddp import process_group
    from graphrec.pinclip.ddp_step import gather_rows, shard

    with process_group("cpu") as world:
        full = torch.arange(n * 3, dtype=torch.float64).reshape(n, 3)
        local = full[torch.from_numpy(shard(n, world))].clone().requires_grad_(True)
        out = gather_rows(local, n, world)
        weight = torch.linspace(-1.0, 2.0, n * 3, dtype=torch.float64).reshape(n, 3)
        (out * weight).sum().backward()
        return out.detach().tolist(), local.grad.tolist()


def test_gather_rows_restores_the_global_batch_and_sums_its_gradient_over_ranks() -> None:
    import torch

    from graphrec.distributed.ddp import launch

    n = 5  # ranks hold 3 and 2 rows: the padding is exercised
    full = torch.arange(n * 3, dtype=torch.float64).reshape(n, 3)
    weight = torch.linspace(-1.0, 2.0, n * 3, dtype=torch.float64).reshape(n, 3)
    results = launch(_gather_worker, (n,), 2)
    for rank, (out, grad) in results.items():
        assert torch.equal(torch.tensor(out, dtype=torch.float64), full)
        # every rank computes the same global loss, so each row's gradient is summed over 2 ranks
        assert torch.allclose(torch.tensor(grad, dtype=torch.float64), 2 * weight[rank::2])
