"""Shared fixtures: tiny contract datasets written on the fly, a tiny synthetic graph, real data paths."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

os.environ.setdefault("DGLBACKEND", "pytorch")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("GRAPHREC_NO_PROGRESS", "1")
# Stages log to MLflow by default; tests opt in with their own temporary store.
os.environ.setdefault("GRAPHREC_MLFLOW", "0")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GRAPHREC_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_dataset(name: str) -> Path:
    """Path of a real dataset in ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA / name
    if not p.is_dir():
        pytest.skip(f"real data folder {p} is absent (set GRAPHREC_SHARED_DATA to point at shared/data)")
    return p


TINY_PINS = [
    {
        "pin_id": "p1",
        "title": "red dress",
        "description": "a dress",
        "created_at": "2024-01-01T00:00:00Z",
        "colour": "red",
        "price": 10.5,
    },
    {
        "pin_id": "p2",
        "title": "blue top",
        "description": "",
        "created_at": "1704153600",
        "colour": "blue",
        "price": 20.0,
    },
    {
        "pin_id": "p3",
        "title": "green hat",
        "description": "a hat",
        "created_at": "2024-01-03",
        "colour": "green",
        "price": 30.0,
    },
    {
        "pin_id": "p4",
        "title": "red bag",
        "description": "a bag",
        "created_at": "2024-01-04",
        "colour": "red",
        "price": 40.0,
    },
    {
        "pin_id": "p5",
        "title": "blue shoes",
        "description": "shoes",
        "created_at": "2024-01-05",
        "colour": "blue",
        "price": 50.0,
    },
    {
        "pin_id": "p6",
        "title": "new coat",
        "description": "a coat",
        "created_at": "2024-01-06",
        "colour": "black",
        "price": 60.0,
    },
]
TINY_BOARDS = [
    {"board_id": "b1", "title": "reds", "owner_id": "u1"},
    {"board_id": "b2", "title": "blues", "owner_id": "u1"},
    {"board_id": "b3", "title": "mixed", "owner_id": "u2"},
]
TINY_SAVES = [
    {"board_id": "b1", "pin_id": "p1", "saved_at": "2024-02-01"},
    {"board_id": "b1", "pin_id": "p4", "saved_at": "2024-02-02"},
    {"board_id": "b1", "pin_id": "p6", "saved_at": "2024-03-01"},
    {"board_id": "b2", "pin_id": "p2", "saved_at": "2024-02-03"},
    {"board_id": "b2", "pin_id": "p5", "saved_at": "2024-02-04"},
    {"board_id": "b2", "pin_id": "p6", "saved_at": "2024-03-02"},
    {"board_id": "b3", "pin_id": "p1", "saved_at": "2024-02-05"},
    {"board_id": "b3", "pin_id": "p2", "saved_at": "2024-02-06"},
    {"board_id": "b3", "pin_id": "p3", "saved_at": "2024-02-07"},
    {"board_id": "b3", "pin_id": "p3", "saved_at": "2024-02-08"},  # duplicate save: collapsed
]


def write_tiny(root: Path, fmt: str = "csv", pins=None, boards=None, saves=None) -> Path:
    """Write a tiny valid dataset (or one with the given tables swapped in) to ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for name, rows in (("pins", pins or TINY_PINS), ("boards", boards or TINY_BOARDS), ("saves", saves or TINY_SAVES)):
        df = pd.DataFrame(rows)
        if fmt == "csv":
            df.to_csv(root / f"{name}.csv", index=False)
        else:
            df.to_parquet(root / f"{name}.parquet", index=False)
    return root


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_tiny(tmp_path / "data")


@pytest.fixture(scope="session")
def synth_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graph_build.synthetic.generate import SynthConfig, write_synthetic

    out = tmp_path_factory.mktemp("synth") / "data"
    write_synthetic(SynthConfig(n_pins=600, n_styles=6, seed=3), out)
    return out


@pytest.fixture(scope="session")
def synth_graph(synth_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from graph_build.build import build_graph
    from graph_build.split import SplitConfig

    out = tmp_path_factory.mktemp("synth_graph") / "graph"
    build_graph(synth_dataset, out, SplitConfig(seed=3))
    return out


@pytest.fixture(autouse=True)
def _isolated_mlflow_state(monkeypatch: pytest.MonkeyPatch):
    """MLflow's set_experiment writes MLFLOW_EXPERIMENT_ID into os.environ: without this, a test
    that tracked into its temporary store leaves the next test pointing at an experiment id that
    does not exist in that test's store. Runs left active are ended too."""
    for var in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    yield
    import sys

    if "mlflow" in sys.modules:
        mlflow = sys.modules["mlflow"]
        while mlflow.active_run() is not None:
            mlflow.end_run()
        # set_experiment also caches the id in the fluent module; the next test's store lacks it.
        fluent = sys.modules.get("mlflow.tracking.fluent")
        if fluent is not None and hasattr(fluent, "_active_experiment_id"):
            fluent._active_experiment_id = None
