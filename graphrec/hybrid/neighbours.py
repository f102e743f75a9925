"""The non-parametric half of ``full``'s inductive path: a pin's content neighbours among the warm
pins vote for its teacher vector.

A cold or new pin's vector is the softmax-weighted mean (weights ``exp(cos / temperature)``) of
the teacher vectors of its ``k`` most similar warm pins by content cosine. On MovieLens-small this
ranks cold pins better than the MLP student (validation cold-only Recall@20 0.137 vs 0.088 at
k = 50, temperature 0.05): two films with related titles and genres share an audience that a
small MLP trained on a few thousand pins does not recover. The student choice (MLP, neighbours or
their mean) is made on validation (``full.student.kind``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_ROWS = 1 << 24


def unit_rows(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@dataclass
class ContentNeighbours:
    """``keys``: warm pins' unit content rows; ``values``: their teacher vectors."""

    keys: np.ndarray
    values: np.ndarray
    k: int
    temperature: float

    def embed(self, content: np.ndarray) -> np.ndarray:
        """Neighbour-vote vectors of ``content`` rows (float32, batched: bounded memory)."""
        keys, values = torch.from_numpy(unit_rows(self.keys)), torch.from_numpy(self.values)
        q = torch.from_numpy(unit_rows(content))
        k = min(self.k, len(keys))
        out = torch.zeros((len(q), values.shape[1]), dtype=torch.float32)
        if k == 0:
            return out.numpy()
        step = max(1, _ROWS // max(len(keys), 1))
        for a in range(0, len(q), step):
            sim = q[a : a + step] @ keys.T
            top, idx = torch.topk(sim, k, dim=1)
            w = torch.softmax(top / self.temperature, dim=1)
            out[a : a + step] = torch.einsum("qk,qkd->qd", w, values[idx])
        return out.numpy()
