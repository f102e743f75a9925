"""``build-graph``: dataset directory -> graph directory (validated, split, written atomically)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

import graphrec
from graph_build.contract import PinBoardDataset, index_of, load_dataset
from graph_build.errors import DatasetError
from graph_build.graph import MANIFEST, SCHEMA_VERSION, to_csr
from graph_build.split import DROPPED, SPLIT_NAMES, TRAIN, SplitConfig, SplitResult, split_saves
from graph_build.stats import train_graph_stats
from graphrec.utils.io import (
    atomic_output_dir,
    check_output_free,
    check_writable_location,
    link_or_copy,
    sha256_file,
    write_json,
    write_parquet,
)

log = logging.getLogger(__name__)


def build_graph(
    data_dir: str | Path,
    out_dir: str | Path,
    split: SplitConfig,
    *,
    overwrite: bool = False,
    check_images: bool = True,
) -> dict[str, Any]:
    """Validate ``data_dir``, split it and write the graph directory ``out_dir``.

    Nothing is written unless validation and the split succeed; the directory appears
    atomically. Returns the manifest.
    """
    check_output_free(out_dir, overwrite=overwrite)
    try:
        check_writable_location(out_dir)
    except OSError as exc:
        raise ValueError(str(exc)) from None
    ds = load_dataset(data_dir, check_images=check_images)
    res = split_saves(ds.n_pins, ds.n_boards, ds.save_pin, ds.save_board, ds.saved_at, ds.created_at, split)
    check_trainable(ds, res, split)
    input_hashes = {p.name: sha256_file(p) for p in sorted(ds.files.values())}
    info_file = ds.root / "dataset.json"
    if info_file.is_file():
        input_hashes[info_file.name] = sha256_file(info_file)
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        manifest = _write(tmp, ds, res, split, input_hashes)
    log.info("wrote graph directory %s", out_dir)
    return manifest


def check_trainable(ds: PinBoardDataset, res: SplitResult, cfg: SplitConfig) -> None:
    """Reject a graph nothing can be trained on, with the reason (not later, inside training)."""
    saves = ds.files["saves"]
    if len(ds.save_pin) == 0:
        raise DatasetError(saves, "no saves: the graph needs saves of pins to boards to train on")
    if np.bincount(ds.save_board, minlength=ds.n_boards).max() < cfg.min_board_saves:
        raise DatasetError(
            saves,
            "every board has fewer than split.min_board_saves="
            f"{cfg.min_board_saves} saves, so all would be dropped: nothing to train "
            "on (lower --min-board-saves or add saves)",
        )
    n_train = int((res.save_split == TRAIN).sum())
    if n_train == 0 or not res.keep_board.any():
        raise DatasetError(
            saves,
            f"no train saves after the split (cold_fraction="
            f"{cfg.cold_fraction}, min_board_saves={cfg.min_board_saves}, "
            f"min_pin_saves={cfg.min_pin_saves}): every save was held out or "
            "dropped; lower cold_fraction or the minimums, or add saves",
        )


def _write(
    tmp: Path, ds: PinBoardDataset, res: SplitResult, cfg: SplitConfig, input_hashes: dict[str, str]
) -> dict[str, Any]:
    pin_map = np.cumsum(res.keep_pin) - 1  # input pin row -> pin_idx
    board_map = np.cumsum(res.keep_board) - 1
    pins = ds.pins[res.keep_pin].reset_index(drop=True)
    pins.insert(0, "pin_idx", np.arange(len(pins), dtype=np.int64))
    pins.insert(2, "is_cold", res.is_cold[res.keep_pin])
    image_shape = None
    if ds.image_row is not None and ds.images is not None:
        n_meta = len(ds.categorical_columns) + len(ds.numeric_columns)
        pins.insert(len(pins.columns) - n_meta, "image_row", ds.image_row[res.keep_pin])
        image_shape = list(ds.images.shape[1:])
        if ds.images_file is not None:
            log.info("images.npy: %s", link_or_copy(ds.images_file, tmp / "images.npy"))
        else:
            np.save(tmp / "images.npy", ds.images)
    boards = ds.boards[res.keep_board].reset_index(drop=True)
    boards.insert(0, "board_idx", np.arange(len(boards), dtype=np.int64))
    write_parquet(tmp / "pins.parquet", pins)
    write_parquet(tmp / "boards.parquet", boards)

    counts_saves = {}
    for code, name in SPLIT_NAMES.items():
        sel = np.flatnonzero(res.save_split == code)
        df = pd.DataFrame({"pin_idx": pin_map[ds.save_pin[sel]], "board_idx": board_map[ds.save_board[sel]]})
        if ds.saved_at is not None:
            df["saved_at"] = ds.saved_at[sel]
        df = df.sort_values(["board_idx", "pin_idx"], kind="stable").reset_index(drop=True)
        write_parquet(tmp / f"saves_{name}.parquet", df)
        counts_saves[name] = len(df)
        if name == "train":
            adj = to_csr(df["pin_idx"].to_numpy(), df["board_idx"].to_numpy(), len(pins), len(boards))
            sp.save_npz(tmp / "train_csr.npz", adj, compressed=False)
    truth_files = _write_truth(tmp, ds, pins, boards)

    is_cold = pins["is_cold"].to_numpy()
    held_pins = np.zeros(len(pins), dtype=bool)
    for name in ("val", "test"):
        held_pins[pd.read_parquet(tmp / f"saves_{name}.parquet", columns=["pin_idx"])["pin_idx"].to_numpy()] = True
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "kind": "graphrec.graph",
        "graphrec_version": graphrec.__version__,
        "dataset": {
            "name": ds.name,
            "path": str(ds.root.resolve()),
            "files_sha256": input_hashes,
            "derived_boards": bool(ds.info.get("derived_boards", False)),
            "info": ds.info,
        },
        "seed": cfg.seed,
        "counts": {
            "pins": len(pins),
            "boards": len(boards),
            "cold_pins": int(is_cold.sum()),
            "warm_pins": int((~is_cold).sum()),
            "cold_pins_with_saves": int((is_cold & held_pins).sum()),
            "saves": counts_saves,
            "saves_input": int(len(ds.save_pin) + ds.duplicate_saves),
            "duplicate_saves_collapsed": ds.duplicate_saves,
            "dropped": {
                "pins": int((~res.keep_pin).sum()),
                "boards": int((~res.keep_board).sum()),
                "saves": int((res.save_split == DROPPED).sum()),
            },
        },
        "split": {**res.info["config"], **{k: v for k, v in res.info.items() if k != "config"}},
        "columns": {
            "categorical": ds.categorical_columns,
            "numeric": ds.numeric_columns,
            "has_images": image_shape is not None,
            "image_shape": image_shape,
            "has_saved_at": ds.saved_at is not None,
            "has_created_at": ds.created_at is not None,
        },
        "truth": truth_files,
        "stats": train_graph_stats(adj, is_cold),
    }
    manifest["files_sha256"] = {
        p.name: (
            input_hashes["images.npy"] if p.name == "images.npy" and "images.npy" in input_hashes else sha256_file(p)
        )
        for p in sorted(tmp.iterdir())
        if p.is_file()
    }
    write_json(tmp / MANIFEST, manifest)
    return manifest


def _write_truth(tmp: Path, ds: PinBoardDataset, pins: pd.DataFrame, boards: pd.DataFrame) -> list[str]:
    """Carry planted truth (synthetic data) over, re-keyed from ids to pin_idx / board_idx."""
    src = ds.root / "truth"
    if not src.is_dir():
        return []
    dst = tmp / "truth"
    dst.mkdir()
    written = []
    for f in sorted(src.iterdir()):
        if f.suffix == ".parquet":
            df = pd.read_parquet(f)
            for id_col, idx_col, table in (("pin_id", "pin_idx", pins), ("board_id", "board_idx", boards)):
                if id_col in df.columns:
                    idx = index_of(df[id_col], table[id_col])
                    df = df[idx >= 0].drop(columns=[id_col])
                    df.insert(0, idx_col, idx[idx >= 0])
            write_parquet(dst / f.name, df.reset_index(drop=True))
        elif f.is_file():
            shutil.copyfile(f, dst / f.name)
        written.append(f.name)
    return written
