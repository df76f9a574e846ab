"""Renders the liquidations report: JSON (one object), CSV (the per-venue window rows, or the recent events) and
terminal tables (``report.table``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from dtrack.analytics.liquidations import LiquidationsReport, Totals, VenueSpan, WindowTotals, label
from dtrack.records import Liquidation
from dtrack.report.format import amount, iso, num, price, usd
from dtrack.results import Failure

UNITS = {
    "long_usd": "USD of LONG positions liquidated (the side of the position, whatever side the venue's message "
                "names), at the price the venue sent",
    "short_usd": "USD of SHORT positions liquidated",
    "long_short_ratio": "long_usd / short_usd (null without shorts)",
    "coverage": "complete: every liquidation (Bybit); sampled: at most one per symbol or contract per second "
                "(Binance, OKX): a total over it is a lower bound; trade-flag: liquidation fills flagged on the "
                "public trade feed (Deribit, dYdX)",
    "covered_seconds": "seconds of the window the data covers (watched and not missed); for a total: at least "
                       "one venue watched (every_venue_seconds: every venue)",
    "amount": "the venue's quantity, in unit (contracts, base coin or usd)",
    "base": "coins of the asset", "usd": "USD at price", "price": "USD per coin, of price_kind (order: the "
    "liquidation order's price, average: its average fill, bankruptcy: the position's bankruptcy price, trade: "
    "the flagged trade's price)",
}


def _totals(t: Totals) -> dict[str, Any]:
    return {"long_usd": t.long_usd, "short_usd": t.short_usd, "total_usd": t.total_usd, "long_count": t.long_count,
            "short_count": t.short_count, "count": t.count, "long_short_ratio": num(t.ratio)}


def window_rows(w: WindowTotals) -> list[dict[str, Any]]:
    """One window's per-venue rows (flat)."""
    return [{"asset": w.asset, "window": w.window, "window_seconds": w.span.total_seconds(), "venue": v.venue,
             "coverage": v.coverage, **_totals(v.totals), "covered_seconds": v.covered_seconds}
            for v in w.venues]


def total_row(w: WindowTotals, not_covered: Sequence[str]) -> dict[str, Any]:
    """One window's total across venues (flat)."""
    return {"asset": w.asset, "window": w.window, "window_seconds": w.span.total_seconds(), "start": iso(w.start),
            "end": iso(w.end), **_totals(w.totals), "lower_bound": w.lower_bound,
            "sampled_venues": list(w.sampled_venues), "covered_seconds": w.covered_seconds,
            "every_venue_seconds": w.every_venue_seconds, "partial": w.partial,
            "venues_not_covered": list(not_covered)}


def event_row(e: Liquidation) -> dict[str, Any]:
    """One liquidation event as a flat JSON-able dict."""
    inst = e.instrument
    return {"time": iso(e.time), "received_at": iso(e.received_at), "venue": inst.venue, "asset": inst.asset,
            "symbol": inst.symbol, "id": inst.normalized_id, "kind": inst.kind.value, "side": e.side,
            "price": e.price, "price_kind": e.price_kind.value, "amount": e.amount, "unit": e.unit.value,
            "base": e.base, "usd": e.usd, "coverage": e.coverage.value, "key": e.key, "note": e.note}


def _span_row(s: VenueSpan, covered: bool, coverage: str | None, note: str) -> dict[str, Any]:
    return {"asset": s.asset, "venue": s.venue, "covered": covered, "coverage": coverage, "note": note,
            "covered_seconds": s.covered_seconds, "first_covered": iso(s.covered[0][0]) if s.covered else None,
            "last_covered": iso(s.covered[-1][1]) if s.covered else None, "gaps": len(s.gaps),
            "gap_seconds": s.gap_seconds}


def coverage_rows(report: LiquidationsReport) -> list[dict[str, Any]]:
    """Per asset and venue asked: covered or not (and why), the coverage label, the time covered within
    ``--since`` and the gaps in it."""
    spans = {(s.asset, s.venue): s for s in report.spans}
    labels = _labels(report)
    out = []
    for asset in report.assets:
        for v in report.venues:
            span = spans.get((asset, v.venue)) or VenueSpan(asset, v.venue, (), ())
            out.append(_span_row(span, v.covered, labels.get((asset, v.venue), v.coverage) if v.covered else None,
                                 v.note))
    return out


