"""``lightgcn``: torch_geometric.nn.LightGCN trained with BPR on the train graph.

Boards are nodes ``0..n_boards-1`` and pins ``n_boards..``; the train saves in both directions
are the propagation graph (a normalised torch sparse adjacency, built once). Each epoch visits
every train save once as a positive with one uniformly drawn negative pin; the number of epochs
is chosen on the validation split by early stopping (:class:`EarlyStopping`). The model has an ID
embedding per node, so a cold pin (isolated in the train graph) has no learned vector:
``can_score_cold = False``.

``graphrec run`` fits it once, in its own stage (:func:`write_lightgcn_dir`, a
graphrec/cf/factors.py directory), for the ``full`` teacher search and for ``evaluate``, which
then loads the vectors (``prefit``) instead of training the same model again.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eval.config import EvalConfig, LightGCNConfig
from eval.recommenders.base import UNSCOREABLE, FactorRecommender, Factors
from eval.recommenders.selection import CRITERION, SELECT_SLICE, ValidationSet, best_index, chosen_record, val_recall
from graph_build.graph import PinBoardGraph
from graphrec.cf.factors import load_factors, save_factors
from graphrec.utils.config import to_dict
from graphrec.utils.logs import progress
from graphrec.utils.seed import torch_generator

log = logging.getLogger(__name__)


def normalized_adjacency(graph: PinBoardGraph) -> torch.Tensor:
    """``D^-1/2 A D^-1/2`` of the symmetric train graph (boards then pins) as torch sparse CSR.

    LightGCN's convolutions would recompute this normalisation on every forward; it is done once
    here and ``propagate`` multiplies by it directly, which is the same maths.
    """
    from torch_geometric.nn.conv.gcn_conv import gcn_norm

    pin, board = graph.edges("train")
    pin_node = pin + graph.n_boards
    n = graph.n_boards + graph.n_pins
    edge_index = torch.from_numpy(np.stack([np.concatenate([board, pin_node]), np.concatenate([pin_node, board])]))
    edge_index, weight = gcn_norm(edge_index, None, n, add_self_loops=False)
    with torch.sparse.check_sparse_tensor_invariants(True):
        adj = torch.sparse_coo_tensor(edge_index, weight, (n, n)).coalesce()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return adj.to_sparse_csr()


class _SymmetricSpMM(torch.autograd.Function):
    """``adj @ x`` for a symmetric sparse ``adj``: the gradient is ``adj @ grad`` again.

    torch's generic sparse-CSR backward builds the transposed product each step (~6x the forward
    on an 11k-pin graph); for the symmetric normalised adjacency it is the same product.
    """

    @staticmethod
    def forward(ctx, adj: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        ctx.adj = adj
        return torch.sparse.mm(adj, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor]:  # noqa: ANN001
        return None, torch.sparse.mm(ctx.adj, grad)


def propagate(model, adj: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
    """PyG ``LightGCN.get_embedding`` (the ``alpha``-weighted sum of the layers' outputs) with
    every convolution as ``adj @ x`` on the pre-normalised symmetric ``adj``."""
    x = model.embedding.weight
    out = x * model.alpha[0]
    for i in range(model.num_layers):
        x = _SymmetricSpMM.apply(adj, x)
        out = out + x * model.alpha[i + 1]
    return out


class LightGCNRecommender(FactorRecommender):
    """LightGCN (He et al. 2020) via PyG, BPR loss, Adam.

    Args:
        cfg: dim, layers, epochs, batch_size, lr, lambda_reg, and the early stopping's settings.
        seed: initialisation, shuffling and negative sampling.
        max_boards: val boards the early stopping scores (a seeded sample above it; 0 = all):
            the evaluation's ``max_queries``, as for every choice made on validation.
        prefit: a factor directory of this very fit (same ``identity``): its vectors are loaded
            instead of training (an error names the directory when the identity differs).
    """

    name = "lightgcn"
    can_score_cold = False

    def __init__(self, cfg: LightGCNConfig, seed: int, max_boards: int = 0, prefit: Path | None = None) -> None:
        super().__init__()
        self.cfg, self.seed, self.max_boards, self.prefit = cfg, seed, max_boards, prefit
        self.losses: list[float] = []
        self.chosen: dict | None = None  # the epochs chosen on validation (eval/run.py logs it)
        self.prefit_seconds: float | None = None  # the loaded fit's training time

    def identity(self) -> dict[str, Any]:
        """What determines the fitted vectors (with the graph): a prefit directory must match it."""
        return {"model": self.name, "config": to_dict(self.cfg), "seed": self.seed, "max_boards": self.max_boards}

    def _factors(self, graph: PinBoardGraph) -> Factors:
        if self.prefit is not None:
            f = load_factors(self.prefit, graph, self.identity())
            self.chosen, self.prefit_seconds = f.chosen, f.fit_seconds
            log.info("lightgcn: loaded the fit of %s (trained in %.1fs)", f.root, f.fit_seconds)
            return Factors.from_numpy(board=f.board, pin=f.pin)
        return self._train(graph)

    def _train(self, graph: PinBoardGraph) -> Factors:
        from torch_geometric.nn import LightGCN

        c = self.cfg
        gen = torch_generator(self.seed)
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            model = LightGCN(graph.n_boards + graph.n_pins, c.dim, c.layers)
        adj = normalized_adjacency(graph)
        pin, board = graph.edges("train")
        pos_board, pos_pin = torch.from_numpy(board), torch.from_numpy(pin + graph.n_boards)
        opt = torch.optim.Adam(model.parameters(), lr=c.lr)
        n_edges = len(pos_board)
        stop = EarlyStopping(graph, self.seed, c.patience, self.max_boards)
        for epoch in progress(range(c.epochs), desc="lightgcn", unit="epoch"):
            order = torch.randperm(n_edges, generator=gen)
            total = 0.0
            for start in range(0, n_edges, c.batch_size):
                sel = order[start : start + c.batch_size]
                b, p = pos_board[sel], pos_pin[sel]
                neg = torch.randint(graph.n_pins, (len(sel),), generator=gen) + graph.n_boards
                emb = propagate(model, adj)
                pos_rank = (emb[b] * emb[p]).sum(-1)
                neg_rank = (emb[b] * emb[neg]).sum(-1)
                nodes = torch.cat([b, p, neg]).unique()
                loss = model.recommendation_loss(pos_rank, neg_rank, node_id=nodes, lambda_reg=c.lambda_reg)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(sel)
            self.losses.append(total / max(n_edges, 1))
            log.debug("lightgcn epoch %d: loss %.4f", epoch, self.losses[-1])
            if stop.active and ((epoch + 1) % c.eval_every == 0 or epoch + 1 == c.epochs):
                with torch.no_grad():
                    if stop.measure(epoch + 1, propagate(model, adj).numpy()):
                        break
        if stop.active and stop.best is not None:
            emb = stop.best
            self.chosen = stop.record()
            log.info("lightgcn: chose %d epochs on %s", self.chosen["values"]["epochs"], CRITERION)
        else:
            with torch.no_grad():
                emb = propagate(model, adj).numpy()
        return Factors.from_numpy(board=emb[: graph.n_boards], pin=emb[graph.n_boards :])


def write_lightgcn_dir(graph: PinBoardGraph, cfg: EvalConfig, out: str | Path, overwrite: bool = False) -> dict:
    """Fit the ``lightgcn`` baseline as ``evaluate`` would (``cfg.lightgcn``, ``cfg.seed``, at most
    ``cfg.max_queries`` val boards, ``cfg.num_threads`` torch threads) and write its factor
    directory ``out``; return the manifest."""
    from eval.run import torch_threads  # the evaluation's thread setting: the same vectors

    model = LightGCNRecommender(cfg.lightgcn, cfg.seed, cfg.max_queries)
    t0 = time.perf_counter()
    with torch_threads(cfg.num_threads):
        model.fit(graph)
    assert model.factors is not None
    return save_factors(
        out,
        model=model.name,
        board=model.factors.board.numpy(),
        pin=model.factors.pin.numpy(),
        graph=graph,
        identity=model.identity(),
        chosen=model.chosen,
        fit_seconds=time.perf_counter() - t0,
        overwrite=overwrite,
    )


class EarlyStopping:
    """The epoch count chosen on validation: the best val Recall@20 (``SELECT_SLICE``) so far,
    its embeddings (boards then pins), and a stop after ``patience`` measurements without a new
    best, on at most ``max_boards`` val boards (a seeded sample; 0 = all). Inactive (never reads
    val) with ``patience`` 0 or without a val board."""

    def __init__(self, graph: PinBoardGraph, seed: int, patience: int, max_boards: int = 0) -> None:
        self.patience, self.n_boards = patience, graph.n_boards
        self.val = ValidationSet.from_graph(graph, seed).sample(max_boards) if patience > 0 else None
        self.active = self.val is not None and len(self.val.boards) > 0
        self.cold = torch.nonzero(torch.from_numpy(graph.is_cold.copy())).squeeze(1)
        self.best: np.ndarray | None = None
        self.table: list[tuple[dict[str, int], dict[str, float]]] = []
        self._best_i, self._since = -1, 0

    def measure(self, epoch: int, emb: np.ndarray) -> bool:
        """Score ``emb`` after ``epoch`` epochs on validation; True when training should stop."""
        assert self.val is not None
        board, pin = torch.from_numpy(emb[: self.n_boards]), torch.from_numpy(emb[self.n_boards :])

        def scores(boards: np.ndarray, excluded: torch.Tensor) -> list[tuple[None, torch.Tensor]]:
            s = board[torch.as_tensor(boards, dtype=torch.long)] @ pin.T
            return [(None, s.index_fill_(1, self.cold, UNSCOREABLE))]  # cold pins last, as scored

        r = val_recall(self.val, scores)[None]
        self.table.append(({"epochs": epoch}, r))
        log.info("lightgcn epoch %d: %s %.4f", epoch, CRITERION, r[SELECT_SLICE])
        if best_index([t[1][SELECT_SLICE] for t in self.table]) == len(self.table) - 1:
            self.best, self._best_i, self._since = emb.copy(), len(self.table) - 1, 0
            return False
        self._since += 1
        return self._since >= self.patience

    def record(self) -> dict:
        """The manifest entry (eval.recommenders.selection.chosen_record)."""
        return chosen_record(self.table[self._best_i][0], self.table)
