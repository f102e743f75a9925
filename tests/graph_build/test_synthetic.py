"""The synthetic catalogue: deterministic, a valid contract dataset, and its planted structure is real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph_build.contract import load_dataset
from graph_build.synthetic.draw import silhouette
from graph_build.synthetic.generate import SynthConfig, write_synthetic
from graph_build.synthetic.vocab import CATEGORIES
from graphrec.utils.config import ConfigError


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    cfg = SynthConfig(n_pins=300, n_styles=5, seed=11)
    write_synthetic(cfg, tmp_path / "a")
    write_synthetic(cfg, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert {str(f) for f in files} >= {
        "pins.parquet",
        "boards.parquet",
        "saves.parquet",
        "images.npy",
        "dataset.json",
        "truth/pin_styles.parquet",
        "truth/board_styles.parquet",
        "truth/styles.json",
    }
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    write_synthetic(SynthConfig(n_pins=300, n_styles=5, seed=12), tmp_path / "c")
    assert (tmp_path / "a" / "saves.parquet").read_bytes() != (tmp_path / "c" / "saves.parquet").read_bytes()


def test_is_a_valid_contract_dataset(synth_dataset: Path) -> None:
    ds = load_dataset(synth_dataset)
    assert ds.n_pins == 600 and ds.duplicate_saves == 0
    assert ds.images.shape == (600, 32, 32, 3) and ds.images.dtype == np.uint8
    assert ds.categorical_columns == ["category", "colour", "brand", "price_band"] and ds.numeric_columns == ["price"]
    assert (ds.saved_at >= ds.created_at[ds.save_pin]).all()
    assert json.loads((synth_dataset / "dataset.json").read_text())["name"] == "synthetic-fashion"


def test_co_saved_pins_share_planted_styles(synth_dataset: Path) -> None:
    saves = pd.read_parquet(synth_dataset / "saves.parquet")
    styles = pd.read_parquet(synth_dataset / "truth/pin_styles.parquet").set_index("pin_id")["style"]
    saves["style"] = styles.loc[saves.pin_id].to_numpy()
    # Boards mix 1-3 styles (plus a little noise): the top-3 styles hold nearly all saves.
    top3 = saves.groupby("board_id")["style"].agg(lambda s: s.value_counts().iloc[:3].sum() / len(s))
    assert top3.mean() > 0.9
    # Two random saves of one board share a style far more often than two random pins (1/6 here).
    same = saves.groupby("board_id")["style"].agg(lambda s: (s.value_counts() ** 2).sum() / len(s) ** 2)
    assert same.mean() > 0.45
    board_styles = pd.read_parquet(synth_dataset / "truth/board_styles.parquet")
    assert board_styles.groupby("board_id").size().between(1, 3).all()


def test_text_and_images_carry_the_style(synth_dataset: Path) -> None:
    pins = pd.read_parquet(synth_dataset / "pins.parquet")
    styles = pd.read_parquet(synth_dataset / "truth/pin_styles.parquet")["style"].to_numpy()
    vocab = json.loads((synth_dataset / "truth/styles.json").read_text())["styles"]
    own = np.array([any(w in t.split() for w in vocab[s]["words"]) for t, s in zip(pins.title, styles)])
    assert own.mean() > 0.7  # text_noise = 0.2
    # A nearest-centroid classifier on raw pixels recovers styles well above chance (1/6).
    images = np.load(synth_dataset / "images.npy").reshape(len(pins), -1).astype(np.float32)
    train, test = np.arange(0, 400), np.arange(400, 600)
    cent = np.stack([images[train][styles[train] == s].mean(0) for s in range(6)])
    pred = np.argmin(((images[test, None, :] - cent[None]) ** 2).sum(-1), axis=1)
    assert (pred == styles[test]).mean() > 0.35


def test_newer_pins_have_fewer_saves(synth_dataset: Path) -> None:
    pins = pd.read_parquet(synth_dataset / "pins.parquet")
    deg = pd.read_parquet(synth_dataset / "saves.parquet").pin_id.value_counts().reindex(pins.pin_id, fill_value=0)
    newest = pins.created_at >= pins.created_at.quantile(0.8)
    assert deg[newest.to_numpy()].mean() < deg[(~newest).to_numpy()].mean()


@pytest.mark.parametrize("category", list(CATEGORIES))
def test_silhouettes_are_distinct_and_nonempty(category: str) -> None:
    m = silhouette(category, 32)
    assert 0.05 < m.mean() < 0.7
    for other in CATEGORIES:
        if other != category:
            assert (m != silhouette(other, 32)).mean() > 0.02


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="data.synth.n_pins: must be >="):
        SynthConfig(n_pins=10, n_styles=12)
