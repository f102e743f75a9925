"""The one error type for bad input: it names the file, the row and the column."""

from __future__ import annotations

import csv
import os
from pathlib import Path


class DatasetError(ValueError):
    """Input that breaks the dataset contract.

    ``str(err)`` is a single line: ``<file>: row <r> (line <l>), column '<c>': <what was expected>``.
    Rows count data rows from 1 (for CSV, the header is line 1, so row r is line r + 1).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        line: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.row = row
        self.line = line
        self.column = column
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = [str(self.path)]
        loc = []
        if self.row is not None:
            csv_file = self.path.suffix == ".csv"
            line = f" (line {self.line or csv_line(self.path, self.row)})" if csv_file else ""
            loc.append(f"row {self.row}{line}")
        elif self.line is not None:
            loc.append(f"line {self.line}")
        if self.column is not None:
            loc.append(f"column '{self.column}'")
        if loc:
            where.append(", ".join(loc))
        return ": ".join(where + [self.message]).replace("\n", " ")


def csv_line(path: Path, row: int) -> int:
    """The line where data row ``row`` (1-based) of a CSV file starts, counting quoted fields
    that span lines and skipping blank lines as pandas does (error path only: one scan)."""
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.reader(fh)
            record, start = -1, 1
            while True:
                start = reader.line_num + 1
                rec = next(reader)
                if not rec:
                    continue
                record += 1
                if record == row:
                    return start
    except (OSError, StopIteration, csv.Error):
        pass
    return row + 1
