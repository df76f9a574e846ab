"""``dtrack venues``: every venue dtrack knows, its status and what dtrack reads from it."""

from __future__ import annotations

import json
from typing import Any

import click

from dtrack.cli.common import EXIT_OK, FORMATS, emit, print_renderable


@click.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", help="table, json or csv.")
def venues(fmt: str) -> int:
    """List venues with their status (active, planned, degraded, closed) and capabilities."""
    from dtrack.venues import VENUES

    rows: list[dict[str, Any]] = [{"venue": v.name, "title": v.title, "status": v.status, "closed_on": v.closed_on,
             "capabilities": list(v.capabilities), "markets": v.markets, "funding_intervals": v.funding_intervals,
             "bulk_endpoints": v.bulk, "default_taker_fee_pct": v.taker_fee_pct, "note": v.note}
            for v in VENUES.values()]
    if fmt == "json":
        emit(json.dumps({"venues": rows}, indent=2))
        return EXIT_OK
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "capabilities": " ".join(row["capabilities"])})
        emit(buf.getvalue())
        return EXIT_OK
    from rich.table import Table

    table = Table(title="VENUES", title_justify="left", show_edge=False)
    for col in ("Venue", "Status", "Capabilities", "Markets", "Funding interval", "Bulk endpoints", "Note"):
        table.add_column(col)
    for v in VENUES.values():
        status = f"closed {v.closed_on}" if v.status == "closed" else v.status
        table.add_row(v.title, status, ", ".join(v.capabilities) or "-", v.markets, v.funding_intervals, v.bulk,
                      v.note)
    print_renderable(table)
    return EXIT_OK
