"""Generic rendering of flat rows: CSV text and a terminal table (columns chosen by the caller)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.report.table import Column, Table


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)


def rows_to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV with a header (the first row's keys unless ``columns`` is given); nested values are
    left out, lists joined by spaces."""
    if not rows:
        return ""
    names = list(columns or [k for k, v in rows[0].items() if not isinstance(v, dict)])
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=names, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in names})
    return buf.getvalue()


def rows_table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[str],
               priorities: dict[str, int] | None = None) -> Table:
    """A table of ``columns`` of ``rows`` (empty cells shown as ``-``); ``priorities`` (column -> priority, see
    ``dtrack.report.table.Column``) lets the least useful go first at narrow widths (the first two columns are
    never dropped, the others by default from the right)."""
    given = priorities or {}
    table = Table(title, [Column(c, priority=given.get(c, 0 if n < 2 else n)) for n, c in enumerate(columns)])
    for row in rows:
        table.add_row(*(_cell(row.get(c)) or "-" for c in columns))
    return table
