"""The EfficientNet-Lite0 image tower: TF "SAME" padding, the packaged ImageNet state_dict loads
into the architecture tensor for tensor, and PinCLIP trains, saves and reloads with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graph_build.graph import load_graph
from graphrec.embeddings import load_embeddings
from graphrec.pinclip.api import train_pinclip_dir
from graphrec.pinclip.efficientnet import EfficientNetLite0, SameConv2d, weights_path
from graphrec.pinclip.embed import embed_graph_pins
from graphrec.pinclip.store import load_model_dir
from graphrec.utils.config import ConfigError
from tests.pinclip.conftest import tiny_config


@pytest.mark.parametrize("size", [7, 8, 32])
def test_same_padding_is_tensorflows(size: int) -> None:
    """Output ceil(n / s); an even input's extra padding row/column goes at the bottom/right."""
    torch.manual_seed(0)
    conv = SameConv2d(2, 3, 3, stride=2)
    x = torch.randn(1, 2, size, size)
    out = conv(x)
    assert out.shape[-2:] == (-(-size // 2), -(-size // 2))
    total = max((-(-size // 2) - 1) * 2 + 3 - size, 0)
    lo, hi = total // 2, total - total // 2
    expected = F.conv2d(F.pad(x, (lo, hi, lo, hi)), conv.weight, stride=2)
    torch.testing.assert_close(out, expected)


def test_imagenet_state_dict_fills_every_tensor_of_the_architecture() -> None:
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    tower = EfficientNetLite0(64)
    own = tower.state_dict()
    trunk = {k: v for k, v in state.items() if not k.startswith("_fc.")}
    assert set(own) == set(trunk) and all(own[k].shape == trunk[k].shape for k in own)
    tower.load_imagenet().eval()
    torch.testing.assert_close(tower._blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"])
    with torch.no_grad():
        out = tower(torch.randn(2, 3, 64, 64))
    assert out.pooler_output.shape == (2, 1280) and out.last_hidden_state.shape == (2, 1 + 2 * 2, 1280)
    torch.testing.assert_close(out.last_hidden_state[:, 1:].mean(1), out.pooler_output)


def test_image_size_must_be_a_multiple_of_32_and_clip_path_brings_its_own_tower() -> None:
    with pytest.raises(ConfigError, match=r"pinclip\.image\.image_size.*multiple of 32"):
        tiny_config(image__kind="efficientnet_lite0", image__image_size=48)
    with pytest.raises(ConfigError, match=r"pinclip\.image\.kind"):
        tiny_config(image__kind="efficientnet_lite0", image__image_size=32, clip_path="/some/clip")
    with pytest.raises(ConfigError, match=r"image\.kind.*expected one of \['vit', 'efficientnet_lite0'\]"):
        tiny_config(image__kind="resnet")


def test_pinclip_trains_with_the_efficientnet_tower_and_reloads_from_its_directory(
    synth_graph: Path, tmp_path: Path
) -> None:
    g = load_graph(synth_graph)
    cfg = tiny_config(image__kind="efficientnet_lite0", image__image_size=32, image__finetune=True, train__steps=2)
    train_pinclip_dir(g, cfg, tmp_path / "model")
    loaded = load_model_dir(tmp_path / "model")
    assert isinstance(loaded.model.vision, EfficientNetLite0) and loaded.image_size == 32
    # the fine-tuned trunk moved away from the ImageNet weights it started from
    start = EfficientNetLite0(32).load_imagenet().state_dict()["_conv_stem.weight"]
    assert not torch.equal(loaded.model.vision.state_dict()["_conv_stem.weight"], start)
    embed_graph_pins(g, tmp_path / "model", tmp_path / "emb")
    embed_graph_pins(g, tmp_path / "model", tmp_path / "emb2", batch_size=7)  # BN in eval mode: no batch effect
    a, b = load_embeddings(tmp_path / "emb", g).pin, load_embeddings(tmp_path / "emb2", g).pin
    assert a.shape == (g.n_pins, 16)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_a_frozen_trunk_keeps_its_imagenet_weights_and_computes_each_image_once(
    synth_graph: Path, tmp_path: Path
) -> None:
    g = load_graph(synth_graph)
    cfg = tiny_config(image__kind="efficientnet_lite0", image__image_size=32, train__steps=2)
    train_pinclip_dir(g, cfg, tmp_path / "model")
    model = load_model_dir(tmp_path / "model").model
    start = EfficientNetLite0(32).load_imagenet().state_dict()
    assert all(torch.equal(v, start[k]) for k, v in model.vision.state_dict().items())  # BN statistics too
    assert not any(p.requires_grad for p in model.vision.parameters())
    pixels = torch.randint(0, 255, (5, 3, 32, 32), dtype=torch.uint8)
    pixels[3] = pixels[1]  # a repeated image is computed once
    first = model._frozen_tower(pixels)
    assert len(model._image_cache) == 4
    model.train()  # the trunk still runs in eval mode: the cached and the fresh outputs agree
    torch.testing.assert_close(model._frozen_tower(pixels), first, rtol=0, atol=0)
    model._image_cache.clear()
    torch.testing.assert_close(model._frozen_tower(pixels), first, rtol=0, atol=0)
