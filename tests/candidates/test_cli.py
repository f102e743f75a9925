"""`graphrec candidates` / `candidates-merge` from the console: outputs, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

BIN = Path(sys.executable).parent / "graphrec"


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAPHREC_NO_PROGRESS": "1", "COLUMNS": "200"}
    return subprocess.run([str(BIN), "-q", *args], capture_output=True, text=True, env=env, timeout=300)


def test_help_documents_every_option() -> None:
    out = _run("candidates", "--help").stdout
    for opt in (
        "--graph",
        "--emb",
        "--out",
        "--k",
        "--index",
        "flat|hnsw|ivf",
        "--shard",
        "--config",
        "--set",
        "--force",
    ):
        assert opt in out, opt
    assert "candidates-merge" in _run("--help").stdout


def test_cli_sharded_run_merges_and_errors_are_one_line(synth_graph: Path, emb_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cand"
    common = [
        "--graph",
        str(synth_graph),
        "--emb",
        str(emb_dir),
        "--out",
        str(out),
        "--k",
        "5",
        "--index",
        "hnsw",
        "--set",
        "batch_size=100",
        "--set",
        "index.hnsw_m=8",
    ]
    r1 = _run("candidates", *common, "--shard", "1/2")
    assert r1.returncode == 0, r1.stderr
    assert "shard 1/2 written" in r1.stdout and not (out / "manifest.json").exists()
    r2 = _run("candidates", *common, "--shard", "2/2")
    assert r2.returncode == 0, r2.stderr
    assert "hnsw index, recall@5" in r2.stdout and (out / "manifest.json").exists()
    pins = pd.read_parquet(out / "pin_candidates.parquet")
    assert pins.groupby("pin_id").size().eq(5).all()
    again = _run("candidates", *common)
    assert again.returncode == 0 and "already complete" in again.stdout

    bad = _run("candidates", *common, "--shard", "3/2")
    assert bad.returncode == 1 and bad.stderr.strip().splitlines() == [
        "error: --shard '3/2': shard index must be in 1..n (1-based), got 3 of 2"
    ]
    stale = _run("candidates", *common[:-4], "--k", "6")
    assert stale.returncode == 1 and "--force" in stale.stderr and len(stale.stderr.strip().splitlines()) == 1
    missing = _run(
        "candidates", "--graph", str(synth_graph), "--emb", str(tmp_path / "nope"), "--out", str(tmp_path / "x")
    )
    assert missing.returncode == 1 and "not an embedding directory" in missing.stderr
    assert not (tmp_path / "x").exists()
    merge = _run("candidates-merge", str(tmp_path / "x"))
    assert merge.returncode == 1 and merge.stderr.startswith("error: ")
