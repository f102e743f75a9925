"""Tiny PinCLIP configs so tests train in seconds (text tower from scratch; the pretrained
backbone paths have their own tests in test_text_backbone.py)."""

from __future__ import annotations

import pytest

from graphrec.pinclip.config import PinClipConfig
from graphrec.utils.config import from_dict

TINY = {
    "image": {
        "image_size": 16,
        "patch_size": 8,
        "hidden_size": 32,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_size": 64,
        "pooled_grid": 2,
    },
    "text": {
        "kind": "clip",
        "vocab_size": 300,
        "max_length": 24,
        "hidden_size": 32,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_size": 64,
        "fusion_tokens": 2,
    },
    "fusion": {"dim": 32, "num_layers": 1, "num_heads": 2, "embed_dim": 16},
    "train": {
        "steps": 6,
        "batch_size": 16,
        "checkpoint_every": 2,
        "log_every": 2,
        "warmup_steps": 2,
        "embed_batch_size": 64,
    },
}


def tiny_config(**overrides) -> PinClipConfig:
    data = {k: dict(v) for k, v in TINY.items()}
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        if name:
            data.setdefault(section, {})[name] = value
        else:
            data[section] = value
    return from_dict(PinClipConfig, data)


@pytest.fixture
def tiny_cfg() -> PinClipConfig:
    return tiny_config()
