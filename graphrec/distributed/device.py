"""``--device auto|cpu|cuda`` of the training and embedding commands.

``auto`` is CUDA when torch sees a GPU, else CPU. The stages compute on CPU today: their
tensors come from numpy and are not yet placed on a device, so a run that resolves to CUDA
says so and runs on CPU (``auto``) or stops with one line (``cuda``) instead of crashing
half-way. Wiring placement belongs to the model code (being redesigned, issue 14 section 1).
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, stage: str) -> str:
    """The device ``stage`` runs on for ``--device name`` (``cpu`` on this code base)."""
    import torch

    if name not in CHOICES:
        raise ValueError(f"--device {name!r}: expected one of {', '.join(CHOICES)}")
    has_cuda = torch.cuda.is_available()
    if name == "cuda" and not has_cuda:
        raise ValueError(
            "--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False); use --device cpu or auto"
        )
    if name == "cuda":
        raise ValueError(f"--device cuda: {stage} does not place its tensors on CUDA yet; use --device cpu")
    if name == "auto" and has_cuda:
        log.warning("%s: a CUDA device is present but this stage computes on CPU", stage)
    return "cpu"
