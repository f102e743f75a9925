"""PinCLIP learns from train saves only: val/test saves never reach the pair sampler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from graph_build.graph import load_graph
from tests.pinclip.conftest import tiny_config


class _Stop(Exception):
    pass


def test_train_pinclip_samples_pairs_from_train_saves_only(
    synth_graph: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphrec.pinclip.train as train_mod

    g = load_graph(synth_graph)
    seen = {}

    def record(adj, *args, **kwargs):
        seen["adj"] = adj.tocsr().copy()
        raise _Stop  # the sampler's input is all this test needs: skip the training loop

    monkeypatch.setattr(train_mod, "CoBoardSampler", record)
    with pytest.raises(_Stop):
        train_mod.train_pinclip(g, tiny_config(), tmp_path / ".m.checkpoints")
    adj = seen["adj"]
    train = g.csr("train")
    assert adj.shape == train.shape and (adj != train).nnz == 0
    rows, cols = adj.nonzero()
    pairs = set(zip(rows.tolist(), cols.tolist()))
    for split in ("val", "test"):
        pin, board = g.edges(split)
        assert len(pin) > 0 and not pairs & set(zip(pin.tolist(), board.tolist())), split
    assert not np.any(np.asarray(adj.sum(axis=1)).ravel()[g.is_cold] > 0)  # cold pins have no pair
