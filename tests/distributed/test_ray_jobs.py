"""Ray jobs: shards as Ray tasks give the single-process outputs byte for byte; retries; hints.

One local Ray (``num_cpus=2``) for the whole module, shut down at the end.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from graph_build.graph import PinBoardGraph, load_graph  # noqa: E402
from graphrec.candidates.config import CandidatesConfig, Shard  # noqa: E402
from graphrec.candidates.job import run_candidates  # noqa: E402
from graphrec.distributed.ray_jobs import (  # noqa: E402
    RayOptions,
    ShardFailedError,
    candidates_on_ray,
    run_shards,
    shard_batches,
)
from graphrec.sage.model import SageModel  # noqa: E402
from graphrec.utils.io import read_json  # noqa: E402
from tests.candidates.conftest import planted_vectors  # noqa: E402

OPTS = RayOptions(shards=2)
CFG = CandidatesConfig(k=10, batch_size=128, recall_sample=0)


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _flaky(marker: str, value: int) -> int:
    """Fails on its first run (creating ``marker``), succeeds on the retry."""
    m = Path(marker)
    if not m.exists():
        m.write_text("x")
        raise RuntimeError("first attempt fails")
    return value * 10


def _broken(value: int) -> int:
    raise ValueError(f"shard input {value} is bad")


def test_a_failed_shard_is_retried_once(tmp_path: Path) -> None:
    args = [(str(tmp_path / f"m{i}"), i) for i in range(3)]
    assert run_shards(_flaky, args, ["1/3", "2/3", "3/3"], "toy", OPTS) == [0, 10, 20]


def test_a_shard_failing_twice_fails_the_job_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ShardFailedError, match=r"shard 2/2 failed after 1 retry.*shard input 7 is bad"):
        run_shards(lambda v: _broken(v) if v == 7 else v, [(1,), (7,)], ["1/2", "2/2"], "toy", OPTS)


def test_shard_batches_cover_every_batch_once() -> None:
    ranges = shard_batches(1000, 64, 3)
    assert [b for r in ranges for b in r] == list(range(16)) and len(ranges) == 3


@pytest.fixture(scope="module")
def graph(synth_graph: Path) -> PinBoardGraph:
    return load_graph(synth_graph)


@pytest.fixture(scope="module")
def emb_dir(graph: PinBoardGraph, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graphrec.embeddings import write_embeddings

    out = tmp_path_factory.mktemp("emb") / "content"
    write_embeddings(out, graph, model_name="content", pin=planted_vectors(graph))
    return out


def test_candidates_on_ray_equal_the_single_process_job(graph: PinBoardGraph, emb_dir: Path, tmp_path: Path) -> None:
    run_candidates(graph.root, emb_dir, tmp_path / "one", CFG)
    res = candidates_on_ray(graph.root, emb_dir, tmp_path / "ray", CFG, OPTS)
    assert res.status == "merged" and res.manifest["merged_from_parts"] == 2
    for table in ("pin_candidates.parquet", "board_candidates.parquet"):
        assert _sha(tmp_path / "ray" / table) == _sha(tmp_path / "one" / table)
    one = read_json(tmp_path / "one" / "manifest.json")
    two = read_json(tmp_path / "ray" / "manifest.json")
    assert {k: v for k, v in one.items() if k != "merged_from_parts"} == {
        k: v for k, v in two.items() if k != "merged_from_parts"
    }
    # a re-run reuses everything
    assert candidates_on_ray(graph.root, emb_dir, tmp_path / "ray", CFG, OPTS).status == "complete"


def test_candidates_rerun_reuses_completed_shards(graph: PinBoardGraph, emb_dir: Path, tmp_path: Path) -> None:
    keep = CandidatesConfig(k=10, batch_size=128, recall_sample=0, keep_parts=True)
    out = tmp_path / "c"
    run_candidates(graph.root, emb_dir, out, keep, Shard(1, 2))  # shard 1 done before a "crash"
    part = out / "parts" / Shard(1, 2).name / "pin_candidates.parquet"
    stamp = part.stat().st_mtime_ns
    res = candidates_on_ray(graph.root, emb_dir, out, keep, OPTS)
    assert res.status == "merged" and part.stat().st_mtime_ns == stamp  # reused, not recomputed
    run_candidates(graph.root, emb_dir, tmp_path / "one", CFG)
    assert _sha(out / "pin_candidates.parquet") == _sha(tmp_path / "one" / "pin_candidates.parquet")


def test_embed_pins_on_ray_same_bytes(graph: PinBoardGraph, tmp_path: Path) -> None:
    from graphrec.pinclip.api import train_pinclip_dir as train_pinclip
    from graphrec.pinclip.embed import embed_graph_pins
    from tests.pinclip.conftest import tiny_config

    model = tmp_path / "m"
    train_pinclip(graph, tiny_config(train__steps=2, train__embed_batch_size=50), model)
    a = embed_graph_pins(graph, model, tmp_path / "one")
    b = embed_graph_pins(graph, model, tmp_path / "ray", ray=RayOptions(shards=3))
    assert _sha(tmp_path / "ray" / "pin_content.npy") == _sha(tmp_path / "one" / "pin_content.npy")
    drop = ("embed_seconds", "created_at")
    assert {k: v for k, v in a.items() if k not in drop} == {k: v for k, v in b.items() if k not in drop}
    assert not any(p.name.endswith(".ray-parts") for p in tmp_path.iterdir())


def test_without_ray_the_flag_fails_with_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphrec.distributed import ray_jobs

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ray_jobs.RayUnavailableError, match=r"pip install -e '\.\[distributed\]'"):
        ray_jobs.options_from_cli(True, None)
    assert ray_jobs.options_from_cli(False, None) is None


def test_evaluate_scoring_on_ray_gives_the_same_metrics(graph: PinBoardGraph) -> None:
    from eval.protocol import evaluate_task, make_task
    from graphrec.distributed.ray_jobs import evaluate_task_on_ray
    from tests.eval.helpers import FixedScores

    rng = np.random.default_rng(0)
    model = FixedScores(
        rng.integers(0, 3, (graph.n_boards, graph.n_pins)), rng.random((graph.n_pins, graph.n_pins))
    ).fit(graph)
    for name in ("board_to_pin", "pin_to_pin"):
        task = make_task(graph, name, "test")
        q = task.queries[: len(task.queries) * 2 // 3]  # a sample: the CIs must match too
        want = evaluate_task(model, graph, task, q, (5, 20), 16, 0)
        got = evaluate_task_on_ray(model, graph, task, "test", q, (5, 20), 16, 0, RayOptions(shards=3))
        assert got == want


def test_cli_evaluate_with_ray_writes_the_same_metrics(synth_graph: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from graphrec.cli import (
        app,
        evaluate,  # noqa: F401  (registers the command)
    )

    base = ["evaluate", "--graph", str(synth_graph), "--models", "popularity", "--set", "tasks=[board_to_pin]"]
    one = CliRunner().invoke(app, base + ["--out", str(tmp_path / "one")])
    two = CliRunner().invoke(app, base + ["--out", str(tmp_path / "ray"), "--ray", "--ray-shards", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    assert read_json(tmp_path / "one" / "metrics.json") == read_json(tmp_path / "ray" / "metrics.json")
    assert ray.is_initialized()  # the module's Ray was reused, not shut down


# ---------------------------------------------------------------------------------------------
# graphrec embed-graph --ray: every layer's chunks in Ray shards, the same bytes.


@pytest.fixture(scope="module")
def sage_dirs(graph: PinBoardGraph, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Raw features and a tiny trained SAGE model of the module's graph."""
    from graphrec.features.raw import RawFeatureConfig, write_raw_features
    from graphrec.sage.api import train_sage_dir
    from tests.sage.helpers import tiny_config

    root = tmp_path_factory.mktemp("sage")
    write_raw_features(graph, root / "raw", RawFeatureConfig(dim=16, block_dim=16))
    train_sage_dir(graph, root / "raw", tiny_config("train.epochs=1"), root / "model")
    return {"raw": root / "raw", "model": root / "model"}


