"""Renders the funding report: JSON (one object), CSV (the rows) and terminal tables (``report.table``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.analytics.funding import ArbOpportunity, FundingReport, FundingRow
from dtrack.records import FundingRate
from dtrack.report.format import countdown, hours, iso, money, pct, token, usd, weighting_token
from dtrack.report.table import Column, Table, Text, View
from dtrack.results import Failure

ARB_TABLE_ROWS = 15


def rate_row(row: FundingRow) -> dict[str, Any]:
    """One rate as a flat JSON-able dict (fractions, USD, ISO times)."""
    r, inst = row.rate, row.rate.instrument
    out: dict[str, Any] = {
        "venue": inst.venue, "asset": inst.asset, "symbol": inst.symbol, "id": inst.normalized_id,
        "margin": inst.margin.value, "quote": inst.quote, "settle": inst.settle, "multiplier": inst.multiplier,
        "rate": r.rate, "interval_hours": r.interval_hours, "interval_source": r.interval_source,
        "continuous": r.continuous, "rate_8h": r.rate_8h, "apr": r.apr, "predicted_rate": r.predicted_rate,
        "next_funding_time": iso(r.next_funding_time), "mark_price": r.mark_price, "index_price": r.index_price,
        "open_interest_usd": r.open_interest_usd, "avg_24h_8h": row.avg_24h_8h, "avg_7d_8h": row.avg_7d_8h,
        "alert": row.alert, "note": r.note, "time": iso(r.time), "received_at": iso(r.received_at),
        **sides_row(r),
    }
    return out


def sides_row(r: FundingRate) -> dict[str, Any]:
    """What a long and a short pay per 8 h (positive = pays, negative = receives): funding, the borrow fee where the
    venue charges one (null elsewhere), and their sum."""
    s = r.sides
    per8 = 8.0 / r.interval_hours
    return {
        "funding_long_8h": s.funding_long * per8 if s is not None else r.rate_8h,
        "funding_short_8h": s.funding_short * per8 if s is not None else -r.rate_8h,
        "borrow_long_8h": s.borrow_long * per8 if s is not None else None,
        "borrow_short_8h": s.borrow_short * per8 if s is not None else None,
        "cost_long_8h": r.long_cost_8h, "cost_short_8h": r.short_cost_8h,
    }


def _history(row: FundingRow) -> dict[str, Any] | None:
    s = row.stats
    if s is None:  # no history was fetched (the history failed, or the venue publishes none): every figure unknown
        return {"count": 0, "mean_8h": None, "min_8h": None, "max_8h": None, "last_8h": None, "trend": None,
                "trend_per_day_8h": None, "note": row.history_note}
    return {"count": s.count, "mean_8h": s.mean, "min_8h": s.min, "max_8h": s.max, "last_8h": s.last,
            "trend": token(s.trend), "trend_per_day_8h": s.trend_per_day, "note": row.history_note}


def _arb(o: ArbOpportunity) -> dict[str, Any]:
    return {
        "asset": o.asset, "long_venue": o.long.instrument.venue, "long_symbol": o.long.instrument.symbol,
        "short_venue": o.short.instrument.venue, "short_symbol": o.short.instrument.symbol,
        "long_rate_8h": o.long.rate_8h, "short_rate_8h": o.short.rate_8h,
        "long_cost_8h": o.long_cost_8h, "short_cost_8h": o.short_cost_8h, "spread_8h": o.spread_8h,
        "gross_apr": o.gross_apr, "round_trip_fees": o.fees, "holding_days": o.holding_days, "net_apr": o.net_apr,
        "breakeven_days": o.breakeven_days, "simultaneous": o.simultaneous, "note": o.timing_note,
        "costs_note": o.costs_note,
    }


def to_json(report: FundingReport, failures: Sequence[Failure]) -> dict[str, Any]:
    """The funding report as one JSON object."""
    rates = []
    for row in report.rows:
        item = rate_row(row)
        item["history"] = _history(row)
        if row.payment is not None:
            item["payment_usd"] = {"per_interval": row.payment.per_interval, "per_day": row.payment.per_day,
                                   "per_30d": row.payment.per_30d}
        rates.append(item)
    out: dict[str, Any] = {
        "as_of": iso(report.as_of),
        "units": {"rates": "fraction per interval_hours (rate) or per 8 h (rate_8h, *_8h); a continuous rate "
                           "(continuous: true) is its 8 h-equivalent (interval_hours 8)",
                  "sides": "funding_*_8h, borrow_*_8h, cost_*_8h: what a long / a short pays per 8 h (negative: "
                           "receives); borrow where the venue charges one (GMX), else null",
                  "apr": "fraction per year, simple", "money": "USD", "times": "ISO-8601 UTC"},
        "history_window_hours": report.history_window.total_seconds() / 3600,
        "alert_threshold_8h": report.alert_threshold,
        "rates": rates,
        "summary": [{"asset": s.asset, "weighted_rate_8h": s.weighted.rate_8h if s.weighted else None,
                     "apr": s.weighted.apr if s.weighted else None, "sentiment": token(s.sentiment),
                     "sentiment_label": s.sentiment if token(s.sentiment) else None,
                     "weighting": weighting_token(s.weighted.weighting) if s.weighted else None,
                     "weighting_note": s.weighted.weighting if s.weighted else None} for s in report.summary],
        "errors": [f.to_row() for f in failures],
    }
    if report.position is not None:
        out["position"] = {"notional_usd": report.position[0], "side": report.position[1]}
    if report.arbitrage is not None:
        out["arbitrage"] = [_arb(o) for o in report.arbitrage]
    return out


CSV_FIELDS = ("venue", "asset", "symbol", "margin", "quote", "rate", "interval_hours", "interval_source",
              "rate_8h", "apr", "predicted_rate", "next_funding_time", "mark_price", "index_price",
              "open_interest_usd", "avg_24h_8h", "avg_7d_8h", "alert", "time", "received_at")


HISTORY_FIELDS = ("history_count", "history_mean_8h", "history_min_8h", "history_max_8h", "history_last_8h",
                  "history_trend", "history_note")
PAYMENT_FIELDS = ("payment_per_interval_usd", "payment_per_day_usd", "payment_per_30d_usd")


def to_csv(report: FundingReport, with_history: bool = False) -> str:
    """The rate rows as CSV (fractions, USD, ISO times), with history statistics and position payments
    as extra columns when they were asked for."""
    fields = list(CSV_FIELDS)
    if with_history:
        fields += HISTORY_FIELDS
    if report.position is not None:
        fields += PAYMENT_FIELDS
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in report.rows:
        item = rate_row(row)
        hist = _history(row) or {}
        item.update({f"history_{k}": v for k, v in hist.items()})
        if row.payment is not None:
            item.update(dict(zip(PAYMENT_FIELDS, (row.payment.per_interval, row.payment.per_day,
                                                  row.payment.per_30d), strict=True)))
        writer.writerow({k: ("" if v is None else v) for k, v in item.items()})
    return buf.getvalue()


#: the rate table's columns: the venue, the symbol and the 8h-equivalent rate always; then the rate as paid, its
#: APR and interval, the open interest, the averages; the margin and the countdown go first at narrow widths
RATE_COLUMNS = (Column("Venue"), Column("Symbol"), Column("Margin", priority=8), Column("Current", "right", 2),
                Column("Interval", "right", 3), Column("8h-eq", "right"), Column("24h avg", "right", 6),
                Column("7d avg", "right", 5), Column("APR", "right", 1), Column("Next payment", "right", 7),
                Column("OI (USD)", "right", 4))
PAY_COLUMNS = (Column("Pay/interval", "right", 6), Column("Pay/day", "right", 2), Column("Pay/30d", "right", 5))


def render_table(report: FundingReport, show_history: bool) -> View:
    """Per-asset rate tables (alerted rows marked ``!``), summaries, history stats, arbitrage."""
    view = View()
    now = report.as_of
    for summary in report.summary:
        rows = [r for r in report.rows if r.rate.instrument.asset == summary.asset]
        columns = [*RATE_COLUMNS, *(PAY_COLUMNS if report.position is not None else ())]
        table = Table(f"{summary.asset} PERPETUAL FUNDING RATES", columns)
        for row in rows:
            r = row.rate
            cells = [r.instrument.venue, r.instrument.symbol,
                     f"{r.instrument.margin.value} {r.instrument.quote}", pct(r.rate), hours(r.interval_hours),
                     pct(r.rate_8h), pct(row.avg_24h_8h), pct(row.avg_7d_8h), pct(r.apr, 2),
                     countdown(r.next_funding_time, now), usd(r.open_interest_usd)]
            if report.position is not None:
                p = row.payment
                cells += ([money(p.per_interval), money(p.per_day), money(p.per_30d)] if p is not None
                          else ["n/a"] * 3)
            table.add_row(*cells, mark="!" if row.alert else "", style="bold red" if row.alert else "")
        view.add(table)
        view.add(*(Text(_sides_line(row.rate), nobreak=(row.rate.instrument.symbol,)) for row in rows
                   if row.rate.sides is not None))
        if summary.weighted is not None:
            w = summary.weighted
            view.add(Text(f"Weighted avg (8h): {pct(w.rate_8h)} | Annualized: {pct(w.apr, 2)} | "
                          f"Sentiment: {summary.sentiment.capitalize()}  [{w.weighting}]"))
        else:
            view.add(Text(f"No perpetual found for {summary.asset} on the venues that answered."))
        if report.alert_threshold is not None and any(r.alert for r in rows):
            view.add(Text(f"Rows marked ! exceed the alert threshold of ±{pct(report.alert_threshold, sign=False)} "
                          "per 8 h (8h-equivalent rate).", style="red"))
        if report.position is not None:
            size, side = report.position
            view.add(Text(f"Payments for a {usd(size)} {side} position at current rates (positive = received)."))
        view.add(Text(""))
    if show_history:
        view.add(_history_table(report))
    if report.arbitrage is not None:
        view.add(_arb_table(report.arbitrage))
    return view


def _sides_line(r: FundingRate) -> str:
    """What a long and a short pay per 8 h on a venue whose sides pay differently (GMX), funding and borrow apart."""
    s = sides_row(r)
    return (f"{r.instrument.venue} {r.instrument.symbol} per 8 h: a long pays {pct(s['cost_long_8h'])} (funding "
            f"{pct(s['funding_long_8h'])} + borrow {pct(s['borrow_long_8h'])}), a short pays {pct(s['cost_short_8h'])} "
            f"(funding {pct(s['funding_short_8h'])} + borrow {pct(s['borrow_short_8h'])}); negative = received")


def _history_table(report: FundingReport) -> Table:
    window = report.history_window.total_seconds() / 3600
    label = f"{window / 24:g}d" if window % 24 == 0 else f"{window:g}h"
    table = Table(f"FUNDING HISTORY ({label}, 8h-equivalent)", [
        Column("Venue"), Column("Symbol"), Column("Settlements", "right", 4), Column("Mean", "right"),
        Column("Min", "right", 2), Column("Max", "right", 2), Column("Last", "right", 3), Column("Trend", priority=1),
        Column("Note", priority=5, wrap=True, min_width=24)])
    for row in report.rows:
        s = row.stats
        inst = row.rate.instrument
        if s is None:
            table.add_row(inst.venue, inst.symbol, "0", "", "", "", "", "n/a", row.history_note)
            continue
        table.add_row(inst.venue, inst.symbol, str(s.count), pct(s.mean), pct(s.min), pct(s.max), pct(s.last),
                      s.trend, row.history_note)
    return table


def _arb_table(opps: Sequence[ArbOpportunity]) -> Table:
    # the legs (venue and symbol) and the net APR always; the asset, named by both symbols, may go
    table = Table("FUNDING ARBITRAGE (long one leg, short the other, the way that earns; net of taker fees)", [
        Column("Asset", priority=4), Column("Long"), Column("Short"), Column("Spread/8h", "right", 2),
        Column("Gross APR", "right", 5), Column("Fees", "right", 6), Column("Net APR", "right"),
        Column("Breakeven", "right", 3), Column("Timing", priority=7, wrap=True, min_width=16)])
    for o in opps[:ARB_TABLE_ROWS]:
        breakeven = f"{o.breakeven_days:.1f}d" if o.breakeven_days is not None else "never"
        timing = "simultaneous" if o.simultaneous else o.timing_note.removeprefix("payments not simultaneous: ")
        table.add_row(o.asset, f"{o.long.instrument.venue} {o.long.instrument.symbol}",
                      f"{o.short.instrument.venue} {o.short.instrument.symbol}", pct(o.spread_8h),
                      pct(o.gross_apr, 2), pct(o.fees, 3, sign=False), pct(o.net_apr, 2), breakeven, timing)
    if not opps:
        table.note("No pair passes the filter.")
    elif len(opps) > ARB_TABLE_ROWS:
        table.note(f"({len(opps) - ARB_TABLE_ROWS} more pairs in --format json)")
    if opps:
        table.note(f"Net APR amortizes entry+exit fees over {opps[0].holding_days:g} days "
                   "(funding.arb_holding_days in settings.yaml).")
    if any(o.costs_note for o in opps[:ARB_TABLE_ROWS]):
        table.note("Spreads count each leg's funding and its borrow fee where the venue charges one (GMX: per side, "
                   "see the rate rows); payments are not simultaneous where a leg accrues continuously.")
    return table
