"""Raw features: blocks, missing images, determinism."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from graph_build.graph import load_graph
from graphrec.features.meta import metadata_block
from graphrec.features.raw import RawFeatureConfig, raw_features
from graphrec.features.text import tfidf


def test_tfidf_vocabulary_bigrams_and_norms() -> None:
    m = tfidf(pd.Series(["red dress", "red dress long", "blue hat", "blue hat", "zebra"]), min_df=2)
    assert m.shape == (5, 6)  # red, dress, blue, hat, "red dress", "blue hat" (df >= 2)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms[:4], 1.0, rtol=1e-5)
    assert norms[4] == 0.0  # "zebra" occurs once: no vocabulary term
    assert (m[2] != m[3]).nnz == 0 and (m[0] @ m[2].T).toarray()[0, 0] == 0.0


def test_metadata_one_hot_and_numeric() -> None:
    pins = pd.DataFrame({"colour": ["red", "red", "blue", None, "blue", "pink"], "price": [1.0, 2, 3, 4, 5, 600]})
    m = metadata_block(pins, ["colour"], ["price"]).toarray()
    assert m.shape == (6, 3)  # red, blue (pink is seen once), price
    assert m[3, :2].sum() == 0 and m[5, :2].sum() == 0
    assert np.abs(m[:, 2]).max() <= 5


def test_raw_features_are_unit_deterministic_and_mask_missing_images(synth_graph: Path) -> None:
    g = load_graph(synth_graph)
    cfg = RawFeatureConfig(dim=16, seed=0)
    a, info = raw_features(g, cfg)
    b, _ = raw_features(g, cfg)
    assert a.shape == (g.n_pins, 16) and a.dtype == np.float32
    assert set(info["blocks"]) == {"image", "text", "meta"}
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert a.tobytes() == b.tobytes()
    # planted styles are visible in the features: same-style nearest neighbours dominate
    styles = g.truth("pin_styles").sort_values("pin_idx")["style"].to_numpy()
    sim = a @ a.T
    np.fill_diagonal(sim, -np.inf)
    nn = np.argsort(-sim, axis=1)[:, :5]
    assert (styles[nn] == styles[:, None]).mean() > 3 / len(np.unique(styles))
    # pins without an image: the image block is omitted, whatever their image rows hold
    g.pins.loc[:9, "image_row"] = -1
    d, _ = raw_features(g, cfg)
    img = g.images()
    assert img is not None and np.isfinite(d).all()
    np.testing.assert_allclose(np.linalg.norm(d[:10], axis=1), 1.0, atol=1e-5)


def test_raw_features_without_images(tiny_dataset: Path, tmp_path: Path) -> None:
    from graph_build.build import build_graph
    from graph_build.split import SplitConfig

    out = tmp_path / "g"
    build_graph(tiny_dataset, out, SplitConfig(seed=0))
    g = load_graph(out)
    x, info = raw_features(g, RawFeatureConfig(dim=8))
    assert "image" not in info["blocks"] and x.shape == (g.n_pins, 8)
    assert np.isfinite(x).all()
