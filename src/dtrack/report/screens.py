"""Renders the screens (``funding --top``, ``oi --top``, ``basis --sort``) as one ranked table across assets, and
the CSV of the focused views (``funding --arb``: the pairs; ``oi --divergence``: the divergences; ``options
--gex``: dealer gamma by strike; ``options --flow``: the large trades), each row with its time.

Times in CSV rows: the venue's own time where the row is one record (a trade, a contract's open interest); where a
row is computed from several (a pair, a divergence, a GEX strike), ``time`` is when dtrack computed it (the
result's ``as_of``) and the inputs' own times sit beside it where they exist (``long_time``, ``short_time``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dtrack.analytics.basis import BasisReport
from dtrack.analytics.funding import FundingReport
from dtrack.analytics.open_interest import OIReport
from dtrack.analytics.options_desk import OptionsReport
from dtrack.analytics.screens import ScreenInfo
from dtrack.report.format import DIVERGENCE_TOKENS, countdown, hours, iso, num, pct, price, usd
from dtrack.report.table import Column, Table, Text, View

SORT_LABELS = {"apr": "funding APR", "rate": "8h-equivalent rate (size, either sign)", "oi": "open interest (USD)",
               "spread": "spread over the cheapest venue of the asset (8h)", "change_24h": "24h change (coin terms)",
               "annualized": "annualized basis / funding carry", "basis": "basis", "days": "days to expiry"}


def screen_dict(info: ScreenInfo) -> dict[str, Any]:
    """The ``screen`` object of a JSON document: what was ranked, how, and how many rows were screened."""
    spreads = [{"venue": v, "symbol": s, "spread_8h": sp.spread_8h, "against_venue": sp.against_venue,
                "against_symbol": sp.against_symbol} for (v, s), sp in (info.spreads or {}).items()]
    return {"sort": info.sort, "top": info.top, "limit": info.limit, "min_oi_usd": info.min_oi,
            "screened": info.screened, "spreads": spreads}


def _title(what: str, info: ScreenInfo) -> str:
    count = f"TOP {info.top} " if info.top is not None else ""
    by = f" BY {SORT_LABELS.get(info.sort or '', info.sort or '').upper()}" if info.sort else ""
    floor = f", OI >= {usd(info.min_oi)}" if info.min_oi is not None else ""
    return f"{count}{what}{by} ({info.screened} screened{floor})"


def funding_screen(report: FundingReport, info: ScreenInfo) -> View:
    """One ranked table of the screened perpetuals (any asset), the summaries of their assets under it."""
    spread_col = info.sort == "spread"
    table = Table(_title("PERPETUALS", info), [
        Column("#", "right"), Column("Venue"), Column("Symbol"), Column("Current", "right", 4),
        Column("Interval", "right", 5), Column("8h-eq", "right"), Column("APR", "right", 1),
        *([Column("Spread/8h", "right"), Column("vs", priority=3)] if spread_col else []),
        Column("OI (USD)", "right", 2), Column("Next payment", "right", 6)])
    spreads = info.spreads or {}
    for n, row in enumerate(report.rows, 1):
        r, inst = row.rate, row.rate.instrument
        extra: list[str] = []
        if spread_col:
            sp = spreads.get((inst.venue, inst.symbol))
            extra = [pct(sp.spread_8h) if sp else "n/a", f"{sp.against_venue} {sp.against_symbol}" if sp else ""]
        table.add_row(str(n), inst.venue, inst.symbol, pct(r.rate), hours(r.interval_hours), pct(r.rate_8h),
                      pct(r.apr, 2), *extra, usd(r.open_interest_usd), countdown(r.next_funding_time, report.as_of),
                      mark="!" if row.alert else "", style="bold red" if row.alert else "")
    if not report.rows:
        table.note("No perpetual passes the filter.")
    view = View(table)
    if any(row.alert for row in report.rows):
        view.add(Text(f"Rows marked ! exceed the alert threshold of ±{pct(report.alert_threshold, sign=False)} per "
                      "8 h.", style="red"))
    for s in report.summary:
        if s.weighted is not None:
            view.add(Text(f"{s.asset}: OI-weighted {pct(s.weighted.rate_8h)} per 8h, APR {pct(s.weighted.apr, 2)}, "
                          f"{s.sentiment}", style="dim"))
    return view


def oi_screen(report: OIReport, info: ScreenInfo) -> View:
    """One ranked table of the screened contracts (any asset)."""
    table = Table(_title("CONTRACTS BY OPEN INTEREST", info).replace("BY OPEN INTEREST BY", "BY"), [
        Column("#", "right"), Column("Venue"), Column("Symbol"), Column("Kind", priority=6),
        Column("OI (USD)", "right"), Column("Coins", "right", 4), Column("Share of asset", "right", 3),
        Column("24h", "right", 1 if info.sort != "change_24h" else 0), Column("7d", "right", 5)])
    for n, r in enumerate(report.rows, 1):
        inst = r.oi.instrument
        kind = f"{inst.kind.value} {inst.expiry:%Y-%m-%d}" if inst.expiry is not None else inst.kind.value
        table.add_row(str(n), inst.venue, inst.symbol, kind, usd(r.oi.usd), f"{r.oi.base:,.2f}",
                      pct(r.share, 1, sign=False), pct(r.changes.get("24h"), 2), pct(r.changes.get("7d"), 2))
    if not report.rows:
        table.note("No contract passes the filter.")
    if info.sort == "change_24h":
        table.note("Contracts without open-interest history (no 24h change) are not ranked.")
    return View(table)


def basis_screen(report: BasisReport, info: ScreenInfo) -> View:
    """One table of every asset's perpetuals and futures in the asked order."""
    table = Table(_title("BASIS", info), [
        Column("#", "right"), Column("Asset"), Column("Venue"), Column("Symbol"), Column("Expiry", priority=4),
        Column("Days", "right", 5), Column("Price", "right", 6), Column("Basis", "right", 2),
        Column("Annualized", "right"), Column("Source", priority=7)])
    for n, r in enumerate(report.rows, 1):
        table.add_row(str(n), r.asset, r.venue, r.symbol, f"{r.expiry:%Y-%m-%d}" if r.expiry else "perp",
                      f"{r.days_to_expiry:.1f}" if r.days_to_expiry is not None else "", price(r.price),
                      pct(r.basis, 3), pct(r.annualized, 2), r.annualized_source)
    if not report.rows:
        table.note("No contract to show.")
    table.note("Annualized: futures basis x 365 / days; perpetuals: the funding carry (APR).")
    return View(table)


