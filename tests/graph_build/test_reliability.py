"""Issue 11, items 4, 5, 7, 8, 9 and 10: out-of-range timestamps, image confinement, oversized
images, the output location checked first, CSV quoting / line numbers / blank columns, and
graphs nothing can be trained on. Each fails with file, row and column (or the reason)."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from graph_build import images as images_mod
from graph_build.build import build_graph
from graph_build.contract import load_dataset, load_pins_table
from graph_build.errors import DatasetError
from graph_build.split import SplitConfig
from tests.conftest import TINY_BOARDS, TINY_PINS, TINY_SAVES, write_tiny

MIN_SECONDS, MAX_SECONDS = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31T23:59:59Z
EXTRA_ROOTS_ENV = "GRAPHREC_EXTRA_IMAGE_ROOT"


def _err(root: Path, **kw: object) -> DatasetError:
    with pytest.raises(DatasetError) as e:
        load_dataset(root, **kw)
    assert "\n" not in str(e.value)
    return e.value


# --- 4. timestamps -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table,column,value",
    [
        ("saves", "saved_at", 1e20),
        ("pins", "created_at", 1e300),
        ("pins", "created_at", "9999999999999"),
        ("saves", "saved_at", -1e12),
    ],
)
def test_out_of_range_timestamps_name_file_row_column_and_range(
    tmp_path: Path, table: str, column: str, value: object
) -> None:
    rows = [dict(r) for r in (TINY_SAVES if table == "saves" else TINY_PINS)]
    rows[2][column] = value
    root = write_tiny(tmp_path / "d", **{table: rows})
    err = _err(root)
    assert err.path.name == f"{table}.csv" and err.row == 3 and err.column == column
    assert "out of range" in str(err) and str(MAX_SECONDS) in str(err) and "9999-12-31" in str(err)


def test_iso_year_9999_is_in_range_and_year_10000_is_a_row_error(tmp_path: Path) -> None:
    pins = [dict(r) for r in TINY_PINS]
    pins[1]["created_at"] = "9999-06-01T00:00:00Z"
    ds = load_dataset(write_tiny(tmp_path / "ok", pins=pins))
    assert ds.created_at[1] == int(pd.Timestamp("9999-06-01", tz="UTC").timestamp())
    pins[1]["created_at"] = "0001-01-01"
    assert load_dataset(write_tiny(tmp_path / "y1", pins=pins)).created_at[1] == MIN_SECONDS
    pins[1]["created_at"] = "+10000-01-01"
    err = _err(write_tiny(tmp_path / "bad", pins=pins))
    assert err.row == 2 and err.column == "created_at"


def test_parquet_unix_seconds_out_of_range(tmp_path: Path) -> None:
    saves = [dict(r) for r in TINY_SAVES]
    for r in saves:
        r["saved_at"] = 1_700_000_000
    saves[4]["saved_at"] = 10**15
    err = _err(write_tiny(tmp_path / "d", "parquet", saves=saves))
    assert err.row == 5 and err.column == "saved_at" and "out of range" in str(err)


# --- 5. image confinement ------------------------------------------------------------------------


def _png(path: Path, size: tuple[int, int] = (6, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (200, 10, 10)).save(path)


def _with_images(tmp_path: Path, paths: list[str | None]) -> Path:
    root = tmp_path / "d"
    for i in range(len(TINY_PINS)):
        _png(root / "img" / f"{i}.png")
    pins = [{**r, "image": p} for r, p in zip(TINY_PINS, paths)]
    return write_tiny(root, pins=pins)


@pytest.mark.parametrize("skip_decode", [False, True])
def test_image_paths_outside_the_dataset_are_rejected_with_one_message(tmp_path: Path, skip_decode: bool) -> None:
    outside = tmp_path / "secret.png"
    _png(outside)
    (tmp_path / "d" / "img").mkdir(parents=True)
    os.symlink(outside, tmp_path / "d" / "img" / "link.png")
    msgs = set()
    for bad in (str(outside), "../secret.png", "../does-not-exist.png", "/etc/passwd", "img/link.png"):
        paths = [f"img/{i}.png" for i in range(6)]
        paths[3] = bad
        err = _err(_with_images(tmp_path, paths), check_images=not skip_decode)
        assert err.row == 4 and err.column == "image" and "not inside the dataset directory" in str(err)
        msgs.add(err.message.replace(repr(bad), "<path>"))
    assert len(msgs) == 1  # the same text whether the outside file exists or not


def test_extra_image_root_is_opt_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    _png(shared / "a.png")
    paths = [f"img/{i}.png" for i in range(6)]
    paths[0] = str(shared / "a.png")
    with pytest.raises(DatasetError, match="not inside the dataset directory"):
        load_dataset(_with_images(tmp_path, paths))
    monkeypatch.setenv(EXTRA_ROOTS_ENV, str(shared))
    assert load_dataset(_with_images(tmp_path, paths)).images.shape == (6, 6, 6, 3)


def test_add_pins_table_images_are_confined_to_its_folder(tmp_path: Path) -> None:
    _png(tmp_path / "elsewhere.png")
    (tmp_path / "new").mkdir()
    pd.DataFrame([{"pin_id": "n1", "title": "t", "image": "../elsewhere.png"}]).to_csv(
        tmp_path / "new" / "p.csv", index=False
    )
    with pytest.raises(DatasetError, match="not inside the dataset directory"):
        load_pins_table(tmp_path / "new" / "p.csv")


# --- 7. oversized images -------------------------------------------------------------------------


def test_decompression_bomb_is_a_clear_row_error(tmp_path: Path) -> None:
    paths = [f"img/{i}.png" for i in range(6)]
    root = _with_images(tmp_path, paths)
    Image.new("1", (20000, 20000)).save(root / "img" / "2.png")  # 400 Mpx, a tiny 1-bit file
    err = _err(root)
    assert err.row == 3 and err.column == "image" and "too large" in str(err) and "20000 x 20000" in str(err)


def test_large_images_are_reduced_while_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 4000 x 4000 JPEG among 64 x 64 ones: decoded at (near) the target size, not 48 MB."""
    root = tmp_path / "d"
    for i in range(6):
        _png(root / "img" / f"{i}.png", (64, 64))
    rng = np.random.default_rng(0)
    big = rng.integers(0, 255, (4000, 4000, 3), dtype=np.uint8)
    Image.fromarray(big).save(root / "img" / "big.jpg", quality=90)
    del big
    pins = [{**r, "image": f"img/{i}.png"} for i, r in enumerate(TINY_PINS)]
    pins[1]["image"] = "img/big.jpg"
    write_tiny(root, pins=pins)
    tracemalloc.start()
    ds = load_dataset(root)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ds.images.shape == (6, 64, 64, 3)
    assert peak < 16_000_000, peak  # the full decode alone would be 48 MB (+ 48 MB as an array)


