"""The PinCLIP model: towers -> modality tokens -> fusion transformer -> one pin embedding.

Fusion sequence (fixed slots, learned slot embeddings):
``[FUSE] [IMG_CLS] [IMG_POOL x g*g] [TXT_EOS] [TXT_SEG x T] [CAT x C] [NUM]``. Missing
modalities (no image, modality dropout) are removed with the attention key-padding mask, never
filled with fake zeros. The fused [FUSE] state is projected and L2-normalised; image, text and
metadata also get their own normalised projections for the cross-modal objectives.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.features import PinInputs
from graphrec.pinclip.text_backbone import TextAdapter

LOSS_NAMES = ("image_text", "text_metadata", "fused_modality", "neighbor", "pin_board")
FROZEN_CACHE_MAX = 50_000  # distinct images whose frozen-tower outputs are kept (beyond it: recomputed)


@dataclass
class PinOutputs:
    fused: torch.Tensor  # (B, E) L2-normalised
    image: torch.Tensor  # (B, E) L2-normalised (meaningless where ~has_image)
    text: torch.Tensor  # (B, E)
    metadata: torch.Tensor | None  # (B, E) or None without metadata columns
    has_image: torch.Tensor  # (B,) bool


class PinClip(nn.Module):
    """Multimodal pin encoder.

    Args:
        cfg: the PinCLIP config.
        vision: the image tower (a CLIPVisionModel, or EfficientNet-Lite0 with the same interface).
        text: the trainable text tower (CLIPTextModel, or a fine-tuned pretrained encoder), or None
            when text features are precomputed (a frozen backbone; a trained TextAdapter reads them).
        text_feature_dim: width of precomputed text features (frozen MiniLM), used when ``text`` is None.
        categorical_sizes: vocabulary size (incl. unknown) of each categorical metadata column.
        n_numeric: number of numeric metadata columns.
        pixel_mean, pixel_std: per-channel normalisation of the pixels.
    """

    def __init__(
        self,
        cfg: PinClipConfig,
        vision: nn.Module,
        text: nn.Module | None,
        text_feature_dim: int,
        categorical_sizes: list[int],
        n_numeric: int,
        pixel_mean,
        pixel_std,
    ) -> None:
        super().__init__()
        self.cfg = cfg
        D, E = cfg.fusion.dim, cfg.fusion.embed_dim
        self.vision = vision
        # A frozen image tower (image.finetune off for a pretrained CNN) runs in eval mode without
        # gradients, once per distinct image: its outputs are kept by the image's pixel bytes.
        self.frozen_image = cfg.image.kind != "vit" and not cfg.image.finetune
        if self.frozen_image:
            vision.requires_grad_(False)
        self._image_cache: dict[bytes, torch.Tensor] = {}
        self.text = text
        self.text_adapter = TextAdapter(text_feature_dim, cfg.text.adapter_dim) if text is None else None
        hv = vision.config.hidden_size
        ht = text.config.hidden_size if text is not None else text_feature_dim
        grid = vision.config.image_size // vision.config.patch_size
        self.patch_grid = grid
        self.pool_grid = min(cfg.image.pooled_grid, grid)
        self.n_seg = cfg.text.fusion_tokens if text is not None else 0
        self.n_cat, self.n_num = len(categorical_sizes), n_numeric
        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 3, 1, 1), persistent=False)
        self.img_in, self.txt_in = nn.Linear(hv, D), nn.Linear(ht, D)
        self.cat_emb = nn.ModuleList([nn.Embedding(n, D) for n in categorical_sizes])
        self.num_mlp = nn.Sequential(nn.Linear(n_numeric, D), nn.GELU(), nn.Linear(D, D)) if n_numeric else None
        self.n_img_slots = 1 + self.pool_grid**2
        self.n_txt_slots = 1 + self.n_seg
        self.n_meta_slots = self.n_cat + (1 if n_numeric else 0)
        n_slots = 1 + self.n_img_slots + self.n_txt_slots + self.n_meta_slots
        self.slot = nn.Parameter(torch.randn(1, n_slots, D) * 0.02)
        layer = nn.TransformerEncoderLayer(
            D, cfg.fusion.num_heads, 2 * D, cfg.fusion.dropout, batch_first=True, norm_first=True, activation="gelu"
        )
        self.fusion = nn.TransformerEncoder(layer, cfg.fusion.num_layers, enable_nested_tensor=False)
        self.out_norm, self.out_proj = nn.LayerNorm(D), nn.Linear(D, E)
        self.img_proj, self.txt_proj = nn.Linear(hv, E), nn.Linear(ht, E)
        self.meta_proj = nn.Linear(D, E) if self.n_meta_slots else None
        init = math.log(1.0 / cfg.loss.temperature_init)
        self.logit_scale = nn.ParameterDict({n: nn.Parameter(torch.tensor(init)) for n in LOSS_NAMES})

    def scale(self, name: str) -> torch.Tensor:
        return self.logit_scale[name].clamp(max=math.log(self.cfg.loss.max_logit_scale)).exp()

    def _pixels(self, pixels: torch.Tensor, train: bool) -> torch.Tensor:
        """uint8 pixels -> the tower's normalised input (augmented when training with image.augment)."""
        x = pixels.float() / 255.0
        if train and self.cfg.image.augment:
            B = x.shape[0]
            flip = torch.rand(B) < 0.5
            x = torch.where(flip.view(B, 1, 1, 1), x.flip(-1), x)
            theta = torch.zeros(B, 2, 3)
            theta[:, 0, 0] = theta[:, 1, 1] = 1.0
            theta[:, :, 2] = (torch.rand(B, 2) - 0.5) * 0.25  # shifts of up to 1/16 of the side
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return (x - self.pixel_mean) / self.pixel_std

    def _image_tokens(self, inp: PinInputs, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Tokens (B, 1 + g*g, D) and pooled state (B, Hv); the ViT only runs on pins with images."""
        B, hv, D = len(inp), self.vision.config.hidden_size, self.img_in.out_features
        tokens = torch.zeros(B, self.n_img_slots, D)
        pooled_all = torch.zeros(B, hv)
        idx = inp.has_image.nonzero().squeeze(1)
        if idx.numel() == 0:
            return tokens, pooled_all
        sub, pooled = self._image_tokens_of(inp.take(idx), train)
        return tokens.index_copy(0, idx, sub), pooled_all.index_copy(0, idx, pooled)

    def _frozen_tower(self, pixels: torch.Tensor) -> torch.Tensor:
        """The frozen tower's ``last_hidden_state`` (pooled first) of un-augmented ``pixels``, from
        the cache when an image was seen before (eval mode, no gradient: the same bytes either way)."""
        keys = [hashlib.blake2b(p.numpy().tobytes(), digest_size=16).digest() for p in pixels]
        missing = [i for i, k in enumerate(keys) if k not in self._image_cache]
        fresh: dict[bytes, torch.Tensor] = {}
        if missing:
            was_training = self.vision.training
            self.vision.eval()
            with torch.no_grad():
                states = self.vision(pixel_values=self._pixels(pixels[missing], train=False)).last_hidden_state
            self.vision.train(was_training)
            fresh = {keys[i]: states[j] for j, i in enumerate(missing)}
            if len(self._image_cache) + len(fresh) <= FROZEN_CACHE_MAX:
                self._image_cache.update(fresh)
        return torch.stack([self._image_cache.get(k, fresh.get(k)) for k in keys])

    def _image_tokens_of(self, inp: PinInputs, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if self.frozen_image:
            states = self._frozen_tower(inp.pixels)
            pooled, patches = states[:, 0], states[:, 1:]
        else:
            out = self.vision(pixel_values=self._pixels(inp.pixels, train))
            pooled = out.pooler_output
            patches = out.last_hidden_state[:, 1:, :]
        B, P, H = patches.shape
        grid = patches.transpose(1, 2).reshape(B, H, self.patch_grid, self.patch_grid)
        pooled_patches = F.adaptive_avg_pool2d(grid, self.pool_grid).flatten(2).transpose(1, 2)
        tokens = self.img_in(torch.cat([pooled.unsqueeze(1), pooled_patches], dim=1))
        return tokens, pooled

    def _text_tokens(self, inp: PinInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.text is None:
            feat = self.text_adapter(inp.text_features)
            return self.txt_in(feat).unsqueeze(1), feat, torch.zeros(feat.shape[0], 1, dtype=torch.bool)
        out = self.text(input_ids=inp.input_ids, attention_mask=inp.attention_mask)
        states, pooled = out.last_hidden_state, out.pooler_output
        mask = inp.attention_mask.float()
        length = mask.sum(1, keepdim=True).clamp(min=1)
        pos = torch.arange(states.shape[1], dtype=torch.float32).unsqueeze(0)
        seg = torch.clamp((pos * self.n_seg / length).floor().long(), max=self.n_seg - 1)
        w = F.one_hot(seg, self.n_seg).float() * mask.unsqueeze(-1)  # (B, L, T)
        counts = w.sum(1)  # (B, T)
        segs = torch.einsum("blt,blh->bth", w, states) / counts.clamp(min=1).unsqueeze(-1)
        tokens = self.txt_in(torch.cat([pooled.unsqueeze(1), segs], dim=1))
        pad = torch.cat([torch.zeros(states.shape[0], 1, dtype=torch.bool), counts == 0], dim=1)
        return tokens, pooled, pad

    def _meta_tokens(self, inp: PinInputs) -> torch.Tensor | None:
        toks = [emb(inp.categorical[:, j]) for j, emb in enumerate(self.cat_emb)]
        if self.num_mlp is not None:
            toks.append(self.num_mlp(inp.numeric))
        return torch.stack(toks, dim=1) if toks else None

    def _dropped(self, B: int, train: bool, has_image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample modality dropout (training), never dropping every present modality."""
        if not train or self.cfg.fusion.modality_dropout <= 0:
            z = torch.zeros(B, dtype=torch.bool)
            return z, z, z
        p = self.cfg.fusion.modality_dropout
        d_img, d_txt, d_meta = (torch.rand(B) < p), (torch.rand(B) < p), (torch.rand(B) < p)
        has_meta = self.n_meta_slots > 0
        nothing_left = (d_img | ~has_image) & d_txt & (d_meta | (not has_meta))
        return d_img, d_txt & ~nothing_left, d_meta

    def forward(self, inp: PinInputs, train: bool = False) -> PinOutputs:
        B = len(inp)
        has_image = inp.has_image
        img_tok, img_pooled = self._image_tokens(inp, train)
        txt_tok, txt_pooled, txt_pad = self._text_tokens(inp)
        meta_tok = self._meta_tokens(inp)
        d_img, d_txt, d_meta = self._dropped(B, train, has_image)
        parts = [torch.zeros(B, 1, img_tok.shape[-1]), img_tok, txt_tok]
        pads = [
            torch.zeros(B, 1, dtype=torch.bool),
            (~has_image | d_img).unsqueeze(1).expand(B, self.n_img_slots),
            txt_pad | d_txt.unsqueeze(1),
        ]
        if meta_tok is not None:
            parts.append(meta_tok)
            pads.append(d_meta.unsqueeze(1).expand(B, self.n_meta_slots))
        h = self.fusion(torch.cat(parts, dim=1) + self.slot, src_key_padding_mask=torch.cat(pads, dim=1))
        fused = F.normalize(self.out_proj(self.out_norm(h[:, 0])), dim=-1)
        meta = F.normalize(self.meta_proj(meta_tok.mean(1)), dim=-1) if meta_tok is not None else None
        return PinOutputs(
            fused=fused,
            image=F.normalize(self.img_proj(img_pooled), dim=-1),
            text=F.normalize(self.txt_proj(txt_pooled), dim=-1),
            metadata=meta,
            has_image=has_image,
        )


def build_model(cfg: PinClipConfig, tokenizer, vocab) -> PinClip:
    """A freshly initialised PinClip for ``cfg``, its tokenizer and metadata vocab (towers.py)."""
    from graphrec.pinclip.towers import pixel_stats, text_tower, vision_tower

    vision = vision_tower(cfg)
    text = text_tower(cfg, tokenizer)
    mean, std = pixel_stats(cfg)
    return PinClip(cfg, vision, text, 384, vocab.sizes, len(vocab.numeric), mean, std)
