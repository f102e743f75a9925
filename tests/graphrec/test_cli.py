"""The console script: help lists every verb and option, and the data pipeline runs end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from graphrec.utils.io import read_json

BIN = Path(sys.executable).parent / "graphrec"


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAPHREC_NO_PROGRESS": "1", "COLUMNS": "200"}
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def test_help_lists_subcommands() -> None:
    out = _run("--help")
    assert out.returncode == 0
    for verb in ("synth", "import", "build-graph", "validate", "graph-info"):
        assert verb in out.stdout
    imp = _run("import", "--help")
    assert "movielens" in imp.stdout and "fashion-products" in imp.stdout


def test_build_graph_help_documents_every_option() -> None:
    out = _run("build-graph", "--help").stdout
    for opt in (
        "--data",
        "--out",
        "--cold-fraction",
        "--cold-by",
        "--holdout-fraction",
        "--warm-holdout",
        "--val-share",
        "--min-board-saves",
        "--min-pin-saves",
        "--seed",
        "--skip-image-decode",
        "--force",
    ):
        assert opt in out, opt


def test_synth_build_info_end_to_end(tmp_path: Path) -> None:
    r = _run("synth", "--pins", "400", "--seed", "5", "--styles", "4", str(tmp_path / "d"))
    assert r.returncode == 0, r.stderr
    r = _run(
        "build-graph",
        "--data",
        str(tmp_path / "d"),
        "--out",
        str(tmp_path / "g"),
        "--cold-fraction",
        "0.25",
        "--seed",
        "5",
    )
    assert r.returncode == 0, r.stderr
    assert "saves train / val / test" in r.stdout and "synthetic-fashion" in r.stdout
    m = read_json(tmp_path / "g" / "manifest.json")
    assert m["seed"] == 5 and m["split"]["cold_fraction"] == 0.25
    assert _run("graph-info", str(tmp_path / "g")).stdout.count("pins (warm / cold)") == 1
    assert _run("validate", str(tmp_path / "d")).stdout.startswith("ok: synthetic-fashion")
    again = _run("build-graph", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "g"))
    assert again.returncode != 0 and "--force" in again.stderr


def test_bad_dataset_error_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    r = _run("build-graph", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "g"))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: ") and "missing table 'pins'" in r.stderr
    assert not (tmp_path / "g").exists()