def test_common_size_is_capped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_mod, "MAX_SIDE", 8)
    root = tmp_path / "d"
    for i in range(6):
        _png(root / "img" / f"{i}.png", (32, 16))
    write_tiny(root, pins=[{**r, "image": f"img/{i}.png"} for i, r in enumerate(TINY_PINS)])
    assert load_dataset(root).images.shape == (6, 4, 8, 3)


# --- 8. output location first --------------------------------------------------------------------


def test_build_graph_checks_out_before_reading_the_dataset(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        build_graph(tmp_path / "no-such-dataset", tmp_path / "file" / "graph", SplitConfig())


# --- 9. CSV --------------------------------------------------------------------------------------

HEADER = "pin_id,title,description,colour\n"


def _pins_csv(tmp_path: Path, body: str) -> Path:
    root = write_tiny(tmp_path / "d")
    (root / "pins.csv").write_text(HEADER + body)
    return root


def test_line_numbers_count_quoted_multi_line_fields(tmp_path: Path) -> None:
    body = (
        'p1,red dress,"line one\nline two\nline three",red\n'
        'p2,blue top,"a\nb",blue\n'
        "p3,,hat,green\n"
    )  # row 3 starts on line 7
    err = _err(_pins_csv(tmp_path, body))
    assert err.row == 3 and err.column == "title" and "row 3 (line 7)" in str(err)


def test_stray_unclosed_quote_is_an_error_not_swallowed_columns(tmp_path: Path) -> None:
    body = (
        "p1,red dress,a dress,red\n"
        'p2,"blue top,desc,blue\n'  # never closed: pandas reads on into the next lines
        'p3,green hat,"a "hat",green\n'
        "p4,red bag,a bag,red\n"
    )
    err = _err(_pins_csv(tmp_path, body))
    assert "quote" in str(err) and err.path.name == "pins.csv"
    assert "line 3" in str(err)  # the record that starts at line 3 (p2)
    ok = _pins_csv(
        tmp_path,
        'p1,red dress,"a ""quoted"" word, and a comma",red\np2,5" heel,x,blue\n'
        "p3,t,d,c\np4,t,d,c\np5,t,d,c\np6,t,d,c\n",
    )
    ds = load_dataset(ok)
    assert ds.pins.description[0] == 'a "quoted" word, and a comma' and ds.pins.title[1] == '5" heel'


def test_optional_column_blank_on_every_row_is_categorical_with_missing_values(tmp_path: Path) -> None:
    pins = [{**r, "notes": None} for r in TINY_PINS]
    ds = load_dataset(write_tiny(tmp_path / "d", pins=pins))
    assert "notes" in ds.categorical_columns and "notes" not in ds.numeric_columns
    assert ds.pins["notes"].isna().all()


# --- 10. degenerate graphs -----------------------------------------------------------------------


def test_every_board_with_one_save_is_rejected_at_build_graph(tmp_path: Path) -> None:
    saves = [{"board_id": b["board_id"], "pin_id": f"p{i + 1}"} for i, b in enumerate(TINY_BOARDS)]
    root = write_tiny(tmp_path / "d", saves=saves)
    load_dataset(root)  # a valid dataset ...
    with pytest.raises(DatasetError, match="every board has fewer than split.min_board_saves=2 saves"):
        build_graph(root, tmp_path / "g", SplitConfig())  # ... nothing can be trained on
    assert not (tmp_path / "g").exists()


def test_no_train_saves_is_rejected_at_build_graph(tmp_path: Path) -> None:
    root = write_tiny(tmp_path / "d")
    with pytest.raises(DatasetError, match="no train saves after the split"):
        build_graph(root, tmp_path / "g", SplitConfig(cold_fraction=0.99))
    assert not (tmp_path / "g").exists()
