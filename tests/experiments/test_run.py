"""End to end: `graphrec run` on tiny.yaml into a temporary MLflow store.

One real run (a subprocess, as users run it) is shared by the module; the tests then read what it
left in MLflow and on disk, re-run it to check skipping, change one config key to check that only
downstream stages redo, and break a stage's input to check failure handling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "experiments" / "configs" / "tiny.yaml"
GRAPHREC = [str(Path(sys.executable).parent / "graphrec")]
STAGES = [
    "synth",
    "build-graph",
    "embed-text",
    "train-pinclip",
    "embed-pins",
    "train-pinclip-no-neighbors",
    "embed-pins-no-neighbors",
    "train-sage",
    "embed-graph",
    "fit-lightgcn",
    "train-full",
    "embed-full",
    "embed-full-teacher-only",
    "embed-full-mlp-no-recency",
    "embed-full-no-recency",
    "raw-features",
    "train-sage-raw",
    "embed-graph-raw",
    "evaluate",
    "ab-sim",
    "candidates",
]


def _env(store: Path) -> dict[str, str]:
    return {
        **os.environ,
        "GRAPHREC_MLFLOW": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
        "GRAPHREC_NO_PROGRESS": "1",
    }


def _graphrec(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GRAPHREC, *args], cwd=work, env=_env(work / "mlruns.db"), capture_output=True, text=True, timeout=600
    )


def _run(work: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _graphrec(work, "run", "--synthetic", "--config", str(TINY), "--out", str(work / "out"), *extra)


def _statuses(stdout: str) -> dict[str, str]:
    """stage -> ran/skipped, from the summary's stage table."""
    out = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in STAGES and parts[1] in ("ran", "skipped"):
            out[parts[0]] = parts[1]
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    w = tmp_path_factory.mktemp("run")
    res = _run(w)
    assert res.returncode == 0, res.stderr[-3000:]
    (w / "first_stdout.txt").write_text(res.stdout)
    (w / "first_stderr.txt").write_text(res.stderr)
    return w


@pytest.fixture(scope="module")
def client(work: Path):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{work / 'mlruns.db'}")
    return mlflow.MlflowClient()


def _runs(client) -> list:  # noqa: ANN001
    exp = client.get_experiment_by_name("graphrec")
    return client.search_runs([exp.experiment_id], max_results=1000)


def test_summary_lists_every_stage_and_model(work: Path) -> None:
    stdout = (work / "first_stdout.txt").read_text()
    assert _statuses(stdout) == {s: "ran" for s in STAGES}
    for model in ("full", "content", "clip_no_neighbors", "sage_raw", "als", "popularity"):
        assert any(line.split()[:1] == [model] for line in stdout.splitlines()), model
    assert "Offline A/B" in stdout and "registered graphrec-synthetic-fashion v1 (@candidate)" in stdout
    stderr = (work / "first_stderr.txt").read_text()  # third-party noise is off without -v
    for noise in ("Downloading artifacts", "Add type hints", "Successfully registered", "Creating initial MLflow"):
        assert noise not in stderr, noise
    for part in ("graph", "pinclip", "sage", "candidates", "eval/metrics.json", "eval/report.md"):
        assert (work / "out" / part).exists(), part