def _labels(report: LiquidationsReport) -> dict[tuple[str, str], str | None]:
    """The coverage label of each (asset, venue) as the longest window saw it."""
    out: dict[tuple[str, str], str | None] = {}
    for w in report.totals:
        for v in w.venues:
            out[(w.asset, v.venue)] = v.coverage
    return out


def not_covered(report: LiquidationsReport) -> list[str]:
    """The venues asked that dtrack cannot read liquidations of."""
    return [v.venue for v in report.venues if not v.covered]


def to_json(report: LiquidationsReport, failures: Sequence[Failure], source: Mapping[str, Any]) -> dict[str, Any]:
    """The liquidations report as one JSON object."""
    missing = not_covered(report)
    out: dict[str, Any] = {
        "as_of": iso(report.time), "since": label(report.since), "start": iso(report.start),
        "assets": list(report.assets), "windows": list(report.windows), "units": UNITS, "source": dict(source),
        "coverage": coverage_rows(report),
        "totals": [total_row(w, missing) for w in report.totals],
        "rows": [r for w in report.totals for r in window_rows(w)],
        "events": report.events,
        "recent": [event_row(e) for e in report.recent] if report.recent is not None else None,
        "recent_filter": ({"min_usd": report.min_usd, "limit": report.limit, "matched": report.recent_matched}
                          if report.recent is not None else None),
        "notes": list(report.notes),
        "errors": [f.to_row() for f in failures],
    }
    return out


ROW_FIELDS = ("asset", "window", "window_seconds", "venue", "coverage", "long_usd", "short_usd", "total_usd",
              "long_count", "short_count", "count", "long_short_ratio", "covered_seconds", "lower_bound")
EVENT_FIELDS = ("time", "venue", "asset", "symbol", "kind", "side", "price", "price_kind", "amount", "unit", "base",
                "usd", "coverage", "key", "received_at", "note")


