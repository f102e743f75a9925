"""One seed everywhere: Python, NumPy, torch, plus explicit generators for code that draws."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed global RNGs (for libraries that use them) and return a fresh NumPy Generator."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


def torch_generator(seed: int):
    """A CPU ``torch.Generator`` seeded with ``seed``."""
    import torch

    g = torch.Generator()
    g.manual_seed(seed)
    return g
