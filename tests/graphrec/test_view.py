"""``graphrec view``: a self-contained page that a real headless browser (Debian's chromium) loads
without errors, showing one decoded thumbnail per pin card, with every data string escaped."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import graphrec
import graphrec.cli.view  # noqa: F401  (registers the command)
from graphrec.cli import app
from graphrec.cli.view import sample_boards, sample_pins

runner = CliRunner()
EVIL = '"><img src=x onerror="document.title=1">&<script>alert(1)</script>'
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
]


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    return exe


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def expected_cards(run_dir: Path, n_boards: int, n_pins: int, k: int) -> int:
    """Pin cards the page must show, computed from the API (all tiny pins have images)."""
    run = graphrec.load_run(run_dir)
    boards = sample_boards(run, n_boards, 0)
    saved = sum(min(12, len(run.saved_pins(b))) for b in boards)
    recs = len(run.recommend(boards, k=k))
    pins = sample_pins(run, n_pins, 0)
    return saved + recs + len(pins) + len(run.similar_pins(pins, k=k))


@pytest.fixture
def evil_run(run_copy: Path) -> Path:
    """The tiny run with hostile titles on every board and on the sampled pins."""
    g = run_copy / "graph"
    boards = pd.read_parquet(g / "boards.parquet").assign(title=EVIL)
    boards.to_parquet(g / "boards.parquet", index=False)
    pins = pd.read_parquet(g / "pins.parquet")
    pins["title"] = pins["title"].where(pins["pin_idx"] % 2 == 0, EVIL)
    pins.to_parquet(g / "pins.parquet", index=False)
    return run_copy


def test_page_escapes_every_data_string(evil_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    res = runner.invoke(
        app, ["view", "--run", str(evil_run), "--boards", "3", "--pins", "2", "--k", "5", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    html_text = out.read_text()
    assert "<script>alert(1)" not in html_text and 'onerror="document' not in html_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    n = expected_cards(evil_run, 3, 2, 5)
    assert len(re.findall(r"<img ", html_text)) == n
    assert html_text.count('class="card') == n
    # rewriting its own page is fine; a file graphrec did not write is not replaced
    assert runner.invoke(app, ["view", "--run", str(evil_run), "--out", str(out)]).exit_code == 0
    other = tmp_path / "mine.html"
    other.write_text("<p>my notes</p>")
    res = runner.invoke(app, ["view", "--run", str(evil_run), "--out", str(other)])
    assert res.exit_code == 1 and "not written by graphrec view" in res.output
    assert other.read_text() == "<p>my notes</p>"
    nested = tmp_path / "new" / "folder" / "page.html"  # the page's folder is created
    assert runner.invoke(app, ["view", "--run", str(evil_run), "--out", str(nested)]).exit_code == 0
    assert nested.is_file()


def test_headless_chromium_loads_every_thumbnail(evil_run: Path, tmp_path: Path) -> None:
    chromium()
    out = tmp_path / "page.html"
    assert (
        runner.invoke(
            app, ["view", "--run", str(evil_run), "--boards", "3", "--pins", "2", "--k", "5", "--out", str(out)]
        ).exit_code
        == 0
    )
    res = browse(out, tmp_path, "--dump-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    dom = res.stdout
    n = expected_cards(evil_run, 3, 2, 5)
    loaded = re.search(r'data-images-loaded="(\d+)"', dom)
    assert loaded is not None, dom[:500]
    assert int(loaded.group(1)) == n and 'data-images-broken="0"' in dom
    assert len(re.findall(r"<img ", dom)) == n  # nothing injected by the hostile titles
    assert f"{n} of {n} images loaded" in dom
    errors = [line for line in res.stderr.splitlines() if "Uncaught" in line or "CONSOLE" in line and "rror" in line]
    assert not errors, errors
    shot = tmp_path / "view.png"
    res = browse(out, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
