"""The PinCLIP model directory: weights, config, tokenizer, metadata vocabularies, manifest.

``model.safetensors`` (weights), ``config.json`` (the resolved PinClipConfig), ``build.json``
(what rebuilds the architecture without the original --clip-path folder: tower configs, metadata
sizes, pixel statistics), ``tokenizer/`` (save_pretrained), ``metadata_vocab.json``,
``manifest.json``, ``checkpoints/`` (the last training checkpoints).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model
from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModel

from graphrec.config import from_dict, to_dict
from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.features import MetadataVocab
from graphrec.pinclip.model import PinClip
from graphrec.pinclip.tokenizer import load_tokenizer
from graphrec.utils.io import read_json, write_json

KIND = "graphrec.pinclip_model"


class ModelDirError(ValueError):
    """A model directory that is missing files or is of another kind."""


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


def save_model_dir(out: Path, model: PinClip, cfg: PinClipConfig, tokenizer, vocab: MetadataVocab,
                   manifest: dict[str, Any]) -> None:
    """Write the model files into ``out`` (a temporary directory of atomic_output_dir)."""
    save_model(model, str(out / "model.safetensors"))
    write_json(out / "config.json", to_dict(cfg))
    write_json(out / "build.json", build_info(model))
    tokenizer.save_pretrained(str(out / "tokenizer"))
    vocab.save(out / "metadata_vocab.json")
    write_json(out / "manifest.json", {"kind": KIND, "schema_version": 1, **manifest})


def load_model_dir(path: str | Path) -> LoadedPinClip:
    """Rebuild the model from its directory alone (no --clip-path folder or network needed)."""
    path = Path(path)
    mpath = path / "manifest.json"
    if not mpath.is_file():
        raise ModelDirError(f"{path}: not a PinCLIP model directory (no manifest.json); train one with `graphrec train-pinclip`")
    manifest = read_json(mpath)
    if manifest.get("kind") != KIND:
        raise ModelDirError(f"{mpath}: kind {manifest.get('kind')!r} is not {KIND}")
    cfg = from_dict(PinClipConfig, json.loads((path / "config.json").read_text()))
    info = read_json(path / "build.json")
    vision = CLIPVisionModel(CLIPVisionConfig(**info["vision_config"]))
    text = CLIPTextModel(CLIPTextConfig(**info["text_config"])) if info["text_config"] else None
    model = PinClip(cfg, vision, text, info["text_feature_dim"], info["categorical_sizes"], info["n_numeric"],
                    info["pixel_mean"], info["pixel_std"])
    load_model(model, str(path / "model.safetensors"))
    model.eval()
    return LoadedPinClip(model=model, cfg=cfg, tokenizer=load_tokenizer(path / "tokenizer"),
                         vocab=MetadataVocab.load(path / "metadata_vocab.json"), manifest=manifest)
