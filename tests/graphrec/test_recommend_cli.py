"""``graphrec recommend``: titles next to ids in table/csv/json, board id files, clear errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

import graphrec.cli.recommend  # noqa: F401  (registers the command)
from graphrec.cli import app

runner = CliRunner()


def _board_ids(tiny_run: Path, n: int) -> list[str]:
    return pd.read_parquet(tiny_run / "graph" / "boards.parquet")["board_id"].iloc[:n].tolist()


def test_table_shows_titles_next_to_ids(tiny_run: Path) -> None:
    b = _board_ids(tiny_run, 1)[0]
    res = runner.invoke(app, ["recommend", "--run", str(tiny_run), "--board", b, "--k", "4"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0].split() == ["board_id", "rank", "pin_id", "score", "pin", "title"] and len(lines) == 2 + 4
    titles = pd.read_parquet(tiny_run / "graph" / "pins.parquet").set_index("pin_id")["title"]
    for line in lines[2:]:
        cells = line.split(None, 5)
        assert cells[0] == b and cells[4] in ("warm", "cold") and cells[5] == titles[cells[2]]


def test_csv_and_json_agree_and_boards_file(tiny_run: Path, tmp_path: Path) -> None:
    ids = _board_ids(tiny_run, 3)
    (tmp_path / "boards.txt").write_text("# my boards\n" + "\n".join(ids) + "\n")
    pd.DataFrame({"board_id": ids, "other": 1}).to_csv(tmp_path / "boards.csv", index=False)
    out = {}
    for name, fmt in (("boards.txt", "csv"), ("boards.csv", "json")):
        res = runner.invoke(
            app, ["recommend", "--run", str(tiny_run), "--boards", str(tmp_path / name), "--k", "3", "--format", fmt]
        )
        assert res.exit_code == 0, res.output
        out[fmt] = pd.read_csv(io.StringIO(res.output)) if fmt == "csv" else pd.DataFrame(json.loads(res.output))
    assert out["csv"]["board_id"].tolist() == [b for b in ids for _ in range(3)]
    assert out["csv"]["pin_id"].tolist() == out["json"]["pin_id"].tolist()
    assert out["csv"]["title"].tolist() == out["json"]["title"].tolist()


def test_similar_pins(tiny_run: Path) -> None:
    res = runner.invoke(app, ["recommend", "--run", str(tiny_run), "--pin", "p001", "--k", "2", "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.output)
    assert [r["rank"] for r in rows] == [1, 2] and all(r["query_pin_id"] == "p001" and r["title"] for r in rows)


def test_errors_are_one_line(tiny_run: Path, tmp_path: Path) -> None:
    cases = [
        (["--board", "nope"], "unknown board_id"),
        ([], "give boards"),
        (["--board", "b000", "--pin", "p001"], "not both"),
        (["--pin", "p001", "--format", "xml"], "--format"),
        (["--boards", str(tmp_path / "missing.csv")], "does not exist"),
    ]
    pd.DataFrame({"id": ["b000"]}).to_csv(tmp_path / "bad.csv", index=False)
    cases.append((["--boards", str(tmp_path / "bad.csv")], "needs a 'board_id' column"))
    for args, msg in cases:
        res = runner.invoke(app, ["recommend", "--run", str(tiny_run), *args])
        assert res.exit_code == 1, (args, res.output)
        assert msg in res.output and "Traceback" not in res.output, (args, res.output)
