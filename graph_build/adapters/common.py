"""Writing a contract dataset directory atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graph_build.errors import DatasetError
from graphrec.utils.io import atomic_output_dir, write_json, write_parquet


def require_files(src: Path, names: tuple[str, ...]) -> None:
    """Fail with a clear message when the source folder lacks an expected file."""
    if not src.is_dir():
        raise DatasetError(src, "source folder does not exist")
    for n in names:
        if not (src / n).exists():
            raise DatasetError(src / n, f"expected file missing from the source folder {src}")


def write_dataset(
    out: str | Path,
    pins: pd.DataFrame,
    boards: pd.DataFrame,
    saves: pd.DataFrame,
    info: dict[str, Any],
    *,
    images: np.ndarray | None = None,
    overwrite: bool = False,
) -> Path:
    """Write pins/boards/saves Parquet tables, optional images.npy and dataset.json."""
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        write_parquet(tmp / "pins.parquet", pins)
        write_parquet(tmp / "boards.parquet", boards)
        write_parquet(tmp / "saves.parquet", saves)
        if images is not None:
            np.save(tmp / "images.npy", images)
        write_json(tmp / "dataset.json", info)
    return Path(out)
