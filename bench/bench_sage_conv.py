"""Measurement behind the conv implementation choice: the weighted neighbour aggregation.

``out[v] = sum_j w[v, j] * m[idx[v, j]]`` (PinSage importance pooling over T fixed neighbours)
written four ways, on the same random inputs:

* ``F.embedding_bag(mode="sum", per_sample_weights=w)`` (what graphrec.sage.model uses);
* ``torch.sparse_csr_tensor @ dense``;
* gather + ``einsum`` (materialises ``[n_dst, T, d]``; chunked over destinations);
* a PyG ``MessagePassing`` layer (``x_j * w`` messages, ``aggr="add"``, from ``edge_index``).

Forward time at full-graph inference size and forward + backward time at a training-batch size.

    .venv/bin/python bench/bench_sage_conv.py [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import markdown_table  # noqa: E402

warnings.filterwarnings("ignore")


def _time(fn, reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def _impls(n_src: int, n_dst: int, t: int, d: int, gen: torch.Generator):
    from torch_geometric.nn import MessagePassing

    class WeightedSum(MessagePassing):
        def __init__(self):
            super().__init__(aggr="add")

        def forward(self, x, edge_index, w, n):
            return self.propagate(edge_index, x=x, w=w, size=(x.shape[0], n))

        def message(self, x_j, w):
            return x_j * w.unsqueeze(-1)

    m = torch.randn(n_src, d, generator=gen)
    idx = torch.randint(0, n_src, (n_dst, t), generator=gen)
    w = torch.rand(n_dst, t, generator=gen)
    w = w / w.sum(1, keepdim=True)
    crow = torch.arange(0, n_dst * t + 1, t)
    adj = torch.sparse_csr_tensor(crow, idx.reshape(-1), w.reshape(-1), size=(n_dst, n_src))
    edge_index = torch.stack([idx.reshape(-1), torch.arange(n_dst).repeat_interleave(t)])
    conv, wf = WeightedSum(), w.reshape(-1)

    def gather(x, chunk=65536):
        return torch.cat(
            [torch.einsum("ntd,nt->nd", x[idx[s : s + chunk]], w[s : s + chunk]) for s in range(0, n_dst, chunk)]
        )

    return m, {
        "embedding_bag (sum, per_sample_weights)": lambda x: torch.nn.functional.embedding_bag(
            idx, x, per_sample_weights=w, mode="sum"
        ),
        "torch.sparse CSR @ dense": lambda x: adj @ x,
        "gather + einsum (chunked)": gather,
        "PyG MessagePassing (edge_index)": lambda x: conv(x, edge_index, wf, n_dst),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    rows = []
    for label, (n_src, n_dst, t, d), train in [
        ("inference: 1M dst, 1M src, T=10, d=128", (1_000_000, 1_000_000, 10, 128), False),
        ("training block: 10k dst, 42k src, T=10, d=128", (42_000, 10_000, 10, 128), True),
    ]:
        m, impls = _impls(n_src, n_dst, t, d, gen)
        ref = impls["embedding_bag (sum, per_sample_weights)"](m)
        for name, f in impls.items():
            err = (f(m) - ref).abs().max().item()
            fwd = _time(lambda: f(m), args.reps)
            cell = "-"
            if train:
                mm = m.clone().requires_grad_()
                g = torch.randn(n_dst, d, generator=gen)

                def step():
                    f(mm).backward(g)
                    mm.grad = None

                cell = f"{_time(step, args.reps) * 1000:.1f}"
            rows.append([label, name, f"{fwd * 1000:.1f}", cell, f"{err:.1e}"])
    print(
        f"\nWeighted neighbour aggregation, {args.threads} threads, {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f}\n"
    )
    print(markdown_table(["size", "implementation", "forward ms", "forward+backward ms", "max |diff|"], rows))


if __name__ == "__main__":
    main()
