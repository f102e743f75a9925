"""Atomic output directories leave nothing behind on failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphrec.utils.io import OutputExistsError, atomic_output_dir


def test_failure_removes_temp_and_created_parents(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "out"
    with pytest.raises(RuntimeError):
        with atomic_output_dir(out) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_success_renames_into_place(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_output_dir(out) as tmp:
        assert tmp.parent == tmp_path and not out.exists()
        (tmp / "f.txt").write_text("done")
    assert (out / "f.txt").read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_existing_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    with pytest.raises(OutputExistsError):
        with atomic_output_dir(out):
            pass
    with pytest.raises(KeyError):
        with atomic_output_dir(out, overwrite=True) as tmp:
            raise KeyError("fail while replacing")
    assert (out / "keep.txt").read_text() == "old"  # a failed replacement keeps the old output
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["new.txt"]
