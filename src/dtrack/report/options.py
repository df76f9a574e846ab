"""Renders the options report: JSON (one object), CSV (the chain, or the expiry rows) and terminal tables
(``report.table``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from dtrack.analytics.options_desk import AssetSummary, ChainRow, ExpiryRow, OptionsReport
from dtrack.records import OptionTrade
from dtrack.report.format import FORWARD_TOKENS, INTERPRETATION_TOKENS, amount, iso, num, pct, price, usd
from dtrack.report.table import Column, Table, Text, View
from dtrack.results import Failure

UNITS = {
    "iv": "fraction per year (0.55 = 55 %)", "prices": "USD per one coin of underlying (mark_price_coin: in the coin)",
    "oi": "contracts (chain 'oi', 'oi_contracts') or coins ('oi_coins'); USD = coins x forward",
    "greeks": "dtrack Black-76 at mark_iv on underlying_price: delta per option, gamma per USD, vega USD per vol "
              "point, theta USD per day",
    "gex_usd": "USD change of dealer delta for a 1 % move of the underlying",
}


def expiry_dict(e: ExpiryRow) -> dict[str, Any]:
    """One expiry's metrics as a flat JSON-able dict."""
    return {
        "venue": e.venue, "asset": e.asset, "expiry": iso(e.expiry), "days": e.days, "forward": num(e.forward),
        "forward_source": FORWARD_TOKENS.get(e.forward_source), "forward_source_label": e.forward_source,
        "atm_iv": num(e.atm_iv), "rr25": num(e.rr25), "bf25": num(e.bf25),
        "pcr_oi": num(e.pcr_oi), "pcr_volume": num(e.pcr_volume), "pcr_premium": num(e.pcr_premium),
        "max_pain": num(e.max_pain), "oi_contracts": num(e.oi_contracts), "oi_coins": num(e.oi_coins),
        "oi_usd": num(e.oi_usd), "volume_usd": num(e.volume_usd), "options": e.options,
    }


def chain_dict(r: ChainRow) -> dict[str, Any]:
    """One option of the chain as a flat JSON-able dict."""
    q = r.quote
    return {
        "venue": q.venue, "asset": q.asset, "instrument": q.symbol, "id": q.normalized_id, "expiry": iso(q.expiry),
        "strike": q.strike,
        "type": "call" if q.is_call else "put", "mark_price_usd": num(q.mark_price_usd),
        "mark_price_coin": num(q.mark_price_coin), "price_note": q.price_note, "underlying_price": q.underlying_price,
        "index_price": num(q.index_price), "mark_iv": num(r.mark_iv), "iv_source": r.iv_source,
        "bid_iv": num(r.bid_iv), "ask_iv": num(r.ask_iv), "delta": num(r.delta), "gamma": num(r.gamma),
        "vega": num(r.vega), "theta": num(r.theta), "venue_delta": num(q.delta), "oi": q.open_interest,
        "volume": q.volume, "contract_size": q.contract_size, "time": iso(q.time), "received_at": iso(q.received_at),
    }


def _summary(s: AssetSummary) -> dict[str, Any]:
    return {"asset": s.asset, "spot": num(s.spot), "dvol": num(s.dvol), "iv_rank": num(s.iv_rank),
            "iv_percentile": num(s.iv_percentile), "rv_30d": num(s.rv_30d), "rv_source": s.rv_source,
            "iv_rv_spread": num(s.iv_rv_spread), "interpretation": INTERPRETATION_TOKENS.get(s.interpretation),
            "interpretation_label": s.interpretation if s.interpretation in INTERPRETATION_TOKENS else None,
            "pcr_oi": num(s.pcr_oi),
            "pcr_volume": num(s.pcr_volume), "total_oi_usd": num(s.total_oi_usd),
            "gex_total_usd": num(s.gex_total_usd), "gex_flip": num(s.gex_flip), "note": s.note,
            "venue_rv": [{"venue": p.venue, "series": p.symbol, "value": num(p.value), "time": iso(p.time)}
                         for p in s.venue_rv]}


def _trade(t: OptionTrade) -> dict[str, Any]:
    return {"venue": t.venue, "instrument": t.symbol, "expiry": iso(t.expiry), "strike": t.strike,
            "type": "call" if t.is_call else "put", "time": iso(t.time), "received_at": iso(t.received_at),
            "side": t.side, "amount": t.amount,
            "contract_size": t.contract_size, "price_usd": t.price_usd, "premium_usd": t.premium_usd,
            "iv": num(t.iv), "index_price": t.index_price, "block": t.block}


