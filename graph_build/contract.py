"""The Pin-Board dataset contract: load a dataset directory and validate every rule.

A dataset directory holds three tables, each ``.csv`` or ``.parquet``:

* ``pins``: ``pin_id`` (unique string), ``title``, optional ``description``, optional ``image``
  (path relative to the directory) or ``image_row`` (row of ``images.npy``, uint8 N x H x W x 3),
  optional ``created_at`` (ISO-8601 or unix seconds); every other column is metadata
  (string = categorical, number = numeric).
* ``boards``: ``board_id`` (unique string), optional ``title``, optional ``owner_id``.
* ``saves``: ``board_id``, ``pin_id``, optional ``saved_at``.

An optional ``dataset.json`` gives the dataset ``name`` and notes (e.g. ``derived_boards``).
The full text with an example is docs/dataset_contract.md.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from graph_build.errors import DatasetError
from graph_build.images import (
    IMAGES_FILE,
    check_image_rows,
    confined_image_path,
    decode_image_files,
    image_roots,
    open_image_array,
)
from graph_build.tables import find_table, first_true, read_table
from graph_build.timestamps import parse_timestamps

log = logging.getLogger(__name__)

PIN_COLUMNS = ("pin_id", "title", "description", "image", "image_row", "created_at")
BOARD_COLUMNS = ("board_id", "title", "owner_id")
RESERVED_OUTPUT_COLUMNS = ("pin_idx", "board_idx", "is_cold")
DATASET_INFO_FILE = "dataset.json"


@dataclass
class PinBoardDataset:
    """A validated dataset. Save arrays index rows of ``pins`` and ``boards``."""

    root: Path
    name: str
    info: dict[str, Any]
    files: dict[str, Path]
    pins: pd.DataFrame
    boards: pd.DataFrame
    save_pin: np.ndarray
    save_board: np.ndarray
    saved_at: np.ndarray | None
    categorical_columns: list[str]
    numeric_columns: list[str]
    duplicate_saves: int
    image_row: np.ndarray | None = None
    images: np.ndarray | None = None
    images_file: Path | None = field(default=None)

    @property
    def n_pins(self) -> int:
        return len(self.pins)

    @property
    def n_boards(self) -> int:
        return len(self.boards)

    @property
    def created_at(self) -> np.ndarray | None:
        return self.pins["created_at"].to_numpy() if "created_at" in self.pins else None


def load_dataset(root: str | Path, *, check_images: bool = True) -> PinBoardDataset:
    """Read and validate the dataset in ``root``; raise DatasetError on the first broken rule.

    Args:
        root: the dataset directory.
        check_images: decode every ``image`` file (set False to skip decoding; paths are still
            checked for existence).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "dataset directory does not exist")
    info = _read_info(root)
    files = {name: find_table(root, name) for name in ("pins", "boards", "saves")}
    pins, cats, nums, image_row, images, images_file = _load_pins(root, files["pins"], check_images)
    if images_file is not None:
        files["images"] = images_file
    boards = _load_boards(files["boards"])
    save_pin, save_board, saved_at, dups = _load_saves(files["saves"], files["pins"], files["boards"], pins, boards)
    log.info(
        "dataset %s: %d pins, %d boards, %d saves (%d duplicates collapsed)",
        root,
        len(pins),
        len(boards),
        len(save_pin),
        dups,
    )
    return PinBoardDataset(
        root=root,
        name=str(info.get("name", root.resolve().name)),
        info=info,
        files=files,
        pins=pins,
        boards=boards,
        save_pin=save_pin,
        save_board=save_board,
        saved_at=saved_at,
        categorical_columns=cats,
        numeric_columns=nums,
        duplicate_saves=dups,
        image_row=image_row,
        images=images,
        images_file=images_file,
    )


