"""``graphrec add-pins``: make pins that arrived after training recommendable, without retraining.

A new pin's content goes through the trained PinCLIP encoder; SAGE embeds it inductively from
that content plus whatever saves it already has (to existing boards); the vector is inserted into
the saved faiss index, and the pin gets its candidates and the boards it best fits. Everything is
loaded once by :class:`PinAdder`, so a long-lived process pays the loading cost once and each
batch only pays for its own pins.
"""

from __future__ import annotations

import logging
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graph_build.contract import collapse_duplicate_saves, load_pins_table, require_columns
from graph_build.errors import DatasetError
from graph_build.tables import find_table, first_true, read_table
from graphrec.candidates.search import TopK

log = logging.getLogger(__name__)
RUN_PARTS = {"graph": "graph", "pinclip": "pinclip", "content": "content", "sage": "sage", "index": "candidates/index"}


@dataclass
class AddPinsResult:
    """Candidates and best-fit boards of a batch of new pins, plus what it took."""

    pin_ids: list[str]
    index_ids: np.ndarray
    candidates: pd.DataFrame  # pin_id, candidate_pin_id, rank, score
    boards: pd.DataFrame  # pin_id, board_id, rank, score
    seconds: dict[str, float] = field(default_factory=dict)


def _long(top: TopK, query_ids: list[str], names: np.ndarray, qcol: str, ccol: str) -> pd.DataFrame:
    row, rank, ids, score = top.flat()
    return pd.DataFrame(
        {
            qcol: np.asarray(query_ids, dtype=object)[row],
            ccol: names[ids],
            "rank": rank.astype(np.int32),
            "score": score.astype(np.float32),
        }
    )


