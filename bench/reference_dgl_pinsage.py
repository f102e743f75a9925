"""Reference: PinSage training and inference written the way DGL's examples/pytorch/pinsage does it.

Follows ``model.py`` / ``sampler.py`` / ``layers.py`` of the DGL example (dmlc/dgl,
examples/pytorch/pinsage), adapted only where our data differs (item = pin, user = board; the
item features are the same content vectors our model gets, projected by a Linear layer):

* positives: ``heads`` uniform over pins, ``tails`` one ``dgl.sampling.random_walk`` step
  pin -> board -> pin; ``neg_tails`` uniform pins (``ItemToItemBatchSampler``);
* neighbourhoods: one ``dgl.sampling.PinSAGESampler`` per layer, re-sampled for every batch,
  head-tail edges removed from the frontier, ``dgl.to_block`` (``NeighborSampler``);
* model: ``LinearProjector`` + K ``WeightedSAGEConv`` (``update_all(u_mul_e, sum)``, dropout 0.5,
  L2 normalise) + ``h_item_dst`` skip, ``ItemToItemScorer`` (dot + per-item bias);
* loss: ``(neg - pos + 1).clamp(min=0).mean()``, Adam;
* inference: batches of all pins, each sampling its own blocks and running the whole model
  (shared neighbours are recomputed for every batch that reaches them).

    python bench/reference_dgl_pinsage.py train --graph G --features F --steps 100
    python bench/reference_dgl_pinsage.py infer --graph G --features F

Prints one JSON line with the measured numbers. Needs ``DGLBACKEND=pytorch``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import dgl.function as fn  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from graph_build.export import to_dgl  # noqa: E402
from graph_build.graph import load_graph  # noqa: E402
from graphrec.embeddings import load_embeddings  # noqa: E402

ITEM, USER = "pin", "board"
I2U, U2I = "saved_to", "contains"


class WeightedSAGEConv(nn.Module):
    def __init__(self, input_dims, hidden_dims, output_dims, act=F.relu):
        super().__init__()
        self.act = act
        self.Q = nn.Linear(input_dims, hidden_dims)
        self.W = nn.Linear(input_dims + hidden_dims, output_dims)
        gain = nn.init.calculate_gain("relu")
        nn.init.xavier_uniform_(self.Q.weight, gain=gain)
        nn.init.xavier_uniform_(self.W.weight, gain=gain)
        nn.init.constant_(self.Q.bias, 0)
        nn.init.constant_(self.W.bias, 0)
        self.dropout = nn.Dropout(0.5)

    def forward(self, g, h, weights):
        h_src, h_dst = h
        with g.local_scope():
            g.srcdata["n"] = self.act(self.Q(self.dropout(h_src)))
            g.edata["w"] = weights.float()
            g.update_all(fn.u_mul_e("n", "w", "m"), fn.sum("m", "n"))
            g.update_all(fn.copy_e("w", "m"), fn.sum("m", "ws"))
            n = g.dstdata["n"]
            ws = g.dstdata["ws"].unsqueeze(1).clamp(min=1)
            z = self.act(self.W(self.dropout(torch.cat([n / ws, h_dst], 1))))
            z_norm = z.norm(2, 1, keepdim=True)
            z_norm = torch.where(z_norm == 0, torch.tensor(1.0).to(z_norm), z_norm)
            return z / z_norm


class SAGENet(nn.Module):
    def __init__(self, hidden_dims, n_layers):
        super().__init__()
        self.convs = nn.ModuleList([WeightedSAGEConv(hidden_dims, hidden_dims, hidden_dims) for _ in range(n_layers)])

    def forward(self, blocks, h):
        for layer, block in zip(self.convs, blocks):
            h_dst = h[: block.num_nodes("DST/" + block.ntypes[0])]
            h = layer(block, (h, h_dst), block.edata["weights"])
        return h


class PinSAGEModel(nn.Module):
    def __init__(self, n_items, in_dims, hidden_dims, n_layers):
        super().__init__()
        self.proj = nn.Linear(in_dims, hidden_dims)  # LinearProjector over the one float feature
        nn.init.xavier_uniform_(self.proj.weight)
        nn.init.constant_(self.proj.bias, 0)
        self.sage = SAGENet(hidden_dims, n_layers)
        self.bias = nn.Parameter(torch.zeros(n_items))  # ItemToItemScorer

    def score(self, pair_graph, h):
        with pair_graph.local_scope():
            pair_graph.ndata["h"] = h
            pair_graph.apply_edges(fn.u_dot_v("h", "h", "s"))
            nid = pair_graph.ndata[dgl.NID]
            src, dst = pair_graph.edges()
            return pair_graph.edata["s"].squeeze(1) + self.bias[nid[src]] + self.bias[nid[dst]]

    def forward(self, pos_graph, neg_graph, blocks):
        h_item = self.get_repr(blocks)
        return (self.score(neg_graph, h_item) - self.score(pos_graph, h_item) + 1).clamp(min=0)

    def get_repr(self, blocks):
        h_item = self.proj(blocks[0].srcdata["feat"])
        h_item_dst = self.proj(blocks[-1].dstdata["feat"])
        return h_item_dst + self.sage(blocks, h_item)


def compact_and_copy(frontier, seeds):
    block = dgl.to_block(frontier, seeds)
    for col, data in frontier.edata.items():
        if col == dgl.EID:
            continue
        block.edata[col] = data[block.edata[dgl.EID]]
    return block


class NeighborSampler:
    def __init__(self, g, walk_length, restart_prob, num_walks, num_neighbors, num_layers):
        self.g = g
        self.samplers = [
            dgl.sampling.PinSAGESampler(g, ITEM, USER, walk_length, restart_prob, num_walks, num_neighbors)
            for _ in range(num_layers)
        ]

    def sample_blocks(self, seeds, heads=None, tails=None, neg_tails=None):
        blocks = []
        for sampler in self.samplers:
            frontier = sampler(seeds)
            if heads is not None:
                eids = frontier.edge_ids(torch.cat([heads, heads]), torch.cat([tails, neg_tails]), return_uv=True)[2]
                if len(eids) > 0:
                    frontier = dgl.remove_edges(frontier, eids)
            block = compact_and_copy(frontier, seeds)
            seeds = block.srcdata[dgl.NID]
            blocks.insert(0, block)
        return blocks

    def sample_from_item_pairs(self, heads, tails, neg_tails):
        n = self.g.num_nodes(ITEM)
        pos_graph = dgl.graph((heads, tails), num_nodes=n)
        neg_graph = dgl.graph((heads, neg_tails), num_nodes=n)
        pos_graph, neg_graph = dgl.compact_graphs([pos_graph, neg_graph])
        seeds = pos_graph.ndata[dgl.NID]
        return pos_graph, neg_graph, self.sample_blocks(seeds, heads, tails, neg_tails)


def item_batches(g, batch_size):
    n = g.num_nodes(ITEM)
    while True:
        heads = torch.randint(0, n, (batch_size,))
        tails = dgl.sampling.random_walk(g, heads, metapath=[I2U, U2I])[0][:, 2]
        neg_tails = torch.randint(0, n, (batch_size,))
        mask = tails != -1
        yield heads[mask], tails[mask], neg_tails[mask]


def assign_features(blocks, feat):
    blocks[0].srcdata["feat"] = feat[blocks[0].srcdata[dgl.NID]]
    blocks[-1].dstdata["feat"] = feat[blocks[-1].dstdata[dgl.NID]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["train", "infer"])
    ap.add_argument("--graph", type=Path, required=True)
    ap.add_argument("--features", type=Path, required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--walk-length", type=int, default=2)
    ap.add_argument("--restart-prob", type=float, default=0.5)
    ap.add_argument("--walks", type=int, default=32)
    ap.add_argument("--neighbors", type=int, default=10)
    ap.add_argument("--max-items", type=int, default=0, help="infer: stop after this many pins (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    dgl.seed(args.seed)
    graph = load_graph(args.graph)
    feat = torch.from_numpy(load_embeddings(args.features, graph).pin)
    g = to_dgl(graph, "train")
    sampler = NeighborSampler(g, args.walk_length, args.restart_prob, args.walks, args.neighbors, args.layers)
    model = PinSAGEModel(g.num_nodes(ITEM), feat.shape[1], args.hidden, args.layers)
    if args.mode == "train":
        opt = torch.optim.Adam(model.parameters(), lr=3e-5)
        batches = item_batches(g, args.batch_size)
        pairs, t0 = 0, None
        for step in range(args.warmup + args.steps):
            if step == args.warmup:
                t0, pairs = time.perf_counter(), 0
            heads, tails, neg_tails = next(batches)
            pos_graph, neg_graph, blocks = sampler.sample_from_item_pairs(heads, tails, neg_tails)
            assign_features(blocks, feat)
            loss = model(pos_graph, neg_graph, blocks).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            pairs += len(heads)
        secs = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "mode": "train",
                    "steps": args.steps,
                    "pairs": pairs,
                    "seconds": secs,
                    "pairs_per_s": pairs / secs,
                    "loss": float(loss),
                }
            )
        )
    else:
        model.eval()
        n = g.num_nodes(ITEM) if not args.max_items else min(args.max_items, g.num_nodes(ITEM))
        t0 = time.perf_counter()
        out = []
        with torch.no_grad():
            for lo in range(0, n, args.batch_size):
                blocks = sampler.sample_blocks(torch.arange(lo, min(lo + args.batch_size, n)))
                assign_features(blocks, feat)
                out.append(model.get_repr(blocks))
        secs = time.perf_counter() - t0
        print(
            json.dumps(
                {
                    "mode": "infer",
                    "items": n,
                    "seconds": secs,
                    "items_per_s": n / secs,
                    "extrapolated_all_s": secs * g.num_nodes(ITEM) / n,
                }
            )
        )


if __name__ == "__main__":
    main()
