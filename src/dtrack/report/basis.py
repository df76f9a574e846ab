"""Renders the basis report: JSON (one object), CSV (the rows) and rich tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.analytics.basis import AssetBasis, BasisReport, BasisRow, Opportunity
from dtrack.report.format import iso, num, pct, price, token
from dtrack.results import Failure

UNITS = {
    "prices": "USD per one unit of the asset (USDT/USDC spot taken as USD)",
    "basis": "(price - spot_price) / spot_price, fraction; basis_usd = price - spot_price",
    "premium_index": "(price - index_price) / index_price, fraction",
    "annualized": "futures: basis x 365 / days_to_expiry (simple); perpetuals: funding APR (simple)",
    "yields": "fractions per year, net of taker fees (settings.yaml)",
}


def row_dict(r: BasisRow) -> dict[str, Any]:
    """One perpetual or future as a flat JSON-able dict."""
    return {
        "venue": r.venue, "asset": r.asset, "symbol": r.symbol, "kind": r.kind.value, "expiry": iso(r.expiry),
        "days_to_expiry": num(r.days_to_expiry), "price": r.price, "spot_price": r.spot_price,
        "spot_source": r.spot_source, "index_price": num(r.index_price), "basis": r.basis, "basis_usd": r.basis_usd,
        "premium_index": num(r.premium_index), "premium_index_usd": num(r.premium_index_usd),
        "annualized": num(r.annualized), "annualized_source": r.annualized_source,
        "funding_interval_hours": r.funding_interval_hours,
    }


def _term(r: BasisRow) -> dict[str, Any]:
    return {"venue": r.venue, "symbol": r.symbol, "expiry": iso(r.expiry), "days_to_expiry": num(r.days_to_expiry),
            "basis": r.basis, "annualized": num(r.annualized)}


def _opportunity(o: Opportunity) -> dict[str, Any]:
    return {"asset": o.asset, "venue": o.venue, "instrument": o.symbol, "strategy": token(o.strategy),
            "strategy_label": o.strategy,
            "description": o.description, "days": num(o.days), "gross_yield": o.gross_yield, "fees": o.fees,
            "net_yield": o.net_yield}


def _summary(s: AssetBasis) -> dict[str, Any]:
    return {"asset": s.asset, "spot_price": num(s.spot_price), "spot_source": s.spot_source,
            "structure": token(s.structure),
            "venue_structure": {v: token(st) for v, st in s.venue_structure.items()}}


def to_json(report: BasisReport, failures: Sequence[Failure]) -> dict[str, Any]:
    """The basis report as one JSON object."""
    out: dict[str, Any] = {
        "as_of": iso(report.time), "units": UNITS,
        "rows": [row_dict(r) for r in report.rows],
        "term_structure": {s.asset: [_term(r) for r in s.term_structure] for s in report.summary},
        "constant_maturity": {s.asset: [{"days": c.days, "annualized": num(c.annualized), "note": c.note}
                                        for c in s.constant_maturity] for s in report.summary},
        "summary": [_summary(s) for s in report.summary],
        "errors": [f.to_row() for f in failures],
    }
    if report.opportunities is not None:
        out["opportunities"] = [_opportunity(o) for o in report.opportunities]
    return out


CSV_FIELDS = ("venue", "asset", "symbol", "kind", "expiry", "days_to_expiry", "price", "spot_price", "index_price",
              "basis", "basis_usd", "premium_index", "annualized", "annualized_source")


def to_csv(report: BasisReport) -> str:
    """The perpetual and future rows as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in report.rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row_dict(r).items()})
    return buf.getvalue()


def render_table(report: BasisReport) -> Any:
    """A rich renderable: per-asset perpetual premia, the term structure, constant maturity, opportunities."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    for s in report.summary:
        parts.append(Text(f"{s.asset}  spot {price(s.spot_price)} ({s.spot_source})  structure: {s.structure}"
                          + "".join(f"  |  {v}: {st}" for v, st in s.venue_structure.items()), style="bold"))
        perps = [r for r in report.rows if r.asset == s.asset and r.expiry is None]
        if perps:
            table = Table(title=f"{s.asset} PERPETUALS", title_justify="left", show_edge=False)
            for col in ("Venue", "Symbol", "Mark", "Index", "Mark-index", "Mark-spot", "Funding APR"):
                table.add_column(col, justify="left" if col in ("Venue", "Symbol") else "right")
            for r in perps:
                table.add_row(r.venue, escape(r.symbol), price(r.price), price(r.index_price), pct(r.premium_index, 3),
                              pct(r.basis, 3), pct(r.annualized, 2))
            parts.append(table)
        if s.term_structure:
            table = Table(title=f"{s.asset} TERM STRUCTURE (dated futures by expiry)", title_justify="left",
                          show_edge=False)
            for col in ("Expiry", "Days", "Venue", "Symbol", "Price", "Basis", "Basis USD", "Annualized"):
                table.add_column(col, justify="left" if col in ("Expiry", "Venue", "Symbol") else "right")
            for r in s.term_structure:
                table.add_row(f"{r.expiry:%Y-%m-%d}" if r.expiry else "", f"{r.days_to_expiry:.1f}", r.venue,
                              escape(r.symbol), price(r.price), pct(r.basis, 3), f"{r.basis_usd:+,.2f}",
                              pct(r.annualized, 2))
            parts.append(table)
            cm = "  ".join(f"{c.days}d: {pct(c.annualized, 2)}" if c.annualized is not None else f"{c.days}d: n/a"
                           for c in s.constant_maturity)
            parts.append(Text(f"Constant maturity (annualized): {cm}"))
            parts += [Text(f"  {c.days}d {c.note}", style="dim") for c in s.constant_maturity if c.note]
        else:
            parts.append(Text(f"No dated futures for {s.asset} on the venues that answered."))
        parts.append(Text(""))
    if report.opportunities is not None:
        parts.append(_opportunities(report.opportunities))
    return Group(*parts)


def _opportunities(items: Sequence[Opportunity]) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title="CARRY OPPORTUNITIES (annualized, net of taker fees)", title_justify="left", show_edge=False)
    for col in ("Asset", "Strategy", "Venue", "Instrument", "Days", "Gross", "Fees", "Net", "How"):
        table.add_column(col, justify="right" if col in ("Days", "Gross", "Fees", "Net") else "left")
    for o in items:
        table.add_row(o.asset, o.strategy, o.venue, o.symbol, f"{o.days:.0f}" if o.days is not None else "-",
                      pct(o.gross_yield, 2), pct(o.fees, 2, sign=False), pct(o.net_yield, 2), o.description)
    return Group(table, *([Text("No carry clears the minimum yield.")] if not items else []))
