"""Fast equivalent of the slow MLflow test: graphrec's run naming, nesting and metric names,
checked against an in-memory stand-in of the mlflow module (no import, no sqlite schema)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from eval.run import evaluate
from graphrec import tracking
from graphrec.utils.config import to_dict
from graphrec.utils.io import read_json
from tests.eval.conftest import tiny_config

_VALID = re.compile(r"^[\w\-. /]+$")  # what mlflow accepts as a metric / param name


class _FakeMlflow:
    """The subset of the mlflow fluent API graphrec.tracking calls, with mlflow's own rules:
    a second top-level run while one is active is an error; names must be valid."""

    def __init__(self) -> None:
        self.runs: dict[str, SimpleNamespace] = {}
        self.stack: list[SimpleNamespace] = []
        self.experiment: str | None = None

    def active_run(self):
        return self.stack[-1] if self.stack else None

    def get_run(self, run_id: str):
        return self.runs[run_id]

    def set_tracking_uri(self, uri: str) -> None:
        pass

    def set_experiment(self, name: str | None = None, experiment_id: str | None = None) -> None:
        self.experiment = name or experiment_id

    def start_run(self, run_name: str | None = None, nested: bool = False):
        if self.stack and not nested:
            raise RuntimeError("Run is already active (mlflow requires nested=True)")
        tags = {"mlflow.runName": run_name}
        if self.stack:
            tags["mlflow.parentRunId"] = self.stack[-1].info.run_id
        run = SimpleNamespace(
            info=SimpleNamespace(run_id=f"run{len(self.runs)}", status="RUNNING"),
            data=SimpleNamespace(tags=tags, metrics={}, params={}),
        )
        self.runs[run.info.run_id] = run
        self.stack.append(run)
        return run

    def end_run(self, status: str = "FINISHED") -> None:
        self.stack.pop().info.status = status

    def set_tags(self, tags: dict) -> None:
        self.stack[-1].data.tags.update(tags)

    def log_params(self, params: dict) -> None:
        assert all(_VALID.match(k) for k in params), [k for k in params if not _VALID.match(k)]
        self.stack[-1].data.params.update(params)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        assert all(_VALID.match(k) for k in metrics), [k for k in metrics if not _VALID.match(k)]
        self.stack[-1].data.metrics.update(metrics)

    def log_artifacts(self, path: str, artifact_path: str | None = None) -> None:
        pass

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        pass


def test_child_run_per_model_with_sanitised_names_fast(
    synth_graph: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeMlflow()
    monkeypatch.setattr(tracking, "_mlflow", lambda: fake)
    monkeypatch.setattr(tracking, "git_commit", lambda: "abc")
    monkeypatch.setenv("GRAPHREC_MLFLOW", "1")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "eval-test")
    cfg = tiny_config(models=("popularity", "oracle"), tasks=("board_to_pin",))
    with tracking.open_run("evaluate", params=to_dict(cfg)) as tracker:  # the CLI/pipeline layer opens it
        evaluate(synth_graph, [], tmp_path / "E", cfg, tracker=tracker)
    runs = {r.data.tags["mlflow.runName"]: r for r in fake.runs.values()}
    assert set(runs) == {"evaluate", "evaluate.popularity", "evaluate.oracle"}
    assert fake.experiment == "eval-test" and not fake.stack
    parent = runs["evaluate"].info.run_id
    assert "mlflow.parentRunId" not in runs["evaluate"].data.tags
    for child in ("evaluate.popularity", "evaluate.oracle"):
        assert runs[child].data.tags["mlflow.parentRunId"] == parent
        assert runs[child].data.tags["graphrec.stage"] == child
    assert all(r.info.status == "FINISHED" for r in runs.values())
    want = read_json(tmp_path / "E" / "metrics.json")["models"]["oracle"]
    oracle = runs["evaluate.oracle"].data.metrics
    assert oracle["cold_recall_at_20"] == pytest.approx(want["cold"]["recall@20"])
    assert oracle["coverage_at_20"] == pytest.approx(want["coverage@20"])