def to_json(report: OptionsReport, failures: Sequence[Failure], *, chain: bool, gex: bool,
            flow: bool) -> dict[str, Any]:
    """The options report as one JSON object."""
    out: dict[str, Any] = {
        "as_of": iso(report.time), "units": UNITS,
        "expiries": [expiry_dict(e) for e in report.expiries],
        "aggregate": [expiry_dict(e) for e in report.aggregate],
        "term_structure": [{"venue": e.venue, "asset": e.asset, "expiry": iso(e.expiry), "days": e.days,
                            "atm_iv": num(e.atm_iv)} for e in report.term_structure],
        "constant_maturity": [{"venue": c.venue, "asset": c.asset, "days": c.days, "iv": num(c.iv), "note": c.note}
                              for c in report.constant_maturity],
        "summary": [_summary(s) for s in report.summary],
        "errors": [f.to_row() for f in failures],
    }
    if chain:
        out["chain"] = [chain_dict(r) for r in report.chain]
    if gex:
        out["gex"] = [{"asset": g.asset, "strike": g.strike, "gex_usd": g.gex_usd} for g in report.gex]
    if flow and report.flow is not None:
        out["flow"] = {"min_size": report.flow.min_size, "trades": [_trade(t) for t in report.flow.trades],
                       "groups": [{"expiry": iso(g.expiry), "strike": g.strike, "type": "call" if g.is_call else "put",
                                   "trades": g.trades, "coins": g.contracts, "premium_usd": g.premium_usd,
                                   "buy_premium_usd": g.buy_premium_usd, "sell_premium_usd": g.sell_premium_usd,
                                   "block_trades": g.block_trades} for g in report.flow.groups]}
    return out


def to_csv(report: OptionsReport, chain: bool) -> str:
    """The chain (with ``--chain``) or the per-expiry rows as CSV."""
    rows = ([chain_dict(r) for r in report.chain] if chain
            else [{**expiry_dict(e), "time": iso(report.time)} for e in report.expiries])  # when computed
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def render_table(report: OptionsReport, *, chain: bool, pcr: bool, gex: bool, flow: bool) -> View:
    """Per-expiry metrics and the volatility regime (default), or the focused views."""
    view = View()
    focused = chain or pcr or gex or flow
    for s in report.summary:
        rows = [e for e in report.expiries if e.asset == s.asset]
        if not focused or pcr:
            view.add(_expiry_table(s.asset, rows, [e for e in report.aggregate if e.asset == s.asset], pcr))
        if not focused:
            view.add(_regime(s))
            cms = [c for c in report.constant_maturity if c.asset == s.asset]
            for venue in dict.fromkeys(c.venue for c in cms):
                line = "  ".join(f"{c.days}d {pct(c.iv, 1, sign=False)}" for c in cms if c.venue == venue)
                view.add(Text(f"ATM IV constant maturity ({venue}): {line}"))
        if chain:
            view.add(_chain_table(s.asset, [r for r in report.chain if r.quote.asset == s.asset]))
        if gex:
            view.add(_gex_table(s, [g for g in report.gex if g.asset == s.asset]))
        view.add(Text(""))
    if flow and report.flow is not None:
        view.add(_flow_table(report))
    return view


def _expiry_table(asset: str, rows: Sequence[ExpiryRow], agg: Sequence[ExpiryRow], pcr_only: bool) -> Table:
    columns = [Column("Venue"), Column("Expiry"), Column("Days", "right", 4)]
    if not pcr_only:
        columns += [Column("Forward", "right", 7), Column("ATM IV", "right"), Column("25d RR", "right", 2),
                    Column("25d BF", "right", 5)]
    columns += [Column("PCR OI", "right", 1 if pcr_only else 3), Column("PCR vol", "right", 2 if pcr_only else 6),
                Column("PCR prem", "right", 3 if pcr_only else 8), Column("Max pain", "right", 5 if pcr_only else 9),
                Column("OI (USD)", "right", 1 if pcr_only else 3)]
    table = Table(f"{asset} OPTIONS BY EXPIRY", columns)
    for e in [*rows, *agg]:
        cells = [e.venue, f"{e.expiry:%Y-%m-%d}", f"{e.days:.1f}"]
        if not pcr_only:
            cells += [price(e.forward), pct(e.atm_iv, 1, sign=False), pct(e.rr25, 2), pct(e.bf25, 2)]
        cells += [_ratio(e.pcr_oi), _ratio(e.pcr_volume), _ratio(e.pcr_premium), price(e.max_pain), usd(e.oi_usd)]
        table.add_row(*cells, style="bold" if e.venue == "all" else "")
    return table


