"""CLI command recommend: top-k pins for boards or pins of a finished run, with titles."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer

from graphrec.cli import app, handle_errors

FORMATS = ("table", "csv", "json")


def read_board_ids(path: Path) -> list[str]:
    """Board ids from a file: a CSV/Parquet with a ``board_id`` column, or one id per line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: board id file does not exist")
    if path.suffix == ".parquet":
        df = pd.read_parquet(path)
    elif path.suffix in (".csv", ".tsv"):
        df = pd.read_csv(path, dtype=str, sep="\t" if path.suffix == ".tsv" else ",")
    else:
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        return [i for i in ids if i and not i.startswith("#")]
    if "board_id" not in df.columns:
        raise ValueError(f"{path}: needs a 'board_id' column, has {list(df.columns)}")
    bad = df["board_id"].isna().to_numpy().nonzero()[0]
    if len(bad):
        raise ValueError(f"{path}: row {int(bad[0]) + 1}, column board_id: missing board id")
    return df["board_id"].astype(str).tolist()


def format_table(df: pd.DataFrame) -> str:
    """Fixed-width text table (scores to 4 decimals, ``cold``/``warm``/``new`` for is_cold)."""
    if df.empty:
        return "(no recommendations)"
    show = df.copy()
    show["score"] = show["score"].map(lambda s: f"{s:.4f}")
    show["is_cold"] = show["is_cold"].map(lambda c: "new" if pd.isna(c) else ("cold" if c else "warm"))
    show = show.rename(columns={"is_cold": "pin"}).astype(str)
    widths = {c: max(len(c), int(show[c].str.len().max())) for c in show.columns}
    right = {"rank", "score"}

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(widths[c]) if c in right else v.ljust(widths[c]) for c, v in zip(show.columns, values)
        ).rstrip()

    rows = [line(list(show.columns)), line(["-" * widths[c] for c in show.columns])]
    rows += [line(list(r)) for r in show.itertuples(index=False)]
    return "\n".join(rows)


def render(df: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return df.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        df = df.assign(score=df["score"].astype(float).round(6))
        records = df.astype(object).where(df.notna(), None).to_dict(orient="records")
        return json.dumps(records, indent=1, ensure_ascii=False)
    return format_table(df)


@app.command("recommend")
@handle_errors
def recommend_cmd(
    run: Path = typer.Option(..., "--run", help="Output dir of `graphrec run` (graph/, embeddings/, ...)."),
    board: list[str] = typer.Option([], "--board", help="Board id to recommend pins for (repeatable)."),
    pin: list[str] = typer.Option([], "--pin", help="Pin id to find similar pins for (repeatable)."),
    boards: Path = typer.Option(None, "--boards", help="Board id file: CSV/Parquet with board_id, or one a line."),
    k: int = typer.Option(20, "--k", help="Pins per board or pin."),
    fmt: str = typer.Option("table", "--format", help="Output format: table, csv or json."),
    include_saved: bool = typer.Option(
        False, "--include-saved", help="Also recommend pins already saved to the board."
    ),
) -> None:
    """Top-k pins for boards (--board / --boards) or similar pins (--pin), with titles, scores."""
    import graphrec

    if fmt not in FORMATS:
        raise ValueError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    board_ids = [*board, *(read_board_ids(boards) if boards is not None else [])]
    if bool(board_ids) == bool(pin):
        raise ValueError("give boards (--board ID or --boards FILE) or pins (--pin ID), not both or neither")
    r = graphrec.load_run(run)
    if board_ids:
        df = r.recommend(board_ids, k=k, exclude_saved=not include_saved, titles=True)
    else:
        df = r.similar_pins(pin, k=k, titles=True)
    typer.echo(render(df, fmt))
