"""Rendering of ``dtrack liqprice``: the JSON document (fractions, USD, ISO times), the CSV of the outcome rows and
the terminal view (the outcome, the tier used with its source, the iteration, the tier table, the target leverage
and the sizing)."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from dtrack.report.format import amount, iso, num, price, usd
from dtrack.report.table import Column, Table, Text, View

if TYPE_CHECKING:
    from dtrack.analytics.liqprice import Outcome, Report
    from dtrack.records import MarginTier
    from dtrack.results import LiqPriceResult

UNITS = {"prices": "USD per one coin of the asset", "sizes": "coins of the asset", "money": "USD",
         "distance": "fraction of the entry price (0.3 = 30 %)",
         "tiers": "floor/cap in each tier's unit (usd notional, base coins, or contracts); deduction in the margin "
                  "currency (USD for linear contracts, coins for inverse ones)"}
RISK_RULE = "seed 004: distance >= 30 % low, >= 15 % moderate, >= 10 % elevated, else high"


def tier_row(t: MarginTier) -> dict[str, Any]:
    """One tier as JSON."""
    return {"tier": t.tier, "floor": t.floor, "cap": num(t.cap), "unit": t.unit.value, "mmr": t.mmr,
            "deduction": t.deduction, "max_leverage": t.max_leverage, "imr": num(t.imr), "source": t.source,
            "official": t.official, "note": t.note, "time": iso(t.time), "received_at": iso(t.received_at)}


def outcome_row(kind: str, o: Outcome) -> dict[str, Any]:
    """One outcome (the position, or the target search's) as a flat row."""
    return {"scenario": kind, "leverage": o.leverage, "margin_usd": o.margin_usd, "price": num(o.price),
            "distance": num(o.distance), "move": num(o.move), "move_usd": num(o.move_usd),
            "risk_level": o.risk_level, "tier": o.solution.tier.tier, "mmr": o.solution.tier.mmr,
            "deduction": o.solution.tier.deduction, "converged": o.solution.converged}


def _rows(r: Report) -> list[dict[str, Any]]:
    rows = [outcome_row("position", r.outcome)]
    if r.target is not None and r.target.outcome is not None:
        rows.append(outcome_row("target", r.target.outcome))
    return rows


def _report(r: Report) -> dict[str, Any]:
    q, o, f, sol = r.request, r.outcome, r.formula, r.outcome.solution
    margin_ccy = "coin" if q.inverse else "USD"
    wallet_ccy = q.wallet_usd / q.entry if q.inverse and q.wallet_usd is not None else q.wallet_usd
    return {
        "position": {"side": "long" if q.side > 0 else "short", "entry": q.entry, "size_base": q.size,
                     "notional_usd": q.size * q.entry, "mode": q.mode, "leverage": o.leverage,
                     "margin_usd": o.margin_usd,
                     "margin": o.margin_usd / q.entry if q.inverse else o.margin_usd, "margin_currency": margin_ccy,
                     "wallet_usd": num(q.wallet_usd), "wallet": num(wallet_ccy), "inverse": q.inverse},
        "formula": {"name": f.name, "text": f.text, "source": f.source, "tier_at": f.tier_at,
                    "fee_rate": q.fee_rate if f.fee else None, "note": f.note},
        "liquidation": {"price": num(o.price), "distance": num(o.distance), "move": num(o.move),
                        "move_usd": num(o.move_usd), "risk_level": o.risk_level, "converged": sol.converged,
                        "oscillation": list(sol.oscillation),
                        "steps": [{"tier": s.tier, "price": num(s.price)} for s in sol.steps],
                        "close_fee_usd": num(r.close_fee_usd), "taker_fee_rate": q.fee_rate},
        "tier": tier_row(sol.tier),
        "tiers": [tier_row(t) for t in r.tiers],
        "target": None if r.target is None else {
            "distance": r.target.distance, "leverage": num(r.target.leverage), "max_leverage": r.target.cap,
            "price": num(r.target.outcome.price) if r.target.outcome else None,
            "achieved_distance": num(r.target.outcome.distance) if r.target.outcome else None,
            "risk_level": r.target.outcome.risk_level if r.target.outcome else None, "note": r.target.note},
        "sizing": None if r.sizing is None else {
            "capital_usd": r.sizing.capital, "risk": r.sizing.risk_pct / 100, "stop": r.sizing.stop_pct / 100,
            "max_loss_usd": r.sizing.max_loss_usd, "size_usd": r.sizing.size_usd, "size_base": r.sizing.size_base,
            "implied_leverage": r.sizing.implied_leverage, "stop_price": r.sizing.stop_price,
            "stop_before_liquidation": r.stop_before_liquidation},
    }


def liqprice_json(result: LiqPriceResult) -> dict[str, Any]:
    """The ``liqprice`` document."""
    inst = result.instrument
    doc: dict[str, Any] = {
        "as_of": iso(result.as_of), "venue": result.venue, "symbol": result.symbol,
        "instrument": None if inst is None else {
            "symbol": inst.symbol, "id": inst.normalized_id, "asset": inst.asset, "margin": inst.margin.value,
            "kind": inst.kind.value, "contract_size": inst.contract_size, "contract_unit": inst.contract_unit.value,
            "multiplier": inst.multiplier},
        "units": UNITS, "risk_rule": RISK_RULE, "entry_source": result.entry_source or None,
        "position": None, "formula": None, "liquidation": None, "tier": None, "tiers": [], "target": None,
        "sizing": None, "rows": [],
    }
    if result.report is not None:
        doc.update(_report(result.report))
        doc["rows"] = _rows(result.report)
    doc["notes"] = list(result.notes) + (list(result.report.notes) if result.report is not None else [])
    doc["errors"] = [f.to_row() for f in result.failures]
    return doc


CSV_FIELDS = ("venue", "symbol", "scenario", "leverage", "margin_usd", "price", "distance", "move", "move_usd",
              "risk_level", "tier", "mmr", "deduction", "converged")


def liqprice_csv(result: LiqPriceResult) -> str:
    """The outcome rows (the position, and the target's) as CSV."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    if result.report is not None:
        for row in _rows(result.report):
            full = {"venue": result.venue, "symbol": result.symbol, **row}
            writer.writerow({k: "" if full.get(k) is None else full[k] for k in CSV_FIELDS})
    return buf.getvalue()


def _pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x * 100:.{digits}f}%"


def _signed(x: float | None, digits: int = 2) -> str:
    return "n/a" if x is None else f"{x * 100:+.{digits}f}%"


def _given_pct(x: float) -> str:
    """A percent the user gave (a fraction here), as given: 12.5 % stays 12.5 %, 0.5 % is not 0 %."""
    return f"{x * 100:.6g}%"


def _span(t: MarginTier) -> str:
    cap = "∞" if t.cap is None else amount(t.cap)
    return f"{amount(t.floor)} – {cap} {t.unit.value}"


def liqprice_table(result: LiqPriceResult) -> View:
    """The outcome table (the position and the target leverage), the tier used and the venue's tiers around it,
    the sizing and the notes."""
    r = result.report
    view = View()
    if r is None:
        view.add(Text(result.empty_line()))
        return view
    q, o = r.request, r.outcome
    side = "LONG" if q.side > 0 else "SHORT"
    asset = result.instrument.asset if result.instrument is not None else ""
    title = (f"{result.venue} {result.symbol} {side} {amount(q.size)} {asset} @ {price(q.entry)} "
             f"({result.entry_source}), {q.mode}")
    table = Table(title, [Column("Scenario"), Column("Leverage", "right"), Column("Margin", "right", 3),
                          Column("Liq. price", "right"), Column("Distance", "right"), Column("Move", "right", 2),
                          Column("Risk"), Column("Tier", "right", 1), Column("MMR", "right", 1)])
    rows: list[tuple[str, Outcome]] = [("position", o)]
    if r.target is not None and r.target.outcome is not None:
        rows.append((f"max for {_given_pct(r.target.distance)} away", r.target.outcome))
    for name, out in rows:
        table.add_row(name, f"{out.leverage:.2f}x", usd(out.margin_usd), price(out.price), _pct(out.distance),
                      _signed(out.move), out.risk_level.upper(), str(out.solution.tier.tier),
                      _pct(out.solution.tier.mmr, 3), style="red" if out.risk_level == "high" else "")
    view.add(table)
    t = o.solution.tier
    origin = "unofficial" if not t.official else "official"
    view.add(Text(f"Tier used: {t.tier} ({_span(t)}), MMR {_pct(t.mmr, 3)}, deduction {amount(t.deduction)} "
                  f"{'coins' if q.inverse else 'USD'}, max {t.max_leverage:g}x — {origin}: {t.source or 'n/a'}"
                  + (f" ({t.note})" if t.note else "")))
    steps = " → ".join(f"tier {s.tier}: {price(s.price)}" for s in o.solution.steps)
    view.add(Text(f"Tier iteration ({r.formula.tier_at}): {steps}"
                  + ("" if o.solution.converged else f" — did not settle (tiers {o.solution.oscillation})")))
    fee = f"; taker fee {q.fee_rate * 100:g}% in the formula" if r.formula.fee else ""
    view.add(Text(f"Formula {r.formula.name}: {r.formula.text}{fee}. Source: {r.formula.source}.", style="dim"))
    if r.close_fee_usd is not None:
        view.add(Text(f"Taker fee to close at the liquidation price (estimate): {usd(r.close_fee_usd)}.",
                      style="dim"))
    if r.target is not None and r.target.leverage is None:
        view.add(Text(f"Target {_given_pct(r.target.distance)}: {r.target.note}."))
    if r.sizing is not None:
        s = r.sizing
        view.add(Text(f"Sizing (seed 004): risking {s.risk_pct:g}% of {usd(s.capital)} = {usd(s.max_loss_usd)} "
                      f"with a {s.stop_pct:g}% stop ({price(s.stop_price)}): {usd(s.size_usd)} = "
                      f"{amount(s.size_base)} coins, {s.implied_leverage:.2f}x the capital"
                      + ("" if r.stop_before_liquidation is None else
                         ("; the stop comes before the liquidation" if r.stop_before_liquidation else
                          "; the LIQUIDATION comes before the stop")) + "."))
    near = [x for x in r.tiers if abs(x.tier - t.tier) <= 2]
    tiers = Table(f"{result.venue} {result.symbol} tiers (around the one used; --format json has all "
                  f"{len(r.tiers)})", [Column("Tier", "right"), Column("Position size"), Column("MMR", "right"),
                                        Column(f"Deduction ({'coins' if q.inverse else 'USD'})", "right", 2),
                                        Column("Max lev.", "right")])
    for x in near:
        tiers.add_row(str(x.tier), _span(x), _pct(x.mmr, 3), amount(x.deduction), f"{x.max_leverage:g}x",
                      mark="▶" if x.tier == t.tier else "")
    view.add(tiers)
    view.add(Text(f"Risk levels: {RISK_RULE}.", style="dim"))
    for note in list(result.notes) + list(r.notes):
        view.add(Text(note, style="dim"))
    return view
