"""``--device``: auto resolves to CPU without a GPU, cuda without one is a one-line error."""

from __future__ import annotations

import pytest
import torch

from graphrec.distributed.device import resolve_device


def test_auto_and_cpu_resolve_to_cpu_here() -> None:
    assert resolve_device("cpu", "train-sage") == "cpu"
    if not torch.cuda.is_available():
        assert resolve_device("auto", "train-sage") == "cpu"


def test_cuda_without_a_gpu_and_unknown_names_fail_clearly() -> None:
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda", "embed-graph")
    with pytest.raises(ValueError, match="expected one of auto, cpu, cuda"):
        resolve_device("tpu", "embed-graph")


def test_cli_device_flag_is_checked_before_any_work(tmp_path) -> None:
    from typer.testing import CliRunner

    from graphrec.cli import (
        app,
        sage,  # noqa: F401  (registers the commands)
    )

    args = [
        "embed-graph",
        "--graph",
        str(tmp_path / "g"),
        "--features",
        str(tmp_path / "f"),
        "--model",
        str(tmp_path / "m"),
        "--out",
        str(tmp_path / "o"),
        "--device",
        "tpu",
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 1 and "expected one of auto, cpu, cuda" in r.output
