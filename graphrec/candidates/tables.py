"""Arrow schemas of the candidate tables and streaming Parquet writing (one row group per batch).

Each query batch of the global batch grid becomes one row group, in the same order in a part as
in the merged table, so the merged file of ``n`` shards is byte-for-byte the file of one shard.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from graphrec.candidates.search import TopK


def schema(query_column: str) -> pa.Schema:
    """``<query_column>, candidate_pin_id, rank (1 = best), score`` (inner product)."""
    return pa.schema(
        [(query_column, pa.string()), ("candidate_pin_id", pa.string()), ("rank", pa.int32()), ("score", pa.float32())]
    )


PIN_SCHEMA = schema("pin_id")
BOARD_SCHEMA = schema("board_id")


def topk_table(top: TopK, query_labels: pa.Array, pin_labels: pa.Array, table_schema: pa.Schema) -> pa.Table:
    """Long-format table of a batch's real results.

    Args:
        top: padded results of the batch.
        query_labels: id string of each query row of the batch.
        pin_labels: id string of every indexed pin (indexed by result id).
        table_schema: :data:`PIN_SCHEMA` or :data:`BOARD_SCHEMA`.
    """
    rows, rank, ids, scores = top.flat()
    return pa.table(
        [
            query_labels.take(pa.array(rows)),
            pin_labels.take(pa.array(ids)),
            pa.array(rank, pa.int32()),
            pa.array(scores.astype(np.float32), pa.float32()),
        ],
        schema=table_schema,
    )


class TableWriter:
    """A Parquet file written one row group per non-empty batch.

    Args:
        path: destination file (the caller makes it atomic).
        table_schema: the table's schema.
    """

    def __init__(self, path: str | os.PathLike[str], table_schema: pa.Schema) -> None:
        self.rows = 0
        self._w = pq.ParquetWriter(str(path), table_schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._w.write_table(table, row_group_size=table.num_rows)
            self.rows += table.num_rows

    def close(self) -> None:
        self._w.close()

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def concat_row_groups(sources: Iterable[Path], dest: Path, table_schema: pa.Schema) -> int:
    """Copy every row group of ``sources`` (in order) into ``dest`` via a temp file; return rows."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    with TableWriter(tmp, table_schema) as w:
        for src in sources:
            f = pq.ParquetFile(src)
            for g in range(f.num_row_groups):
                w.write(f.read_row_group(g))
    os.replace(tmp, dest)
    return w.rows
