"""One tiny finished ``graphrec run`` (tiny.yaml, no ablations, no MLflow) shared by the tests of
what users do with a run: the Python API, ``recommend``, ``view``, ``serve`` and the registry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "experiments" / "configs" / "tiny.yaml"
TINY_OVERRIDES = ["ablations.clip_no_neighbors=false", "ablations.sage_raw=false", "register.enabled=false"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny run directory. Read-only: copy it (``run_copy``) before changing it."""
    from experiments.config import load_run_config
    from experiments.pipeline import run_pipeline

    out = tmp_path_factory.mktemp("tiny_run") / "run"
    run_pipeline(load_run_config(TINY, TINY_OVERRIDES), out)
    return out


@pytest.fixture
def run_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny run (for tests that add pins or register models)."""
    dst = tmp_path / "run"
    shutil.copytree(tiny_run, dst, symlinks=True)
    return dst
