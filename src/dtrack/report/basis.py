"""Renders the basis report: JSON (one object), CSV (the rows) and terminal tables (``report.table``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.analytics.basis import AssetBasis, BasisReport, BasisRow, Opportunity
from dtrack.report.format import iso, num, pct, price, token
from dtrack.report.table import Column, Table, Text, View
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
              "basis", "basis_usd", "premium_index", "annualized", "annualized_source", "time")


def to_csv(report: BasisReport) -> str:
    """The perpetual and future rows as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in report.rows:  # time: when the basis was computed from the quotes (the report's)
        writer.writerow({k: ("" if v is None else v) for k, v in {**row_dict(r), "time": iso(report.time)}.items()})
    return buf.getvalue()


def render_table(report: BasisReport) -> View:
    """Per-asset perpetual premia, the term structure, constant maturity, opportunities."""
    view = View()
    for s in report.summary:
        view.add(Text(f"{s.asset}  spot {price(s.spot_price)} ({s.spot_source})  structure: {s.structure}"
                      + "".join(f"  |  {v}: {st}" for v, st in s.venue_structure.items()), style="bold"))
        perps = [r for r in report.rows if r.asset == s.asset and r.expiry is None]
        if perps:
            table = Table(f"{s.asset} PERPETUALS", [
                Column("Venue"), Column("Symbol"), Column("Mark", "right", 2), Column("Index", "right", 4),
                Column("Mark-index", "right", 3), Column("Mark-spot", "right"), Column("Funding APR", "right", 1)])
            for r in perps:
                table.add_row(r.venue, r.symbol, price(r.price), price(r.index_price), pct(r.premium_index, 3),
                              pct(r.basis, 3), pct(r.annualized, 2))
            view.add(table)
        if s.term_structure:
            table = Table(f"{s.asset} TERM STRUCTURE (dated futures by expiry)", [
                Column("Expiry"), Column("Days", "right", 3), Column("Venue"), Column("Symbol"),
                Column("Price", "right", 2), Column("Basis", "right", 1), Column("Basis USD", "right", 4),
                Column("Annualized", "right")])
            for r in s.term_structure:
                table.add_row(f"{r.expiry:%Y-%m-%d}" if r.expiry else "", f"{r.days_to_expiry:.1f}", r.venue,
                              r.symbol, price(r.price), pct(r.basis, 3), f"{r.basis_usd:+,.2f}", pct(r.annualized, 2))
            view.add(table)
            cm = "  ".join(f"{c.days}d: {pct(c.annualized, 2)}" if c.annualized is not None else f"{c.days}d: n/a"
                           for c in s.constant_maturity)
            view.add(Text(f"Constant maturity (annualized): {cm}"))
            view.add(*(Text(f"  {c.days}d {c.note}", style="dim") for c in s.constant_maturity if c.note))
        else:
            view.add(Text(f"No dated futures for {s.asset} on the venues that answered."))
        view.add(Text(""))
    if report.opportunities is not None:
        view.add(_opportunities(report.opportunities))
    return view


def _opportunities(items: Sequence[Opportunity]) -> Table:
    table = Table("CARRY OPPORTUNITIES (annualized, net of taker fees)", [
        Column("Asset"), Column("Strategy", priority=2), Column("Venue"), Column("Instrument"),
        Column("Days", "right", 3), Column("Gross", "right", 4), Column("Fees", "right", 5), Column("Net", "right"),
        Column("How", priority=6, wrap=True, min_width=24)])
    for o in items:
        table.add_row(o.asset, o.strategy, o.venue, o.symbol, f"{o.days:.0f}" if o.days is not None else "-",
                      pct(o.gross_yield, 2), pct(o.fees, 2, sign=False), pct(o.net_yield, 2), o.description)
    if not items:
        table.note("No carry clears the minimum yield.")
    return table
