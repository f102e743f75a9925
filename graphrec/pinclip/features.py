"""Model inputs for pins: token ids, resized images, metadata indices, built once per pin table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

# CLIP's pixel statistics; a --clip-path folder's preprocessor_config.json overrides them.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class MetadataVocab:
    """Categorical vocabularies (index 0 = unknown/missing) and numeric standardisation."""

    categorical: dict[str, list[str]]
    numeric: dict[str, tuple[float, float]]

    @classmethod
    def fit(cls, pins: pd.DataFrame, categorical: list[str], numeric: list[str], max_categories: int) -> MetadataVocab:
        cats = {}
        for c in categorical:
            counts = pins[c].dropna().astype(str).value_counts(sort=False)
            counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")  # ties by value
            cats[c] = counts.index[:max_categories].tolist()
        nums = {}
        for c in numeric:
            v = pins[c].to_numpy(dtype=np.float64)
            nums[c] = (float(v.mean()) if v.size else 0.0, float(v.std()) if v.size and v.std() > 0 else 1.0)
        return cls(categorical=cats, numeric=nums)

    @property
    def sizes(self) -> list[int]:
        return [len(v) + 1 for v in self.categorical.values()]

    def encode(self, pins: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(n x n_categorical int64 indices, n x n_numeric float32 standardised values).

        Columns absent from ``pins`` (e.g. a new pins table) encode as unknown / the mean.
        """
        n = len(pins)
        cat = np.zeros((n, len(self.categorical)), dtype=np.int64)
        for j, (c, values) in enumerate(self.categorical.items()):
            if c in pins:
                lookup = pd.Index(values)
                cat[:, j] = lookup.get_indexer(pins[c].astype("object").where(pins[c].notna(), None)) + 1
        num = np.zeros((n, len(self.numeric)), dtype=np.float32)
        for j, (c, (mean, std)) in enumerate(self.numeric.items()):
            if c in pins:
                num[:, j] = np.clip((pins[c].to_numpy(dtype=np.float64) - mean) / std, -10, 10)
        return cat, num

    def to_json(self) -> dict:
        """Ordered lists (column order is the model's token order, so it must survive a reload)."""
        return {
            "categorical": [[k, v] for k, v in self.categorical.items()],
            "numeric": [[k, m, s] for k, (m, s) in self.numeric.items()],
        }

    @classmethod
    def from_json(cls, data: dict) -> MetadataVocab:
        return cls(
            categorical={k: list(v) for k, v in data["categorical"]},
            numeric={k: (float(m), float(s)) for k, m, s in data["numeric"]},
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: Path) -> MetadataVocab:
        return cls.from_json(json.loads(path.read_text()))


def resize_images(images: np.ndarray, rows: np.ndarray, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 (n, 3, size, size) for ``images[rows]``; rows < 0 (no image) give zeros."""
    out = torch.zeros((len(rows), 3, size, size), dtype=torch.uint8)
    have = np.flatnonzero(rows >= 0)
    for a in range(0, len(have), chunk):  # called per batch: the caller's loop has the bar
        idx = have[a : a + chunk]
        x = torch.from_numpy(np.ascontiguousarray(images[rows[idx]])).permute(0, 3, 1, 2).float()
        if x.shape[-2:] != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[torch.from_numpy(idx)] = x.round().clamp(0, 255).to(torch.uint8)
    return out


@dataclass
class PinInputs:
    """Every model input of a set of pins, as tensors indexed by row."""

    input_ids: torch.Tensor  # (n, L) int64
    attention_mask: torch.Tensor  # (n, L) int64
    pixels: torch.Tensor  # (n, 3, S, S) uint8
    has_image: torch.Tensor  # (n,) bool
    categorical: torch.Tensor  # (n, C) int64
    numeric: torch.Tensor  # (n, N) float32
    text_features: torch.Tensor | None = None  # (n, H) precomputed frozen text embeddings (minilm)

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def take(self, idx: torch.Tensor) -> PinInputs:
        return PinInputs(
            input_ids=self.input_ids[idx],
            attention_mask=self.attention_mask[idx],
            pixels=self.pixels[idx],
            has_image=self.has_image[idx],
            categorical=self.categorical[idx],
            numeric=self.numeric[idx],
            text_features=None if self.text_features is None else self.text_features[idx],
        )


def tokenize(tokenizer, texts: list[str], max_length: int, chunk: int = 65536) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask = [], []
    for a in range(0, len(texts), chunk):
        enc = tokenizer(
            texts[a : a + chunk],
            max_length=max_length,
            truncation=True,
            padding="max_length",
            return_tensors="pt",
            return_attention_mask=True,
        )
        ids.append(enc["input_ids"])
        mask.append(enc["attention_mask"])
    if not ids:
        return torch.zeros((0, max_length), dtype=torch.long), torch.zeros((0, max_length), dtype=torch.long)
    return torch.cat(ids).long(), torch.cat(mask).long()
