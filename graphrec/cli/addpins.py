"""CLI command add-pins: embed and index pins that arrived after training."""

from __future__ import annotations

from pathlib import Path

import typer

from graphrec.cli import app, handle_errors, renamed


@app.command("add-pins")
@handle_errors
def add_pins_cmd(
    run: Path = typer.Option(None, "--run", help="Output dir of `graphrec run` (graph, pinclip, sage, ...)."),
    model: Path = typer.Option(None, "--model", hidden=True, help="Deprecated name of --run."),
    pins: Path = typer.Option(
        ..., "--pins", help="New pins table (.csv/.parquet, dataset contract; images relative to it)."
    ),
    saves: Path = typer.Option(
        None, "--saves", help="Optional saves of the new pins to existing boards (board_id, pin_id)."
    ),
    out: Path = typer.Option(
        None, "--out", help="Where to write their candidates (default RUN_DIR/added_pins/batch-<hash>)."
    ),
    k: int = typer.Option(100, "--k", help="Candidate pins per new pin."),
    boards: int = typer.Option(10, "--boards", help="Best-fit boards per new pin."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Compute candidates but do not insert the pins into the saved index."
    ),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Embed new pins (PinCLIP content + SAGE inductively), insert them into the index, list their candidates."""
    from graphrec.addpins import add_pins

    # --run is what recommend, serve and view call a run directory
    model = renamed(run, model, "--run", "--model", "RUN_DIR (the output directory of `graphrec run`)")

    m = add_pins(model, pins, saves, out=out, k=k, n_boards=boards, save_index=not dry_run, overwrite=force)
    typer.echo(
        f"added {m['n_pins']:,} pins ({m['n_saves']} saves) in {m['seconds']['total_s']:.3f} s "
        f"({1000 * m['seconds_per_pin']:.2f} ms/pin); "
        f"index {'updated' if m['index_updated'] else 'unchanged (dry run)'}; "
        f"candidates and boards in {m['out']}"
    )
    if m["index_updated"]:  # the served model answers for the new pins too
        from experiments.registry import register_added_pins

        reg = register_added_pins(model)
        if reg is not None:
            typer.echo(reg.describe())
