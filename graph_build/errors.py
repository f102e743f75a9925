"""The one error type for bad input: it names the file, the row and the column."""

from __future__ import annotations

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
    ) -> None:
        self.path = Path(path)
        self.row = row
        self.column = column
        self.message = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = [str(self.path)]
        loc = []
        if self.row is not None:
            line = f" (line {self.row + 1})" if self.path.suffix == ".csv" else ""
            loc.append(f"row {self.row}{line}")
        if self.column is not None:
            loc.append(f"column '{self.column}'")
        if loc:
            where.append(", ".join(loc))
        return ": ".join(where + [self.message]).replace("\n", " ")
