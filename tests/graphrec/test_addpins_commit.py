"""add-pins commit protocol: a kill at any step leaves the old or the new state, and a retry of the
same batch ends byte-identical to an uninterrupted add-pins (issue 11, item 3).

Kills are real ``SIGKILL``s of a ``graphrec add-pins`` subprocess at a named step
(``GRAPHREC_TEST_KILL_AT``, graphrec.utils.io.crash_point). Two steps run in CI (one before the
commit point, one after the index switch); every step runs under ``-m slow``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from graphrec.addpins import add_pins
from graphrec.candidates.bundle import load_bundle
from graphrec.candidates.layout import JOURNAL
from graphrec.utils import io

ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = ["register.enabled=false", "ablations.clip_no_neighbors=false", "ablations.sage_raw=false"]
GRAPHREC = str(Path(sys.executable).parent / "graphrec")
PARTS = ("graph", "pinclip", "content", "sage", "full", "candidates")
N_NEW = 5
STEPS = ("addpins:staged", "addpins:journal", "addpins:switched", "addpins:files", "addpins:cleaned")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from experiments.config import load_run_config
    from experiments.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("commit") / "run"
    run_pipeline(load_run_config(ROOT / "experiments" / "configs" / "tiny.yaml", OVERRIDES), out)
    return out


@pytest.fixture(scope="module")
def batch(run: Path) -> Path:
    root = run.parent / "batch"
    root.mkdir()
    rows = pd.read_parquet(run / "data" / "pins.parquet").iloc[:N_NEW].copy()
    rows["pin_id"] = ["new-" + p for p in rows["pin_id"]]
    rows.to_parquet(root / "pins.parquet", index=False)
    shutil.copy(run / "data" / "images.npy", root / "images.npy")
    return root / "pins.parquet"


def _copy(run: Path, dst: Path) -> Path:
    for part in PARTS:
        shutil.copytree(run / part, dst / part)
    return dst


def digest(run: Path) -> dict[str, str]:
    """Every file of the index and the added pins, by path (manifests without their timings)."""
    out = {}
    for p in sorted([*(run / "candidates").rglob("*"), *(run / "added_pins").rglob("*")]):
        if not p.is_file() or p.name == ".lock":
            continue
        data = p.read_bytes()
        if p.name == "manifest.json" and "added_pins" in p.parts:
            m = io.read_json(p)
            data = repr(
                sorted((k, v) for k, v in m.items() if k not in ("seconds", "seconds_per_pin", "run", "out"))
            ).encode()
        out[str(p.relative_to(run))] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def reference(run: Path, batch: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    ref = _copy(run, tmp_path_factory.mktemp("ref"))
    add_pins(ref, batch, k=10)
    return digest(ref)


def _kill_at(run_dir: Path, batch: Path, step: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, io.KILL_ENV: step, "GRAPHREC_NO_PROGRESS": "1"}
    return subprocess.run(
        [GRAPHREC, "add-pins", "--model", str(run_dir), "--pins", str(batch), "--k", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _check_kill_then_retry(run: Path, batch: Path, reference: dict[str, str], tmp: Path, step: str) -> None:
    d = _copy(run, tmp / "k")
    n0 = load_bundle(d / "candidates" / "index").n_pins
    res = _kill_at(d, batch, step)
    assert res.returncode == -9, (step, res.returncode, res.stderr[-2000:])
    # Right after the kill, before any recovery: the index on disk is the old or the new one.
    n = load_bundle(d / "candidates" / "index").n_pins
    assert n == (n0 if step in ("addpins:staged", "addpins:journal") else n0 + N_NEW), step
    m = add_pins(d, batch, k=10)  # the retry: recovers, then adds (or finds the batch added)
    assert m["n_pins"] == N_NEW and m["index_updated"]
    assert digest(d) == reference, step
    assert not list((d / "candidates").glob(".index.*")) and not (d / "candidates" / JOURNAL).exists()
    assert [p.name for p in (d / "added_pins").iterdir()] == [Path(m["out"]).name]


@pytest.mark.parametrize("step", ["addpins:staged", "addpins:switched"])
def test_kill_then_retry_ends_identical(
    run: Path, batch: Path, reference: dict[str, str], tmp_path: Path, step: str
) -> None:
    _check_kill_then_retry(run, batch, reference, tmp_path, step)


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_kill_at_every_step_then_retry_ends_identical(
    run: Path, batch: Path, reference: dict[str, str], tmp_path: Path, step: str
) -> None:
    _check_kill_then_retry(run, batch, reference, tmp_path, step)


def test_retry_of_a_completed_batch_is_a_no_op(
    run: Path, batch: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    d = _copy(run, tmp_path / "r")
    first = add_pins(d, batch, k=10)
    again = add_pins(d, batch, k=10)
    assert again == first and digest(d) == reference
    # another batch size is another request: its output directory exists, so it is refused
    with pytest.raises(FileExistsError):
        add_pins(d, batch, k=5)


class _Killed(BaseException):
    """Stands in for SIGKILL in-process: nothing catches a BaseException subclass on the way out."""


def test_two_rename_fallback_is_recovered(
    run: Path, batch: Path, reference: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without renameat2 exchange the switch is two renames; a kill between them (no index at
    all on disk) is rolled forward from the journal by the next writer."""
    import graphrec.candidates.layout as layout

    d = _copy(run, tmp_path / "f")

    def crash(name: str) -> None:
        if name == "addpins:index-moved":
            raise _Killed

    monkeypatch.setattr(layout, "exchange_dirs", lambda a, b: False)
    monkeypatch.setattr(layout, "crash_point", crash)
    with pytest.raises(_Killed):
        add_pins(d, batch, k=10)
    assert not (d / "candidates" / "index").exists() and (d / "candidates" / JOURNAL).is_file()
    monkeypatch.undo()
    add_pins(d, batch, k=10)
    assert digest(d) == reference


def test_leftovers_of_killed_writers_are_removed(
    run: Path, batch: Path, reference: dict[str, str], tmp_path: Path
) -> None:
    d = _copy(run, tmp_path / "l")
    out = d / "added_pins" / f"batch-{io.sha256_file(batch)[:12]}"
    junk = [
        d / "candidates" / ".index.next-abc",
        d / "candidates" / ".index.tmp-abc",
        d / "candidates" / ".index.old-abc",
        out.parent / f".{out.name}.tmp-abc",
    ]
    for j in junk:
        j.mkdir(parents=True)
        (j / "x").write_text("partial")
    add_pins(d, batch, k=10)
    assert not any(j.exists() for j in junk)
    assert digest(d) == reference


def test_exchange_dirs_swaps_atomically(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "f").write_text("A"), (b / "f").write_text("B")
    if not io.exchange_dirs(a, b):
        pytest.skip("renameat2(RENAME_EXCHANGE) unsupported here (the two-rename fallback is tested)")
    assert (a / "f").read_text() == "B" and (b / "f").read_text() == "A"


def test_impossible_out_is_a_one_line_error_before_reading(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        add_pins(tmp_path / "no-run", tmp_path / "no-pins.csv", out=tmp_path / "file" / "o")
