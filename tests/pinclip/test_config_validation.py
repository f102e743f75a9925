"""Every PinCLIP config section rejects values that would crash or silently misbehave in training."""

from __future__ import annotations

import pytest

from graphrec.pinclip.config import PinClipConfig
from graphrec.utils.config import ConfigError, load_config

BAD = [
    "train.checkpoint_every=0",  # divided by in the training loop
    "train.log_every=0",
    "train.steps=-1",
    "train.batch_size=1",
    "train.lr=0",
    "train.warmup_steps=-1",
    "train.grad_clip=-1",
    "image.patch_size=7",  # 32 is not a multiple of 7
    "image.num_heads=5",  # 96 not divisible by 5
    "text.max_length=0",
    "text.fusion_tokens=0",
    "fusion.dim=102",  # not divisible by 4 heads
    "fusion.dropout=1.0",
    "fusion.modality_dropout=-0.1",
    "metadata.max_categories=0",
    "loss.neighbor=-1",
    "loss.temperature_init=0",
    "loss.max_logit_scale=1",
]


@pytest.mark.parametrize("override", BAD)
def test_bad_values_are_rejected_with_the_key(override: str) -> None:
    with pytest.raises(ConfigError, match=override.split("=")[0].split(".")[0]):
        load_config(PinClipConfig, None, [override])


def test_all_objectives_off_is_rejected() -> None:
    off = [f"loss.{n}=0" for n in ("image_text", "text_metadata", "fused_modality", "neighbor", "pin_board")]
    with pytest.raises(ConfigError, match="at least one objective"):
        load_config(PinClipConfig, None, off)


def test_defaults_and_the_shipped_configs_are_valid() -> None:
    from experiments.config import load_run_config

    for name in ("default", "tiny", "movielens"):
        load_run_config(f"experiments/configs/{name}.yaml")
    assert PinClipConfig().train.checkpoint_every >= 1
