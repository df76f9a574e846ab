"""Renders the open-interest report: JSON (one object), CSV (the rows) and terminal tables (``report.table``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.analytics.open_interest import Divergence, OIReport, OIRow
from dtrack.records import LongShortRatio, Margin
from dtrack.report.format import DIVERGENCE_TOKENS, amount, iso, num, pct, price, usd
from dtrack.report.table import Column, Table, Text, View
from dtrack.results import Failure

UNITS = {
    "oi_amount": "as the venue reports it, in oi_unit (contracts, base coin or usd), one side; where the venue "
                 "publishes longs and shorts apart, against a pool (GMX), their sum",
    "oi_long_usd": "the longs' open interest, USD, where the venue publishes the sides apart (GMX), else null",
    "oi_short_usd": "the shorts' open interest, USD, where the venue publishes the sides apart (GMX), else null",
    "oi_base": "units of the asset, one side", "oi_usd": "USD = oi_base x price_used (or the USD amount itself)",
    "price_used": "USD per one unit of the asset", "share": "fraction of the asset's total oi_usd",
    "changes": "fractions, in coin terms (oi_base), snapshot now vs history interpolated at the past time",
    "divergence": "oi_change and price_change as fractions over the window",
}


def _ls(r: LongShortRatio) -> dict[str, Any]:
    return {"venue": r.venue, "symbol": r.symbol, "definition": r.definition, "ratio": num(r.ratio),
            "long_share": num(r.long_share), "period": r.period, "time": iso(r.time),
            "received_at": iso(r.received_at)}


def row_dict(row: OIRow, windows: Sequence[str]) -> dict[str, Any]:
    """One contract's open interest as a flat JSON-able dict."""
    oi, inst = row.oi, row.oi.instrument
    out: dict[str, Any] = {
        "venue": inst.venue, "asset": inst.asset, "symbol": inst.symbol, "id": inst.normalized_id,
        "kind": inst.kind.value, "expiry": iso(inst.expiry), "oi_amount": oi.amount, "oi_unit": oi.unit.value,
        "contract_size": inst.contract_size, "contract_unit": inst.contract_unit.value,
        "multiplier": inst.multiplier, "inverse": inst.margin is Margin.INVERSE, "oi_base": oi.base,
        "oi_usd": oi.usd, "price_used": oi.price_used, "price_source": oi.price_source, "share": num(row.share),
    }
    for w in ("1h", "4h", "24h", "7d"):
        out[f"change_{w}"] = num(row.changes.get(w)) if w in windows else None
    out["change_note"] = row.change_note
    out["long_short_ratio"] = num(row.long_short.ratio) if row.long_short else None
    out["long_share"] = num(row.long_short.long_share) if row.long_short else None
    out["oi_long_usd"] = oi.long_usd
    out["oi_short_usd"] = oi.short_usd
    out["note"] = oi.note
    out["time"] = iso(oi.time)
    out["received_at"] = iso(oi.received_at)
    return out


def _divergence(d: Divergence) -> dict[str, Any]:
    hours = d.window.total_seconds() / 3600
    label = f"{hours / 24:g}d" if hours % 24 == 0 and hours > 24 else f"{hours:g}h"
    return {"asset": d.asset, "venue": d.venue, "window": label,
            "oi_change": num(d.oi_change), "price_change": num(d.price_change),
            "signal": DIVERGENCE_TOKENS.get(d.signal),
            "label": d.signal if d.signal in DIVERGENCE_TOKENS else None,
            "confidence": num(d.confidence), "note": d.note}


def to_json(report: OIReport, failures: Sequence[Failure]) -> dict[str, Any]:
    """The open-interest report as one JSON object."""
    windows = report.windows
    summary = []
    for s in report.summary:
        summary.append({
            "asset": s.asset, "total_oi_usd": s.total_oi_usd, "total_oi_base": s.total_oi_base,
            **{f"change_{w}": num(s.changes.get(w)) if w in windows else None for w in ("1h", "4h", "24h", "7d")},
            "venues_with_history": list(s.venues_with_history), "change_note": s.change_note,
            "venues": [{"venue": v.venue, "oi_usd": v.oi_usd, "share": num(v.share),
                        **{f"change_{w}": num(v.changes.get(w)) if w in windows else None
                           for w in ("1h", "4h", "24h", "7d")}, "change_note": v.change_note} for v in s.venues],
            "long_short": [_ls(r) for r in s.long_short],
        })
    out: dict[str, Any] = {
        "as_of": iso(report.time), "units": UNITS,
        "rows": [row_dict(r, windows) for r in report.rows],
        "summary": summary,
        "errors": [f.to_row() for f in failures],
    }
    if report.divergence:
        out["divergence"] = [_divergence(d) for d in report.divergence]
    return out


