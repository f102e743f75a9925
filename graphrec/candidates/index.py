"""The faiss index layer: build (flat / hnsw / ivf), search, add new vectors, save and load.

Vectors are L2-normalised float32 and scored by inner product (= cosine). Ids are faiss's
sequential ids: row ``i`` of the catalogue is id ``i`` (its ``pin_idx``), and vectors added later
(``add``) get the ids that continue after the last one, so a new pin is searchable right after
``add`` without rebuilding anything. Indexes are stored with ``faiss.write_index`` (no pickles).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from graphrec.candidates._faiss import faiss
from graphrec.candidates.config import CandidatesError, IndexConfig

log = logging.getLogger(__name__)


def set_threads(threads: int) -> int:
    """Set faiss's OpenMP thread count (0 = leave faiss's default, all cores); return it."""
    if threads > 0:
        faiss.omp_set_num_threads(threads)
    return int(faiss.omp_get_max_threads())


def as_queries(x: np.ndarray) -> np.ndarray:
    """C-contiguous float32 rows, L2-normalised (zero rows stay zero)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise CandidatesError(f"vectors must be a 2-d array, got shape {x.shape}")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


def resolve_nlist(cfg: IndexConfig, n: int) -> int:
    """IVF list count: the configured one, or round(sqrt(n)) clipped so each list gets >= 39 points."""
    nlist = cfg.ivf_nlist or int(round(math.sqrt(n)))
    return int(max(1, min(nlist, n // 39 if n >= 39 else 1)))


class CandidateIndex:
    """A faiss inner-product index over L2-normalised vectors with sequential int64 ids.

    Args:
        index: the underlying faiss index (``IndexFlatIP``, ``IndexHNSWFlat`` or ``IndexIVFFlat``).
        cfg: the configuration it was built with (its search parameters are applied here).
    """

    def __init__(self, index: faiss.Index, cfg: IndexConfig) -> None:
        self.index = index
        self.cfg = cfg
        self._apply_search_params()

    @property
    def kind(self) -> str:
        return self.cfg.kind

    @property
    def ntotal(self) -> int:
        """Number of vectors (= the next id ``add`` will assign)."""
        return int(self.index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def params(self) -> dict[str, int | str]:
        """The parameters that matter for this kind (for manifests and logs)."""
        c = self.cfg
        if c.kind == "hnsw":
            return {
                "kind": "hnsw",
                "M": c.hnsw_m,
                "efConstruction": c.hnsw_ef_construction,
                "efSearch": c.hnsw_ef_search,
            }
        if c.kind == "ivf":
            ivf = faiss.extract_index_ivf(self.index)
            return {"kind": "ivf", "nlist": int(ivf.nlist), "nprobe": c.ivf_nprobe}
        return {"kind": "flat"}

    @classmethod
    def build(cls, vectors: np.ndarray, cfg: IndexConfig, seed: int = 0) -> CandidateIndex:
        """Build an index over ``vectors`` (normalised here); row i gets id i.

        Args:
            vectors: n x d float array (the catalogue's pin vectors).
            cfg: index kind and parameters.
            seed: seeds the IVF training sample and k-means.
        """
        x = as_queries(vectors)
        n, d = x.shape
        if n == 0:
            raise CandidatesError("cannot build an index over 0 vectors")
        if cfg.kind == "flat":
            index: faiss.Index = faiss.IndexFlatIP(d)
        elif cfg.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, cfg.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = cfg.hnsw_ef_construction
        elif cfg.kind == "ivf":
            nlist = resolve_nlist(cfg, n)
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = int(seed)
            n_train = min(n, nlist * cfg.ivf_train_points_per_list)
            rows = np.sort(np.random.default_rng(seed).choice(n, size=n_train, replace=False))
            index.train(x[rows])
        else:  # pragma: no cover - Literal-checked by the config loader
            raise CandidatesError(f"unknown index kind {cfg.kind!r}; expected flat, hnsw or ivf")
        index.add(x)
        log.info("built %s index over %d x %d vectors", cfg.kind, n, d)
        return cls(index, cfg)

    def add(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> np.ndarray:
        """Insert new vectors (normalised here); return their ids.

        Args:
            vectors: m x d float array.
            ids: optional expected ids; they must be ``ntotal, ntotal + 1, ...`` (ids continue
                after the catalogue and earlier additions; faiss assigns them sequentially).
        """
        x = as_queries(vectors)
        if x.shape[1] != self.dim:
            raise CandidatesError(f"vectors have dimension {x.shape[1]}, the index has {self.dim}")
        new_ids = np.arange(self.ntotal, self.ntotal + len(x), dtype=np.int64)
        if ids is not None and not np.array_equal(np.asarray(ids, dtype=np.int64), new_ids):
            raise CandidatesError(
                f"ids of added vectors must continue after the index: expected "
                f"{self.ntotal}..{self.ntotal + len(x) - 1}"
            )
        if len(x):
            self.index.add(x)
        return new_ids

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by inner product: ``(scores, ids)``, each ``len(queries) x k``, best first.

        Missing results (fewer than ``k`` reachable vectors) have id -1 and score -inf.

        Args:
            queries: q x d float array (normalised here).
            k: results per query.
        """
        q = as_queries(queries)
        if q.shape[1] != self.dim:
            raise CandidatesError(f"queries have dimension {q.shape[1]}, the index has {self.dim}")
        k = int(k)
        params = None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.cfg.hnsw_ef_search, k))
        elif self.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.cfg.ivf_nprobe)
        scores, ids = self.index.search(q, k, params=params)
        scores[ids < 0] = -np.inf
        return scores, ids.astype(np.int64, copy=False)

    def _apply_search_params(self) -> None:
        if self.kind == "hnsw":
            self.index.hnsw.efSearch = self.cfg.hnsw_ef_search
        elif self.kind == "ivf":
            faiss.extract_index_ivf(self.index).nprobe = self.cfg.ivf_nprobe

    def save(self, path: str | Path) -> None:
        """Write the index with ``faiss.write_index`` (the caller makes the directory atomic)."""
        faiss.write_index(self.index, str(path))

    @classmethod
    def load(cls, path: str | Path, cfg: IndexConfig) -> CandidateIndex:
        """Read an index written by :meth:`save`; ``cfg`` gives its kind and search parameters.

        Args:
            path: the ``.faiss`` file.
            cfg: the configuration it was built with (search parameters may be changed here).
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: faiss index file does not exist")
        index = faiss.read_index(str(path))  # returns the concrete class, owning its memory
        expected = {"flat": faiss.IndexFlat, "hnsw": faiss.IndexHNSW, "ivf": faiss.IndexIVF}[cfg.kind]
        if not isinstance(index, expected):
            raise CandidatesError(f"{path}: holds a {type(index).__name__}, not a {cfg.kind} index")
        return cls(index, cfg)
