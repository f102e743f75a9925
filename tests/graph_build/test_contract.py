"""Every contract rule: valid data loads; each malformed case fails with file, row and column."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from graph_build.contract import load_dataset
from graph_build.errors import DatasetError
from graphrec.cli import app
from graphrec.cli import data as _register  # noqa: F401
from tests.conftest import TINY_BOARDS, TINY_PINS, TINY_SAVES, write_tiny


def test_valid_tiny_dataset_loads(tiny_dataset: Path) -> None:
    ds = load_dataset(tiny_dataset)
    assert ds.n_pins == 6 and ds.n_boards == 3
    assert len(ds.save_pin) == 9 and ds.duplicate_saves == 1
    assert ds.categorical_columns == ["colour"] and ds.numeric_columns == ["price"]
    # ISO-8601 with zone, unix seconds as text, and a bare date all parse to UTC seconds.
    assert ds.created_at.tolist()[:3] == [1704067200, 1704153600, 1704240000]
    # The duplicate (b3, p3) keeps the earliest saved_at.
    b3 = ds.boards.index[ds.boards.board_id == "b3"][0]
    p3 = ds.pins.index[ds.pins.pin_id == "p3"][0]
    sel = (ds.save_board == b3) & (ds.save_pin == p3)
    assert ds.saved_at[sel].tolist() == [int(pd.Timestamp("2024-02-07", tz="UTC").timestamp())]


def test_parquet_and_csv_load_identically(tmp_path: Path) -> None:
    a = load_dataset(write_tiny(tmp_path / "csv", "csv"))
    b = load_dataset(write_tiny(tmp_path / "pq", "parquet"))
    np.testing.assert_array_equal(a.save_pin, b.save_pin)
    np.testing.assert_array_equal(a.saved_at, b.saved_at)
    pd.testing.assert_frame_equal(a.pins, b.pins, check_dtype=False)


def _pins(changes: dict[tuple[int, str], object]) -> list[dict]:
    """TINY_PINS with ``{(row_index, column): value}`` changes."""
    rows = copy.deepcopy(TINY_PINS)
    for (i, col), v in changes.items():
        rows[i][col] = v
    return rows


def _rewrite(name: str, rows: list[dict]) -> Callable[[Path], None]:
    def fn(root: Path) -> None:
        pd.DataFrame(rows).to_csv(root / f"{name}.csv", index=False)

    return fn


def _drop_column(name: str, rows: list[dict], col: str) -> Callable[[Path], None]:
    return _rewrite(name, [{k: v for k, v in r.items() if k != col} for r in rows])


def _bad_utf8_title(root: Path) -> None:
    text = (root / "pins.csv").read_bytes().replace(b"green hat", b"gr\xe9en hat")
    (root / "pins.csv").write_bytes(text)


def _with_images(kind: str) -> Callable[[Path], None]:
    def fn(root: Path) -> None:
        from PIL import Image

        rows = copy.deepcopy(TINY_PINS)
        for i, r in enumerate(rows):
            r["image"] = f"img/{i}.png"
        (root / "img").mkdir()
        for i in range(len(rows)):
            Image.fromarray(np.full((8, 8, 3), i * 20, dtype=np.uint8)).save(root / "img" / f"{i}.png")
        if kind == "missing":
            (root / "img" / "3.png").unlink()
        if kind == "garbage":
            (root / "img" / "4.png").write_bytes(b"this is not a png")
        pd.DataFrame(rows).to_csv(root / "pins.csv", index=False)

    return fn


def _image_rows(rows_value: int, with_file: bool = True) -> Callable[[Path], None]:
    def fn(root: Path) -> None:
        rows = copy.deepcopy(TINY_PINS)
        for i, r in enumerate(rows):
            r["image_row"] = i
        rows[2]["image_row"] = rows_value
        pd.DataFrame(rows).to_csv(root / "pins.csv", index=False)
        if with_file:
            np.save(root / "images.npy", np.zeros((6, 4, 4, 3), dtype=np.uint8))

    return fn


def _both_formats(root: Path) -> None:
    pd.DataFrame(TINY_BOARDS).to_parquet(root / "boards.parquet")


def _parquet_binary_title(root: Path) -> None:
    (root / "pins.csv").unlink()
    titles = [r["title"].encode() for r in TINY_PINS]
    titles[4] = b"blue \xff shoes"
    table = pa.table({"pin_id": [r["pin_id"] for r in TINY_PINS], "title": pa.array(titles, pa.binary())})
    pq.write_table(table, root / "pins.parquet")


def _malformed_csv(root: Path) -> None:
    with open(root / "saves.csv", "a") as fh:
        fh.write("b1,p2,2024-01-01,extra,fields\n")


# (id, mutation, file, row, column, message fragment)
CASES = [
    ("missing-table", lambda r: (r / "saves.csv").unlink(), "saves.csv", None, None, "missing table 'saves'"),
    (
        "missing-column",
        _drop_column("pins", TINY_PINS, "title"),
        "pins.csv",
        None,
        "title",
        "missing required column 'title'",
    ),
    (
        "missing-board-column",
        _drop_column("saves", TINY_SAVES, "board_id"),
        "saves.csv",
        None,
        "board_id",
        "missing required column",
    ),
    (
        "duplicate-pin",
        _rewrite("pins", _pins({(3, "pin_id"): "p2"})),
        "pins.csv",
        4,
        "pin_id",
        "duplicate id 'p2' (first seen at row 2)",
    ),
    (
        "duplicate-board",
        _rewrite("boards", TINY_BOARDS + [TINY_BOARDS[0]]),
        "boards.csv",
        4,
        "board_id",
        "duplicate id 'b1'",
    ),
    ("empty-pin-id", _rewrite("pins", _pins({(1, "pin_id"): ""})), "pins.csv", 2, "pin_id", "missing id"),
    (
        "unknown-pin",
        _rewrite("saves", TINY_SAVES + [{"board_id": "b1", "pin_id": "zzz", "saved_at": "2024-01-01"}]),
        "saves.csv",
        11,
        "pin_id",
        "unknown pin_id 'zzz'",
    ),
    (
        "unknown-board",
        _rewrite("saves", [{"board_id": "nope", "pin_id": "p1", "saved_at": "2024-01-01"}] + TINY_SAVES),
        "saves.csv",
        1,
        "board_id",
        "unknown board_id 'nope'",
    ),
    (
        "bad-created-at",
        _rewrite("pins", _pins({(2, "created_at"): "yesterday"})),
        "pins.csv",
        3,
        "created_at",
        "cannot parse timestamp 'yesterday'",
    ),
    (
        "bad-saved-at",
        _rewrite("saves", TINY_SAVES[:5] + [{**TINY_SAVES[5], "saved_at": "2024-13-45"}] + TINY_SAVES[6:]),
        "saves.csv",
        6,
        "saved_at",
        "cannot parse timestamp",
    ),
    (
        "missing-saved-at",
        _rewrite("saves", TINY_SAVES[:2] + [{**TINY_SAVES[2], "saved_at": None}] + TINY_SAVES[3:]),
        "saves.csv",
        3,
        "saved_at",
        "missing timestamp",
    ),
    ("image-missing", _with_images("missing"), "pins.csv", 4, "image", "does not exist"),
    ("image-undecodable", _with_images("garbage"), "pins.csv", 5, "image", "cannot be decoded"),
    ("image-row-out-of-range", _image_rows(99), "pins.csv", 3, "image_row", "outside images.npy rows 0..5"),
    ("images-npy-missing", _image_rows(2, with_file=False), "images.npy", None, None, "images.npy is missing"),
    ("non-utf8", _bad_utf8_title, "pins.csv", 3, "title", "not valid UTF-8"),
    ("non-utf8-parquet", _parquet_binary_title, "pins.parquet", 5, "title", "not valid UTF-8"),
    (
        "nan-numeric",
        _rewrite("pins", _pins({(4, "price"): float("nan")})),
        "pins.csv",
        5,
        "price",
        "expected a finite number",
    ),
    ("both-formats", _both_formats, "boards.csv", None, None, "both .csv and .parquet"),
    ("malformed-csv", _malformed_csv, "saves.csv", None, None, "malformed CSV"),
    (
        "reserved-column",
        _rewrite("pins", [{**r, "is_cold": True} for r in TINY_PINS]),
        "pins.csv",
        None,
        "is_cold",
        "reserved",
    ),
    ("missing-title-value", _rewrite("pins", _pins({(5, "title"): None})), "pins.csv", 6, "title", "missing text"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_is_named_precisely(case, tmp_path: Path) -> None:
    _, mutate, fname, row, column, fragment = case
    root = write_tiny(tmp_path / "data")
    mutate(root)
    with pytest.raises(DatasetError) as err:
        load_dataset(root)
    e = err.value
    assert e.path.name == fname
    assert e.row == row
    assert e.column == column
    assert fragment in str(e)
    assert "\n" not in str(e)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cli_exits_nonzero_and_leaves_no_output(case, tmp_path: Path) -> None:
    _, mutate, fname, row, column, fragment = case
    root = write_tiny(tmp_path / "data")
    mutate(root)
    out = tmp_path / "nested" / "graph"
    result = CliRunner().invoke(app, ["build-graph", "--data", str(root), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert fragment in result.output and fname in result.output
    if row is not None:
        assert f"row {row}" in result.output
    assert not out.exists() and not out.parent.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_csv_error_reports_line_number(tmp_path: Path) -> None:
    root = write_tiny(tmp_path / "data")
    _rewrite("pins", _pins({(3, "pin_id"): "p2"}))(root)
    with pytest.raises(DatasetError, match=r"pins.csv: row 4 \(line 5\), column 'pin_id'"):
        load_dataset(root)


def test_id_like_text_is_kept_verbatim(tmp_path: Path) -> None:
    """Ids such as 'NA' or '007' are strings, not missing values or integers."""
    pins = _pins({(0, "pin_id"): "NA", (1, "pin_id"): "007"})
    saves = [{**s, "pin_id": {"p1": "NA", "p2": "007"}.get(s["pin_id"], s["pin_id"])} for s in TINY_SAVES]
    ds = load_dataset(write_tiny(tmp_path / "d", pins=pins, saves=saves))
    assert ds.pins.pin_id.tolist()[:2] == ["NA", "007"]
    assert len(ds.save_pin) == 9


def test_optional_columns_may_be_absent(tmp_path: Path) -> None:
    pins = [{"pin_id": r["pin_id"], "title": r["title"]} for r in TINY_PINS]
    boards = [{"board_id": r["board_id"]} for r in TINY_BOARDS]
    saves = [{"board_id": s["board_id"], "pin_id": s["pin_id"]} for s in TINY_SAVES]
    ds = load_dataset(write_tiny(tmp_path / "d", pins=pins, boards=boards, saves=saves))
    assert ds.saved_at is None and ds.created_at is None and ds.images is None
    assert ds.pins.description.tolist() == [""] * 6
    assert ds.categorical_columns == [] and ds.numeric_columns == []


def test_image_files_are_decoded_into_one_array(tmp_path: Path) -> None:
    root = write_tiny(tmp_path / "d")
    _with_images("ok")(root)
    ds = load_dataset(root)
    assert ds.images.shape == (6, 8, 8, 3) and ds.images.dtype == np.uint8
    assert ds.image_row.tolist() == list(range(6))
    assert int(ds.images[3, 0, 0, 0]) == 60


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 40), first=st.data(), fmt=st.sampled_from(["csv", "parquet"]))
def test_a_planted_duplicate_is_reported_at_its_row(tmp_path_factory, n, first, fmt) -> None:
    i = first.draw(st.integers(0, n - 2))
    j = first.draw(st.integers(i + 1, n - 1))
    ids = [f"id{k}" for k in range(n)]
    ids[j] = ids[i]
    root = tmp_path_factory.mktemp("dup")
    pins = [{"pin_id": pid, "title": f"t{k}"} for k, pid in enumerate(ids)]
    write_tiny(root, fmt, pins=pins, saves=[{"board_id": "b1", "pin_id": "id0"}])
    with pytest.raises(DatasetError) as err:
        load_dataset(root)
    assert (err.value.row, err.value.column) == (j + 1, "pin_id")
    assert f"first seen at row {i + 1}" in str(err.value)


@settings(max_examples=40, deadline=None)
@given(n_saves=st.integers(1, 50), data=st.data())
def test_an_unknown_pin_in_saves_is_reported_at_its_row(tmp_path_factory, n_saves, data) -> None:
    bad = data.draw(st.integers(0, n_saves - 1))
    saves = [{"board_id": "b1", "pin_id": f"p{1 + k % 6}"} for k in range(n_saves)]
    saves[bad]["pin_id"] = "ghost"
    root = write_tiny(tmp_path_factory.mktemp("unk"), saves=saves)
    with pytest.raises(DatasetError) as err:
        load_dataset(root)
    assert (err.value.row, err.value.column) == (bad + 1, "pin_id")
