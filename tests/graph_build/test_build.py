"""The graph directory: contract files, counts that add up, determinism, exports to PyG and DGL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from graph_build.build import build_graph
from graph_build.contract import load_dataset
from graph_build.graph import GraphDirError, load_graph
from graph_build.split import SplitConfig
from graphrec.utils.io import OutputExistsError, read_json, sha256_file

CONTRACT_FILES = {
    "manifest.json",
    "pins.parquet",
    "boards.parquet",
    "saves_train.parquet",
    "saves_val.parquet",
    "saves_test.parquet",
    "train_csr.npz",
}


def test_graph_dir_has_contract_files_and_columns(synth_graph: Path) -> None:
    names = {p.name for p in synth_graph.iterdir()}
    assert CONTRACT_FILES <= names and "images.npy" in names and "truth" in names
    g = load_graph(synth_graph)
    assert list(g.pins.columns[:3]) == ["pin_idx", "pin_id", "is_cold"]
    assert {"title", "description", "image_row", "created_at", "category", "price"} <= set(g.pins.columns)
    assert list(g.boards.columns[:3]) == ["board_idx", "board_id", "title"]
    for split in ("train", "val", "test"):
        assert list(g.saves[split].columns) == ["pin_idx", "board_idx", "saved_at"]
    assert g.pins.pin_idx.tolist() == list(range(g.n_pins))
    assert g.boards.board_idx.tolist() == list(range(g.n_boards))


def test_manifest_counts_match_the_files(synth_graph: Path, synth_dataset: Path) -> None:
    g = load_graph(synth_graph)
    m = g.manifest
    assert m["schema_version"] == 1 and m["seed"] == 3 and m["dataset"]["name"] == "synthetic-fashion"
    c = m["counts"]
    assert c["pins"] == g.n_pins and c["boards"] == g.n_boards
    assert c["cold_pins"] == int(g.is_cold.sum()) and c["warm_pins"] == int((~g.is_cold).sum())
    for split in ("train", "val", "test"):
        assert c["saves"][split] == len(g.saves[split])
    total_in = len(pd.read_parquet(synth_dataset / "saves.parquet"))
    assert c["saves_input"] == total_in
    assert sum(c["saves"].values()) + c["dropped"]["saves"] + c["duplicate_saves_collapsed"] == total_in
    assert m["dataset"]["files_sha256"]["saves.parquet"] == sha256_file(synth_dataset / "saves.parquet")
    for name, digest in m["files_sha256"].items():
        assert sha256_file(synth_graph / name) == digest
    assert {"cold_fraction", "holdout_fraction", "seed", "cold_by_resolved"} <= set(m["split"])
    assert m["stats"]["components"] >= 1 and m["stats"]["pin_degree_warm"]["count"] == c["warm_pins"]


def test_no_leakage_in_the_written_split(synth_graph: Path) -> None:
    g = load_graph(synth_graph)
    train = g.saves["train"]
    assert not g.is_cold[train.pin_idx].any()
    key = {s: set(zip(g.saves[s].pin_idx, g.saves[s].board_idx)) for s in ("train", "val", "test")}
    assert not (key["train"] & key["val"]) and not (key["train"] & key["test"]) and not (key["val"] & key["test"])
    assert (np.bincount(train.board_idx, minlength=g.n_boards) >= 1).all()
    warm_deg = np.bincount(train.pin_idx, minlength=g.n_pins)[~g.is_cold]
    assert (warm_deg >= 1).all()
    csr = g.csr("train")
    assert csr.nnz == len(train)
    assert set(zip(*csr.nonzero())) == key["train"]


def test_cold_pins_are_the_newest(synth_graph: Path) -> None:
    g = load_graph(synth_graph)
    first = pd.concat(g.saves.values()).groupby("pin_idx")["saved_at"].min()
    cold_with_saves = first.index[g.is_cold[first.index]]
    warm = first.index[~g.is_cold[first.index]]
    assert first[cold_with_saves].min() >= first[warm].max()


def test_same_seed_same_bytes(synth_dataset: Path, synth_graph: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    build_graph(synth_dataset, again, SplitConfig(seed=3))
    for p in sorted(synth_graph.rglob("*")):
        if p.is_file():
            assert p.read_bytes() == (again / p.relative_to(synth_graph)).read_bytes(), p.name
    other = tmp_path / "other"
    build_graph(synth_dataset, other, SplitConfig(seed=4))
    assert (other / "saves_test.parquet").read_bytes() != (again / "saves_test.parquet").read_bytes()


def test_truth_is_rekeyed_to_indices(synth_graph: Path) -> None:
    g = load_graph(synth_graph)
    pin_styles = g.truth("pin_styles")
    assert list(pin_styles.columns) == ["pin_idx", "style", "niche", "group_share", "global_share"]
    assert pin_styles.pin_idx.tolist() == list(range(g.n_pins))
    boards = g.truth("board_styles")
    assert boards.board_idx.between(0, g.n_boards - 1).all()
    np.testing.assert_allclose(boards.groupby("board_idx")["weight"].sum(), 1.0, rtol=1e-6)


def test_existing_output_is_refused_unless_forced(synth_dataset: Path, synth_graph: Path) -> None:
    before = sha256_file(synth_graph / "manifest.json")
    with pytest.raises(OutputExistsError, match="--force"):
        build_graph(synth_dataset, synth_graph, SplitConfig(seed=3))
    assert sha256_file(synth_graph / "manifest.json") == before


def test_force_replaces_atomically(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "g"
    build_graph(tiny_dataset, out, SplitConfig(seed=0))
    (out / "stale.txt").write_text("old")
    build_graph(tiny_dataset, out, SplitConfig(seed=1), overwrite=True)
    assert not (out / "stale.txt").exists() and read_json(out / "manifest.json")["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "g"]


def test_image_files_become_an_array_in_the_graph(tmp_path: Path) -> None:
    from PIL import Image

    from tests.conftest import TINY_PINS, write_tiny

    pins = [{**r, "image": f"img/{i}.png"} for i, r in enumerate(TINY_PINS)]
    pins[5]["image"] = None
    root = write_tiny(tmp_path / "d", pins=pins)
    (root / "img").mkdir()
    for i in range(5):
        Image.fromarray(np.full((6, 6, 3), 10 * i, dtype=np.uint8)).save(root / "img" / f"{i}.png")
    build_graph(root, tmp_path / "g", SplitConfig())
    g = load_graph(tmp_path / "g")
    assert g.images().shape == (5, 6, 6, 3)
    assert g.pins.image_row.tolist() == [0, 1, 2, 3, 4, -1]
    assert g.pins.image.tolist()[:2] == ["img/0.png", "img/1.png"]


def test_load_graph_rejects_incomplete_dirs(tmp_path: Path, synth_graph: Path) -> None:
    with pytest.raises(GraphDirError, match="not a graph directory"):
        load_graph(tmp_path)
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(synth_graph, broken)
    (broken / "saves_val.parquet").unlink()
    with pytest.raises(GraphDirError, match="missing saves_val.parquet"):
        load_graph(broken)


def test_exports_to_pyg_and_dgl(synth_graph: Path) -> None:
    from graph_build.export import CONTAINS, SAVED_TO, to_dgl, to_pyg

    g = load_graph(synth_graph)
    data = to_pyg(g, "train", pin_features=np.ones((g.n_pins, 4), np.float32))
    assert data["pin"].num_nodes == g.n_pins and data["board"].num_nodes == g.n_boards
    assert data[SAVED_TO].edge_index.shape == (2, len(g.saves["train"]))
    assert (data[CONTAINS].edge_index.flip(0) == data[SAVED_TO].edge_index).all()
    assert data["pin"].x.shape == (g.n_pins, 4)
    dg = to_dgl(g, "test")
    assert dg.num_nodes("pin") == g.n_pins and dg.num_nodes("board") == g.n_boards
    assert dg.num_edges(SAVED_TO) == len(g.saves["test"]) == dg.num_edges(CONTAINS)
    src, dst = dg.edges(etype=SAVED_TO)
    assert set(zip(src.tolist(), dst.tolist())) == set(zip(g.saves["test"].pin_idx, g.saves["test"].board_idx))


def test_dataset_roundtrip_matches_build(tiny_dataset: Path, tmp_path: Path) -> None:
    ds = load_dataset(tiny_dataset)
    build_graph(tiny_dataset, tmp_path / "g", SplitConfig(min_board_saves=1))
    g = load_graph(tmp_path / "g")
    assert g.n_pins == ds.n_pins
    assert sum(len(s) for s in g.saves.values()) == len(ds.save_pin)