class _BrokenSage(SageModel):
    """A model whose boards' final step fails (on every attempt)."""

    def finish(self, ntype: str, h, x_self):
        if ntype == "board":
            raise RuntimeError("board head is broken")
        return super().finish(ntype, h, x_self)


def test_cli_embed_graph_with_ray_writes_the_same_bytes(
    graph: PinBoardGraph, sage_dirs: dict[str, Path], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    import graphrec.cli.sage  # noqa: F401  (registers the command)
    from graphrec.cli import app

    base = ["embed-graph", "--graph", str(graph.root), "--emb", str(sage_dirs["raw"]), "--model"]
    base += [str(sage_dirs["model"])]
    one = CliRunner().invoke(app, base + ["--out", str(tmp_path / "one")])
    two = CliRunner().invoke(app, base + ["--out", str(tmp_path / "ray"), "--ray", "--ray-shards", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    for f in ("pin_emb.npy", "board_emb.npy"):
        assert _sha(tmp_path / "ray" / f) == _sha(tmp_path / "one" / f)
    a, b = read_json(tmp_path / "one" / "manifest.json"), read_json(tmp_path / "ray" / "manifest.json")
    assert {k: v for k, v in a.items() if k != "timings"} == {k: v for k, v in b.items() if k != "timings"}
    assert ray.is_initialized()  # the module's Ray was reused


def test_embed_graph_on_ray_many_chunks_per_shard_same_bytes(graph: PinBoardGraph, sage_dirs: dict[str, Path]) -> None:
    """5-row chunks, many per shard, and 2 driver threads: a product of 5 rows has other bytes on
    1 thread than on 2, so this fails unless the shards use the driver's thread count (checked)."""
    import torch

    from graphrec.sage.inference import check_features, embed_graph
    from graphrec.sage.store import load_model

    net, cfg, _ = load_model(sage_dirs["model"])
    x = check_features(sage_dirs["raw"], graph).pin
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        want = embed_graph(graph, x, net, cfg, chunk=5)
        got = embed_graph(graph, x, net, cfg, chunk=5, ray=RayOptions(shards=3))
    finally:
        torch.set_num_threads(before)
    assert want[0].tobytes() == got[0].tobytes() and want[1].tobytes() == got[1].tobytes()


def test_embed_graph_shard_failing_twice_names_layer_and_shard_and_writes_nothing(
    graph: PinBoardGraph, sage_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphrec.sage.store as store
    from graphrec.sage.api import embed_graph_dir

    real = store.load_model

    def broken(model_dir):
        net, cfg, manifest = real(model_dir)
        net.__class__ = _BrokenSage
        return net, cfg, manifest

    monkeypatch.setattr(store, "load_model", broken)
    with pytest.raises(ShardFailedError, match=r"embed-graph layer 2/2: shard 2/2 failed after 1 retry.*board head"):
        embed_graph_dir(graph, sage_dirs["raw"], sage_dirs["model"], tmp_path / "out", ray=RayOptions(shards=2))
    assert list(tmp_path.iterdir()) == []


def test_split_runs_are_contiguous_balanced_and_cover_the_grid() -> None:
    from graphrec.distributed.ray_graph import split_runs
    from graphrec.sage.layerwise import chunk_grid

    grid = chunk_grid({"pin": 1000, "board": 250}, 100)
    runs = split_runs(grid, 3)
    assert [c for r in runs for c in r] == grid and len(runs) == 3
    assert [sum(c.hi - c.lo for c in r) for r in runs] == [400, 400, 450]
    assert len(split_runs(grid[:2], 5)) == 2  # never an empty shard