# --- CSV of the focused views ------------------------------------------------------------------------------------


def rows_csv(rows: Iterable[Mapping[str, Any]], fields: Sequence[str]) -> str:
    """Rows as CSV with ``fields`` in that order (None -> empty)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in fields})
    return buf.getvalue()


ARB_FIELDS = ("time", "asset", "long_venue", "long_symbol", "short_venue", "short_symbol", "long_rate_8h",
              "short_rate_8h", "long_cost_8h", "short_cost_8h", "spread_8h", "gross_apr", "round_trip_fees",
              "holding_days", "net_apr", "breakeven_days", "simultaneous", "note", "long_time", "short_time")


def arbitrage_csv(report: FundingReport) -> str:
    """The arbitrage pairs: ``time`` when they were computed, each leg's rate time beside."""
    rows = []
    for o in report.arbitrage or ():
        rows.append({"time": iso(report.as_of), "asset": o.asset, "long_venue": o.long.instrument.venue,
                     "long_symbol": o.long.instrument.symbol, "short_venue": o.short.instrument.venue,
                     "short_symbol": o.short.instrument.symbol, "long_rate_8h": o.long.rate_8h,
                     "short_rate_8h": o.short.rate_8h, "long_cost_8h": o.long_cost_8h,
                     "short_cost_8h": o.short_cost_8h, "spread_8h": o.spread_8h, "gross_apr": o.gross_apr,
                     "round_trip_fees": o.fees, "holding_days": o.holding_days, "net_apr": o.net_apr,
                     "breakeven_days": o.breakeven_days, "simultaneous": o.simultaneous, "note": o.timing_note,
                     "long_time": iso(o.long.time or o.long.received_at),
                     "short_time": iso(o.short.time or o.short.received_at)})
    return rows_csv(rows, ARB_FIELDS)


DIVERGENCE_FIELDS = ("time", "asset", "venue", "window", "oi_change", "price_change", "signal", "label", "confidence",
                     "note")


def divergence_csv(report: OIReport) -> str:
    """The OI/price divergences (per venue and the aggregate ``all``): ``time`` is the window's end."""
    rows = []
    for d in report.divergence:
        hrs = d.window.total_seconds() / 3600
        rows.append({"time": iso(report.time), "asset": d.asset, "venue": d.venue,
                     "window": f"{hrs / 24:g}d" if hrs % 24 == 0 and hrs > 24 else f"{hrs:g}h",
                     "oi_change": num(d.oi_change), "price_change": num(d.price_change),
                     "signal": DIVERGENCE_TOKENS.get(d.signal),
                     "label": d.signal if d.signal in DIVERGENCE_TOKENS else None, "confidence": num(d.confidence),
                     "note": d.note})
    return rows_csv(rows, DIVERGENCE_FIELDS)


GEX_FIELDS = ("time", "asset", "strike", "gex_usd", "spot", "total_gex_usd", "flip_level")


def gex_csv(report: OptionsReport) -> str:
    """Dealer gamma exposure per strike: ``time`` when it was computed from the chains."""
    summary = {s.asset: s for s in report.summary}
    rows = [{"time": iso(report.time), "asset": g.asset, "strike": g.strike, "gex_usd": g.gex_usd,
             "spot": num(summary[g.asset].spot) if g.asset in summary else None,
             "total_gex_usd": num(summary[g.asset].gex_total_usd) if g.asset in summary else None,
             "flip_level": num(summary[g.asset].gex_flip) if g.asset in summary else None} for g in report.gex]
    return rows_csv(rows, GEX_FIELDS)


FLOW_FIELDS = ("time", "venue", "instrument", "expiry", "strike", "type", "side", "amount", "contract_size",
               "price_usd", "premium_usd", "iv", "index_price", "block", "received_at")


def flow_csv(report: OptionsReport) -> str:
    """The large option trades, newest first as the report keeps them: ``time`` is the trade's."""
    trades = report.flow.trades if report.flow is not None else ()
    rows = [{"time": iso(t.time), "venue": t.venue, "instrument": t.symbol, "expiry": iso(t.expiry),
             "strike": t.strike, "type": "call" if t.is_call else "put", "side": t.side, "amount": t.amount,
             "contract_size": t.contract_size, "price_usd": t.price_usd, "premium_usd": t.premium_usd,
             "iv": num(t.iv), "index_price": t.index_price, "block": t.block, "received_at": iso(t.received_at)}
            for t in trades]
    return rows_csv(rows, FLOW_FIELDS)
