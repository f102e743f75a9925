"""The PinCLIP model directory: weights, config, tokenizer, metadata vocabularies, manifest.

``model.safetensors`` (weights), ``config.json`` (the resolved PinClipConfig), ``build.json``
(what rebuilds the architecture without the original --clip-path folder: tower configs, metadata
sizes, pixel statistics), ``tokenizer/`` (save_pretrained), ``metadata_vocab.json``,
``manifest.json``, ``checkpoints/`` (the last training checkpoints).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.features import MetadataVocab
from graphrec.pinclip.model import PinClip
from graphrec.pinclip.tokenizer import load_tokenizer
from graphrec.utils.config import to_dict
from graphrec.utils.io import atomic_output_dir, read_json, write_json
from graphrec.utils.modeldir import ModelDirError, open_model_dir  # noqa: F401 - ModelDirError re-exported

KIND = "graphrec.pinclip_model"


@dataclass
class LoadedPinClip:
    model: PinClip
    cfg: PinClipConfig
    tokenizer: Any
    vocab: MetadataVocab
    manifest: dict[str, Any]

    @property
    def image_size(self) -> int:
        return int(self.model.vision.config.image_size)


def build_info(model: PinClip) -> dict[str, Any]:
    return {
        "vision_config": model.vision.config.to_dict(),
        "text_config": model.text.config.to_dict() if model.text is not None else None,
        "text_feature_dim": model.txt_in.in_features,
        "categorical_sizes": [e.num_embeddings for e in model.cat_emb],
        "n_numeric": model.n_num,
        "pixel_mean": model.pixel_mean.flatten().tolist(),
        "pixel_std": model.pixel_std.flatten().tolist(),
    }


def save_model_dir(
    out: str | Path,
    model: PinClip,
    cfg: PinClipConfig,
    tokenizer,
    vocab: MetadataVocab,
    manifest: dict[str, Any],
    checkpoints: Path | None = None,
    overwrite: bool = False,
) -> None:
    """Write the model directory atomically (moving ``checkpoints`` into it)."""
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        save_model(model, str(tmp / "model.safetensors"))
        write_json(tmp / "config.json", to_dict(cfg))
        write_json(tmp / "build.json", build_info(model))
        tokenizer.save_pretrained(str(tmp / "tokenizer"))
        vocab.save(tmp / "metadata_vocab.json")
        write_json(tmp / "manifest.json", {"kind": KIND, "schema_version": 1, **manifest})
        if checkpoints is not None and checkpoints.is_dir():
            shutil.move(str(checkpoints), tmp / "checkpoints")


def _text_tower(config: dict[str, Any] | None, cfg: PinClipConfig):
    """The text tower's architecture from build.json (its weights come from model.safetensors)."""
    if config is None:
        return None
    if config.get("model_type") == "clip_text_model" or cfg.text.kind == "clip":
        return CLIPTextModel(CLIPTextConfig(**config))
    from graphrec.pinclip.text_backbone import finetune_tower_from_config

    return finetune_tower_from_config(config, cfg.text.finetune_layers)


def _vision_tower(config: dict[str, Any]):
    """The image tower's architecture from build.json (its weights come from model.safetensors)."""
    from graphrec.pinclip.efficientnet import MODEL_TYPE, EfficientNetLite0

    if config.get("model_type") == MODEL_TYPE:
        return EfficientNetLite0(int(config["image_size"]))
    return CLIPVisionModel(CLIPVisionConfig(**config))


def load_model_dir(path: str | Path) -> LoadedPinClip:
    """Rebuild the model from its directory alone (no --clip-path folder or network needed)."""
    path = Path(path)
    manifest, _, cfg = open_model_dir(
        path,
        files=("manifest.json", "config.json", "build.json", "model.safetensors"),
        kind=KIND,
        config_cls=PinClipConfig,
        section=None,
        what="PinCLIP model",
        hint="train one with `graphrec train-pinclip`",
    )
    info = read_json(path / "build.json")
    vision = _vision_tower(info["vision_config"])
    text = _text_tower(info["text_config"], cfg)
    model = PinClip(
        cfg,
        vision,
        text,
        info["text_feature_dim"],
        info["categorical_sizes"],
        info["n_numeric"],
        info["pixel_mean"],
        info["pixel_std"],
    )
    load_model(model, str(path / "model.safetensors"))
    model.eval()
    return LoadedPinClip(
        model=model,
        cfg=cfg,
        tokenizer=load_tokenizer(path / "tokenizer"),
        vocab=MetadataVocab.load(path / "metadata_vocab.json"),
        manifest=manifest,
    )