def load_new_saves(path: str | Path, new_ids: list[str], board_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Saves of new pins to existing boards: ``(new pin row, board_idx)``, validated like a dataset."""
    path = Path(path)
    if path.is_dir():
        path = find_table(path, "saves")
    if not path.is_file():
        raise DatasetError(path, "saves table does not exist")
    df = read_table(path, string_columns=("board_id", "pin_id"))
    require_columns(df, path, ("board_id", "pin_id"))
    rows = {}
    for col, known, what in (
        ("pin_id", pd.Index(new_ids), "the new pins table"),
        ("board_id", pd.Index(board_ids), "the run's graph"),
    ):
        r = first_true(df[col].isna().to_numpy())
        if r is not None:
            raise DatasetError(path, f"missing {col}", row=r + 1, column=col)
        idx = known.get_indexer(df[col].astype(str))
        r = first_true(idx < 0)
        if r is not None:
            raise DatasetError(path, f"unknown {col} {df[col].iloc[r]!r}: not in {what}", row=r + 1, column=col)
        rows[col] = idx.astype(np.int64)
    # One save per (board, pin), as in a dataset: a repeated row would otherwise count twice in the
    # SAGE degree feature and change the pin's vector.
    pin, board, _, dups = collapse_duplicate_saves(rows["pin_id"], rows["board_id"], None, len(new_ids))
    if dups:
        log.info("%s: collapsed %d duplicate saves", path.name, dups)
    return pin, board


class PinAdder:
    """Everything ``add-pins`` needs from a ``graphrec run`` directory, loaded once.

    Args:
        run_dir: the OUT_DIR of ``graphrec run`` (graph/, pinclip/, content/, sage/, candidates/).
        k: candidates per new pin.
        n_boards: best-fit boards per new pin.
    """

    def __init__(self, run_dir: str | Path, k: int = 100, n_boards: int = 10) -> None:
        from graphrec.candidates.bundle import load_bundle
        from graphrec.pinclip.store import load_model_dir
        from graphrec.sage.inference import InductiveEmbedder

        self.run = Path(run_dir)
        for part in RUN_PARTS.values():
            if not (self.run / part).is_dir():
                raise FileNotFoundError(
                    f"{self.run}: missing {part}/; --model must be the output directory of "
                    "`graphrec run` (with graph, pinclip, content, sage and candidates)"
                )
        self.k, self.n_boards = k, n_boards
        self.pinclip = load_model_dir(self.run / "pinclip")
        self.sage = InductiveEmbedder.from_dirs(self.run / "graph", self.run / "content", self.run / "sage")
        self.full = None  # the served model's inductive path, when the run has one (full/)
        if (self.run / "full").is_dir():
            from graphrec.hybrid.store import load_full

            self.full, self.full_cfg, _ = load_full(self.run / "full")
        self.bundle = load_bundle(self.run / RUN_PARTS["index"])
        from graphrec.candidates._faiss import faiss

        # Boards do not change when pins are added: one exact board index for every batch.
        self._boards = faiss.IndexFlatIP(self.bundle.board_vectors.shape[1])
        self._boards.add(np.ascontiguousarray(self.bundle.board_vectors, dtype=np.float32))
        self._known: set[str] = set()  # indexed pin ids, built once and extended by add()
        self._known_of: Any = None  # the bundle _known describes

    def _student_inputs(self, pins: pd.DataFrame, content: np.ndarray) -> np.ndarray:
        """``full``'s student input for new pins: PinCLIP content (+ frozen MiniLM text when used)."""
        from graphrec.hybrid.api import student_inputs

        if not self.full_cfg.text_features:
            return content
        from graphrec.features.minilm import pin_text_features

        return student_inputs(content, pin_text_features(pins))

    def indexed(self, ids: list[str]) -> list[str]:
        """The ids in ``ids`` that are already indexed (O(len(ids)) per call, not O(catalogue))."""
        if self._known_of is not self.bundle or len(self._known) != self.bundle.n_pins:
            self._known, self._known_of = set(self.bundle.pin_ids.tolist()), self.bundle
        return [i for i in ids if i in self._known]

    def add(
        self, pins: pd.DataFrame, images: np.ndarray | None, saves: tuple[np.ndarray, np.ndarray] | None = None
    ) -> AddPinsResult:
        """Embed, insert and query a batch of new pins (rows of a validated pins table)."""
        from graphrec.pinclip.embed import embed_table
        from graphrec.pinclip.table import PinTable

        ids = pins["pin_id"].astype(str).tolist()
        clash = self.indexed(ids)
        if clash:
            raise ValueError(f"pin_id {clash[0]!r} is already in the index; new pins need new ids")
        t0 = time.perf_counter()
        lp = self.pinclip
        table = PinTable.from_pins(pins, images, lp.tokenizer, lp.vocab, lp.cfg, lp.image_size)
        content = embed_table(lp, table, lp.cfg.train.embed_batch_size)
        t1 = time.perf_counter()
        if self.full is not None:
            vectors = self.full.new_pin_emb(self._student_inputs(pins, content), saves)
        else:
            vectors = self.sage.embed_new_pins(content, saves)
        t2 = time.perf_counter()
        index_ids = self.bundle.add_pins(ids, vectors)
        self._known.update(ids)
        cands = self.bundle.vector_candidates(vectors, self.k, exclude_ids=index_ids)
        board_scores, board_idx = self._boards.search(
            np.ascontiguousarray(vectors, dtype=np.float32), min(self.n_boards, len(self.bundle.board_ids))
        )
        t3 = time.perf_counter()
        boards = TopK(board_idx.astype(np.int64), board_scores, (board_idx >= 0).sum(axis=1))
        return AddPinsResult(
            pin_ids=ids,
            index_ids=index_ids,
            candidates=_long(cands, ids, self.bundle.pin_ids, "pin_id", "candidate_pin_id"),
            boards=_long(boards, ids, self.bundle.board_ids, "pin_id", "board_id"),
            seconds={"content_s": t1 - t0, "sage_s": t2 - t1, "index_s": t3 - t2, "total_s": t3 - t0},
        )

    def save_index(self) -> None:
        """Persist the index with the added pins (atomically replaces candidates/index)."""
        self.bundle.save(self.run / RUN_PARTS["index"], overwrite=True)


def add_pins(
    run_dir: str | Path,
    pins_file: str | Path,
    saves_file: str | Path | None = None,
    *,
    out: str | Path | None = None,
    k: int = 100,
    n_boards: int = 10,
    save_index: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """The CLI job: validate the tables, add the pins, write their candidates and boards.

    With ``save_index`` the new index and the outputs are committed together (layout.commit): a
    kill at any point leaves the old state or the new one, and re-running the same batch after
    it completed (or was committed and then killed) is a no-op that returns its manifest.
    """
    from graphrec.candidates.layout import clean_leftovers, locked
    from graphrec.utils.io import check_output_free, sha256_file
    from graphrec.utils.runlock import run_lock

    if out is not None:  # an impossible --out fails first, in one line, before any reading
        _check_writable(Path(out))
    pins, images = load_pins_table(pins_file)
    if out is None:  # a dry run gets its own default directory, so the real run after it is not blocked
        out = Path(run_dir) / "added_pins" / f"batch-{sha256_file(pins_file)[:12]}{'' if save_index else '-dry-run'}"
    out = Path(out)
    batch = {
        "pins_sha256": sha256_file(pins_file),
        "saves_sha256": (sha256_file(saves_file) if saves_file is not None and Path(saves_file).is_file() else None),
        "k": k,
        "n_boards": n_boards,
    }
    if not (save_index and _done(out, run_dir, batch, pins)):
        check_output_free(out, overwrite=overwrite)
    cand_dir = Path(run_dir) / "candidates"
    # The index is read, extended and written back under the candidates lock: two concurrent
    # add-pins would otherwise each save their own copy and one batch would silently vanish.
    # One writer per run dir: graphrec run holds the same lock for its whole run.
    lock = run_lock(run_dir) if Path(run_dir).is_dir() else nullcontext()  # (no dir: the checks below say why)
    with lock, locked(cand_dir) if save_index and cand_dir.is_dir() else nullcontext():
        clean_leftovers(out.parent, out.name)  # staged outputs of a batch killed before its commit
        if save_index and (done := _done(out, run_dir, batch, pins)) is not None:
            log.info("batch %s was already added (%s); nothing to do", pins_file, out)
            return {**done, "out": str(out)}
        check_output_free(out, overwrite=overwrite)
        adder = PinAdder(run_dir, k=k, n_boards=n_boards)
        saves = None
        if saves_file is not None:
            saves = load_new_saves(saves_file, pins["pin_id"].astype(str).tolist(), adder.bundle.board_ids)
        res = adder.add(pins, images, saves)
        manifest = {**_manifest(run_dir, pins_file, saves_file, res, saves, save_index, k, n_boards), **batch}
        _write_outputs(adder, res, manifest, out, overwrite, save_index, cand_dir)
    log.info("added %d pins in %.3f s (%s)", len(res.pin_ids), res.seconds["total_s"], out)
    return {**manifest, "out": str(out)}


def _write_outputs(
    adder: PinAdder,
    res: AddPinsResult,
    manifest: dict[str, Any],
    out: Path,
    overwrite: bool,
    save_index: bool,
    cand_dir: Path,
) -> None:
    """A dry run writes ``out`` atomically; otherwise stage ``out`` and the index, then commit."""
    import tempfile

    from graphrec.candidates.layout import commit
    from graphrec.utils.io import atomic_output_dir, crash_point, fsync_tree, write_json, write_parquet

    def write(d: Path) -> None:
        write_parquet(d / "pin_candidates.parquet", res.candidates)
        write_parquet(d / "pin_boards.parquet", res.boards)
        write_json(d / "manifest.json", manifest)

    if not save_index:
        with atomic_output_dir(out, overwrite=overwrite) as tmp:
            write(tmp)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        write(staged)
        fsync_tree(staged)
        index = adder.bundle.save_aside(cand_dir)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    crash_point("addpins:staged")
    commit(cand_dir, index, staged, out)


def _check_writable(out: Path) -> None:
    from graphrec.utils.io import check_writable_location

    try:
        check_writable_location(out)
    except OSError as exc:
        raise ValueError(str(exc)) from None


def _done(out: Path, run_dir: str | Path, batch: dict[str, Any], pins: pd.DataFrame) -> dict[str, Any] | None:
    """The manifest of ``out`` when it is this very batch, already in the run's index."""
    from graphrec.candidates.layout import read_json_or_none

    m = read_json_or_none(out / "manifest.json")
    if not m or m.get("kind") != "graphrec.added_pins" or not m.get("index_updated"):
        return None
    if any(m.get(key) != val for key, val in batch.items()):
        return None
    index_pins = Path(run_dir) / RUN_PARTS["index"] / "pins.parquet"
    if not index_pins.is_file():
        return None
    indexed = set(pd.read_parquet(index_pins, columns=["pin_id"])["pin_id"].astype(str))
    return m if set(pins["pin_id"].astype(str)) <= indexed else None


def _manifest(
    run_dir: str | Path,
    pins_file: str | Path,
    saves_file: str | Path | None,
    res: AddPinsResult,
    saves: tuple[np.ndarray, np.ndarray] | None,
    save_index: bool,
    k: int,
    n_boards: int,
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "kind": "graphrec.added_pins",
        "run": str(Path(run_dir).resolve()),
        "pins": str(Path(pins_file).resolve()),
        "saves": str(Path(saves_file).resolve()) if saves_file else None,
        "n_pins": len(res.pin_ids),
        "n_saves": 0 if saves is None else int(len(saves[0])),
        "index_ids": [int(res.index_ids.min()), int(res.index_ids.max())] if len(res.index_ids) else [],
        "index_updated": save_index,
        "k": k,
        "n_boards": n_boards,
        "seconds": {k_: round(v, 4) for k_, v in res.seconds.items()},
        "seconds_per_pin": round(res.seconds["total_s"] / max(1, len(res.pin_ids)), 5),
    }
