"""Renders the venue registry: the capability table as CSV, a terminal table, and the README's Markdown table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dtrack.report.rows import rows_to_csv
from dtrack.report.table import Column, Table


def to_csv(rows: Sequence[dict[str, Any]]) -> str:
    """One row per venue (capabilities joined by spaces; the per-kind table is in JSON)."""
    return rows_to_csv(rows)


def _cell(cap: dict[str, Any]) -> str:
    if not cap["supported"]:
        return "—"
    text = "yes"
    if cap["history"]:
        text += f" ({cap['history']})"
    if cap["sampled"]:
        text += ", sampled"
    return text


def render_table(rows: Sequence[dict[str, Any]]) -> Table:
    """Venues with status and what dtrack reads from each (prose columns wrap inside the table)."""
    table = Table("VENUES", [
        Column("Venue"), Column("Status"), Column("Capabilities", priority=1, wrap=True, min_width=16),
        Column("Markets", priority=2, wrap=True, min_width=16),
        Column("Funding interval", priority=3, wrap=True, min_width=16),
        Column("Bulk endpoints", priority=5, wrap=True, min_width=16), Column("Note", priority=4, wrap=True)])
    for v in rows:
        status = f"closed {v['closed_on']}" if v["status"] == "closed" else v["status"]
        table.add_row(v["title"], status, ", ".join(v["capabilities"]) or "-", v["markets"], v["funding_intervals"],
                      v["bulk_endpoints"], v["note"])
    return table


#: the README's per-kind columns: (data kind, header)
README_KINDS = (("funding", "funding"), ("funding_history", "funding history"), ("open_interest", "open interest"),
                ("oi_history", "OI history"), ("long_short", "long/short"), ("option_chain", "options"),
                ("liquidations", "liquidations"), ("klines", "klines"), ("order_book", "order book"),
                ("margin_tiers", "margin tiers"))


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The README venue table: status, markets, funding interval and, per data kind, whether dtrack reads it
    (with the history depth the venue keeps), rendered from the registry's capability tables."""
    head = ["venue", "status", "markets", "funding interval", *(h for _, h in README_KINDS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in rows:
        status = f"closed {v['closed_on']}" if v["status"] == "closed" else v["status"]
        cells = [v["title"], status, v["markets"], v["funding_intervals"],
                 *(_cell(v["data"][k]) if k in v["data"] else "—" for k, _ in README_KINDS)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