CSV_FIELDS = ("venue", "asset", "symbol", "kind", "expiry", "oi_amount", "oi_unit", "contract_size", "contract_unit",
              "inverse", "oi_base", "oi_usd", "price_used", "price_source", "share", "change_1h", "change_4h",
              "change_24h", "change_7d", "long_short_ratio", "long_share", "note", "time", "received_at")


def to_csv(report: OIReport) -> str:
    """The per-contract rows as CSV (fractions, USD, ISO times)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row_dict(row, report.windows).items()})
    return buf.getvalue()


def render_table(report: OIReport) -> View:
    """Per-asset contract tables, venue totals with changes, positioning, divergence."""
    view = View()
    windows = report.windows
    #: the changes: the day's first, then the shorter windows, the week last
    change_priority = {"24h": 3, "4h": 5, "1h": 6, "7d": 7}
    for s in report.summary:
        rows = [r for r in report.rows if r.oi.instrument.asset == s.asset]
        table = Table(f"{s.asset} OPEN INTEREST (one side)", [
            Column("Venue"), Column("Symbol"), Column("Kind", priority=8), Column("As reported", priority=10),
            Column("Coins", "right", 4), Column("USD", "right"), Column("Price used", "right", 11),
            Column("Share", "right", 2), *(Column(w, "right", change_priority.get(w, 7)) for w in windows),
            Column("L/S", "right", 9)])
        for r in rows:
            oi = r.oi
            table.add_row(oi.instrument.venue, oi.instrument.symbol, _kind(r), f"{amount(oi.amount)} {oi.unit.value}",
                          amount(oi.base), usd(oi.usd), f"{price(oi.price_used)} {oi.price_source}",
                          pct(r.share, 1, sign=False), *[pct(r.changes.get(w), 2) for w in windows],
                          f"{r.long_short.ratio:.2f}" if r.long_short else "")
        view.add(table)
        view.add(*(Text(f"{r.oi.instrument.venue} {r.oi.instrument.symbol}: longs {usd(r.oi.long_usd)}, shorts "
                        f"{usd(r.oi.short_usd)} (both against the pool; the row is their sum)",
                        nobreak=(r.oi.instrument.symbol,))
                   for r in rows if r.oi.long_usd is not None and r.oi.short_usd is not None))
        venues = Table(f"{s.asset} BY VENUE", [
            Column("Venue"), Column("OI (USD)", "right"), Column("Share", "right", 1),
            *(Column(w, "right", change_priority.get(w, 7)) for w in windows),
            Column("Note", priority=8, wrap=True, min_width=24)])
        for v in s.venues:
            venues.add_row(v.venue, usd(v.oi_usd), pct(v.share, 1, sign=False),
                           *[pct(v.changes.get(w), 2) for w in windows], v.change_note)
        venues.add_row("TOTAL", usd(s.total_oi_usd), "100.0%", *[pct(s.changes.get(w), 2) for w in windows],
                       s.change_note, style="bold")
        view.add(venues)
        for ls in s.long_short:
            view.add(Text(f"Long/short {ls.venue} ({ls.definition}): ratio {ls.ratio:.2f}, "
                          f"long {pct(ls.long_share, 1, sign=False)}"))
        notes = sorted({r.oi.note for r in rows if r.oi.note})
        view.add(*(Text(f"note: {n}", style="dim") for n in notes))
        view.add(Text(""))
    if report.divergence:
        view.add(_divergence_table(report.divergence))
    return view


def _kind(r: OIRow) -> str:
    inst = r.oi.instrument
    base = f"{inst.margin.value} {inst.kind.value}"
    return f"{base} {inst.expiry:%Y-%m-%d}" if inst.expiry is not None else base


def _divergence_table(items: Sequence[Divergence]) -> Table:
    table = Table("OI / PRICE DIVERGENCE", [
        Column("Asset"), Column("Venue"), Column("Window", priority=5), Column("OI change", "right", 2),
        Column("Price change", "right", 3), Column("Signal"), Column("Confidence", "right", 4),
        Column("Note", priority=6, wrap=True, min_width=24)])
    for d in items:
        row = _divergence(d)
        table.add_row(d.asset, d.venue, row["window"], pct(d.oi_change, 2), pct(d.price_change, 2), d.signal,
                      f"{d.confidence:.2f}" if d.signal != "n/a" else "", d.note,
                      style="bold" if d.venue == "all" else "")
    return table
