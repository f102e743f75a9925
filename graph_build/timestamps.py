"""Timestamp columns: ISO-8601 strings or unix seconds -> int64 unix seconds (UTC)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graph_build.errors import DatasetError
from graph_build.tables import first_true

# Accepted timestamps: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z, as unix seconds.
MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799
RANGE_TEXT = f"0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z (unix seconds {MIN_SECONDS} .. {MAX_SECONDS})"


def parse_timestamps(values: pd.Series, path: Path, column: str) -> np.ndarray:
    """Parse a column of ISO-8601 strings or unix seconds into int64 unix seconds.

    Naive ISO strings are taken as UTC. A missing, unparseable or out-of-range value (outside
    ``RANGE_TEXT``) raises DatasetError naming its row.
    """
    if pd.api.types.is_bool_dtype(values):
        raise DatasetError(path, "expected ISO-8601 text or unix seconds, got booleans", column=column)
    if pd.api.types.is_datetime64_any_dtype(values):
        ts = pd.to_datetime(values, utc=True)
        seconds = _datetime_seconds(ts)
        _check_missing(ts.isna().to_numpy(), values, path, column)
        _check_range(seconds, values, np.arange(len(seconds)), path, column)
        return seconds
    if pd.api.types.is_numeric_dtype(values):
        arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        _check_missing(~np.isfinite(arr), values, path, column)
        _check_range(arr, values, np.arange(len(arr)), path, column)
        return np.floor(arr).astype(np.int64)
    text = values.astype("object")
    missing = values.isna().to_numpy()
    _check_missing(missing, values, path, column)
    numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    out = np.zeros(len(values), dtype=np.int64)
    is_num = np.isfinite(numeric)
    _check_range(numeric[is_num], text, np.flatnonzero(is_num), path, column)
    out[is_num] = np.floor(numeric[is_num]).astype(np.int64)
    rest = ~is_num
    if rest.any():
        parsed = pd.to_datetime(pd.Series(text[rest]), format="ISO8601", utc=True, errors="coerce")
        bad = parsed.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(rest)[first_true(bad)])
            raise DatasetError(
                path,
                f"cannot parse timestamp {text.iloc[row]!r}: expected ISO-8601 text or unix seconds",
                row=row + 1,
                column=column,
            )
        out[rest] = _datetime_seconds(parsed)
        _check_range(out[rest], text, np.flatnonzero(rest), path, column)
    return out


def _datetime_seconds(ts: pd.Series) -> np.ndarray:
    """Unix seconds of a tz-aware series at any resolution (no detour through nanoseconds, which
    overflows outside 1677..2262); NaT becomes 0 (missing values are reported separately)."""
    naive = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    secs = naive.to_numpy().astype("datetime64[s]").astype(np.int64)
    return np.where(naive.isna().to_numpy(), 0, secs)


def _check_range(seconds: np.ndarray, values: pd.Series, rows: np.ndarray, path: Path, column: str) -> None:
    """Raise for the first value outside the accepted range (``rows`` maps ``seconds`` to rows)."""
    bad = (seconds < MIN_SECONDS) | (seconds > MAX_SECONDS)
    r = first_true(bad)
    if r is not None:
        row = int(rows[r])
        v = values.iloc[row]
        number = isinstance(v, (float, np.floating, int, np.integer))
        shown = f"{float(v):g}" if number else repr(str(v))
        raise DatasetError(
            path, f"timestamp {shown} is out of range: expected {RANGE_TEXT}", row=row + 1, column=column
        )


def _check_missing(missing: np.ndarray, values: pd.Series, path: Path, column: str) -> None:
    row = first_true(missing)
    if row is not None:
        raise DatasetError(
            path, "missing timestamp: expected ISO-8601 text or unix seconds", row=row + 1, column=column
        )
