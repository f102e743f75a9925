"""graphrec sweep: grid parsing, one nested MLflow run per trial under a sweep parent, reuse of
identical stages across trials, sweep.md/json; and runs resuming an `mlflow run` project run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from experiments.stages import stamped_key
from experiments.sweep import make_trials, parse_grid, run_sweep, split_values
from graphrec.utils.config import ConfigError

TINY = Path(__file__).resolve().parents[2] / "experiments" / "configs" / "tiny.yaml"
# Fewer stages than tiny's default: the sweep machinery, not the ablation models, is under test.
FAST = ["ablations.clip_no_neighbors=false", "ablations.sage_raw=false", "eval.lightgcn.epochs=1"]


def test_grid_values_split_outside_brackets() -> None:
    assert split_values("1,2, 3") == ["1", "2", "3"]
    assert split_values("[10,20],[20]") == ["[10,20]", "[20]"]
    assert parse_grid(["a.b=1,2", "c={x: 1, y: 2}"]) == [("a.b", ["1", "2"]), ("c", ["{x: 1, y: 2}"])]
    for bad in (["a.b"], ["=1"], ["a=1,"], ["a=1", "a=2"]):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_trials_are_the_cartesian_product_with_unique_safe_names() -> None:
    trials = make_trials(parse_grid(["sage.train.epochs=1,2", "sage.model.pooling=mean,importance", "eval.ks=[10,20]"]))
    assert len(trials) == 4
    assert trials[1].overrides == ("sage.train.epochs=1", "sage.model.pooling=importance", "eval.ks=[10,20]")
    assert len({t.name for t in trials}) == 4
    assert all("/" not in t.name and " " not in t.name and "[" not in t.name for t in trials)
    assert make_trials([])[0].name == "t00-base" and make_trials([])[0].overrides == ()


def test_a_bad_trial_config_fails_before_any_trial_runs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        run_sweep(TINY, ["sage.train.epochs=1,oops"], tmp_path / "sweep")
    assert not (tmp_path / "sweep" / "trials").exists()


def _mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, experiment: str):
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlruns.db")
    monkeypatch.setenv("GRAPHREC_MLFLOW", "1")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", experiment)
    monkeypatch.chdir(tmp_path)  # the sqlite store puts artifacts in ./mlruns
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlruns.db")
    return mlflow.MlflowClient()


def test_two_trial_sweep_nests_runs_and_reuses_identical_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _mlflow_store(tmp_path, monkeypatch, "sweep-test")
    out = tmp_path / "sweep"
    res = run_sweep(TINY, ["sage.train.epochs=1,2"], out, overrides=FAST)

    exp = client.get_experiment_by_name("sweep-test")
    runs = client.search_runs([exp.experiment_id], max_results=500)
    roots = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.run_name for r in roots] == ["graphrec sweep"] and roots[0].info.run_id == res.run_id
    trials = {r.info.run_name: r for r in runs if r.data.tags.get("mlflow.parentRunId") == res.run_id}
    assert set(trials) == {"t00-sage.train.epochs=1", "t01-sage.train.epochs=2"}
    for name, run in trials.items():
        assert run.data.tags["graphrec.trial"] == name and run.info.status == "FINISHED"
        assert run.data.params["sage.train.epochs"] == name[-1]
        assert 0.0 <= run.data.metrics["all_recall_at_20"] <= 1.0 and "content.cold_recall_at_20" in run.data.metrics
        stages = {r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == run.info.run_id}
        assert "train-sage" in stages
    # the second trial copied what the first computed (same key) and trained only SAGE onwards
    t0_dir, t1_dir = (out / "trials" / n for n in sorted(trials))
    status = {s.name: s.status for s in res.trials[1].pipeline.stages}
    assert status["train-pinclip"] == status["build-graph"] == status["embed-pins"] == "reused"
    assert status["train-sage"] == status["evaluate"] == "ran"
    assert stamped_key(t1_dir / "pinclip" / "manifest.json") == stamped_key(t0_dir / "pinclip" / "manifest.json")
    assert stamped_key(t1_dir / "sage" / "manifest.json") != stamped_key(t0_dir / "sage" / "manifest.json")
    t1_stages = {
        r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == trials[t1_dir.name].info.run_id
    }
    assert "train-pinclip" not in t1_stages  # reused stages open no run
    assert not client.search_registered_models()  # trials do not register candidate models

    doc = json.loads((out / "sweep.json").read_text())
    assert [t["trial"] for t in doc["trials"]] == sorted(trials)
    assert doc["trials"][1]["stage_counts"]["reused"] >= 4
    md = (out / "sweep.md").read_text().splitlines()
    rows = [line for line in md if line.startswith("| ") and "t0" in line]
    assert len(rows) == 2 and "`sage.train.epochs=2`" in rows[1]
    want = res.trials[0].pipeline.metrics["models"]["full"]["warm"]["recall@20"]
    assert f"{want:.4f}" in rows[0]
    assert {a.path for a in client.list_artifacts(res.run_id)} == {"sweep.md", "sweep.json"}

    # a second invocation skips every stage of every trial
    again = run_sweep(TINY, ["sage.train.epochs=1,2"], out, overrides=FAST)
    assert {s.status for t in again.trials for s in t.pipeline.stages} == {"skipped"}


def test_graphrec_run_resumes_an_mlflow_project_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under `mlflow run`, MLFLOW_RUN_ID (+ MLFLOW_EXPERIMENT_ID) name the project's run: the pipeline's
    parent run must be that run (in its experiment), with the stage runs nested under it."""
    from graphrec.tracking import open_run

    client = _mlflow_store(tmp_path, monkeypatch, "graphrec-other")
    exp_id = client.create_experiment("project")
    project_run = client.create_run(exp_id)
    monkeypatch.setenv("MLFLOW_RUN_ID", project_run.info.run_id)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", exp_id)
    with open_run("graphrec run") as parent:
        with parent.child("train-sage") as child:
            pass
    assert parent.run_id == project_run.info.run_id
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == project_run.info.run_id
    assert client.get_run(child.run_id).info.experiment_id == exp_id
    assert client.get_experiment_by_name("graphrec-other") is None


