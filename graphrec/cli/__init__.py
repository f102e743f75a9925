"""The ``graphrec`` command line. Library errors become one-line messages and non-zero exits."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import typer

app = typer.Typer(
    name="graphrec",
    help="PinCLIP + PinSage style recommendations for catalogues and curated collections.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
import_app = typer.Typer(help="Convert public data in ../shared/data into the dataset contract.", no_args_is_help=True)
app.add_typer(import_app, name="import")

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("graphrec")


def handle_errors(fn: F) -> F:
    """Turn expected failures (bad input, existing output, bad config) into exit codes."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from graph_build.errors import DatasetError
        from graph_build.graph import GraphDirError
        from graphrec.distributed.ray_jobs import RayUnavailableError, ShardFailedError
        from graphrec.utils.config import ConfigError
        from graphrec.utils.io import OutputExistsError

        try:
            return fn(*args, **kwargs)
        except DatasetError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except (ConfigError, OutputExistsError, GraphDirError, ValueError, FileNotFoundError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except (RayUnavailableError, ShardFailedError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def renamed(value: Any, old_value: Any, name: str, old: str, what: str = "") -> Any:
    """The value of option ``name``, or of its deprecated spelling ``old`` (with a warning).

    The CLI's one naming scheme (README, "CLI conventions"): ``--emb`` is an embedding
    directory (content or graph embeddings), ``--model`` a model directory, ``--run`` the output
    directory of ``graphrec run``, ``--data`` a dataset directory. Old spellings stay for one
    release as hidden options. ``name`` is required when neither was given (``what``: a hint
    appended to that error).
    """
    if old_value not in (None, [], ()):
        typer.echo(f"warning: {old} is deprecated, use {name} (same meaning)", err=True)
        if value not in (None, [], ()):
            raise ValueError(f"give {name} or its deprecated spelling {old}, not both")
        return old_value
    if value is None:
        raise ValueError(f"missing option {name}{' ' + what if what else ''}")
    return value


def _version(value: bool) -> None:
    if value:
        from graphrec import __version__

        typer.echo(f"graphrec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging (and third-party messages)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only warnings and errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    from graphrec.utils.logs import setup_logging

    setup_logging(verbose=verbose, quiet=quiet)


def main() -> None:
    """Console-script entry point.

    OpenMP threads sleep instead of spinning while they wait (``OMP_WAIT_POLICY=PASSIVE`` unless
    set): on a shared 2-core machine spinning threads made SAGE training steps 20-40x slower.
    It is set here, before torch is first imported (every stage imports torch lazily).
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Importing a stage module registers its commands on ``app``.
    from graphrec.cli import (  # noqa: F401  # noqa: F401
        addpins,
        candidates,
        data,
        evaluate,
        pinclip,
        recommend,
        run,
        sage,
        serve,
        sweep,
        view,
    )

    app(prog_name="graphrec")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