def load_pins_table(path: str | Path, *, check_images: bool = True) -> tuple[pd.DataFrame, np.ndarray | None]:
    """Validate a single pins table (same rules as in a dataset) for pins that arrive later.

    Image paths and ``images.npy`` are resolved relative to the table's folder. Returns the
    pins frame (with ``image_row`` when there are images) and the image array (or None).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, "pins table does not exist")
    if path.suffix not in (".csv", ".parquet"):
        raise DatasetError(path, "expected a .csv or .parquet pins table")
    pins, _, _, image_row, images, _ = _load_pins(path.parent, path, check_images)
    if image_row is not None:
        pins["image_row"] = image_row
    return pins, images


def _read_info(root: Path) -> dict[str, Any]:
    p = root / DATASET_INFO_FILE
    if not p.is_file():
        return {}
    try:
        info = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(p, f"not valid JSON: {exc}") from None
    if not isinstance(info, dict):
        raise DatasetError(p, "expected a JSON object")
    return info


def require_columns(df: pd.DataFrame, path: Path, required: tuple[str, ...]) -> None:
    for c in required:
        if c not in df.columns:
            raise DatasetError(
                path, f"missing required column '{c}' (found: {', '.join(map(str, df.columns))})", column=c
            )


def check_ids(values: pd.Series, path: Path, column: str) -> pd.Series:
    """Ids must be present, non-empty and unique. Returns them as strings."""
    values = values.astype("str").where(values.notna(), None) if not pd.api.types.is_string_dtype(values) else values
    empty = values.isna().to_numpy() | (values.fillna("").str.strip().str.len() == 0).to_numpy()
    r = first_true(empty)
    if r is not None:
        raise DatasetError(path, "missing id: expected a non-empty string", row=r + 1, column=column)
    dup = values.duplicated(keep="first").to_numpy()
    r = first_true(dup)
    if r is not None:
        first = first_true((values == values.iloc[r]).to_numpy())
        raise DatasetError(
            path,
            f"duplicate id {values.iloc[r]!r} (first seen at row {first + 1}); ids must be unique",
            row=r + 1,
            column=column,
        )
    return values.astype("str")


def text_column(df: pd.DataFrame, name: str, path: Path, *, required: bool) -> pd.Series:
    """A text column as strings; missing cells are an error when ``required`` else ``""``."""
    if name not in df.columns:
        return pd.Series([""] * len(df), dtype="str")
    col = df[name]
    if pd.api.types.is_numeric_dtype(col) and not col.isna().all():
        col = col.astype("str").where(col.notna(), None)
    if required:
        missing = col.isna().to_numpy() | (col.fillna("").astype("str").str.strip().str.len() == 0).to_numpy()
        r = first_true(missing)
        if r is not None:
            raise DatasetError(path, "missing text: expected a non-empty string", row=r + 1, column=name)
    return col.fillna("").astype("str")


def _load_pins(root: Path, path: Path, check_images: bool):
    df = read_table(path, string_columns=("pin_id", "title", "description", "image"))
    require_columns(df, path, ("pin_id", "title"))
    for c in RESERVED_OUTPUT_COLUMNS:
        if c in df.columns:
            raise DatasetError(path, f"column name '{c}' is reserved for the graph output; rename it", column=c)
    if "image" in df.columns and "image_row" in df.columns:
        raise DatasetError(
            path, "use either 'image' (file paths) or 'image_row' (rows of images.npy), not both", column="image_row"
        )
    out = pd.DataFrame(
        {
            "pin_id": check_ids(df["pin_id"], path, "pin_id"),
            "title": text_column(df, "title", path, required=True),
            "description": text_column(df, "description", path, required=False),
        }
    )
    if "created_at" in df.columns:
        out["created_at"] = parse_timestamps(df["created_at"], path, "created_at")
    image_row = images = images_file = None
    if "image_row" in df.columns:
        images_file = root / IMAGES_FILE
        images = open_image_array(images_file)
        image_row = check_image_rows(df["image_row"], images.shape[0], path)
    elif "image" in df.columns:
        out["image"] = df["image"].astype("object").where(df["image"].notna(), None)
        if check_images:
            images, image_row = decode_image_files(root, df["image"], path)
        else:
            _check_image_paths_exist(root, df["image"], path)
    cats, nums = [], []
    for c in df.columns:
        if c in PIN_COLUMNS:
            continue
        values, kind = _metadata_column(df[c], path, str(c))
        out[str(c)] = values
        (nums if kind == "numeric" else cats).append(str(c))
    return out, cats, nums, image_row, images, images_file


def _check_image_paths_exist(root: Path, images: pd.Series, path: Path) -> None:
    roots = image_roots(root)
    for r, rel in enumerate(images.tolist()):
        if isinstance(rel, str) and rel:
            confined_image_path(root, rel, path, r + 1, roots)


def _metadata_column(col: pd.Series, path: Path, name: str) -> tuple[pd.Series, str]:
    """Numbers are numeric metadata (must be finite); anything else is categorical text. A column
    blank on every row is categorical with every value missing (it carries no number)."""
    if col.isna().all():
        return pd.Series([None] * len(col), dtype="object").astype("str"), "categorical"
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        values = col.to_numpy(dtype=np.float64, na_value=np.nan)
        r = first_true(~np.isfinite(values))
        if r is not None:
            raise DatasetError(
                path,
                f"numeric metadata is {values[r]}: expected a finite number (NaN/inf/empty not allowed)",
                row=r + 1,
                column=name,
            )
        return pd.Series(values, dtype=np.float64), "numeric"
    if pd.api.types.is_string_dtype(col) and not isinstance(col.dtype, pd.CategoricalDtype):
        return col.astype("str"), "categorical"
    return col.astype("str").where(col.notna(), None).astype("str"), "categorical"


def _load_boards(path: Path) -> pd.DataFrame:
    df = read_table(path, string_columns=BOARD_COLUMNS)
    require_columns(df, path, ("board_id",))
    if "board_idx" in df.columns:
        raise DatasetError(
            path, "column name 'board_idx' is reserved for the graph output; rename it", column="board_idx"
        )
    out = pd.DataFrame(
        {
            "board_id": check_ids(df["board_id"], path, "board_id"),
            "title": text_column(df, "title", path, required=False),
        }
    )
    if "owner_id" in df.columns:
        out["owner_id"] = text_column(df, "owner_id", path, required=False)
    for c in df.columns:
        if c not in BOARD_COLUMNS:
            out[str(c)] = df[c].to_numpy()
    return out


def index_of(keys: pd.Series, ids: pd.Series) -> np.ndarray:
    """Row of each key in ``ids`` (-1 when absent), via Arrow's hash lookup."""
    found = pc.index_in(pa.array(keys.astype("str")), value_set=pa.array(ids.astype("str")))
    return found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def _load_saves(path: Path, pins_path: Path, boards_path: Path, pins: pd.DataFrame, boards: pd.DataFrame):
    df = read_table(path, string_columns=("board_id", "pin_id"))
    require_columns(df, path, ("board_id", "pin_id"))
    idx = {}
    for col, table, table_path in (("board_id", boards, boards_path), ("pin_id", pins, pins_path)):
        values = df[col]
        r = first_true(values.isna().to_numpy())
        if r is not None:
            raise DatasetError(path, f"missing {col}", row=r + 1, column=col)
        idx[col] = index_of(values, table[col])
        r = first_true(idx[col] < 0)
        if r is not None:
            raise DatasetError(
                path, f"unknown {col} {values.iloc[r]!r}: not in {table_path.name}", row=r + 1, column=col
            )
    saved_at = parse_timestamps(df["saved_at"], path, "saved_at") if "saved_at" in df.columns else None
    pin, board, saved_at, dups = collapse_duplicate_saves(idx["pin_id"], idx["board_id"], saved_at, len(pins))
    if dups:
        log.info("%s: collapsed %d duplicate saves (kept the earliest)", path.name, dups)
    return pin, board, saved_at, dups


def collapse_duplicate_saves(pin: np.ndarray, board: np.ndarray, saved_at: np.ndarray | None, n_pins: int):
    """Keep one save per (board, pin), the earliest when timestamps exist; sort by (board, pin)."""
    key = board.astype(np.int64) * np.int64(max(n_pins, 1)) + pin.astype(np.int64)
    order = np.lexsort((saved_at, key)) if saved_at is not None else np.argsort(key, kind="stable")
    key_sorted = key[order]
    first = np.ones(len(key_sorted), dtype=bool)
    first[1:] = key_sorted[1:] != key_sorted[:-1]
    keep = order[first]
    dups = int(len(key) - len(keep))
    return pin[keep], board[keep], (saved_at[keep] if saved_at is not None else None), dups
