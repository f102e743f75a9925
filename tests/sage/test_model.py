"""The conv stack: minibatch blocks agree with layer-wise inference; empty neighbourhoods."""

from __future__ import annotations

import numpy as np
import torch

from graphrec.sage.adjacency import BOARD, PIN
from graphrec.sage.blocks import build_blocks
from graphrec.sage.inference import inference_neighborhoods
from graphrec.sage.inputs import node_inputs
from graphrec.sage.model import build_model
from tests.sage.helpers import random_bipartite, tiny_config, two_communities


def _setup(pooling: str = "importance"):
    cfg = tiny_config(f"model.pooling={pooling}")
    bip = random_bipartite(80, 20, 3, seed=3)
    x = np.random.default_rng(0).normal(size=(80, 8)).astype(np.float32)
    model = build_model(cfg, 8).eval()
    return cfg, bip, x, model


def test_minibatch_blocks_match_layerwise_inference() -> None:
    for pooling in ("importance", "mean"):
        cfg, bip, x, model = _setup(pooling)
        nbrs = inference_neighborhoods(bip, cfg)
        inputs = node_inputs(x, bip, cfg.model.degree_feature)
        full = model.embed_all(nbrs, inputs, chunk=7)  # odd chunk: exercises chunking too
        targets = {PIN: np.array([3, 50, 3, 11]), BOARD: np.array([0, 19, 7])}
        blocks = build_blocks(nbrs, targets, cfg.model.n_layers, pooling)
        xb = {t: inputs[t][torch.from_numpy(blocks.input_ids[t])] for t in (PIN, BOARD)}
        with torch.no_grad():
            part = model(blocks, xb)
        for t in (PIN, BOARD):
            torch.testing.assert_close(part[t], full[t][torch.from_numpy(blocks.output_ids[t])], atol=1e-5, rtol=1e-5)
            assert torch.allclose(full[t].norm(dim=1), torch.ones(len(full[t])), atol=1e-5)


def test_block_size_is_bounded_by_targets_times_fanout() -> None:
    cfg, bip, _, _ = _setup()
    nbrs = inference_neighborhoods(bip, cfg)
    s = cfg.sampler
    fan = 1 + max(s.pin_pins + s.pin_boards, s.board_pins + s.board_boards)
    blocks = build_blocks(nbrs, {PIN: np.array([1, 2])}, 2)
    total = sum(len(v) for v in blocks.input_ids.values())
    assert total <= 2 * fan**2


def test_isolated_pin_depends_only_on_its_own_features() -> None:
    bip, _, _ = two_communities()
    cfg = tiny_config()
    model = build_model(cfg, 8).eval()
    cold = int(np.flatnonzero(bip.degree(PIN) == 0)[0])
    x = np.random.default_rng(0).normal(size=(bip.n_pins, 8)).astype(np.float32)
    nbrs = inference_neighborhoods(bip, cfg)
    a = model.embed_all(nbrs, node_inputs(x, bip, True))[PIN][cold]
    x2 = x + np.random.default_rng(1).normal(size=x.shape).astype(np.float32)
    x2[cold] = x[cold]
    b = model.embed_all(nbrs, node_inputs(x2, bip, True))[PIN][cold]
    torch.testing.assert_close(a, b)
    warm = int(np.flatnonzero(bip.degree(PIN) > 0)[0])
    c = model.embed_all(nbrs, node_inputs(x2, bip, True))[PIN][warm]
    assert not torch.allclose(model.embed_all(nbrs, node_inputs(x, bip, True))[PIN][warm], c)


def test_isolation_empties_a_pin_at_every_layer() -> None:
    cfg, bip, _, _ = _setup()
    nbrs = inference_neighborhoods(bip, cfg)
    plain = build_blocks(nbrs, {PIN: np.array([5, 6])}, 2)
    blocks = build_blocks(nbrs, {PIN: np.array([5, 6])}, 2, isolate=np.array([5]))
    for layer, ref in zip(blocks.layers, plain.layers):
        row = int(np.searchsorted(layer.dst_ids[PIN], 5))
        assert layer.dst_ids[PIN][row] == 5
        for key, (_, w) in layer.nbr.items():
            if key[0] == PIN:
                assert float(w[row].sum()) == 0.0
                assert float(ref.nbr[key][1][int(np.searchsorted(ref.dst_ids[PIN], 5))].sum()) > 0


def test_id_vectors_are_used_for_known_nodes_only() -> None:
    bip, _, _ = two_communities()
    cfg = tiny_config("model.id_dim=4")
    model = build_model(cfg, 8, bip.n_pins, bip.n_boards).eval()
    x = node_inputs(np.random.default_rng(0).normal(size=(bip.n_pins, 8)).astype(np.float32), bip, True)
    nbrs = inference_neighborhoods(bip, cfg)
    known = {PIN: torch.from_numpy(bip.degree(PIN) > 0), BOARD: torch.from_numpy(bip.degree(BOARD) > 0)}
    cold = int(np.flatnonzero(bip.degree(PIN) == 0)[0])
    warm = int(np.flatnonzero(bip.degree(PIN) > 0)[0])
    a = model.embed_all(nbrs, x, known=known)[PIN]
    with torch.no_grad():
        model.ids[PIN].weight[[cold, warm]] += 1.0
    b = model.embed_all(nbrs, x, known=known)[PIN]
    torch.testing.assert_close(a[cold], b[cold])
    assert not torch.allclose(a[warm], b[warm])
