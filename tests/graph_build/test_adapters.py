"""Adapters on the real data in ../shared/data: counts match the source, the contract holds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from graph_build.adapters.fashion_products import FashionOptions, convert_fashion_products
from graph_build.adapters.movielens import MovieLensOptions, convert_movielens
from graph_build.build import build_graph
from graph_build.contract import load_dataset
from graph_build.graph import load_graph
from graph_build.split import SplitConfig
from tests.conftest import shared_dataset


def test_movielens_liked_boards(tmp_path: Path) -> None:
    src = shared_dataset("movielens-small")
    convert_movielens(src, tmp_path / "ml", MovieLensOptions())
    ds = load_dataset(tmp_path / "ml")
    ratings = pd.read_csv(src / "ratings.csv")
    movies = pd.read_csv(src / "movies.csv")
    assert ds.n_pins == len(movies)
    assert ds.n_boards == ratings.userId.nunique()
    assert len(ds.save_pin) == int((ratings.rating >= 4).sum())
    assert ds.name == "movielens-small" and ds.saved_at is not None and ds.images is None
    toy = ds.pins.set_index("pin_id").loc["1"]
    assert toy.title == "Toy Story (1995)" and "Animation" in toy.description and "pixar" in toy.description.lower()
    assert toy.genre_animation == 1.0 and toy.decade == "1990s"
    assert "primary_genre" in ds.categorical_columns and "genre_comedy" in ds.numeric_columns


def test_movielens_tag_boards_and_strict_text(tmp_path: Path) -> None:
    src = shared_dataset("movielens-small")
    convert_movielens(src, tmp_path / "ml", MovieLensOptions(tag_boards=True, tag_text=False))
    ds = load_dataset(tmp_path / "ml")
    tag_boards = ds.boards[ds.boards.kind == "tag"]
    assert len(tag_boards) > 100 and (tag_boards.title.str.len() > 0).all()
    assert not ds.pins.description.str.contains("Tags:").any()


def test_movielens_graph_builds_with_time_split(tmp_path: Path) -> None:
    src = shared_dataset("movielens-small")
    convert_movielens(src, tmp_path / "ml", MovieLensOptions())
    build_graph(tmp_path / "ml", tmp_path / "g", SplitConfig())
    g = load_graph(tmp_path / "g")
    assert g.manifest["split"]["cold_by_resolved"] == "time"
    assert g.manifest["counts"]["cold_pins_with_saves"] > 500
    assert len(g.saves["test"]) > 2000


def test_fashion_products_with_derived_boards(tmp_path: Path) -> None:
    src = shared_dataset("fashion-products-1k")
    convert_fashion_products(src, tmp_path / "fp", FashionOptions())
    info = json.loads((tmp_path / "fp" / "dataset.json").read_text())
    assert info["derived_boards"] is True and "DERIVED" in info["notes"]
    ds = load_dataset(tmp_path / "fp")
    assert ds.n_pins == 1000 and ds.images.shape == (1000, 80, 60, 3)
    assert ds.boards.derived.all() and ds.boards.title.str.startswith("derived: ").all()
    assert ds.boards.board_id.str.startswith("derived-").all()
    assert ds.numeric_columns == ["year"] and "articleType" in ds.categorical_columns
    row = ds.pins.set_index("pin_id").loc["27152"]
    assert row.title == "Mark Taylor Men Striped Blue Shirt"
    # Images are the real photos: not constant, and the row order follows styles.csv.
    assert ds.images[ds.image_row[0]].std() > 10
    build_graph(tmp_path / "fp", tmp_path / "g", SplitConfig())
    g = load_graph(tmp_path / "g")
    assert g.manifest["dataset"]["derived_boards"] is True
    assert g.manifest["split"]["cold_by_resolved"] == "random"
    assert np.asarray(g.images()).shape == (1000, 80, 60, 3)