def to_csv(report: LiquidationsReport) -> str:
    """The recent events when asked (newest first), else one row per asset, window and venue followed by the
    window's total (venue ``all``); fractions, USD, ISO times."""
    buf = io.StringIO()
    if report.recent is not None:
        writer = csv.DictWriter(buf, fieldnames=EVENT_FIELDS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for e in report.recent:
            writer.writerow(_csv_row(event_row(e)))
        return buf.getvalue()
    writer = csv.DictWriter(buf, fieldnames=ROW_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    missing = not_covered(report)
    for w in report.totals:
        for row in window_rows(w):
            writer.writerow(_csv_row({**row, "lower_bound": row["coverage"] == "sampled"}))
        total = total_row(w, missing)
        writer.writerow(_csv_row({**total, "venue": "all", "coverage": _total_coverage(w)}))
    return buf.getvalue()


def _csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("" if v is None else v) for k, v in row.items()}


def _total_coverage(w: WindowTotals) -> str:
    labels = sorted({v.coverage for v in w.venues if v.coverage and (v.covered_seconds > 0 or v.totals.count)})
    return "+".join(labels)


# --- the terminal view -----------------------------------------------------------------------------------------


def duration(seconds: float) -> str:
    """``2h 05m``, ``45m 10s``, ``3d 4h``: how long a covered span is."""
    s = round(seconds)
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _ratio(t: Totals) -> str:
    return f"{t.ratio:.2f}" if t.ratio is not None else "n/a"


def _covers(w: WindowTotals) -> str:
    if not w.partial:
        return "all"
    return duration(w.covered_seconds) if w.covered_seconds else "none"


def headline(w: WindowTotals) -> str:
    """The seed's line: ``24h Liquidations: Longs $45.2M | Shorts $32.8M``, with what the figure is."""
    line = f"{w.window} Liquidations: Longs {usd(w.totals.long_usd)} | Shorts {usd(w.totals.short_usd)}"
    caveats = []
    if w.lower_bound:
        caveats.append(f"a lower bound: {', '.join(w.sampled_venues)} {'is' if len(w.sampled_venues) == 1 else 'are'}"
                       " sampled")
    if w.partial:
        caveats.append(f"the data covers {duration(w.covered_seconds)} of {w.window}")
    return line + (f" ({'; '.join(caveats)})" if caveats else "")


def render_table(report: LiquidationsReport, source_line: str = "") -> Any:
    """A view: per asset the windows' totals, the venues over the longest window with their coverage, the
    venues not covered (and why), the seed's headline, and with ``--recent`` the latest events."""
    from dtrack.report.table import Column, Table, Text, View

    view = View()
    labels = _labels(report)
    for asset in report.assets:
        windows = [w for w in report.totals if w.asset == asset]
        if not windows:
            continue
        longest = windows[-1]
        table = Table(f"{asset} LIQUIDATIONS (positions liquidated, by side)", [
            Column("Window"), Column("Longs", align="right"), Column("Shorts", align="right"),
            Column("Total", align="right"), Column("L/S", align="right"), Column("Events", align="right", priority=2),
            Column("Covered", align="right", priority=1), Column("Note", priority=3, wrap=True)])
        for w in windows:
            note = f"lower bound ({', '.join(w.sampled_venues)} sampled)" if w.lower_bound else ""
            table.add_row(w.window, usd(w.totals.long_usd), usd(w.totals.short_usd), usd(w.totals.total_usd),
                          _ratio(w.totals), f"{w.totals.count:,}", _covers(w), note,
                          mark="≥" if w.lower_bound else "")
        view.add(table)
        venues = Table(f"{asset} BY VENUE, last {longest.window}", [
            Column("Venue"), Column("Coverage"), Column("Longs", align="right"), Column("Shorts", align="right"),
            Column("L/S", align="right", priority=2), Column("Events", align="right", priority=2),
            Column("Covered", align="right", priority=1)])
        for row in longest.venues:
            venues.add_row(row.venue, row.coverage or "-", usd(row.totals.long_usd), usd(row.totals.short_usd),
                           _ratio(row.totals), f"{row.totals.count:,}",
                           duration(row.covered_seconds) if row.covered_seconds else "none")
        for status in report.venues:
            if not status.covered:
                venues.note(f"{status.venue}: not covered: {status.note or 'no liquidation feed in dtrack'}",
                            style="dim")
        view.add(venues)
        view.add(Text(headline(longest), style="bold"))
        if any(labels.get((asset, v.venue)) == "sampled" for v in report.venues):
            view.add(Text("≥ marks a lower bound: sampled feeds (Binance: the last liquidation per symbol per "
                          "second; OKX: one per contract per second) leave the rest out.", style="dim"))
        view.add(Text(""))
    if report.recent is not None:
        view.add(_recent_table(report))
    for note in report.notes:
        view.add(Text(f"note: {note}", style="dim"))
    if source_line:
        view.add(Text(source_line, style="dim"))
    return view


def _recent_table(report: LiquidationsReport) -> Any:
    from dtrack.report.table import Column, Table

    shown = len(report.recent or [])
    title = (f"LATEST LIQUIDATIONS of at least {usd(report.min_usd)} since {report.start:%Y-%m-%d %H:%M} UTC "
             f"({shown:,} of {report.recent_matched:,}, newest first)")
    table = Table(title, [
        Column("Time (UTC)"), Column("Venue"), Column("Symbol"), Column("Side"), Column("Price", align="right"),
        Column("Price kind", priority=3), Column("Coins", align="right", priority=2), Column("USD", align="right"),
        Column("Coverage", priority=4)])
    for e in report.recent or []:
        table.add_row(f"{e.time:%Y-%m-%d %H:%M:%S}", e.instrument.venue, e.instrument.symbol, e.side, price(e.price),
                      e.price_kind.value, amount(e.base), usd(e.usd), e.coverage.value)
    if not shown:
        table.note("no liquidation of that size in the window")
    return table
