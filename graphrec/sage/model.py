"""The heterogeneous PinSage convolution and the K-layer model (pins and boards).

Per layer and per destination type ``t`` (PinSage Algorithm 1, with one message transform per
source type)::

    m_s   = ReLU(Q_s h_u + q_s)                          for every source node u of type s
    n_t,s = sum_j alpha_vj m_s[u_j]                      importance-weighted mean (weights sum to 1)
    h_v   = normalize(ReLU(W_t [h_v ; n_t,pin ; n_t,board] + w_t))

then a two-layer head ``G2 ReLU(G1 h + g)`` per type (PinSage's final dense layers), plus an
optional linear skip from the node's own input features, and an L2 normalisation. A node with an
empty neighbourhood (a cold pin) is embedded from its own features alone: its aggregates are 0.

The weighted aggregation is ``torch.nn.functional.embedding_bag(mode="sum",
per_sample_weights=...)``: a fused gather + weighted sum that never materialises the
``[n_dst, T, d]`` message tensor (see docs/sage.md for the measurement against torch.sparse CSR
matmul, gather + einsum and PyG MessagePassing).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graphrec.sage.adjacency import BOARD, PIN
from graphrec.sage.blocks import Blocks
from graphrec.sage.config import ModelConfig, SageConfig
from graphrec.sage.sampler import HeteroNeighborhoods

NTYPES = (PIN, BOARD)


def aggregate(msg: torch.Tensor, idx: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``out[v] = sum_j weight[v, j] * msg[idx[v, j]]`` without materialising the gathered rows."""
    if msg.shape[0] == 0 or idx.shape[0] == 0:
        return msg.new_zeros((idx.shape[0], msg.shape[1]))
    return F.embedding_bag(idx, msg, per_sample_weights=weight, mode="sum")


