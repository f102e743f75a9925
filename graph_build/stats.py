"""Summary statistics of the training graph: degrees, connected components, split counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def degree_summary(deg: np.ndarray) -> dict[str, Any]:
    """Quantiles and a log2-binned histogram (bin k counts degrees in [2^k, 2^(k+1)))."""
    if deg.size == 0:
        return {"count": 0}
    q = np.percentile(deg, [50, 90, 99])
    nz = deg[deg > 0]
    bins = np.bincount(np.floor(np.log2(nz)).astype(np.int64)) if nz.size else np.zeros(0, np.int64)
    return {
        "count": int(deg.size),
        "zero": int((deg == 0).sum()),
        "min": int(deg.min()),
        "p50": float(q[0]),
        "mean": float(deg.mean()),
        "p90": float(q[1]),
        "p99": float(q[2]),
        "max": int(deg.max()),
        "log2_histogram": {f"{2**k}-{2 ** (k + 1) - 1}": int(c) for k, c in enumerate(bins) if c},
    }


def component_summary(adj: sp.csr_matrix) -> dict[str, Any]:
    """Connected components of the bipartite graph, over nodes with at least one edge."""
    n_pins, n_boards = adj.shape
    full = sp.bmat([[None, adj], [adj.T, None]], format="csr")
    active = np.flatnonzero(np.diff(full.indptr) > 0)
    if active.size == 0:
        return {"components": 0, "largest_component_nodes": 0, "largest_component_share": 0.0}
    sub = full[active][:, active]
    n, labels = connected_components(sub, directed=False)
    sizes = np.bincount(labels)
    return {
        "components": int(n),
        "largest_component_nodes": int(sizes.max()),
        "largest_component_share": float(sizes.max() / active.size),
        "nodes_with_edges": int(active.size),
    }


def train_graph_stats(adj: sp.csr_matrix, is_cold: np.ndarray) -> dict[str, Any]:
    """Stats of the train pin x board adjacency."""
    pin_deg = np.diff(adj.indptr)
    board_deg = np.asarray(adj.getnnz(axis=0)).ravel()
    return {
        "pin_degree_warm": degree_summary(pin_deg[~is_cold]),
        "board_degree": degree_summary(board_deg),
        "density": float(adj.nnz / max(1, adj.shape[0] * adj.shape[1])),
        **component_summary(adj),
    }


def format_summary(manifest: dict[str, Any]) -> str:
    """A plain-text table of a graph manifest (counts, split, degrees, components)."""
    c, st = manifest["counts"], manifest["stats"]
    pdeg, bdeg = st["pin_degree_warm"], st["board_degree"]
    rows = [
        ("dataset", manifest["dataset"]["name"]),
        ("pins (warm / cold)", f"{c['pins']:,} ({c['warm_pins']:,} / {c['cold_pins']:,})"),
        ("cold pins with held-out saves", f"{c['cold_pins_with_saves']:,}"),
        ("boards", f"{c['boards']:,}"),
        ("saves train / val / test", f"{c['saves']['train']:,} / {c['saves']['val']:,} / {c['saves']['test']:,}"),
        ("duplicate saves collapsed", f"{c['duplicate_saves_collapsed']:,}"),
        (
            "dropped pins / boards / saves",
            f"{c['dropped']['pins']:,} / {c['dropped']['boards']:,} / {c['dropped']['saves']:,}",
        ),
        ("cold split", f"{manifest['split']['cold_by_resolved']} (cutoff {manifest['split']['cold_cutoff']})"),
        ("warm pin degree p50 / p99 / max", f"{pdeg.get('p50', 0):g} / {pdeg.get('p99', 0):g} / {pdeg.get('max', 0)}"),
        ("board size p50 / p99 / max", f"{bdeg.get('p50', 0):g} / {bdeg.get('p99', 0):g} / {bdeg.get('max', 0)}"),
        ("components (largest share)", f"{st['components']:,} ({st['largest_component_share']:.1%})"),
        (
            "images",
            "x".join(map(str, manifest["columns"]["image_shape"])) if manifest["columns"]["image_shape"] else "none",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 3 + max(len(v) for _, v in rows))
    return "\n".join([line] + [f"{k:<{width}} | {v}" for k, v in rows] + [line])
