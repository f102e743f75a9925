"""CLI command view: one static HTML page to look at a run's recommendations (no server needed).

For sample boards it shows the board's saved pins and its top-k recommendations, and for sample
pins their most similar pins: thumbnails (the dataset's images, embedded as PNG ``data:`` URIs),
titles, warm/cold badges and scores. Every string from the data is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import typer

from graphrec.cli import app, handle_errors

GENERATOR = "graphrec view"
CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.4em 0 .3em}
h3{font-size:.9em;color:#555;margin:.6em 0 .2em}
.row{display:flex;flex-wrap:wrap;gap:8px}
.card{width:112px;background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;
font-size:11px}
.card.query{border:2px solid #4C72B0}
.card img,.noimg{width:100px;height:100px;display:block;image-rendering:pixelated;border-radius:4px}
.noimg{background:#eee;color:#999;display:flex;align-items:center;justify-content:center}
.t{height:2.6em;overflow:hidden;margin:3px 0}
.meta{color:#666;display:flex;justify-content:space-between}
.badge{border-radius:3px;padding:0 4px;color:#fff;font-size:10px}
.warm{background:#4C72B0}.cold{background:#DD8452}.new{background:#55A868}
section{border-top:1px solid #ddd;padding-top:.4em}footer{color:#888;font-size:11px;margin-top:2em}
"""
# After load, count the images that decoded (shown in the footer; read by the browser test).
SCRIPT = """window.addEventListener("load", () => {
  const imgs = [...document.images], ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = ok; document.body.dataset.imagesBroken = imgs.length - ok;
  document.getElementById("status").textContent = `${ok} of ${imgs.length} images loaded`;
});"""


class Thumbs:
    """PNG data URIs of pin images, encoded once per pin (None when the pin has no image)."""

    def __init__(self, images: np.ndarray | None, image_rows: dict[str, int]) -> None:
        self.images, self.rows, self.cache = images, image_rows, {}

    def uri(self, pin_id: str) -> str | None:
        if pin_id not in self.cache:
            self.cache[pin_id] = self._encode(pin_id)
        return self.cache[pin_id]

    def _encode(self, pin_id: str) -> str | None:
        from PIL import Image

        row = self.rows.get(pin_id, -1)
        if self.images is None or row is None or row < 0:
            return None
        buf = io.BytesIO()
        img = Image.fromarray(np.asarray(self.images[row], dtype=np.uint8))
        img.save(buf, format="PNG", optimize=True)
        return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _badge(is_cold: object) -> str:
    kind = "new" if pd.isna(is_cold) else "cold" if bool(is_cold) else "warm"
    return f'<span class="badge {kind}">{kind}</span>'


def card(
    pin_id: str,
    title: object,
    is_cold: object,
    thumbs: Thumbs,
    score: float | None = None,
    rank: int | None = None,
    query: bool = False,
) -> str:
    """One pin as an HTML card; ``pin_id`` and ``title`` are escaped."""
    pid, name = html.escape(str(pin_id)), html.escape("" if pd.isna(title) else str(title))
    uri = thumbs.uri(str(pin_id))
    img = f'<img src="{uri}" alt="{name}">' if uri else '<div class="noimg">no image</div>'
    extra = f"#{rank} · {score:.3f}" if score is not None else ""
    cls = "card query" if query else "card"
    return (
        f'<div class="{cls}" title="{pid}">{img}<div class="t">{name}</div>'
        f'<div class="meta"><span>{pid}</span>{_badge(is_cold)}</div>'
        f'<div class="meta">{extra}</div></div>'
    )


def _row(cards: Iterable[str]) -> str:
    return '<div class="row">' + "".join(cards) + "</div>"


def sample_boards(run: object, n: int, seed: int) -> list[str]:
    """``n`` boards with train saves, seeded, in board order."""
    tr = run.graph.saves["train"]
    with_saves = np.unique(tr["board_idx"].to_numpy())
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(with_saves, size=min(n, len(with_saves)), replace=False))
    return run.graph.boards.set_index("board_idx").loc[pick, "board_id"].astype(str).tolist()


