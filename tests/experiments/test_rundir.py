"""The run dir guard and lock (experiments/rundir.py, issue 11 items 1, 2, 8 and 11).

Most tests drive :func:`experiments.rundir.claim` directly (no pipeline work); the CLI tests run
``graphrec run`` in-process and fail in the guard, before any stage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from experiments import rundir
from experiments.rundir import RunDirError, RunDirLocked, claim
from tests.conftest import write_tiny

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "experiments" / "configs" / "tiny.yaml"
runner = CliRunner()


def _listing(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else b"<dir>" for p in sorted(root.rglob("*"))}


def _cli(*args: str):
    import graphrec.cli.run  # noqa: F401  (registers run)
    from graphrec.cli import app

    return runner.invoke(app, list(args))


def test_foreign_non_empty_dir_is_refused_and_untouched(tmp_path: Path) -> None:
    """The issue's reproduction: graphrec run --data D --out F where F/eval/important.txt exists."""
    data = write_tiny(tmp_path / "D")
    f = tmp_path / "F"
    (f / "eval").mkdir(parents=True)
    (f / "eval" / "important.txt").write_text("x\n")
    before = _listing(f)
    res = _cli("run", "--data", str(data), "--config", str(TINY), "--out", str(f), "--no-mlflow")
    assert res.exit_code != 0
    assert "is not empty and is not a graphrec run dir" in res.output and "Traceback" not in res.output
    assert _listing(f) == before  # no config.yaml, nothing replaced
    # --force may use the directory, but never replaces what graphrec did not write
    res = _cli("run", "--data", str(data), "--config", str(TINY), "--out", str(f), "--no-mlflow", "--force")
    assert res.exit_code != 0 and "graphrec did not write it" in res.output
    assert _listing(f) == before


def test_force_keeps_unrelated_files(tmp_path: Path) -> None:
    f = tmp_path / "F"
    f.mkdir()
    (f / "notes.txt").write_text("mine")
    with claim(f, "synthetic", force=True, stage_outs=("graph", "eval")):
        (f / "graph").mkdir()
    assert (f / "notes.txt").read_text() == "mine" and (f / rundir.MARKER).is_file()


def test_run_dir_of_another_dataset_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "run"
    with claim(f, "synthetic"):
        (f / "graph").mkdir()
    with pytest.raises(RunDirError, match="run dir of dataset synthetic"):
        with claim(f, str(tmp_path / "D")):
            pass
    with claim(f, "synthetic"):  # the same dataset: fine, again and again
        pass
    with claim(f, str(tmp_path / "D"), force=True):
        pass


def test_out_inside_another_runs_stage_dir_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with claim(run, "synthetic"):
        (run / "eval").mkdir()
    for nested in (run / "eval" / "x", run / "graph", run / "candidates" / "deep" / "er"):
        with pytest.raises(RunDirError, match="stage directory of the run"):
            with claim(nested, "synthetic", force=True):
                pass
        assert not nested.exists()


def test_older_run_dirs_without_marker_are_recognised(tmp_path: Path) -> None:
    f = tmp_path / "old"
    (f / "graph").mkdir(parents=True)
    (f / "graph" / "manifest.json").write_text("{}")
    (f / "config.yaml").write_text("name: x\n")
    with claim(f, "synthetic"):
        pass
    assert rundir._read_marker(f)["dataset"] == "synthetic"


