"""Logging set-up for the CLI and a tqdm wrapper that respects TTYs and GRAPHREC_NO_PROGRESS."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Configure root logging once: INFO by default, DEBUG with verbose, WARNING with quiet."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
        force=True,
    )


def progress_enabled() -> bool:
    """Progress bars show on a TTY unless GRAPHREC_NO_PROGRESS is set."""
    if os.environ.get("GRAPHREC_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], **kwargs: Any) -> Iterable[T]:
    """tqdm over ``iterable`` when progress bars are enabled, the plain iterable otherwise."""
    if not progress_enabled():
        return iterable
    return tqdm(iterable, dynamic_ncols=True, leave=False, **kwargs)
