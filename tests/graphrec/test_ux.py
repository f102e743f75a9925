"""The console: --version, no guessing of the data source, quiet third-party output, formatted
metrics, one progress bar per stage (none per batch), and a plot legend that matches the plot."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import graphrec
import graphrec.cli.run  # noqa: F401  (registers run)
from graphrec.cli import app
from graphrec.utils import logs

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_version() -> None:
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"graphrec {graphrec.__version__}"


def test_run_without_synthetic_or_data_fails_before_any_work(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("name: mine\nseed: 0\n")
    for extra in ([], ["--config", str(empty)]):
        res = runner.invoke(app, ["run", "--out", str(tmp_path / "o"), "--no-mlflow", *extra])
        assert res.exit_code == 1, res.output
        assert "--synthetic" in res.output and "--data" in res.output
        assert not (tmp_path / "o").exists()


def test_run_accepts_a_config_that_names_its_data(tmp_path: Path) -> None:
    from graphrec.cli.run import require_data_source

    require_data_source(ROOT / "experiments" / "configs" / "tiny.yaml", [])  # data.source: synthetic
    require_data_source(None, ["data.source=synthetic"])
    with pytest.raises(ValueError, match="--synthetic"):
        require_data_source(None, ["seed=1"])


def test_setup_logging_silences_third_party_unless_verbose(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in logs.QUIET_ENV:
        monkeypatch.delenv(key, raising=False)
    with warnings.catch_warnings():
        logs.setup_logging()
        assert os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] == "false"
        assert os.environ["MLFLOW_LOGGING_LEVEL"] == "WARNING"
        assert logging.getLogger("mlflow").level == logging.WARNING
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("Add type hints to the `predict` method to enable data validation", UserWarning)
        assert not seen
    for key in logs.QUIET_ENV:
        monkeypatch.delenv(key, raising=False)
    logging.getLogger("mlflow").setLevel(logging.NOTSET)
    logs.setup_logging(verbose=True)
    assert "MLFLOW_LOGGING_LEVEL" not in os.environ
    logs.setup_logging()  # back to the default for the other tests


def test_importing_the_model_class_warns_nothing() -> None:
    """MLflow warns 'Add type hints to the predict method' for every PythonModel subclass unless told not to."""
    res = subprocess.run(
        [sys.executable, "-W", "always", "-c", "import graphrec.candidates.pyfunc"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MLFLOW_LOGGING_LEVEL": "INFO"},
    )
    assert res.returncode == 0, res.stderr
    assert "type hints" not in res.stderr, res.stderr


def test_format_metrics() -> None:
    line = logs.format_metrics({"epoch": 2, "loss": 7.797458791732788, "seconds": 0.0771234, "ok": True})
    assert line == "epoch=2 loss=7.797 seconds=0.07712 ok=True"


def test_resizing_a_batch_draws_no_progress_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """resize_images runs once per training batch: a bar there redrew hundreds of times per run."""
    from graphrec.pinclip.features import resize_images

    bars = []
    monkeypatch.setattr(logs, "progress_enabled", lambda: True)
    monkeypatch.setattr(logs, "tqdm", lambda it, **kw: bars.append(kw) or it)
    images = np.random.default_rng(0).integers(0, 255, size=(6, 16, 16, 3), dtype=np.uint8)
    out = resize_images(images, np.array([0, 3, -1, 5]), 8, chunk=2)
    assert tuple(out.shape) == (4, 3, 8, 8) and int(out[2].sum()) == 0
    assert bars == []
    assert list(logs.progress(range(3), desc="x")) == [0, 1, 2] and len(bars) == 1  # the spy works


def test_warm_cold_plot_draws_the_hatching_its_legend_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    from eval.plots import plot_recall_warm_cold

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    metrics = {
        "dataset": "d",
        "protocol": {"k": [20], "split": "test"},
        "models": {
            "als": {"warm": {"recall@20": 0.3}, "cold": {"recall@20": 0.0}},
            "full": {"warm": {"recall@20": 0.1}, "cold": {"recall@20": 0.05}},
        },
    }
    plot_recall_warm_cold(metrics, ["als"], tmp_path / "p.png")
    ax = figs[0].axes[0]
    hatched = [p for p in ax.patches if p.get_hatch() and p.get_height() > 0]
    assert len(hatched) == 1 and hatched[0].get_height() == pytest.approx(0.3)  # als's visible warm bar
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["warm", "cold", "cannot score cold pins"]
    assert ax.get_legend().legend_handles[2].get_hatch() == "//"
    plt.close("all")


def test_add_pins_takes_run_and_still_accepts_the_deprecated_model(tmp_path: Path) -> None:
    import graphrec.cli.addpins  # noqa: F401  (registers add-pins)

    (tmp_path / "pins.csv").write_text("pin_id,title\nx1,new hat\n")
    for flag, warned in (("--run", False), ("--model", True)):
        res = runner.invoke(app, ["add-pins", flag, str(tmp_path / "not-a-run"), "--pins", str(tmp_path / "pins.csv")])
        assert res.exit_code == 1 and "missing graph/" in res.stderr, res.output
        assert ("--model is deprecated, use --run" in res.stderr) == warned
    res = runner.invoke(app, ["add-pins", "--pins", str(tmp_path / "pins.csv")])
    assert res.exit_code == 1 and "missing option --run" in res.stderr


def test_sweep_names_its_reported_model_with_name_and_keeps_model_as_an_alias(tmp_path: Path) -> None:
    import graphrec.cli.sweep  # noqa: F401  (registers sweep)

    text = runner.invoke(app, ["sweep", "--help"], env={"COLUMNS": "200"}).output
    assert "--name" in text and "--model" not in text  # --model means a model directory elsewhere
    res = runner.invoke(app, ["sweep", "--out", str(tmp_path / "s"), "--name", "full", "--model", "full"])
    assert res.exit_code == 1 and "--model is deprecated, use --name" in res.stderr and "not both" in res.stderr
    assert not (tmp_path / "s").exists()


def test_pretrained_text_model_loads_without_a_progress_bar() -> None:
    """transformers draws a 'Loading weights' bar per model load unless huggingface_hub's switch is set."""
    code = (
        "from graphrec.utils.logs import setup_logging; setup_logging(); import pandas as pd; "
        "from graphrec.features.minilm import pin_text_features; "
        "print(pin_text_features(pd.DataFrame({'title': ['red dress'], 'description': ['']})).shape)"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr
    assert "(1, 384)" in res.stdout and "Loading weights" not in res.stderr, res.stderr
