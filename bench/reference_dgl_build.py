"""Reference graph build written the way DGL's examples/pytorch/pinsage does it.

process_movielens1m.py + builder.py + data_utils.py: ids become pandas categorical codes, the
graph is a ``dgl.heterograph`` with both edge directions, the split is
``train_test_split_by_time`` (a per-user ``groupby().apply`` marking the last interaction test
and the one before it val; the example runs it under dask with processes, not installed here, so
this uses plain pandas), and the train graph is ``g.edge_subgraph(train_indices)``. The example
pickles its output; this saves the train graph with ``dgl.save_graphs`` plus the split masks.

Usage: python bench/reference_dgl_build.py DATASET_DIR OUT_DIR
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("DGLBACKEND", "pytorch")


def train_test_split(df: pd.DataFrame) -> pd.DataFrame:
    df = df.sort_values(["saved_at"])
    if df.shape[0] > 1:
        df.iloc[-1, -3] = False
        df.iloc[-1, -1] = True
    if df.shape[0] > 2:
        df.iloc[-2, -3] = False
        df.iloc[-2, -2] = True
    return df


def main(data: Path, out: Path) -> None:
    import dgl
    import torch

    pins = pd.read_parquet(data / "pins.parquet", columns=["pin_id"])
    boards = pd.read_parquet(data / "boards.parquet", columns=["board_id"])
    saves = pd.read_parquet(data / "saves.parquet")
    pin = pd.Categorical(saves["pin_id"].astype(str), categories=pins["pin_id"].astype(str)).codes.astype(np.int64)
    board = pd.Categorical(saves["board_id"].astype(str), categories=boards["board_id"].astype(str)).codes.astype(
        np.int64
    )
    df = pd.DataFrame({"board": board, "pin": pin, "saved_at": saves["saved_at"].to_numpy()})
    df["train_mask"] = np.ones(len(df), dtype=np.bool_)
    df["val_mask"] = np.zeros(len(df), dtype=np.bool_)
    df["test_mask"] = np.zeros(len(df), dtype=np.bool_)
    df = df.groupby("board", group_keys=False).apply(train_test_split).sort_index()
    g = dgl.heterograph(
        {
            ("board", "contains", "pin"): (torch.from_numpy(board), torch.from_numpy(pin)),
            ("pin", "contained-by", "board"): (torch.from_numpy(pin), torch.from_numpy(board)),
        },
        num_nodes_dict={"board": len(boards), "pin": len(pins)},
    )
    train_idx = torch.from_numpy(np.flatnonzero(df["train_mask"].to_numpy()))
    train_g = g.edge_subgraph({"contains": train_idx, "contained-by": train_idx}, relabel_nodes=False)
    out.mkdir(parents=True, exist_ok=True)
    dgl.save_graphs(str(out / "train_g.bin"), [train_g])
    np.savez(out / "masks.npz", val=df["val_mask"].to_numpy(), test=df["test_mask"].to_numpy())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
