"""Timestamp columns: ISO-8601 strings or unix seconds -> int64 unix seconds (UTC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graph_build.errors import DatasetError
from graph_build.tables import first_true


def parse_timestamps(values: pd.Series, path: Path, column: str) -> np.ndarray:
    """Parse a column of ISO-8601 strings or unix seconds into int64 unix seconds.

    Naive ISO strings are taken as UTC. A missing or unparseable value raises DatasetError
    naming its row.
    """
    if pd.api.types.is_bool_dtype(values):
        raise DatasetError(path, "expected ISO-8601 text or unix seconds, got booleans", column=column)
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.to_datetime(values, utc=True)
        seconds = _datetime_seconds(ts)
        _check_missing(ts.isna().to_numpy(), values, path, column)
        return seconds
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        _check_missing(~np.isfinite(arr), values, path, column)
        return np.floor(arr).astype(np.int64)
    text = values.astype("object")
    missing = values.isna().to_numpy()
    _check_missing(missing, values, path, column)
    numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.zeros(len(values), dtype=np.int64)
    is_num = np.isfinite(numeric)
    out[is_num] = np.floor(numeric[is_num]).astype(np.int64)
    rest = ~is_num
    if rest.any():
        parsed = pd.to_datetime(pd.Series(text[rest]), format="ISO8601", utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(rest)[first_true(bad)])
            raise DatasetError(path, f"cannot parse timestamp {text.iloc[row]!r}: expected ISO-8601 text or unix seconds",
                               row=row + 1, column=column)
        out[rest] = _datetime_seconds(parsed)
    return out


def _datetime_seconds(ts: pd.Series) -> np.ndarray:
    ns = ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").to_numpy(dtype="datetime64[ns]", na_value=np.datetime64(0, "ns"))
    return ns.astype("datetime64[s]").astype(np.int64)


def _check_missing(missing: np.ndarray, values: pd.Series, path: Path, column: str) -> None:
    row = first_true(missing)
    if row is not None:
        raise DatasetError(path, "missing timestamp: expected ISO-8601 text or unix seconds", row=row + 1, column=column)
