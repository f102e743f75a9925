"""Read one contract table (CSV or Parquet) into pandas, with exact locations for bad bytes."""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from graph_build.errors import DatasetError

# pandas' default NA spellings; applied to every column except the exact-string ones.
_NA_VALUES = [
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
]
_SURROGATE = re.compile("[\udc80-\udcff]")


def find_table(root: Path, name: str) -> Path:
    """The file holding table ``name`` in dataset dir ``root``: ``name.csv`` or ``name.parquet``."""
    found = [p for p in (root / f"{name}.csv", root / f"{name}.parquet") if p.is_file()]
    if not found:
        raise DatasetError(
            root / f"{name}.csv", f"missing table '{name}': expected {name}.csv or {name}.parquet in {root}"
        )
    if len(found) > 1:
        raise DatasetError(found[0], f"table '{name}' exists as both .csv and .parquet; keep one")
    return found[0]


def read_table(path: Path, string_columns: Sequence[str]) -> pd.DataFrame:
    """Read ``path``; ``string_columns`` (ids, text) are kept verbatim as strings.

    Raises DatasetError for unreadable files, malformed CSV, and text that is not UTF-8 (with the
    row and column of the first bad cell).
    """
    if path.suffix == ".csv":
        return _read_csv(path, string_columns)
    return _read_parquet(path, string_columns)


def _read_csv(path: Path, string_columns: Sequence[str]) -> pd.DataFrame:
    try:
        header = pd.read_csv(path, nrows=0).columns
    except UnicodeDecodeError:
        _raise_bad_utf8_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(path, f"not a readable CSV table: {exc}") from None
    exact = [c for c in header if c in string_columns]
    na_values = {c: _NA_VALUES for c in header if c not in exact}
    try:
        df = pd.read_csv(
            path, dtype={c: str for c in exact}, keep_default_na=False, na_values=na_values, low_memory=False
        )
    except UnicodeDecodeError:
        _raise_bad_utf8_csv(path)
    except pd.errors.ParserError as exc:
        raise DatasetError(path, f"malformed CSV: {exc}") from None
    _check_columns_unique(path, list(df.columns))
    _check_quotes(path)
    return df


def _check_quotes(path: Path, chunk: int = 1 << 20) -> None:
    """Reject a stray or unclosed quote, which pandas silently turns into one long field that
    swallows the following cells and lines. Files without a ``"`` are not re-read."""
    with open(path, "rb") as fh:
        if not any(b'"' in block for block in iter(lambda: fh.read(chunk), b"")):
            return
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, strict=True)
        start = 1
        try:
            for _ in reader:
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DatasetError(
                path,
                "malformed CSV: a quote opened in the record starting at "
                f"line {start} is not closed where a field ends ({exc}); quote "
                'whole fields and double inner quotes ("")',
                line=start,
            ) from None


def _raise_bad_utf8_csv(path: Path) -> None:
    raw = pd.read_csv(
        path, dtype=object, keep_default_na=False, encoding_errors="surrogateescape", header=None, low_memory=False
    )
    for column_pos in range(raw.shape[1]):
        # Error path only: a plain scan, since Arrow-backed strings cannot hold the escapes.
        values = raw.iloc[:, column_pos].to_numpy(dtype=object)
        bad = [i for i, v in enumerate(values) if isinstance(v, str) and _SURROGATE.search(v)]
        if bad:
            first = bad[0]
            name = str(raw.iat[0, column_pos]).encode("utf-8", "surrogateescape").decode("latin-1")
            if first == 0:
                raise DatasetError(path, f"header of column {column_pos + 1} is not valid UTF-8 text")
            raise DatasetError(path, "text is not valid UTF-8 (re-encode the file as UTF-8)", row=first, column=name)
    raise DatasetError(path, "file is not valid UTF-8")


def _read_parquet(path: Path, string_columns: Sequence[str]) -> pd.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(path, f"not a readable Parquet table: {exc}") from None
    _check_columns_unique(path, table.column_names)
    for name, field in zip(table.column_names, table.schema):
        if pa.types.is_dictionary(field.type):  # e.g. dictionary-encoded id columns
            table = table.set_column(table.column_names.index(name), name, table[name].cast(field.type.value_type))
            field = table.schema.field(name)
        if pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type):
            table = table.set_column(table.column_names.index(name), name, _decode_binary(path, name, table[name]))
    df = table.to_pandas()
    for c in string_columns:
        if c in df.columns and not (pd.api.types.is_string_dtype(df[c]) or df[c].dtype == object):
            df[c] = df[c].astype("str").where(df[c].notna(), None)
    return df


def _decode_binary(path: Path, name: str, column: pa.ChunkedArray) -> pa.Array:
    try:
        return column.cast(pa.string())
    except pa.ArrowInvalid:
        for row, value in enumerate(column.to_pylist(), start=1):
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError:
                    raise DatasetError(path, "text is not valid UTF-8", row=row, column=name) from None
        raise


def _check_columns_unique(path: Path, columns: list[str]) -> None:
    seen: set[str] = set()
    for c in columns:
        if c in seen:
            raise DatasetError(path, f"column '{c}' appears twice in the header", column=c)
        seen.add(c)
    # pandas renames duplicate CSV headers to 'x.1'; catch that spelling too.
    for c in columns:
        base, _, suffix = str(c).rpartition(".")
        if suffix.isdigit() and base in seen:
            raise DatasetError(path, f"column '{base}' appears twice in the header", column=base)


def first_true(mask: np.ndarray) -> int | None:
    """Index of the first True in ``mask`` (0-based) or None."""
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None