def _project_args(tmp_path: Path, entry: str, params: dict[str, str]) -> list[str]:
    """Run an MLproject entry point's command with a stub `graphrec` that records its arguments."""
    import os
    import subprocess

    from mlflow.projects._project_spec import load_project

    project = load_project(str(TINY.parents[1]))
    command = project.get_entry_point(entry).compute_command(params, str(tmp_path))
    stub = tmp_path / "bin" / "graphrec"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text('#!/bin/sh\nfor a in "$@"; do echo "$a"; done\n')
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stub.parent}:{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "-c", command], cwd=TINY.parents[1], env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_mlproject_entry_points_pass_overrides_to_the_cli(tmp_path: Path) -> None:
    from mlflow.projects._project_spec import load_project

    project = load_project(str(TINY.parents[1]))
    assert {
        "main",
        "sweep",
        "ablation",
        "build-graph",
        "train-pinclip",
        "embed-pins",
        "train-sage",
        "embed-graph",
        "evaluate",
        "ab-sim",
        "candidates",
    } <= set(project._entry_points)
    args = _project_args(
        tmp_path, "main", {"config": "configs/tiny.yaml", "out": "/tmp/o", "set": "sage.train.epochs=1 eval.ks=[10,20]"}
    )
    assert args == [
        "run",
        "--config",
        "configs/tiny.yaml",
        "--out",
        "/tmp/o",
        "--set",
        "sage.train.epochs=1",
        "--set",
        "eval.ks=[10,20]",
    ]
    assert _project_args(tmp_path, "main", {"out": "o", "data": "/d"})[-2:] == ["--data", "/d"]
    args = _project_args(tmp_path, "sweep", {"out": "o", "grid": "sage.train.epochs=1,2 sage.model.pooling=mean"})
    assert args[args.index("--grid") :] == ["--grid", "sage.train.epochs=1,2", "--grid", "sage.model.pooling=mean"]
    args = _project_args(tmp_path, "evaluate", {"graph": "g", "out": "e", "run_dirs": "a b"})
    assert args[-4:] == ["--emb", "a", "--emb", "b"] and "--config" in args
    assert _project_args(tmp_path, "train-sage", {"graph": "g", "features": "f", "out": "m"}) == [
        "train-sage",
        "--graph",
        "g",
        "--emb",
        "f",
        "--out",
        "m",
        "--force",
    ]
