"""PinCLIP end to end on tiny configs: masking, determinism, resume after a kill, clip-path, new pins."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from graph_build.build import build_graph
from graph_build.graph import load_graph
from graph_build.split import SplitConfig
from graphrec.embeddings import load_embeddings
from graphrec.pinclip.api import train_pinclip_dir as train_pinclip
from graphrec.pinclip.embed import embed_graph_pins, embed_new_pins
from graphrec.pinclip.store import load_model_dir
from graphrec.pinclip.table import PinTable
from graphrec.utils.checkpoint import checkpoint_dir
from graphrec.utils.config import ConfigError
from tests.pinclip.conftest import tiny_config


@pytest.fixture(scope="module")
def trained(synth_graph, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("pinclip") / "model"
    train_pinclip(load_graph(synth_graph), tiny_config(), out)
    return out


def test_model_dir_contents_and_embeddings(trained: Path, synth_graph: Path, tmp_path: Path) -> None:
    names = {p.name for p in trained.iterdir()}
    assert {
        "model.safetensors",
        "config.json",
        "build.json",
        "tokenizer",
        "metadata_vocab.json",
        "manifest.json",
        "checkpoints",
    } <= names
    assert not checkpoint_dir(trained).exists()  # moved inside the model dir on success
    g = load_graph(synth_graph)
    m = embed_graph_pins(g, trained, tmp_path / "emb")
    e = load_embeddings(tmp_path / "emb", g)
    assert e.pin.shape == (g.n_pins, 16) and e.pin.dtype == np.float32 and e.model_name == "content"
    np.testing.assert_allclose(np.linalg.norm(e.pin, axis=1), 1.0, rtol=1e-5)
    assert m["kind"] == "graphrec.pin_content"
    # Warm and cold pins alike; embeddings do not depend on the batch size.
    again = embed_graph_pins(g, trained, tmp_path / "emb2", batch_size=7)
    np.testing.assert_allclose(load_embeddings(tmp_path / "emb2").pin, e.pin, atol=1e-5)
    assert again["n_pins"] == g.n_pins


def test_missing_image_is_masked_not_zero_filled(trained: Path, synth_graph: Path) -> None:
    loaded = load_model_dir(trained)
    g = load_graph(synth_graph)
    table = PinTable.from_pins(g.pins, g.images(), loaded.tokenizer, loaded.vocab, loaded.cfg, loaded.image_size)
    inp = table.batch(np.arange(4))
    with torch.inference_mode():
        base = loaded.model(inp).fused
        inp.has_image[:] = False
        no_img = loaded.model(inp).fused
        inp.pixels = torch.randint(0, 255, inp.pixels.shape, dtype=torch.uint8)
        no_img_other_pixels = loaded.model(inp).fused
    assert not torch.allclose(base, no_img)  # the image matters when present...
    torch.testing.assert_close(no_img, no_img_other_pixels)  # ...and pixels are ignored when it is missing


def test_same_seed_same_weights_and_embeddings(synth_graph: Path, trained: Path, tmp_path: Path) -> None:
    g = load_graph(synth_graph)
    train_pinclip(g, tiny_config(), tmp_path / "again")
    assert (tmp_path / "again" / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()
    embed_graph_pins(g, trained, tmp_path / "e1")
    embed_graph_pins(g, tmp_path / "again", tmp_path / "e2")
    assert (tmp_path / "e1" / "pin_content.npy").read_bytes() == (tmp_path / "e2" / "pin_content.npy").read_bytes()
    train_pinclip(g, tiny_config(seed=1), tmp_path / "other")
    assert (tmp_path / "other" / "model.safetensors").read_bytes() != (trained / "model.safetensors").read_bytes()


class _Killed(Exception):
    pass


def test_resume_after_interruption_matches_uninterrupted_run(
    synth_graph: Path, trained: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import graphrec.pinclip.train as train_mod

    g = load_graph(synth_graph)
    out = tmp_path / "resumed"
    real = train_mod.save_checkpoint

    def killed_after_2(directory, step, *args, **kwargs):  # the process "dies" after checkpoint 2
        real(directory, step, *args, **kwargs)
        if step == 2:
            raise _Killed

    monkeypatch.setattr(train_mod, "save_checkpoint", killed_after_2)
    with pytest.raises(_Killed):
        train_pinclip(g, tiny_config(), out)
    assert not out.exists() and (checkpoint_dir(out) / "ckpt-2.json").exists()
    monkeypatch.setattr(train_mod, "save_checkpoint", real)
    with pytest.raises(ConfigError, match="different config"):
        train_pinclip(g, tiny_config(train__lr=1e-2), out, resume=True)
    train_pinclip(g, tiny_config(), out, resume=True)
    assert (out / "model.safetensors").read_bytes() == (trained / "model.safetensors").read_bytes()


def test_cli_resume_after_sigkill(synth_graph: Path, tmp_path: Path) -> None:
    """A real kill of the CLI mid-training, then --resume finishes the run."""
    graphrec = str(Path(sys.executable).parent / "graphrec")
    out = tmp_path / "m"
    args = [
        graphrec,
        "-q",
        "train-pinclip",
        "--graph",
        str(synth_graph),
        "--out",
        str(out),
        "--no-mlflow",
        "--set",
        "image.image_size=16",
        "--set",
        "image.hidden_size=32",
        "--set",
        "image.num_layers=1",
        "--set",
        "text.hidden_size=32",
        "--set",
        "text.num_layers=1",
        "--set",
        "text.vocab_size=300",
        "--set",
        "fusion.dim=32",
        "--set",
        "fusion.num_layers=1",
        "--set",
        "train.steps=60",
        "--set",
        "train.batch_size=16",
        "--set",
        "train.checkpoint_every=5",
    ]
    env = {**os.environ, "GRAPHREC_NO_PROGRESS": "1"}
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = checkpoint_dir(out)
    deadline = time.time() + 120
    while time.time() < deadline and not list(ckpt.glob("ckpt-*.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(ckpt.glob("ckpt-*.json")), "no checkpoint appeared before the deadline"
    assert not (out / "manifest.json").exists()
    done = subprocess.run(args + ["--resume"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "manifest.json").exists() and not ckpt.exists()


def test_new_pins_table_embeds_like_graph_pins(trained: Path, synth_graph: Path, tmp_path: Path) -> None:
    from PIL import Image

    g = load_graph(synth_graph)
    src = g.pins.iloc[[3, 10]]
    images = g.images()
    folder = tmp_path / "new"
    folder.mkdir()
    rows = []
    for k, (_, r) in enumerate(src.iterrows()):
        Image.fromarray(np.asarray(images[r.image_row])).save(folder / f"{k}.png")
        rows.append(
            {
                "pin_id": f"new{k}",
                "title": r.title,
                "description": r.description,
                "image": f"{k}.png",
                **{c: r[c] for c in g.categorical_columns + g.numeric_columns},
            }
        )
    rows.append({"pin_id": "text-only", "title": "a brand new minimal white tote", "description": "", "price": 25.0})
    pd.DataFrame(rows).to_csv(folder / "pins.csv", index=False)
    m = embed_new_pins(trained, folder / "pins.csv", tmp_path / "emb_new")
    assert m["n_pins"] == 3 and m["kind"] == "graphrec.new_pin_content"
    new = np.load(tmp_path / "emb_new" / "pin_content.npy")
    embed_graph_pins(g, trained, tmp_path / "emb")
    old = load_embeddings(tmp_path / "emb").pin
    np.testing.assert_allclose(new[:2], old[[3, 10]], atol=1e-5)  # same content, same embedding
    assert pd.read_parquet(tmp_path / "emb_new" / "pins.parquet").pin_id.tolist() == ["new0", "new1", "text-only"]


def test_graph_without_images_or_metadata_trains(tiny_dataset: Path, tmp_path: Path) -> None:
    pins = pd.read_csv(tiny_dataset / "pins.csv")[["pin_id", "title", "description"]]
    pins.to_csv(tiny_dataset / "pins.csv", index=False)
    build_graph(tiny_dataset, tmp_path / "g", SplitConfig(min_board_saves=1))
    g = load_graph(tmp_path / "g")
    cfg = tiny_config(text__vocab_size=60, text__min_frequency=1)
    train_pinclip(g, cfg, tmp_path / "m")
    embed_graph_pins(g, tmp_path / "m", tmp_path / "e")
    assert load_embeddings(tmp_path / "e").pin.shape == (6, 16)


def test_local_clip_folder_loads_through_clip_path(synth_graph: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file
    from transformers import CLIPConfig, CLIPModel

    from graphrec.pinclip.tokenizer import pin_texts, train_tokenizer

    g = load_graph(synth_graph)
    tok = train_tokenizer(pin_texts(g.pins.title.tolist(), g.pins.description.tolist()), 300, 2)
    conf = CLIPConfig(
        text_config={
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 24,
            "pad_token_id": tok.pad_token_id,
            "bos_token_id": tok.bos_token_id,
            "eos_token_id": tok.eos_token_id,
        },
        vision_config={
            "image_size": 16,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
        },
        projection_dim=16,
    )
    torch.manual_seed(123)
    clip = CLIPModel(conf)
    folder = tmp_path / "tiny-clip"
    clip.save_pretrained(folder)
    tok.save_pretrained(folder)
    cfg = tiny_config(clip_path=str(folder), train__steps=0)
    train_pinclip(g, cfg, tmp_path / "m0")
    w = load_file(str(tmp_path / "m0" / "model.safetensors"))
    ref = clip.vision_model.embeddings.patch_embedding.weight
    torch.testing.assert_close(w["vision.embeddings.patch_embedding.weight"], ref)
    torch.testing.assert_close(
        w["text.embeddings.token_embedding.weight"], clip.text_model.embeddings.token_embedding.weight
    )
    train_pinclip(g, tiny_config(clip_path=str(folder)), tmp_path / "m1")
    import shutil

    shutil.rmtree(folder)  # the model dir must not need the CLIP folder any more
    embed_graph_pins(g, tmp_path / "m1", tmp_path / "e")
    assert load_embeddings(tmp_path / "e").pin.shape == (g.n_pins, 16)