def _init_linear(layer: nn.Linear, gain: float) -> None:
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class HeteroSageConv(nn.Module):
    """One PinSage convolution over pin and board nodes.

    Args:
        in_dims: input width per node type.
        hidden_dim: message width (``Q`` output).
        out_dim: output width (``W`` output).
        relations: per destination type, the source types it aggregates from.
    """

    def __init__(self, in_dims: dict[str, int], hidden_dim: int, out_dim: int, relations: dict[str, list[str]]):
        super().__init__()
        self.relations = {d: list(s) for d, s in relations.items()}
        used = sorted({s for srcs in relations.values() for s in srcs})
        self.q = nn.ModuleDict({s: nn.Linear(in_dims[s], hidden_dim) for s in used})
        self.w = nn.ModuleDict(
            {d: nn.Linear(in_dims[d] + hidden_dim * len(srcs), out_dim) for d, srcs in relations.items()}
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = nn.init.calculate_gain("relu")
        for m in [*self.q.values(), *self.w.values()]:
            _init_linear(m, gain)

    def messages(self, h: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``ReLU(Q_s h + q_s)`` for every source node, computed once per node."""
        return {s: F.relu(q(h[s])) for s, q in self.q.items()}

    def combine(self, dst: str, h_self: torch.Tensor, aggs: list[torch.Tensor]) -> torch.Tensor:
        """``normalize(ReLU(W [h_self ; aggs...] + w))``."""
        return F.normalize(F.relu(self.w[dst](torch.cat([h_self, *aggs], dim=1))), dim=1)

    def forward(self, h: dict[str, torch.Tensor], block) -> dict[str, torch.Tensor]:
        """Apply to a minibatch ``LayerBlock``; ``h`` holds the block's source node features."""
        msg = self.messages(h)
        out = {}
        for d, srcs in self.relations.items():
            aggs = [aggregate(msg[s], *block.nbr[(d, s)]) for s in srcs]
            out[d] = self.combine(d, h[d][block.self_idx[d]], aggs)
        return out


class SageModel(nn.Module):
    """K heterogeneous PinSage convolutions, a per-type head and an optional input skip.

    With ``cfg.id_dim > 0`` every known (warm) node also gets a learned ID vector appended to
    its input features; unknown nodes (cold pins, pins isolated in training, new pins) get zeros
    there, so they are embedded from content alone.

    Args:
        cfg: the model section of the config.
        in_dims: input feature width per node type (without ID vectors).
        relations: per destination type, the source types it aggregates from.
        temperature_init: initial softmax temperature (learnable; used by sampled softmax).
        n_nodes: node count per type (needed for ID vectors).
    """

    def __init__(
        self,
        cfg: ModelConfig,
        in_dims: dict[str, int],
        relations: dict[str, list[str]],
        temperature_init: float = 0.07,
        n_nodes: dict[str, int] | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.relations = {d: list(s) for d, s in relations.items()}
        self.ids = None
        if cfg.id_dim > 0:
            if n_nodes is None:
                raise ValueError("model.id_dim > 0 needs the node counts")
            self.ids = nn.ModuleDict({t: nn.Embedding(n_nodes[t], cfg.id_dim) for t in NTYPES})
            for emb in self.ids.values():
                nn.init.normal_(emb.weight, std=0.1)
        in_dims = {t: d + cfg.id_dim for t, d in in_dims.items()}
        self.in_dims = dict(in_dims)
        dims = dict(in_dims)
        self.convs = nn.ModuleList()
        for _ in range(cfg.n_layers):
            self.convs.append(HeteroSageConv(dims, cfg.hidden_dim, cfg.hidden_dim, relations))
            dims = {t: cfg.hidden_dim for t in NTYPES}
        self.head = nn.ModuleDict(
            {
                t: nn.Sequential(
                    nn.Linear(cfg.hidden_dim, cfg.hidden_dim), nn.ReLU(), nn.Linear(cfg.hidden_dim, cfg.out_dim)
                )
                for t in NTYPES
            }
        )
        self.skip = (
            nn.ModuleDict({t: nn.Linear(in_dims[t], cfg.out_dim, bias=False) for t in NTYPES})
            if cfg.input_skip
            else None
        )
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature_init)))
        for seq in self.head.values():
            _init_linear(seq[0], nn.init.calculate_gain("relu"))
            _init_linear(seq[2], 1.0)

    def logit_scale(self, max_scale: float) -> torch.Tensor:
        """1 / temperature, clamped to ``max_scale`` (OmniSearchSage clamps at 100)."""
        return self.log_logit_scale.exp().clamp(max=max_scale)

    def finish(self, ntype: str, h: torch.Tensor, x_self: torch.Tensor) -> torch.Tensor:
        """Head, input skip and L2 normalisation of final-layer states."""
        z = self.head[ntype](h)
        if self.skip is not None:
            z = z + self.skip[ntype](x_self)
        return F.normalize(z, dim=1)

    def with_ids(
        self, x: dict[str, torch.Tensor], ids: dict[str, torch.Tensor], known: dict[str, torch.Tensor] | None
    ) -> dict[str, torch.Tensor]:
        """Append ID vectors (zeros where ``known`` is False or the id is outside the table)."""
        if self.ids is None:
            return x
        out = {}
        for t, emb in self.ids.items():
            n = emb.num_embeddings
            ok = ids[t] < n
            if known is not None:
                ok = ok & known[t]
            vec = emb(ids[t].clamp(max=n - 1)) * ok[:, None]
            out[t] = torch.cat([x[t], vec], dim=1)
        return out

    def forward(
        self, blocks: Blocks, x: dict[str, torch.Tensor], known: dict[str, torch.Tensor] | None = None
    ) -> dict[str, torch.Tensor]:
        """Embeddings of ``blocks.output_ids`` from the input features ``x`` of ``blocks.input_ids``.

        Args:
            blocks: the computation graph.
            x: content (+ degree) features of the input nodes.
            known: per type, which input nodes may use their ID vector (ignored without IDs).
        """
        x = self.with_ids(x, {t: torch.from_numpy(v) for t, v in blocks.input_ids.items()}, known)
        h = x
        for conv, layer in zip(self.convs, blocks.layers):
            h = conv(h, layer)
        return {t: self.finish(t, h[t], x[t][blocks.output_in_input[t]]) for t in NTYPES if t in h}

    @torch.no_grad()
    def embed_all(
        self,
        nbrs: HeteroNeighborhoods,
        x: dict[str, torch.Tensor],
        chunk: int = 65536,
        progress=None,
        known: dict[str, torch.Tensor] | None = None,
    ) -> dict[str, torch.Tensor]:
        """Layer-by-layer inference over the whole graph (PinSage's MapReduce scheme).

        Each layer computes every node's message once, then every node's new state from its
        neighbours' messages, so no shared neighbour is ever recomputed
        (:mod:`graphrec.sage.layerwise`, whose Ray form gives the same bytes).

        Args:
            nbrs: neighbourhoods of every node (rows = global ids).
            x: input features of every pin and board.
            chunk: rows processed at once (bounds memory; the bytes depend on it).
            progress: optional wrapper for the per-layer loop (e.g. graphrec.utils.logs.progress).
            known: per type, which nodes may use their ID vector (warm nodes).
        """
        from graphrec.sage.layerwise import embed_layerwise, graph_inputs  # it imports this module

        return embed_layerwise(self, graph_inputs(self, nbrs, x, known), chunk, progress=progress)


def relations_for(pin_pins: int, pin_boards: int, board_pins: int, board_boards: int) -> dict[str, list[str]]:
    """The relation lists implied by the sampler's neighbour counts (T = 0 disables one)."""
    rel = {
        PIN: [s for s, k in ((PIN, pin_pins), (BOARD, pin_boards)) if k > 0],
        BOARD: [s for s, k in ((PIN, board_pins), (BOARD, board_boards)) if k > 0],
    }
    return rel


def build_model(cfg: SageConfig, in_dim: int, n_pins: int = 0, n_boards: int = 0) -> SageModel:
    """A freshly initialised model (initialisation seeded by ``cfg.seed``).

    Args:
        cfg: the config.
        in_dim: content feature width.
        n_pins, n_boards: graph size (only used for ID vectors, ``model.id_dim > 0``).
    """
    s = cfg.sampler
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        width = in_dim + int(cfg.model.degree_feature)
        return SageModel(
            cfg.model,
            {PIN: width, BOARD: width},
            relations_for(s.pin_pins, s.pin_boards, s.board_pins, s.board_boards),
            temperature_init=cfg.loss.temperature_init,
            n_nodes={PIN: n_pins, BOARD: n_boards},
        )