def sample_pins(run: object, n: int, seed: int) -> list[str]:
    """``n`` pins, half warm and half cold where possible, seeded, in pin order."""
    pins = run.graph.pins
    rng = np.random.default_rng(seed + 1)
    out: list[np.ndarray] = []
    for mask, m in ((~pins["is_cold"], n - n // 2), (pins["is_cold"], n // 2)):
        ids = pins.loc[mask.to_numpy(dtype=bool), "pin_idx"].to_numpy()
        out.append(rng.choice(ids, size=min(m, len(ids)), replace=False))
    idx = np.sort(np.concatenate(out))
    return pins.set_index("pin_idx").loc[idx, "pin_id"].astype(str).tolist()


def render_page(
    run: object, n_boards: int = 6, n_pins: int = 4, k: int = 10, max_saved: int = 12, seed: int = 0
) -> str:
    """The whole HTML page for a loaded :class:`graphrec.api.Run`."""
    g = run.graph
    rows = {}
    if "image_row" in g.pins:
        rows = dict(zip(g.pins["pin_id"].astype(str), g.pins["image_row"]))
    thumbs = Thumbs(g.images(), rows)
    boards = g.boards.set_index("board_id")
    parts = [
        f"<h1>{html.escape(run.dataset)}: recommendations</h1>",
        f"<p>Run <code>{html.escape(str(run.root))}</code> · {g.n_pins:,} pins "
        f"({int(g.is_cold.sum()):,} cold) · {g.n_boards:,} boards · top {k} from the "
        f"{html.escape(run.source)} · badges: warm = has train saves, cold = none, "
        "new = added later</p>",
    ]
    for bid in sample_boards(run, n_boards, seed):
        saved = run.pins(run.saved_pins(bid)[:max_saved])
        recs = run.recommend([bid], k=k, titles=True)
        title = boards.loc[bid, "title"] if "title" in boards.columns else ""
        name = "" if pd.isna(title) else str(title).strip()
        heading = f"Board {html.escape(bid)}" + (f": {html.escape(name)}" if name else "")
        parts.append(f'<section class="board"><h2>{heading}</h2>')
        parts.append(f"<h3>saved pins ({len(run.saved_pins(bid))}, first {len(saved)})</h3>")
        parts.append(_row(card(r.pin_id, r.title, r.is_cold, thumbs) for r in saved.itertuples()))
        parts.append("<h3>recommended</h3>")
        parts.append(_row(card(r.pin_id, r.title, r.is_cold, thumbs, r.score, r.rank) for r in recs.itertuples()))
        parts.append("</section>")
    parts.append("<section><h2>Pin → similar pins</h2>")
    for pid in sample_pins(run, n_pins, seed):
        q = run.pins([pid]).iloc[0]
        sims = run.similar_pins([pid], k=k, titles=True)
        parts.append(
            _row(
                [
                    card(pid, q["title"], q["is_cold"], thumbs, query=True),
                    *(card(r.pin_id, r.title, r.is_cold, thumbs, r.score, r.rank) for r in sims.itertuples()),
                ]
            )
        )
    parts.append('</section><footer>graphrec view · <span id="status"></span></footer>')
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="generator" content="{GENERATOR}">'
        f"<title>{html.escape(run.dataset)} recommendations</title><style>{CSS}</style>"
        f"<script>{SCRIPT}</script></head><body>" + "\n".join(parts) + "</body></html>\n"
    )


def write_page(page: str, out: Path, force: bool) -> None:
    """Write atomically; refuse to replace a file unless ``force`` or graphrec view wrote it."""
    if out.exists() and not force:
        head = out.read_text(encoding="utf-8", errors="replace")[:300] if out.is_file() else ""
        if f'content="{GENERATOR}"' not in head:
            from graphrec.utils.io import OutputExistsError

            raise OutputExistsError(f"{out} exists and was not written by graphrec view (pass --force to replace it)")
    out.parent.mkdir(parents=True, exist_ok=True)  # a new folder for the page is fine; nothing else is touched
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)


@app.command("view")
@handle_errors
def view_cmd(
    run: Path = typer.Option(..., "--run", help="Run directory of `graphrec run`."),
    out: Path = typer.Option(..., "--out", help="HTML file to write (self-contained: images are embedded)."),
    boards: int = typer.Option(6, "--boards", help="Sample boards shown (seeded)."),
    pins: int = typer.Option(4, "--pins", help="Sample pins shown with their similar pins (half cold)."),
    k: int = typer.Option(10, "--k", help="Recommendations per board and similar pins per pin."),
    seed: int = typer.Option(0, "--seed", help="Seed of the board and pin samples."),
    force: bool = typer.Option(False, "--force", help="Replace OUT even if graphrec did not write it."),
) -> None:
    """Write a static HTML page of sample boards (saved pins, recommendations) and similar pins."""
    import graphrec

    if boards < 0 or pins < 0 or k < 1:
        raise ValueError("--boards and --pins must be >= 0 and --k >= 1")
    page = render_page(graphrec.load_run(run), n_boards=boards, n_pins=pins, k=k, seed=seed)
    write_page(page, out, force)
    typer.echo(f"wrote {out} ({len(page) / 1024:.0f} KiB); open it in a browser")