def test_parent_and_nested_stage_runs(work: Path, client) -> None:  # noqa: ANN001
    runs = _runs(client)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    assert tags["dataset"] == "synthetic" and tags["seed"] == "0" and tags["config_name"] == "tiny"
    assert tags["mlflow.runName"] == f"synthetic tiny {parent.info.run_id[:8]}"
    assert len(tags["graphrec.git_commit"]) in (40, len("unknown"))
    # params = the flattened resolved config
    p = parent.data.params
    assert p["pinclip.train.steps"] == "8" and p["sage.model.hidden_dim"] == "16" and p["seed"] == "0"
    children = {
        r.data.tags["mlflow.runName"]: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert sorted(children) == sorted(STAGES)
    assert all(r.info.status == "FINISHED" for r in children.values())
    assert all(r.data.metrics["wall_seconds"] > 0 for r in children.values())
    # each stage's config as flattened params under its section's key, not one text blob
    assert children["train-pinclip"].data.params["pinclip.train.steps"] == "8"
    assert children["train-sage"].data.params["sage.model.hidden_dim"] == "16"
    assert children["ab-sim"].data.params["eval.ab.feed_size"] == "10"
    assert not any(k.startswith("stage_config") for r in children.values() for k in r.data.params)
    # whole-run metrics: per-stage wall time and the evaluation numbers
    m = parent.data.metrics
    assert m["stage_seconds/train-pinclip"] > 0
    metrics = json.loads((work / "out" / "eval" / "metrics.json").read_text())
    assert m["full/cold_recall_at_20"] == pytest.approx(metrics["models"]["full"]["cold"]["recall@20"])
    assert m["als/warm_mrr"] == pytest.approx(metrics["models"]["als"]["warm"]["mrr"])
    lift = metrics["ab"]["warm"]["ctr_lift"]  # None ("insufficient data") on a tiny graph: not logged
    assert (m["ab/warm_ctr_lift"] == pytest.approx(lift)) if lift is not None else "ab/warm_ctr_lift" not in m


def test_training_metrics_are_logged_per_step(work: Path, client) -> None:  # noqa: ANN001
    runs = {r.data.tags["mlflow.runName"]: r for r in _runs(client)}
    for stage in ("train-pinclip", "train-sage"):
        run = runs[stage]
        loss_keys = [k for k in run.data.metrics if "loss" in k]
        assert loss_keys, (stage, sorted(run.data.metrics))
        history = client.get_metric_history(run.info.run_id, loss_keys[0])
        assert len(history) >= 2 and len({h.step for h in history}) == len(history), stage


def test_artifacts_config_manifests_report_plots(work: Path, client) -> None:  # noqa: ANN001
    runs = _runs(client)
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    top = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "config.yaml" in top and "eval" in top
    ev = {a.path for a in client.list_artifacts(parent.info.run_id, "eval")}
    assert {"eval/report.md", "eval/metrics.json", "eval/plots"} <= ev
    assert client.list_artifacts(parent.info.run_id, "eval/plots")
    child = next(r for r in runs if r.data.tags.get("mlflow.runName") == "build-graph")
    assert [a.path for a in client.list_artifacts(child.info.run_id, "manifests")] == ["manifests/manifest.json"]


def test_registered_model_predicts_top_k_for_pins_and_boards(
    work: Path, client, monkeypatch: pytest.MonkeyPatch
) -> None:  # noqa: ANN001
    import mlflow

    monkeypatch.chdir(work)
    version = client.get_model_version_by_alias("graphrec-synthetic-fashion", "candidate")
    assert str(version.version) == "1"
    model = mlflow.pyfunc.load_model("models:/graphrec-synthetic-fashion@candidate")
    cand = work / "out" / "candidates"
    pins = pd.read_parquet(cand / "pin_candidates.parquet")
    boards = pd.read_parquet(cand / "board_candidates.parquet")
    q_pins = pins["pin_id"].drop_duplicates().iloc[:3].tolist()
    q_boards = boards["board_id"].drop_duplicates().iloc[:2].tolist()
    got = model.predict(pd.DataFrame({"pin_id": q_pins}))
    assert set(got["query_id"]) == set(q_pins)
    assert (got.groupby("query_id").size() == 10).all()  # candidates.k in tiny.yaml
    assert not (got["query_id"] == got["candidate_pin_id"]).any()
    first = got[got["query_id"] == q_pins[0]].sort_values("rank")
    batch = pins[pins["pin_id"] == q_pins[0]].sort_values("rank")
    assert first["candidate_pin_id"].tolist() == batch["candidate_pin_id"].tolist()
    gb = model.predict(pd.DataFrame({"board_id": q_boards}))
    assert set(gb["query_id"]) == set(q_boards) and gb["score"].notna().all()


def test_tracked_rerun_that_changed_nothing_registers_nothing(work: Path, client) -> None:  # noqa: ANN001
    res = _run(work)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "unchanged, already registered: graphrec-synthetic-fashion v1 (@candidate)" in res.stdout
    assert len(client.search_model_versions("name = 'graphrec-synthetic-fashion'")) == 1


def test_rerun_skips_and_changed_key_redoes_only_downstream(work: Path) -> None:
    metrics = work / "out" / "eval" / "metrics.json"
    before = metrics.read_bytes()
    res = _run(work, "--no-mlflow")
    assert res.returncode == 0, res.stderr[-2000:]
    assert _statuses(res.stdout) == {s: "skipped" for s in STAGES}
    assert metrics.read_bytes() == before

    res = _run(work, "--no-mlflow", "--set", "sage.train.epochs=1")
    assert res.returncode == 0, res.stderr[-2000:]
    st = _statuses(res.stdout)
    # candidates serve `full` (teacher + student over PinCLIP content), which SAGE does not feed
    redo = {"train-sage", "embed-graph", "train-sage-raw", "embed-graph-raw", "evaluate", "ab-sim"}
    assert {s for s, v in st.items() if v == "ran"} == redo


def test_full_beats_popularity_and_content_on_cold_pins(work: Path) -> None:
    """The tiny-config cold collapse (full cold recall 0: it ranked by degree) must not come back."""
    models = json.loads((work / "out" / "eval" / "metrics.json").read_text())["models"]
    cold = {m: models[m]["cold"]["recall@20"] for m in ("full", "popularity", "content", "clip_no_neighbors")}
    assert cold["full"] > cold["popularity"] and cold["full"] > cold["content"], cold


def test_one_lightgcn_fit_serves_the_teacher_search_and_the_evaluation(work: Path) -> None:
    out = work / "out"
    fit = json.loads((out / "lightgcn" / "manifest.json").read_text())
    full = json.loads((out / "full" / "manifest.json").read_text())
    ev = json.loads((out / "eval" / "manifest.json").read_text())
    assert full["factors"] == {"lightgcn": str((out / "lightgcn").resolve())} == ev["prefit"]
    row = next(r for r in full["teacher_grid"] if r["model"] == "lightgcn")
    assert {"epochs": row["epochs"]} == fit["chosen"]["values"] == ev["models"]["lightgcn"]["chosen"]["values"]
    assert ev["models"]["lightgcn"]["fit_seconds"] == fit["fit_seconds"]
    assert ev["models"]["lightgcn"]["source"].startswith(str((out / "lightgcn").resolve()))


def test_force_redoes_every_stage_with_identical_outputs(work: Path) -> None:
    res = _run(work, "--no-mlflow", "--set", "sage.train.epochs=1")  # state of the previous test
    assert _statuses(res.stdout) == {s: "skipped" for s in STAGES}
    cand = (work / "out" / "candidates" / "pin_candidates.parquet").read_bytes()
    res = _run(work, "--no-mlflow", "--set", "sage.train.epochs=1", "--force")
    assert res.returncode == 0, res.stderr[-2000:]
    assert _statuses(res.stdout) == {s: "ran" for s in STAGES}
    # same seed, same data, same config: byte-identical candidates
    assert (work / "out" / "candidates" / "pin_candidates.parquet").read_bytes() == cand


def test_failing_stage_is_marked_failed_and_completed_stages_stay(work: Path, client) -> None:  # noqa: ANN001
    emb = work / "out" / "content"
    target = next(p for p in sorted(emb.iterdir()) if p.suffix in (".safetensors", ".npy", ".parquet"))
    target.write_bytes(b"not an embedding file")
    graph_manifest = (work / "out" / "graph" / "manifest.json").read_bytes()
    res = _run(work, "--set", "sage.train.epochs=2")
    assert res.returncode != 0
    assert "error" in res.stderr.lower() and "Traceback" not in res.stderr
    assert (work / "out" / "graph" / "manifest.json").read_bytes() == graph_manifest
    runs = sorted(_runs(client), key=lambda r: r.info.start_time)
    failed = {r.data.tags["mlflow.runName"] for r in runs if r.info.status == "FAILED"}
    assert "train-sage" in failed and any(n.startswith("synthetic tiny ") for n in failed)


def test_ab_arm_the_config_does_not_build_fails_before_any_work(tmp_path: Path) -> None:
    res = _graphrec(
        tmp_path,
        "run",
        "--synthetic",
        "--config",
        str(TINY),
        "--out",
        str(tmp_path / "o"),
        "--set",
        "ablations.clip_no_neighbors=false",
        "--set",
        "eval.ab.control=clip_no_neighbors",
    )
    assert res.returncode != 0
    assert "error: eval.ab.control: 'clip_no_neighbors' is not built" in res.stderr
    assert not (tmp_path / "o").exists()


def test_stage_keys_change_with_the_source_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited checkout must not reuse stages computed by older code of the same version."""
    import graphrec
    from experiments.config import RunConfig
    from experiments.pipeline import build_stages
    from experiments.stages import code_fingerprint, stage_key

    for pkg in ("graph_build", "graphrec", "eval", "experiments"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(f"# {pkg}\n")
    monkeypatch.setattr(graphrec, "__file__", str(tmp_path / "graphrec" / "__init__.py"))
    stage = build_stages(RunConfig())[1]
    code_fingerprint.cache_clear()
    before = stage_key(stage, {})
    code_fingerprint.cache_clear()
    assert stage_key(stage, {}) == before
    (tmp_path / "eval" / "__init__.py").write_text("# eval, edited\n")
    code_fingerprint.cache_clear()
    assert stage_key(stage, {}) != before
    code_fingerprint.cache_clear()