@pytest.mark.parametrize("kind", ["under_a_file", "is_a_file"])
def test_impossible_out_is_a_one_line_error_before_the_dataset_is_read(tmp_path: Path, kind: str) -> None:
    (tmp_path / "file").write_text("x")
    out = tmp_path / "file" / "run" if kind == "under_a_file" else tmp_path / "file"
    bad_data = tmp_path / "no-such-dataset"  # would fail validation, if it were reached
    res = _cli("run", "--data", str(bad_data), "--config", str(TINY), "--out", str(out), "--no-mlflow")
    assert res.exit_code == 1
    assert "is a file, not a directory" in res.output and "no-such-dataset" not in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_unwritable_out_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only filesystem / immutable directory: mkdir fails with EROFS (simulated; root here)."""
    import errno

    def refuse(self: Path, *a: object, **k: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(RunDirError, match="cannot create --out .*Read-only file system"):
        with claim(tmp_path / "ro" / "run", "synthetic"):
            pass


def test_failure_in_a_fresh_dir_leaves_nothing(tmp_path: Path) -> None:
    """Item 11: a run failing on bad data before any stage output exists removes what it wrote."""
    bad = write_tiny(tmp_path / "D", saves=[{"board_id": "b1", "pin_id": "nope"}])
    out = tmp_path / "new" / "run"
    res = _cli("run", "--data", str(bad), "--config", str(TINY), "--out", str(out), "--no-mlflow")
    assert res.exit_code == 2 and "unknown pin_id 'nope'" in res.output
    assert not (tmp_path / "new").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _cli("run", "--data", str(bad), "--config", str(TINY), "--out", str(empty), "--no-mlflow")
    assert res.exit_code == 2 and empty.is_dir() and not any(empty.iterdir())


def test_temp_files_go_to_the_run_dir_and_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with claim(out, "synthetic"):
        t = Path(tempfile.mkdtemp(prefix="graphrec-cand-"))
        assert t.parent == out / rundir.TMP
    assert not (out / rundir.TMP).exists() and tempfile.gettempdir() != str(out / rundir.TMP)


_HOLD = """
import sys, time
from experiments import rundir
with rundir.claim(sys.argv[1], "synthetic"):
    rundir.record_mlflow_run(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    print("held", flush=True)
    time.sleep(120)
"""


def _holder(out: Path, *args: str) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(out), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_second_writer_is_refused_and_touches_nothing_then_lock_dies_with_its_holder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    p = _holder(out)
    try:
        before = _listing(out)
        with pytest.raises(RunDirLocked, match=rf"run dir locked by pid {p.pid} since \d{{4}}-\d\d-\d\dT"):
            with claim(out, "synthetic"):
                pass
        assert _listing(out) == before
        res = _cli("run", "--synthetic", "--config", str(TINY), "--out", str(out), "--no-mlflow")
        assert res.exit_code == 1 and f"run dir locked by pid {p.pid}" in res.output
        assert _listing(out) == before
    finally:
        p.kill()
        p.wait()
    with claim(out, "synthetic"):  # SIGKILLed holder: the kernel released its lock
        (out / ".tmp" / "x").write_text("")


def test_runs_left_running_by_a_killed_run_are_marked_killed(tmp_path: Path) -> None:
    import mlflow

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("graphrec")
    parent = client.create_run(exp, run_name="graphrec run")
    child = client.create_run(exp, run_name="train-sage", tags={"mlflow.parentRunId": parent.info.run_id})
    done = client.create_run(exp, run_name="build-graph", tags={"mlflow.parentRunId": parent.info.run_id})
    client.set_terminated(done.info.run_id, "FINISHED")
    out = tmp_path / "run"
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        p = _holder(out, parent.info.run_id)
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    p.kill()
    p.wait()
    with claim(out, "synthetic"):
        pass
    status = {r: client.get_run(r).info.status for r in (parent.info.run_id, child.info.run_id, done.info.run_id)}
    assert status == {parent.info.run_id: "KILLED", child.info.run_id: "KILLED", done.info.run_id: "FINISHED"}


def test_lock_is_held_for_the_whole_block(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with claim(out, "synthetic"):
        with pytest.raises(RunDirLocked):
            with claim(out, "synthetic"):
                pass
    assert not (out / rundir.LOCK).exists()


def test_leftovers_of_killed_stage_writers_are_removed_by_the_next_writer(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with claim(out, "synthetic"):
        for d in ("graph", "eval", "ablations/sage_raw", "candidates", "added_pins"):
            (out / d).mkdir(parents=True)
    junk = [
        out / ".graph.tmp-k1",
        out / ".eval.old-1234abcd",
        out / "eval" / ".ab-sim.tmp-x",
        out / "ablations" / ".sage_raw.tmp-y",
        out / "ablations" / ".sage_raw.reuse",
        out / "graph" / "manifest.json.tmp",
    ]
    keep = [
        out / "candidates" / ".index.tmp-z",
        out / "added_pins" / ".batch-1.tmp-w",  # their own locks
        out / ".pinclip.checkpoints",
        out / "eval" / "notes.txt",
    ]
    for p in junk + keep:
        p.mkdir(parents=True) if p.suffix != ".txt" and "json" not in p.name else p.write_text("x")
    with claim(out, "synthetic"):
        pass
    assert [p for p in junk if p.exists()] == [] and all(p.exists() for p in keep)
