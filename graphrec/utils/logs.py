"""Logging set-up for the CLI, a tqdm wrapper that respects TTYs and GRAPHREC_NO_PROGRESS, and a
compact formatter for metric dicts in log lines."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
# Third-party chatter that says nothing to a graphrec user (shown again with -v).
NOISY_LOGGERS = ("alembic", "mlflow", "urllib3", "httpx", "filelock")
NOISY_WARNINGS = (r"Add type hints to the `predict` method",)
QUIET_ENV = {
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    # huggingface_hub's switch, which transformers' "Loading weights" bar also reads at import
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}


def quiet_third_party() -> None:
    """Silence MLflow's info lines, its artifact download bars and type-hint warnings, and the
    Hugging Face weight-loading bars (the pretrained MiniLM is loaded from a local folder).

    Environment defaults are set (not forced), so a user's own ``MLFLOW_LOGGING_LEVEL`` wins and
    subprocesses (``graphrec serve``) inherit them.
    """
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for message in NOISY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=UserWarning)


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Configure root logging once: INFO by default, DEBUG with verbose, WARNING with quiet.

    Without ``verbose``, third-party noise is silenced (:func:`quiet_third_party`).
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    if not verbose:
        quiet_third_party()
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


def format_metrics(metrics: Mapping[str, Any], digits: int = 4) -> str:
    """``key=value`` pairs for a log line: floats to ``digits`` significant digits, rest as is.

    >>> format_metrics({"epoch": 2, "loss": 7.797458791732788, "seconds": 0.077})
    'epoch=2 loss=7.797 seconds=0.077'
    """
    parts = []
    for key, value in metrics.items():
        if isinstance(value, float):
            value = f"{value:.{digits}g}"
        parts.append(f"{key}={value}")
    return " ".join(parts)
