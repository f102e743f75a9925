"""MovieLens (ml-latest-small) -> dataset contract.

Pins are movies (text = title, genres and, optionally, user tags); a board is a user's liked
list (ratings >= ``min_rating``, saved_at = rating time); optionally, (user, tag) boards.
Tags are user-generated, so they can carry post-cutoff information into cold pins' text:
``tag_text=False`` keeps pin text to title and genres for strict cold-start studies.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graph_build.adapters.common import require_files, write_dataset
from graphrec.utils.io import check_output_free

log = logging.getLogger(__name__)
FILES = ("movies.csv", "ratings.csv", "tags.csv")


@dataclass(frozen=True)
class MovieLensOptions:
    """Args:
    min_rating: a rating at or above this is a save to the user's liked board.
    tag_boards: also make one board per (user, tag) with at least ``min_tag_board`` movies.
    min_tag_board: minimum movies in a (user, tag) board.
    tag_text: append each movie's most frequent tags to its description.
    max_tags: tags kept per movie in the description.
    """

    min_rating: float = 4.0
    tag_boards: bool = False
    min_tag_board: int = 2
    tag_text: bool = True
    max_tags: int = 10


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "tag"


def _pins(movies: pd.DataFrame, tags: pd.DataFrame, opts: MovieLensOptions) -> pd.DataFrame:
    genres = movies["genres"].fillna("").str.split("|")
    year = pd.to_numeric(movies["title"].str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce")
    decade = np.where(year.isna(), "unknown", (year // 10 * 10).fillna(0).astype(int).astype(str) + "s")
    desc = "Genres: " + genres.str.join(", ") + "."
    if opts.tag_text and len(tags):
        tcount = tags.assign(tag=tags["tag"].astype(str).str.strip().str.lower()).groupby(["movieId", "tag"]).size()
        top = (
            tcount.reset_index(name="n")
            .sort_values(["movieId", "n", "tag"], ascending=[True, False, True])
            .groupby("movieId")
            .head(opts.max_tags)
            .groupby("movieId")["tag"]
            .agg(", ".join)
        )
        tag_text = movies["movieId"].map(top)
        desc = desc + np.where(tag_text.notna(), " Tags: " + tag_text.fillna("") + ".", "")
    pins = pd.DataFrame(
        {
            "pin_id": movies["movieId"].astype(str),
            "title": movies["title"].astype(str),
            "description": desc,
            "primary_genre": [g[0] if g and g[0] else "(no genres listed)" for g in genres],
            "decade": decade,
        }
    )
    dummies = movies["genres"].fillna("").str.get_dummies(sep="|").drop(columns=["(no genres listed)"], errors="ignore")
    for g in sorted(dummies.columns):
        pins["genre_" + _slug(g).replace("-", "_")] = dummies[g].astype(float).to_numpy()
    return pins


def convert_movielens(
    src: str | Path, out: str | Path, opts: MovieLensOptions, *, overwrite: bool = False
) -> dict[str, Any]:
    """Convert the MovieLens folder ``src`` into a contract dataset at ``out``."""
    src = Path(src)
    check_output_free(out, overwrite=overwrite)
    require_files(src, FILES)
    movies = pd.read_csv(src / "movies.csv")
    ratings = pd.read_csv(src / "ratings.csv")
    tags = pd.read_csv(src / "tags.csv")
    pins = _pins(movies, tags, opts)
    liked = ratings[ratings["rating"] >= opts.min_rating]
    users = np.sort(ratings["userId"].unique())
    boards = [
        pd.DataFrame(
            {
                "board_id": [f"u{u}-liked" for u in users],
                "title": "",
                "owner_id": [str(u) for u in users],
                "kind": "liked",
            }
        )
    ]
    saves = [
        pd.DataFrame(
            {
                "board_id": "u" + liked["userId"].astype(str) + "-liked",
                "pin_id": liked["movieId"].astype(str),
                "saved_at": liked["timestamp"].astype(np.int64),
            }
        )
    ]
    if opts.tag_boards:
        t = tags.assign(slug=tags["tag"].astype(str).map(_slug))
        t = t[t["movieId"].isin(movies["movieId"])]
        t["board_id"] = "u" + t["userId"].astype(str) + "-tag-" + t["slug"]
        sizes = t.groupby("board_id")["movieId"].nunique()
        t = t[t["board_id"].isin(sizes[sizes >= opts.min_tag_board].index)]
        first = t.sort_values("timestamp").drop_duplicates("board_id")
        boards.append(
            pd.DataFrame(
                {
                    "board_id": first["board_id"],
                    "title": first["tag"].astype(str),
                    "owner_id": first["userId"].astype(str),
                    "kind": "tag",
                }
            )
        )
        saves.append(
            pd.DataFrame(
                {
                    "board_id": t["board_id"],
                    "pin_id": t["movieId"].astype(str),
                    "saved_at": t["timestamp"].astype(np.int64),
                }
            )
        )
    boards_df = pd.concat(boards, ignore_index=True)
    saves_df = pd.concat(saves, ignore_index=True)
    info = {
        "name": "movielens-small",
        "source": str(src.resolve()),
        "adapter": "graphrec import movielens",
        "options": asdict(opts),
        "derived_boards": False,
        "license": "MovieLens ml-latest-small: non-commercial research use; see the source README.txt",
    }
    write_dataset(out, pins, boards_df, saves_df, info, overwrite=overwrite)
    log.info("movielens: %d pins, %d boards, %d saves -> %s", len(pins), len(boards_df), len(saves_df), out)
    return info
