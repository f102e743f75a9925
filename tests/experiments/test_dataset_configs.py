"""Dataset configs may change sizes, epochs and which rows run, never the recipe (the RunConfig
defaults are what a new catalogue gets, so what the README reports must come from them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from experiments.config import load_run_config

CONFIGS = Path(__file__).resolve().parents[2] / "experiments" / "configs"
# Leaf keys a dataset config may set: where the data is, how big the synthetic catalogue is,
# training lengths, checkpoints, which ablation rows run.
ALLOWED_PREFIXES = ("name", "seed", "data.", "ablations.")
ALLOWED_LEAVES = {"steps", "warmup_steps", "epochs", "checkpoint_every", "log_every"}


def _leaves(d: dict, prefix: str = "") -> list[str]:
    out = []
    for k, v in d.items():
        out += _leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def recipe_keys(config: dict) -> list[str]:
    """The leaf keys of ``config`` outside what a dataset config may set."""
    return [
        k for k in _leaves(config) if not k.startswith(ALLOWED_PREFIXES) and k.rsplit(".", 1)[-1] not in ALLOWED_LEAVES
    ]


@pytest.mark.parametrize("name", ["default.yaml", "movielens.yaml"])
def test_dataset_config_sets_sizes_and_epochs_only(name: str) -> None:
    path = CONFIGS / name
    recipe = recipe_keys(yaml.safe_load(path.read_text(encoding="utf-8")))
    assert not recipe, f"{name} sets recipe values: {recipe}"
    load_run_config(path, [])  # and it still loads


def test_the_check_catches_a_recipe_value() -> None:
    config = {"seed": 1, "data": {"synth": {"n_pins": 10}}, "sage": {"train": {"epochs": 15, "cold_fraction": 0.1}}}
    assert recipe_keys(config) == ["sage.train.cold_fraction"]
