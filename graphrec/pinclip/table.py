"""PinTable: cheap per-pin arrays kept for a whole catalogue, model inputs built per batch.

Text is tokenised and images resized per batch, so memory stays flat for large catalogues (1M
pins would need 3 GB just for 32x32 pixel tensors if precomputed). Frozen MiniLM text features
are the exception: they are computed once, since they are the expensive part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from graphrec.pinclip.config import PinClipConfig
from graphrec.pinclip.features import MetadataVocab, PinInputs, resize_images, tokenize
from graphrec.pinclip.tokenizer import pin_texts


@dataclass
class PinTable:
    texts: np.ndarray  # object array of str
    categorical: np.ndarray  # (n, C) int64
    numeric: np.ndarray  # (n, N) float32
    image_rows: np.ndarray  # (n,) int64, -1 = no image
    images: np.ndarray | None  # uint8 (M, H, W, 3), usually memory-mapped
    tokenizer: object
    max_length: int
    image_size: int
    text_features: np.ndarray | None = None

    @classmethod
    def from_pins(
        cls,
        pins: pd.DataFrame,
        images: np.ndarray | None,
        tokenizer,
        vocab: MetadataVocab,
        cfg: PinClipConfig,
        image_size: int,
        text_features: np.ndarray | None = None,
    ) -> PinTable:
        """Build from a pins frame (graph pins or a new pins table) and its image array.

        ``text_features``: the frozen backbone's features of these pins, already computed (e.g.
        by the run's ``embed-text`` stage); computed here when a frozen backbone needs them.
        """
        texts = np.array(
            pin_texts(pins["title"].tolist(), pins.get("description", pd.Series([""] * len(pins))).fillna("").tolist()),
            dtype=object,
        )
        cat, num = vocab.encode(pins)
        if images is not None and "image_row" in pins:
            rows = pins["image_row"].to_numpy(dtype=np.int64)
        else:
            rows = np.full(len(pins), -1, dtype=np.int64)
        feats = None
        if cfg.text.kind == "minilm" and cfg.text.finetune_layers == 0:
            from graphrec.pinclip.text_backbone import frozen_features

            feats = text_features if text_features is not None else frozen_features(texts.tolist(), cfg.text.backbone)
            if feats.shape[0] != len(pins):
                raise ValueError(f"text_features has {feats.shape[0]} rows for {len(pins)} pins")
        return cls(
            texts=texts,
            categorical=cat,
            numeric=num,
            image_rows=rows,
            images=images,
            tokenizer=tokenizer,
            max_length=cfg.text.max_length,
            image_size=image_size,
            text_features=feats,
        )

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, idx: np.ndarray) -> PinInputs:
        """Model inputs for rows ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        if self.text_features is None:
            ids, mask = tokenize(self.tokenizer, self.texts[idx].tolist(), self.max_length)
            feats = None
        else:
            ids = mask = torch.zeros((len(idx), 1), dtype=torch.long)
            feats = torch.from_numpy(self.text_features[idx])
        rows = self.image_rows[idx]
        if self.images is None:
            pixels = torch.zeros((len(idx), 3, self.image_size, self.image_size), dtype=torch.uint8)
        else:
            pixels = resize_images(self.images, rows, self.image_size)
        return PinInputs(
            input_ids=ids,
            attention_mask=mask,
            pixels=pixels,
            has_image=torch.from_numpy(rows >= 0),
            categorical=torch.from_numpy(self.categorical[idx]),
            numeric=torch.from_numpy(self.numeric[idx]),
            text_features=feats,
        )
