"""docs/byo_catalogue.md works as written: its code blocks are extracted and run, in order, on a
small catalogue in the walkthrough's own column names (products.csv with ``sku``, wishlists.csv),
with experiments/configs/tiny.yaml in place of default.yaml so it takes seconds."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "byo_catalogue.md"
BIN = Path(sys.executable).parent


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), flags=re.S)


def write_catalogue(tiny_run: Path, root: Path) -> None:
    """The tiny synthetic catalogue, written the way a shop would export it (no images)."""
    data = tiny_run / "data"
    pins = pd.read_parquet(data / "pins.parquet").drop(columns=["image_row"])
    sku = {p: f"SKU-{1001 + i}" for i, p in enumerate(pins["pin_id"])}
    wl = {b: f"W-{int(b[1:])}" for b in pd.read_parquet(data / "boards.parquet")["board_id"]}
    products = pins.rename(
        columns={"pin_id": "sku", "title": "name", "description": "details", "created_at": "first_listed"}
    ).assign(sku=lambda d: d["sku"].map(sku))
    products.to_csv(root / "products.csv", index=False)
    boards = pd.read_parquet(data / "boards.parquet")
    saves = pd.read_parquet(data / "saves.parquet").merge(boards, on="board_id")
    pd.DataFrame(
        {
            "wishlist_id": saves["board_id"].map(wl),
            "wishlist_name": saves["title"],
            "customer": saves["owner_id"],
            "sku": saves["pin_id"].map(sku),
            "added": saves["saved_at"],
        }
    ).to_csv(root / "wishlists.csv", index=False)


def test_walkthrough_commands_run_as_written(tiny_run: Path, tmp_path: Path) -> None:
    write_catalogue(tiny_run, tmp_path)
    prepare, api = blocks("python")
    assert prepare.startswith("# prepare.py")
    (tmp_path / "prepare.py").write_text(prepare)
    env = {**os.environ, "GRAPHREC_MLFLOW": "0", "GRAPHREC_NO_PROGRESS": "1"}
    outputs = []
    for line in [ln for b in blocks("sh") for ln in b.splitlines() if ln.strip()]:
        args = shlex.split(
            line.replace("experiments/configs/default.yaml", str(ROOT / "experiments/configs/tiny.yaml"))
        )
        exe = sys.executable if args[0] == "python" else str(BIN / args[0])
        res = subprocess.run([exe, *args[1:]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, (line, res.stderr[-3000:])
        outputs.append(res.stdout)
    pins = pd.read_csv(tmp_path / "shop" / "pins.csv", dtype=str)
    assert {"pin_id", "title", "description", "created_at", "colour"} <= set(pins.columns)
    table = outputs[3].splitlines()
    assert table[0].split()[:4] == ["board_id", "rank", "pin_id", "score"] and len(table) == 2 + 10
    assert all(row.split()[0] == "W-17" and row.split()[2].startswith("SKU-") for row in table[2:])
    assert pd.read_csv(pd.io.common.StringIO(outputs[4]))["query_pin_id"].eq("SKU-1001").all()
    page = (tmp_path / "runs" / "shop" / "view.html").read_text()
    assert "W-" in page and "no image" in page  # no images in this catalogue: placeholders
    res = subprocess.run(
        [sys.executable, "-c", api + "\nprint(run.recommend(['W-17'], k=3, titles=True).to_csv())"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "title" in res.stdout.splitlines()[0] and res.stdout.count("W-17") == 3


def test_a_wishlist_row_with_an_unknown_sku_fails_validation_with_row_and_column(
    tiny_run: Path, tmp_path: Path
) -> None:
    write_catalogue(tiny_run, tmp_path)
    wl = pd.read_csv(tmp_path / "wishlists.csv", dtype=str)
    wl.loc[5, "sku"] = "SKU-0"
    wl.to_csv(tmp_path / "wishlists.csv", index=False)
    (tmp_path / "prepare.py").write_text(blocks("python")[0])
    subprocess.run([sys.executable, "prepare.py"], cwd=tmp_path, check=True)
    res = subprocess.run([str(BIN / "graphrec"), "validate", "shop"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2
    assert "saves.csv" in res.stderr and "row 6" in res.stderr and "SKU-0" in res.stderr, res.stderr
    if "Traceback" in res.stderr:
        pytest.fail(res.stderr)
