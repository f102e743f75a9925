"""Quality measures of content embeddings (issue 3's table), vectorised.

* ``cross_modal_recall``: image->text and text->image Recall@K among a set of pins.
* ``cold_neighbor_recall``: for held-out (cold) pins, recall of the other pins of their test
  boards among the pin's nearest neighbours by content embedding.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from graph_build.graph import PinBoardGraph


def recall_at_k(scores: torch.Tensor, ks: tuple[int, ...]) -> dict[int, float]:
    """Row i's correct column is i; Recall@K = share of rows whose match ranks in the top K."""
    target = scores.diagonal().unsqueeze(1)
    rank = (scores > target).sum(1)  # 0 = best
    return {k: float((rank < k).float().mean()) for k in ks}


@torch.inference_mode()
def cross_modal_recall(image: np.ndarray, text: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Image->text and text->image Recall@K for row-aligned normalised projections."""
    s = torch.from_numpy(image) @ torch.from_numpy(text).T
    i2t, t2i = recall_at_k(s, ks), recall_at_k(s.T, ks)
    return {
        **{f"image_to_text_recall@{k}": v for k, v in i2t.items()},
        **{f"text_to_image_recall@{k}": v for k, v in t2i.items()},
    }


@torch.inference_mode()
def cold_neighbor_recall(
    graph: PinBoardGraph,
    emb: np.ndarray,
    ks: tuple[int, ...] = (20, 50),
    split: str = "test",
    batch: int = 1024,
    per_query: bool = False,
) -> dict[str, float]:
    """Mean over cold pins with ``split`` saves of recall@K of their boards' other pins.

    Relevant set of cold pin p: every pin saved (any split) to a board on which p has a
    ``split`` save, except p. Candidates: all pins except p. With ``per_query``, the result also
    holds ``per_query@K`` arrays (same query order for any embedding, for paired statistics).
    """
    all_pins = np.concatenate([graph.saves[s]["pin_idx"].to_numpy() for s in ("train", "val", "test")])
    all_boards = np.concatenate([graph.saves[s]["board_idx"].to_numpy() for s in ("train", "val", "test")])
    members = sp.csr_matrix(
        (np.ones(len(all_pins), np.float32), (all_boards, all_pins)), shape=(graph.n_boards, graph.n_pins)
    )
    members.data[:] = 1.0
    held = graph.csr(split)  # pins x boards
    queries = np.flatnonzero(graph.is_cold & (np.diff(held.indptr) > 0))
    rel = (held[queries] @ members).tocsr()  # queries x pins
    rel[np.arange(len(queries)), queries] = 0
    rel.eliminate_zeros()
    E = torch.from_numpy(np.ascontiguousarray(emb, dtype=np.float32))
    kmax = max(ks)
    hits = {k: [] for k in ks}
    n_rel = np.diff(rel.indptr)
    for a in range(0, len(queries), batch):
        q = queries[a : a + batch]
        s = E[q] @ E.T
        s[torch.arange(len(q)), torch.from_numpy(q)] = float("-inf")
        top = torch.topk(s, kmax, dim=1).indices.numpy()
        dense_hit = np.take_along_axis(rel[a : a + batch].toarray() > 0, top, axis=1)
        for k in ks:
            hits[k].append(dense_hit[:, :k].sum(1))
    keep = n_rel > 0
    out = {"cold_queries": int(keep.sum())}
    for k in ks:
        h = np.concatenate(hits[k]) if hits[k] else np.zeros(0)
        values = h[keep] / n_rel[keep]
        out[f"cold_neighbor_recall@{k}"] = float(values.mean()) if keep.any() else float("nan")
        if per_query:
            out[f"per_query@{k}"] = values
    return out
