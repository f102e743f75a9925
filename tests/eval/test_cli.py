"""`graphrec evaluate` and `graphrec ab-sim`: end to end as a console script, and one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from graphrec.utils.io import read_json
from tests.eval.conftest import TINY_OVERRIDES

BIN = Path(sys.executable).parent / "graphrec"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAPHREC_NO_PROGRESS": "1", "COLUMNS": "200", "GRAPHREC_MLFLOW": "0"}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, env=env, timeout=300)


def _sets() -> list[str]:
    return [a for s in TINY_OVERRIDES for a in ("--set", s)]


def test_evaluate_then_ab_sim_end_to_end(synth_graph: Path, runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "E"
    cfg = tmp_path / "eval.yaml"  # a config naming the embedding directory instead of --runs
    cfg.write_text(f"runs: ['{runs['content']}']\nlightgcn: {{epochs: 2}}\n")
    r = _run(
        "evaluate",
        "--graph",
        str(synth_graph),
        "--config",
        str(cfg),
        "--out",
        str(out),
        *_sets(),
        "--models",
        "popularity",
        "--models",
        "content",
        "--models",
        "oracle",
    )
    assert r.returncode == 0, r.stderr
    assert "content" in r.stdout and "cold recall@20" in r.stdout
    m = read_json(out / "metrics.json")
    assert set(m["models"]) == {"popularity", "content", "oracle"} and m["ab"] is None
    r = _run(
        "ab-sim",
        "--graph",
        str(synth_graph),
        "--emb",
        str(runs["content"]),
        "--out",
        str(out),
        "--control",
        "popularity",
        "--treatment",
        "content",
        *_sets(),
    )
    assert r.returncode == 0, r.stderr
    assert "A/B content (treatment) vs popularity (control)" in r.stdout
    m = read_json(out / "metrics.json")
    assert m["ab"]["control"] == "popularity" and m["ab"]["fresh"]["ctr_lift"] is None
    assert sorted(p.name for p in (out / "plots").iterdir()) == ["ab_lifts.png", "recall_warm_cold.png"]


def test_help_lists_the_verbs_and_options() -> None:
    from graphrec.cli import (
        app,
        evaluate,  # noqa: F401  (registers the commands)
    )

    runner = CliRunner()
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "200"}).output
    assert "evaluate" in top and "ab-sim" in top
    ev = runner.invoke(app, ["evaluate", "--help"], env={"COLUMNS": "200"}).output
    for opt in ("--graph", "--emb", "--out", "--config", "--set", "--models", "--force"):
        assert opt in ev, opt
    ab = runner.invoke(app, ["ab-sim", "--help"], env={"COLUMNS": "200"}).output
    for opt in ("--graph", "--emb", "--out", "--control", "--treatment", "--config", "--set", "--force"):
        assert opt in ab, opt


@pytest.mark.parametrize("case", ["no_graph", "bad_runs", "unknown_model", "bad_set", "bad_arm", "other_graph_runs"])
def test_bad_input_is_a_one_line_error_and_writes_nothing(
    case: str, synth_graph: Path, runs: dict[str, Path], tmp_path: Path, tiny_dataset: Path
) -> None:
    from graphrec.cli import (
        app,
        evaluate,  # noqa: F401
    )

    out = tmp_path / "out" / "E"
    g = str(synth_graph)
    args, expect = {
        "no_graph": (["evaluate", "--graph", str(tmp_path / "nope"), "--out", str(out)], "not a graph directory"),
        "bad_runs": (
            ["evaluate", "--graph", g, "--emb", str(tmp_path), "--out", str(out)],
            "not an embedding directory",
        ),
        "unknown_model": (
            ["evaluate", "--graph", g, "--models", "alss", "--out", str(out)],
            "unknown model(s) ['alss']",
        ),
        "bad_set": (
            ["evaluate", "--graph", g, "--set", "ks=[20,10]", "--out", str(out)],
            "eval.ks: must be increasing",
        ),
        "bad_arm": (
            ["ab-sim", "--graph", g, "--treatment", "full", "--out", str(out)],
            "treatment model 'full' is not available",
        ),
        "other_graph_runs": (None, "recompute them for this graph"),
    }[case]
    if case == "other_graph_runs":
        from graph_build.build import build_graph
        from graph_build.split import SplitConfig

        build_graph(tiny_dataset, tmp_path / "g", SplitConfig(seed=0))
        args = ["evaluate", "--graph", str(tmp_path / "g"), "--emb", str(runs["content"]), "--out", str(out)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1, r.output
    lines = r.output.strip().splitlines()
    assert lines[-1].startswith("error: ") and expect in lines[-1], r.output
    assert not (tmp_path / "out").exists()
