"""Data commands: synth, import, validate, build-graph, graph-info."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from graphrec.cli import app, handle_errors, import_app, renamed


class ColdBy(StrEnum):
    auto = "auto"
    time = "time"
    random = "random"


class WarmHoldout(StrEnum):
    random = "random"
    latest = "latest"


@app.command()
@handle_errors
def synth(
    out: Path = typer.Argument(..., help="Output dataset directory (written atomically)."),
    pins: int | None = typer.Option(None, "--pins", help="Number of pins in the catalogue (n_pins, default 5000)."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (same seed, same bytes; default 0)."),
    styles: int | None = typer.Option(None, "--styles", help="Planted latent styles (n_styles, default 12)."),
    saves_per_pin: float | None = typer.Option(
        None, "--saves-per-pin", help="Mean saves per pin before de-duplication (default 10)."
    ),
    board_size: float | None = typer.Option(None, "--board-size", help="Mean saves per board (default 20)."),
    image_size: int | None = typer.Option(None, "--image-size", help="Square image side in pixels (default 32)."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML: SynthConfig keys, or a run config (its data.synth section)."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Config override key=value, e.g. n_brands=30 (repeatable)."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Write the synthetic fashion catalogue (planted styles in truth/) as a contract dataset."""
    from graph_build.synthetic.generate import SYNTH, SynthConfig, write_synthetic
    from graphrec.utils.config import flag_overrides, load_section

    flags = flag_overrides(
        n_pins=pins,
        seed=seed,
        n_styles=styles,
        saves_per_pin=saves_per_pin,
        mean_board_size=board_size,
        image_size=image_size,
    )
    cfg = load_section(SynthConfig, config, SYNTH, [*overrides, *flags])
    write_synthetic(cfg, out, overwrite=force)
    typer.echo(f"wrote synthetic dataset to {out}")


@import_app.command("movielens")
@handle_errors
def import_movielens(
    src: Path = typer.Argument(..., help="MovieLens ml-latest-small folder (e.g. ../shared/data/movielens-small)."),
    out: Path = typer.Argument(..., help="Output dataset directory."),
    min_rating: float = typer.Option(4.0, "--min-rating", help="Ratings >= this are saves to the user's liked board."),
    tag_boards: bool = typer.Option(False, "--tag-boards/--no-tag-boards", help="Also make (user, tag) boards."),
    tag_text: bool = typer.Option(True, "--tag-text/--no-tag-text", help="Append user tags to movie descriptions."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Convert MovieLens: movies are pins, each user's liked list is a board."""
    from graph_build.adapters.movielens import MovieLensOptions, convert_movielens

    convert_movielens(
        src, out, MovieLensOptions(min_rating=min_rating, tag_boards=tag_boards, tag_text=tag_text), overwrite=force
    )
    typer.echo(f"wrote movielens dataset to {out}")


@import_app.command("fashion-products")
@handle_errors
def import_fashion(
    src: Path = typer.Argument(..., help="fashion-products-1k folder (styles.csv + images/)."),
    out: Path = typer.Argument(..., help="Output dataset directory."),
    seed: int = typer.Option(0, "--seed", help="Seed for chunking derived lookbook boards."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Convert fashion-products: real photos and attributes; boards are DERIVED from attributes."""
    from graph_build.adapters.fashion_products import FashionOptions, convert_fashion_products

    convert_fashion_products(src, out, FashionOptions(seed=seed), overwrite=force)
    typer.echo(f"wrote fashion-products dataset to {out} (boards are derived from attributes)")


@app.command()
@handle_errors
def validate(
    data: Path = typer.Option(None, "--data", help="Dataset directory to check against the contract."),
    data_old: Path = typer.Argument(None, hidden=True, help="Deprecated: the dataset as a positional argument."),
    skip_image_decode: bool = typer.Option(
        False, "--skip-image-decode", help="Check image paths exist but do not decode."
    ),
) -> None:
    """Check a dataset directory against the contract without writing anything."""
    from graph_build.contract import load_dataset

    data = renamed(data, data_old, "--data", "the positional DATA")

    ds = load_dataset(data, check_images=not skip_image_decode)
    typer.echo(
        f"ok: {ds.name}: {ds.n_pins:,} pins, {ds.n_boards:,} boards, {len(ds.save_pin):,} saves "
        f"({ds.duplicate_saves:,} duplicates collapsed); categorical {ds.categorical_columns}, "
        f"numeric {ds.numeric_columns}"
    )


@app.command("build-graph")
@handle_errors
def build_graph_cmd(
    data: Path = typer.Option(..., "--data", help="Dataset directory following the contract (pins, boards, saves)."),
    out: Path = typer.Option(..., "--out", help="Graph directory to write (atomically; nothing is left on error)."),
    cold_fraction: float | None = typer.Option(
        None, "--cold-fraction", help="Share of pins with saves that become cold (no train edges; default 0.2)."
    ),
    cold_by: ColdBy | None = typer.Option(
        None, "--cold-by", help="auto (default) | time (newest first save) | random."
    ),
    holdout_fraction: float | None = typer.Option(
        None, "--holdout-fraction", help="Share of each board's warm saves held out for val/test (default 0.2)."
    ),
    warm_holdout: WarmHoldout | None = typer.Option(
        None, "--warm-holdout", help="random (default) | latest (each board's most recent saves)."
    ),
    val_share: float | None = typer.Option(
        None, "--val-share", help="Share of held-out saves and cold pins that go to val (rest: test; default 0.5)."
    ),
    min_board_saves: int | None = typer.Option(
        None, "--min-board-saves", help="Drop boards with fewer saves (repeated to a fixed point; default 2)."
    ),
    min_pin_saves: int | None = typer.Option(
        None, "--min-pin-saves", help="Drop pins with fewer saves (default 0 keeps the whole catalogue)."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed for the split (default 0)."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML: SplitConfig keys, or a run config (its split section)."
    ),
    overrides: list[str] = typer.Option([], "--set", help="Config override key=value, e.g. cold_by=time (repeatable)."),
    skip_image_decode: bool = typer.Option(
        False, "--skip-image-decode", help="Check image paths exist but do not decode them."
    ),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists."),
) -> None:
    """Validate a dataset, split it warm/cold without leakage and write the graph directory."""
    from graph_build.build import build_graph
    from graph_build.split import SplitConfig
    from graph_build.stats import format_summary
    from graphrec.utils.config import flag_overrides, load_section

    flags = flag_overrides(
        cold_fraction=cold_fraction,
        cold_by=cold_by.value if cold_by else None,
        holdout_fraction=holdout_fraction,
        warm_holdout=warm_holdout.value if warm_holdout else None,
        val_share=val_share,
        min_board_saves=min_board_saves,
        min_pin_saves=min_pin_saves,
        seed=seed,
    )
    split = load_section(SplitConfig, config, "split", [*overrides, *flags])
    manifest = build_graph(data, out, split, overwrite=force, check_images=not skip_image_decode)
    typer.echo(format_summary(manifest))
    typer.echo(f"wrote graph directory {out}")


@app.command("graph-info")
@handle_errors
def graph_info(graph: Path = typer.Argument(..., help="Graph directory.")) -> None:
    """Print the summary of a graph directory."""
    from graph_build.graph import load_graph
    from graph_build.stats import format_summary

    typer.echo(format_summary(load_graph(graph).manifest))
