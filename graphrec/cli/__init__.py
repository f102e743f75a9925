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
        except (DatasetError, ConfigError) as exc:  # bad input data or config: exit 2, like a usage error
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        except (OutputExistsError, GraphDirError, ValueError, FileNotFoundError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        except (RayUnavailableError, ShardFailedError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


CONFIG_HELP = "YAML config file: the stage's keys, or a run config holding its section."
SET_HELP = "Config override key=value (repeatable), e.g. --set seed=1."


def option_overrides(**options: Any) -> list[str]:
    """``--set`` strings for the CLI options that were given (None = not given, the config decides)."""
    return [f"{key.replace('__', '.')}={getattr(v, 'value', v)}" for key, v in options.items() if v is not None]


def renamed_option(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """The value of option ``new_name``, or of its deprecated alias ``old_name`` (with a warning)."""
    if old is None or old == []:
        return new
    log.warning("%s is deprecated, use %s (same meaning)", old_name, new_name)
    typer.echo(f"warning: {old_name} is deprecated, use {new_name} (same meaning)", err=True)
    if new is not None and new != []:
        raise ValueError(f"give {new_name} or its deprecated alias {old_name}, not both")
    return old


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
