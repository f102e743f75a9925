"""One ConfigError, naming the dotted key, from every config dataclass; YAML errors name the file."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from eval.config import ABConfig, ALSConfig, BlendConfig, EASEConfig, EvalConfig, LightGCNConfig, RP3betaConfig
from experiments.config import RegisterConfig, load_run_config
from graph_build.split import SplitConfig
from graph_build.synthetic.generate import SynthConfig
from graphrec.candidates.config import CandidatesConfig, IndexConfig
from graphrec.cli import app, data  # noqa: F401  (data registers the synth command)
from graphrec.features.raw import RawFeatureConfig
from graphrec.hybrid.config import CalibrationConfig, StudentConfig, TeacherConfig
from graphrec.pinclip.config import FusionConfig, ImageTowerConfig, TextTowerConfig
from graphrec.pinclip.config import TrainConfig as PinClipTrain
from graphrec.sage.config import LossConfig as SageLoss
from graphrec.sage.config import ModelConfig as SageModel
from graphrec.sage.config import SamplerConfig
from graphrec.sage.config import TrainConfig as SageTrain
from graphrec.utils.config import ConfigError, flag_overrides, load_section

CASES = [
    (PinClipTrain, {"checkpoint_every": 0}, "pinclip.train.checkpoint_every: must be >= 1, got 0"),
    (PinClipTrain, {"lr": 0.0}, "pinclip.train.lr: must be > 0"),
    (ImageTowerConfig, {"image_size": 30, "patch_size": 8}, "pinclip.image.image_size: 30 must be a multiple"),
    (TextTowerConfig, {"adapter_dim": -1}, "pinclip.text.adapter_dim: must be >= 0"),
    (FusionConfig, {"dropout": 1.0}, "pinclip.fusion.dropout: must be in [0, 1)"),
    (SamplerConfig, {"restart_prob": 1.5}, "sage.sampler.restart_prob"),
    (SageModel, {"n_layers": 0}, "sage.model.n_layers: must be >= 1"),
    (SageLoss, {"hard_rank_lo": 0.9, "hard_rank_hi": 0.5}, "sage.loss.hard_rank_lo"),
    (SageTrain, {"batch_size": 1}, "sage.train.batch_size: must be >= 2"),
    (TeacherConfig, {"models": ("ease",)}, "full.teacher.models: must include als"),
    (TeacherConfig, {"blend_step": 0.3}, "full.teacher.blend_step"),
    (StudentConfig, {"kind": "gnn"}, "full.student.kind: expected one of"),
    (CalibrationConfig, {"tolerance": 1.0}, "full.calibration.tolerance: must be in [0, 1)"),
    (CalibrationConfig, {"popularity": (-1.0,)}, "full.calibration.popularity"),
    (ALSConfig, {"factors_grid": (0,)}, "eval.als.factors_grid"),
    (LightGCNConfig, {"lr": 0.0}, "eval.lightgcn.lr: must be > 0"),
    (EASEConfig, {"lambdas": (0.0,)}, "eval.ease.lambdas"),
    (RP3betaConfig, {"top_k": -1}, "eval.rp3beta.top_k: must be >= 0"),
    (BlendConfig, {"cf_models": ("svd",)}, "eval.blend.cf_models"),
    (ABConfig, {"click_min": 2.0}, "eval.ab.click_min: must be in [0, 1]"),
    (EvalConfig, {"max_queries": -1}, "eval.max_queries: must be >= 0"),
    (SplitConfig, {"cold_fraction": 1.0}, "split.cold_fraction: must be in [0, 1)"),
    (SynthConfig, {"image_size": 4}, "data.synth.image_size: must be >= 8"),
    (RawFeatureConfig, {"dim": 0}, "raw.dim: must be >= 1"),
    (IndexConfig, {"hnsw_m": 0}, "candidates.index.hnsw_m: must be >= 1"),
    (CandidatesConfig, {"k": 0}, "candidates.k: must be >= 1"),
    (RegisterConfig, {"alias": " "}, "register.alias: must not be empty"),
]


@pytest.mark.parametrize(("cls", "kwargs", "message"), CASES, ids=[f"{c.__module__}.{c.__name__}" for c, _, _ in CASES])
def test_every_config_rejects_a_bad_value_naming_the_dotted_key(cls, kwargs, message) -> None:
    with pytest.raises(ConfigError) as err:
        cls(**kwargs)
    assert str(err.value).startswith(message.split(":")[0]) and message in str(err.value)


def test_a_bad_value_in_a_yaml_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("pinclip:\n  train: {checkpoint_every: 0}\n")
    with pytest.raises(ConfigError, match=rf"config file {path}: .*checkpoint_every: must be >= 1"):
        load_run_config(path)


def test_dotted_sections_and_flag_overrides(tmp_path: Path) -> None:
    run = tmp_path / "run.yaml"
    run.write_text("seed: 3\ndata:\n  source: synthetic\n  synth: {n_pins: 800}\n")
    assert load_section(SynthConfig, run, "data.synth").n_pins == 800
    assert load_section(SynthConfig, run, "data.synth", ["n_pins=900"]).n_pins == 900
    only_data = tmp_path / "data.yaml"
    only_data.write_text("data: {source: synthetic}\n")  # a run config without the section: defaults
    assert load_section(SynthConfig, only_data, "data.synth") == SynthConfig()
    assert flag_overrides(n_pins=5, seed=None, path=Path("a/b"), on=True) == ["n_pins=5", "path=a/b", "on=true"]


def test_synth_takes_config_and_set_and_a_bad_value_is_one_line(tmp_path: Path) -> None:
    cfg = tmp_path / "synth.yaml"
    cfg.write_text("n_pins: 300\nn_styles: 4\nniches_per_style: 2\n")
    out = tmp_path / "d"
    r = CliRunner().invoke(app, ["synth", str(out), "--config", str(cfg), "--set", "n_brands=5", "--pins", "320"])
    assert r.exit_code == 0, r.output
    import pandas as pd

    assert len(pd.read_parquet(out / "pins.parquet")) == 320  # the flag wins over the file
    bad = CliRunner().invoke(app, ["synth", str(tmp_path / "e"), "--set", "image_size=4"])
    assert bad.exit_code != 0 and "data.synth.image_size: must be >= 8" in bad.output
    assert not (tmp_path / "e").exists()


def test_run_config_problems_found_by_the_pipeline_are_config_errors(tmp_path: Path) -> None:
    from experiments.config import load_run_config
    from experiments.pipeline import build_stages, check_ab_arms, run_pipeline

    cfg = load_run_config(None, ["eval.ab.treatment=sage_raw", "ablations.sage_raw=false"])
    with pytest.raises(ConfigError, match=r"^eval.ab.treatment: 'sage_raw' is not built"):
        check_ab_arms(cfg, build_stages(cfg))
    with pytest.raises(ConfigError, match=r"^data.path: "):
        run_pipeline(load_run_config(None, ["data.source=dir"]), tmp_path / "run", track=False)
