"""Exports of a graph split to PyG ``HeteroData`` and a DGL heterograph (both edge directions).

Imports of torch_geometric / dgl happen inside the functions: they are slow and only the
callers that need them should pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from graph_build.graph import PinBoardGraph

if TYPE_CHECKING:
    import dgl
    from torch_geometric.data import HeteroData

PIN, BOARD = "pin", "board"
SAVED_TO = (PIN, "saved_to", BOARD)
CONTAINS = (BOARD, "contains", PIN)


def to_pyg(
    graph: PinBoardGraph,
    split: str = "train",
    pin_features: np.ndarray | None = None,
    board_features: np.ndarray | None = None,
) -> HeteroData:
    """A ``HeteroData`` with node types pin/board and edges of ``split`` in both directions.

    Every pin (warm and cold) is a node; cold pins simply have no train edges.
    """
    from torch_geometric.data import HeteroData

    pin, board = graph.edges(split)
    data = HeteroData()
    data[PIN].num_nodes = graph.n_pins
    data[BOARD].num_nodes = graph.n_boards
    if pin_features is not None:
        data[PIN].x = torch.as_tensor(np.asarray(pin_features), dtype=torch.float32)
    if board_features is not None:
        data[BOARD].x = torch.as_tensor(np.asarray(board_features), dtype=torch.float32)
    data[PIN].is_cold = torch.from_numpy(graph.is_cold.copy())
    fwd = torch.from_numpy(np.stack([pin, board]))
    data[SAVED_TO].edge_index = fwd
    data[CONTAINS].edge_index = fwd.flip(0).contiguous()
    return data


def to_dgl(graph: PinBoardGraph, split: str = "train") -> dgl.DGLGraph:
    """A DGL heterograph with ``saved_to`` and ``contains`` edges of ``split``."""
    import dgl

    pin, board = graph.edges(split)
    p, b = torch.from_numpy(pin), torch.from_numpy(board)
    g = dgl.heterograph({SAVED_TO: (p, b), CONTAINS: (b, p)}, num_nodes_dict={PIN: graph.n_pins, BOARD: graph.n_boards})
    g.nodes[PIN].data["is_cold"] = torch.from_numpy(graph.is_cold.copy())
    return g
