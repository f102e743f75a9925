"""SAGE trains on the train saves only (messages and supervision), never on val/test saves."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from graph_build.graph import load_graph


class _Stop(Exception):
    pass


def test_train_sage_dir_trains_on_the_train_saves_only(
    synth_graph: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphrec.sage.inference as inference
    import graphrec.sage.train as train_mod
    from graphrec.sage.api import train_sage_dir
    from graphrec.sage.config import SageConfig

    g = load_graph(synth_graph)
    seen = {}
    feats = SimpleNamespace(pin=np.zeros((g.n_pins, 4), np.float32), model_name="content", root=synth_graph)
    monkeypatch.setattr(inference, "check_features", lambda *a, **k: feats)

    def record(bip, *args, **kwargs):
        seen["bip"] = bip
        raise _Stop  # the graph handed to training is all this test needs

    monkeypatch.setattr(train_mod, "train_sage", record)
    with pytest.raises(_Stop):
        train_sage_dir(g, tmp_path / "features", SageConfig(), tmp_path / "model")
    pin, board = seen["bip"].edges()
    got = set(zip(pin.tolist(), board.tolist()))
    tp, tb = g.edges("train")
    assert got == set(zip(tp.tolist(), tb.tolist()))
    for split in ("val", "test"):
        p, b = g.edges(split)
        assert len(p) > 0 and not got & set(zip(p.tolist(), b.tolist())), split