def _ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def _regime(s: AssetSummary) -> Text:
    text = (f"{s.asset}: DVOL {pct(s.dvol, 1, sign=False)} | IV rank {pct(s.iv_rank, 0, sign=False)} | "
            f"IV percentile {pct(s.iv_percentile, 0, sign=False)} | RV 30d {pct(s.rv_30d, 1, sign=False)} | "
            f"IV-RV {pct(s.iv_rv_spread, 1)} | {s.interpretation} | PCR OI {_ratio(s.pcr_oi)} | "
            f"OI {usd(s.total_oi_usd)}")
    if s.venue_rv:
        text += "\n  venues' realized vol: " + ", ".join(f"{p.venue} {p.symbol} {pct(p.value, 1, sign=False)}"
                                                         for p in s.venue_rv)
    return Text(text + (f"\n  note: {s.note}" if s.note else ""))


def _chain_table(asset: str, rows: Sequence[ChainRow]) -> Table:
    table = Table(f"{asset} OPTION CHAIN", [
        Column("Venue"), Column("Expiry"), Column("Strike", "right"), Column("Type"), Column("Mark USD", "right", 1),
        Column("Mark coin", "right", 6), Column("Mark IV", "right", 1), Column("Bid IV", "right", 4),
        Column("Ask IV", "right", 4), Column("Delta", "right", 2), Column("Gamma", "right", 7),
        Column("OI", "right", 3), Column("Volume", "right", 5)])
    for r in rows:
        q = r.quote
        table.add_row(q.venue, f"{q.expiry:%Y-%m-%d}", f"{q.strike:g}", "C" if q.is_call else "P",
                      price(q.mark_price_usd), f"{q.mark_price_coin:.4f}" if q.mark_price_coin is not None else "n/a",
                      pct(r.mark_iv, 1, sign=False), pct(r.bid_iv, 1, sign=False), pct(r.ask_iv, 1, sign=False),
                      f"{r.delta:+.3f}" if r.delta is not None else "n/a",
                      f"{r.gamma:.2e}" if r.gamma is not None else "n/a", amount(q.open_interest), amount(q.volume))
    return table


def _gex_table(s: AssetSummary, points: Sequence[Any]) -> Table:
    table = Table(f"{s.asset} DEALER GAMMA EXPOSURE (USD of dealer delta per 1 % move; dealers short calls, long "
                  "puts unless settings say otherwise), largest 20 strikes",
                  [Column("Strike", "right"), Column("GEX (USD)", "right")], title_style="italic")
    for g in sorted(points, key=lambda g: -abs(g.gex_usd))[:20]:
        table.add_row(f"{g.strike:g}", f"{g.gex_usd:+,.0f}")
    table.note(f"Total {usd(s.gex_total_usd)}; flip level {price(s.gex_flip)}; spot {price(s.spot)}")
    return table


def _flow_table(report: OptionsReport) -> View:
    assert report.flow is not None
    table = Table(f"LARGE OPTION TRADES ({report.flow.min_size})", [
        Column("Time", priority=3), Column("Venue"), Column("Instrument"), Column("Side"), Column("Size", "right", 2),
        Column("Premium", "right"), Column("IV", "right", 4), Column("Block", priority=5)])
    for t in report.flow.trades[:25]:
        table.add_row(f"{t.time:%m-%d %H:%M}", t.venue, t.symbol, t.side, amount(t.amount * t.contract_size),
                      usd(t.premium_usd), pct(t.iv, 1, sign=False), "block" if t.block else "")
    groups = Table("LARGEST STRIKES / EXPIRIES BY PREMIUM", [
        Column("Expiry"), Column("Strike", "right"), Column("Type"), Column("Trades", "right", 3),
        Column("Premium", "right"), Column("Bought", "right", 1), Column("Sold", "right", 1),
        Column("Blocks", "right", 4)])
    for g in report.flow.groups:
        groups.add_row(f"{g.expiry:%Y-%m-%d}", f"{g.strike:g}", "C" if g.is_call else "P", str(g.trades),
                       usd(g.premium_usd), usd(g.buy_premium_usd), usd(g.sell_premium_usd), str(g.block_trades))
    return View(table, groups)
