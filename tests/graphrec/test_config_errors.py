"""One ConfigError: every config dataclass rejects a bad value naming the dotted key (and the file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.config import ABConfig, ALSConfig, BPRConfig, EvalConfig, LightGCNConfig
from experiments.config import RegisterConfig, load_run_config
from graph_build.split import SplitConfig
from graph_build.synthetic.generate import SynthConfig
from graphrec.candidates.config import CandidatesConfig, IndexConfig
from graphrec.features.raw import RawFeatureConfig
from graphrec.hybrid.config import CalibrationConfig, StudentConfig, TeacherConfig
from graphrec.pinclip.config import TrainConfig as PinClipTrain
from graphrec.sage.config import SamplerConfig
from graphrec.sage.config import TrainConfig as SageTrain
from graphrec.utils.config import ConfigError, load_config

CASES = [
    (lambda: PinClipTrain(checkpoint_every=0), "pinclip.train.checkpoint_every: must be >= 1, got 0"),
    (lambda: SageTrain(keep_checkpoints=0), "sage.train.keep_checkpoints: must be >= 1"),
    (lambda: SamplerConfig(restart_prob=1.0), "sage.sampler.restart_prob: must be in [0, 1)"),
    (lambda: TeacherConfig(rank=0), "full.teacher.rank: must be >= 1"),
    (lambda: StudentConfig(kind="cnn"), "full.student.kind: expected one of"),
    (lambda: CalibrationConfig(tolerance=1.0), "full.calibration.tolerance: must be in [0, 1)"),
    (lambda: EvalConfig(ks=(20, 10)), "eval.ks: increasing positive cut-offs"),
    (lambda: ALSConfig(alpha=0.0), "eval.als.alpha: must be > 0"),
    (lambda: BPRConfig(iterations=0), "eval.bpr.iterations: must be >= 1"),
    (lambda: LightGCNConfig(lr=0.0), "eval.lightgcn.lr: must be > 0"),
    (lambda: ABConfig(feed_size=0), "eval.ab.feed_size: must be >= 1"),
    (lambda: SplitConfig(val_share=1.5), "split.val_share: must be in [0, 1]"),
    (lambda: SynthConfig(image_size=4), "data.synth.image_size: must be >= 8"),
    (lambda: RawFeatureConfig(dim=0), "raw.dim: must be >= 1"),
    (lambda: CandidatesConfig(k=0), "candidates.k: must be >= 1"),
    (lambda: IndexConfig(hnsw_m=0), "candidates.index.hnsw_m: must be >= 1"),
    (lambda: CandidatesConfig(exclude_saved_splits=("dev",)), "candidates.exclude_saved_splits: expected values"),
    (lambda: RegisterConfig(alias=" "), "register.alias: must not be empty"),
]


@pytest.mark.parametrize("make, message", CASES, ids=[m.split(":")[0] for _, m in CASES])
def test_every_config_rejects_a_bad_value_naming_the_dotted_key(make, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()
    assert str(info.value).startswith(message), str(info.value)
    assert isinstance(info.value, ValueError)  # existing `except ValueError` still catches it


def test_a_yaml_with_a_bad_value_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 0\npinclip:\n  train:\n    checkpoint_every: 0\n")
    with pytest.raises(ConfigError, match=rf"config file {bad}: pinclip.train.checkpoint_every: must be >= 1"):
        load_run_config(bad)
    stage = tmp_path / "cand.yaml"
    stage.write_text("k: 0\n")
    with pytest.raises(ConfigError, match=rf"config file {stage}: candidates.k"):
        load_config(CandidatesConfig, stage)


def test_cli_synth_takes_config_and_set_and_shows_a_config_error_in_one_line(tmp_path: Path) -> None:
    from graphrec.cli import app
    from graphrec.cli import data as _data  # noqa: F401  (registers the commands)

    runner = CliRunner()
    cfg = tmp_path / "run.yaml"
    cfg.write_text("seed: 3\ndata:\n  synth:\n    n_pins: 300\n    n_styles: 4\n")
    out = tmp_path / "ds"
    res = runner.invoke(app, ["synth", str(out), "--config", str(cfg), "--set", "n_pins=200", "--set", "image_size=8"])
    assert res.exit_code == 0, res.output
    conf = json.loads((out / "dataset.json").read_text())["config"]
    assert (conf["n_pins"], conf["seed"], conf["image_size"], conf["n_styles"]) == (200, 3, 8, 4)
    bad = runner.invoke(app, ["synth", str(tmp_path / "x"), "--set", "image_size=2"])
    assert bad.exit_code == 2 and not (tmp_path / "x").exists()
    assert bad.output.strip().splitlines() == ["error: data.synth.image_size: must be >= 8, got 2"]
