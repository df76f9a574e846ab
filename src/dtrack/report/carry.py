"""Rendering of ``dtrack carry``: the positions with their P&L and funding payments, the Monte Carlo's distribution
and the backtest, as JSON (fractions, USD, ISO-8601 UTC), CSV and terminal tables."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dtrack.report.format import amount, iso, money, num, pct, price
from dtrack.report.rows import rows_to_csv
from dtrack.report.table import Column, Table, Text, View

if TYPE_CHECKING:
    from dtrack.analytics.carry import Payments, PositionView
    from dtrack.results import CarryBacktestResult, CarryResult, CarrySimulationResult

#: how a payment's price was found: JSON token -> table label
PRICE_BASIS = {True: "settlement_kline", False: "entry"}


def capital_definition(leverage: float) -> str:
    """The capital returns are measured on, in words."""
    return (f"spot notional at entry + perp margin at entry (perp notional / leverage {leverage:g}); fees per leg "
            "per trade at entry, and at exit once closed")


def _failures(result: Any) -> list[dict[str, Any]]:
    return [f.to_row() for f in result.failures]


# --- positions -----------------------------------------------------------------------------------------------------


def _payments(pays: Payments) -> list[dict[str, Any]]:
    return [{"time": iso(datetime.fromtimestamp(int(t) / 1000, UTC)), "rate": float(r), "interval_hours": float(h),
             "accrual": float(a), "price": float(p), "price_basis": PRICE_BASIS[bool(m)], "amount_usd": float(x)}
            for t, r, h, a, p, m, x in zip(pays.time_ms, pays.rate, pays.interval_hours, pays.accrual, pays.price,
                                           pays.from_market, pays.amount, strict=True)]


def position_row(view: PositionView) -> dict[str, Any]:
    """One position as a JSON object (its payments, when known, under ``payments``)."""
    p, pnl, pays = view.position, view.pnl, view.payments
    closed = p.closed_at is not None
    row: dict[str, Any] = {
        "id": p.id, "status": "closed" if closed else "open", "asset": p.asset, "spot_venue": p.spot_venue,
        "perp_venue": p.perp_venue, "perp_symbol": p.perp_symbol, "size": p.size, "spot_entry": p.spot_entry,
        "perp_entry": p.perp_entry, "opened_at": iso(p.opened_at), "fee_rate": p.fee_pct / 100.0,
        "closed_at": iso(p.closed_at), "spot_exit": p.spot_exit, "perp_exit": p.perp_exit, "note": p.note,
        "spot_price": view.spot_price, "perp_price": view.perp_price, "priced_at": iso(view.priced_at),
        "price_source": None if view.spot_price is None else ("exit" if closed else "market"),
        "days_held": None, "spot_pnl_usd": None, "perp_pnl_usd": None,
        "funding_usd": None if pays is None else pays.total, "funding_payments": None if pays is None else len(pays),
        "entry_fees_usd": None, "exit_fees_usd": None, "fees_usd": None, "net_usd": None, "capital_usd": None,
        "return_on_capital": None, "return_on_notional": None, "annualized_return": None,
    }
    if pnl is not None:
        row.update({"days_held": pnl.days_held, "spot_pnl_usd": pnl.spot_pnl, "perp_pnl_usd": pnl.perp_pnl,
                    "entry_fees_usd": pnl.entry_fees, "exit_fees_usd": pnl.exit_fees if closed else None,
                    "fees_usd": pnl.fees, "net_usd": pnl.net, "capital_usd": pnl.capital,
                    "return_on_capital": num(pnl.return_on_capital),
                    "return_on_notional": num(pnl.return_on_notional),
                    "annualized_return": num(pnl.annualized_return)})
    row["payments"] = None if pays is None else _payments(pays)
    return row


def positions_json(result: CarryResult) -> dict[str, Any]:
    """The ``--format json`` document of ``carry open|status|close|list``."""
    return {"action": result.action, "as_of": iso(result.as_of), "store": result.store,
            "perp_leverage": result.leverage, "capital_definition": capital_definition(result.leverage),
            "funding_definition": "each settled payment = rate x accrual x size x price: the kline close at the "
                                  "settlement (price_basis settlement_kline), else the perp entry price (entry); "
                                  "accrual 1 at a discrete settlement",
            "positions": [position_row(v) for v in result.views], "notes": list(result.notes),
            "failures": _failures(result)}


def positions_csv(result: CarryResult) -> str:
    """One CSV row per position (the payments are in JSON only)."""
    rows = [{k: v for k, v in position_row(view).items() if k != "payments"} for view in result.views]
    return rows_to_csv(rows)


def positions_table(result: CarryResult) -> View:
    """The positions and, for ``status`` / ``close``, each one's P&L and funding payments."""
    view = View()
    title = {"open": "CARRY POSITION OPENED", "close": "CARRY POSITION CLOSED", "list": "CARRY POSITIONS",
             "status": "CARRY POSITIONS: P&L"}[result.action]
    table = Table(f"{title} ({result.store})", [
        Column("Id"), Column("Status"), Column("Size", "right"), Column("Spot", priority=6),
        Column("Perp", priority=5), Column("Entry spot/perp", "right", 4), Column("Now/exit spot/perp", "right", 4),
        Column("Spot P&L", "right", 3), Column("Perp P&L", "right", 3), Column("Funding", "right", 1),
        Column("Fees", "right", 2), Column("Net", "right"), Column("Return", "right", 1),
        Column("Annual", "right", 2)])
    for v in result.views:
        r = position_row(v)
        now = "-" if v.spot_price is None else f"{price(v.spot_price)}/{price(v.perp_price)}"
        table.add_row(r["id"], r["status"], f"{amount(r['size'])} {r['asset']}", r["spot_venue"],
                      f"{r['perp_venue']} {r['perp_symbol']}", f"{price(r['spot_entry'])}/{price(r['perp_entry'])}",
                      now, _m(r["spot_pnl_usd"]), _m(r["perp_pnl_usd"]), _m(r["funding_usd"]),
                      _m(None if r["fees_usd"] is None else -r["fees_usd"]),
                      _m(r["net_usd"]), _p(r["return_on_capital"]), _p(r["annualized_return"]))
    table.note(f"Capital = {capital_definition(result.leverage)}. Return on capital; annual = return x 365 / days "
               "held (shown from one day held). Funding: the perp venue's settled funding since opening, received "
               "by the short; fees are a cost (shown negative): net = spot + perp + funding + fees.")
    view.add(table)
    for v in result.views:
        if v.payments is not None and len(v.payments) and result.action in ("status", "close"):
            view.add(_payments_table(v))
    for note in result.notes:
        view.add(Text(note, style="dim"))
    return view


def _payments_table(view: PositionView) -> Table:
    pays = view.payments
    assert pays is not None
    table = Table(f"{view.position.id}: {len(pays)} funding payments ({view.position.perp_venue} "
                  f"{view.position.perp_symbol}, {amount(view.position.size)} {view.position.asset} short)", [
                      Column("Settled (UTC)"), Column("Rate", "right"), Column("Interval", "right"),
                      Column("Price", "right", 2), Column("Price from", priority=3), Column("Amount", "right")])
    for row in _payments(pays):
        accrual = "" if row["accrual"] == 1.0 else f" x{row['accrual']:.3g}"
        table.add_row(row["time"].replace("T", " ").rstrip("Z"), pct(row["rate"]), f"{row['interval_hours']:g}h"
                      + accrual, price(row["price"]), "kline close" if row["price_basis"] != "entry" else "entry",
                      money(row["amount_usd"]))
    table.note(f"Total {money(pays.total)}: amount = rate x size x price, each at its own interval.")
    return table


def _m(x: float | None) -> str:
    return "-" if x is None else money(x)


def _p(x: float | None) -> str:
    return "-" if x is None else pct(x, 2)


# --- simulate ------------------------------------------------------------------------------------------------------


STATS = ("mean", "std", "min", "p5", "p25", "p50", "p75", "p95", "max")


def _distribution(result: CarrySimulationResult) -> list[dict[str, Any]]:
    s = result.report.stats
    return [{"statistic": k, "net_usd": s[f"net_{k}"], "return_on_capital": s[f"return_{k}"]} for k in STATS]


def simulation_json(result: CarrySimulationResult) -> dict[str, Any]:
    """The ``--format json`` document of ``carry simulate``."""
    r = result.report
    p = r.params
    s = r.stats
    return {"action": "simulate", "as_of": iso(result.as_of),
            "model": "funding per 8 h: AR(1) around avg_funding_8h with stationary std funding_vol_8h and the given "
                     "half-life (0: independent draws, seed 004), floored at -0.5 % per 8 h; paid every "
                     "interval_hours at rate_8h x interval / 8 on size x price; price: driftless lognormal walk; "
                     "spot and perp at the same price (their P&L cancels); fees on both legs at entry and exit",
            "params": {"avg_funding_8h": p.avg_8h, "funding_vol_8h": p.vol_8h, "half_life_hours": p.half_life_hours,
                       "days": p.days, "interval_hours": p.interval_hours, "price_vol_daily": p.price_vol_daily,
                       "notional_usd": p.notional, "fee_rate": p.fee_rate, "perp_leverage": p.leverage,
                       "paths": p.paths, "seed": p.seed},
            "settlements": r.settlements, "capital_usd": r.capital,
            "capital_definition": capital_definition(p.leverage),
            "funding_usd_mean": s["funding_mean"], "fees_usd_mean": s["fees_mean"],
            "probability_of_loss": s["probability_of_loss"], "annualized_return_mean": s["annualized_return_mean"],
            "rate_8h_mean": s["rate_8h_mean"], "negative_settlements_share": s["negative_settlements_share"],
            "distribution": _distribution(result), "failures": _failures(result)}


def simulation_csv(result: CarrySimulationResult) -> str:
    """The distribution as CSV."""
    return rows_to_csv(_distribution(result))


def simulation_table(result: CarrySimulationResult) -> View:
    """The parameters, the distribution and the probability of loss."""
    r = result.report
    p = r.params
    s = r.stats
    head = Text(f"CARRY MONTE CARLO: {p.paths:,} paths (seed {p.seed}), {p.days:g} days, {r.settlements} settlements "
                f"every {p.interval_hours:g}h; funding {pct(p.avg_8h)} per 8h +/- {pct(p.vol_8h, sign=False)} "
                f"(half-life {p.half_life_hours:g}h), price vol {pct(p.price_vol_daily, 2, sign=False)}/day; notional "
                f"${p.notional:,.0f}, fee {pct(p.fee_rate, 3, sign=False)} per leg per trade; capital "
                f"${r.capital:,.0f}", style="bold")
    table = Table(None, [Column("Statistic"), Column("Net P&L (USD)", "right"), Column("Return on capital", "right")])
    for row in _distribution(result):
        table.add_row(row["statistic"], money(row["net_usd"]), pct(row["return_on_capital"], 3))
    table.note(f"Probability of loss {pct(s['probability_of_loss'], 1, sign=False)}; mean funding "
               f"{money(s['funding_mean'])}, mean fees {money(s['fees_mean'])}; mean annualized return "
               f"{pct(s['annualized_return_mean'], 2)}; settlements below zero "
               f"{pct(s['negative_settlements_share'], 1, sign=False)}.")
    return View(head, table)


# --- backtest ------------------------------------------------------------------------------------------------------


def _daily(result: CarryBacktestResult) -> list[dict[str, Any]]:
    bt = result.backtest
    if bt is None:
        return []
    by_day: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for t, x in zip(bt.payments.time_ms, bt.payments.amount, strict=True):
        day = datetime.fromtimestamp(int(t) / 1000, UTC).strftime("%Y-%m-%d")
        by_day[day] += float(x)
        counts[day] += 1
    out, total = [], 0.0
    for day in sorted(by_day):
        total += by_day[day]
        out.append({"date": day, "settlements": counts[day], "funding_usd": by_day[day], "cumulative_usd": total})
    return out


def backtest_json(result: CarryBacktestResult) -> dict[str, Any]:
    """The ``--format json`` document of ``carry backtest``."""
    bt = result.backtest
    doc: dict[str, Any] = {
        "action": "backtest", "as_of": iso(result.as_of), "asset": result.asset, "venue": result.venue,
        "symbol": result.symbol, "start": iso(result.start), "end": iso(result.end), "notional_usd": result.notional,
        "history_note": result.history_note or None, "notes": list(result.notes),
        "model": "long spot and short the perpetual in equal coins (notional / the first price), each settled "
                 "funding received at its own interval on size x the kline close at its time (else the entry "
                 "price); spot and perp at the same price (the basis is not in the history); fees on both legs "
                 "at entry and exit",
        "days": None, "size": None, "entry_price": None, "exit_price": None, "fee_rate": None, "perp_leverage": None,
        "settlements": 0, "intervals": [], "priced_at_settlement": 0, "funding_usd": None, "entry_fees_usd": None,
        "exit_fees_usd": None, "net_usd": None, "capital_usd": None, "capital_definition": None,
        "return_on_capital": None, "annualized_return": None, "rate_8h_mean": None, "negative_share": None,
        "daily": _daily(result), "failures": _failures(result)}
    if bt is not None:
        pays, pnl = bt.payments, bt.pnl
        n = len(pays)
        rate_8h = (pays.rate * 8.0 / pays.interval_hours) if n else None
        doc.update({
            "days": bt.days, "size": bt.size, "entry_price": bt.entry_price, "exit_price": bt.exit_price,
            "fee_rate": bt.fee_rate, "perp_leverage": bt.leverage, "settlements": n,
            "intervals": [{"interval_hours": h, "settlements": c} for h, c in sorted(bt.intervals.items())],
            "priced_at_settlement": int(pays.from_market.sum()), "funding_usd": pays.total,
            "entry_fees_usd": pnl.entry_fees, "exit_fees_usd": pnl.exit_fees, "net_usd": pnl.net,
            "capital_usd": pnl.capital, "capital_definition": capital_definition(bt.leverage),
            "return_on_capital": num(pnl.return_on_capital), "annualized_return": num(pnl.annualized_return),
            "rate_8h_mean": None if rate_8h is None else float(rate_8h.mean()),
            "negative_share": None if not n else float((pays.rate < 0).mean())})
    return doc


def _sampled(pays: Payments) -> tuple[list[float], list[int]]:
    """Per interval, how many of its payments are samples of an accruing rate (accrual below 1: Deribit's hourly
    points of an 8 h-equivalent rate), not whole settlements."""
    part = pays.accrual < 1.0
    hours = sorted({float(h) for h in pays.interval_hours[part]})
    return hours, [int((part & (pays.interval_hours == h)).sum()) for h in hours]


def backtest_csv(result: CarryBacktestResult) -> str:
    """The funding by day as CSV."""
    return rows_to_csv(_daily(result), ["date", "settlements", "funding_usd", "cumulative_usd"])


def backtest_table(result: CarryBacktestResult) -> View:
    """The totals and the funding by day."""
    doc = backtest_json(result)
    head = Text(f"CARRY BACKTEST: {result.asset} on {result.venue} {result.symbol}, {iso(result.start)} to "
                f"{iso(result.end)}, notional ${result.notional:,.0f}", style="bold")
    if result.backtest is None:
        return View(head, *(Text(n, style="dim") for n in result.notes))
    sampled = {float(h): int(n) for h, n in zip(*_sampled(result.backtest.payments), strict=True)}
    intervals = ", ".join(f"{i['settlements']} x {i['interval_hours']:g}h"
                          + (f" ({sampled[i['interval_hours']]} samples, each accruing its share of the interval)"
                             if sampled.get(i["interval_hours"]) else "")
                          for i in doc["intervals"]) or "none"
    totals = Table(None, [Column("Figure"), Column("Value", "right")])
    for label, value in (("settlements", intervals), ("size", f"{amount(doc['size'])} {result.asset}"),
                         ("entry / exit price", f"{price(doc['entry_price'])} / {price(doc['exit_price'])}"),
                         ("mean rate per 8h", pct(doc["rate_8h_mean"])),
                         ("settlements below zero", pct(doc["negative_share"], 1, sign=False)),
                         ("funding received", money(doc["funding_usd"])),
                         ("entry + exit fees", money(-(doc["entry_fees_usd"] + doc["exit_fees_usd"]))),
                         ("net", money(doc["net_usd"])), ("capital", f"${doc['capital_usd']:,.0f}"),
                         ("return on capital", pct(doc["return_on_capital"], 3)),
                         ("annualized", pct(doc["annualized_return"], 2))):
        totals.add_row(label, value)
    totals.note(f"Capital = {doc['capital_definition']}. Over {doc['days']:.1f} days; "
                f"{doc['priced_at_settlement']} of {doc['settlements']} payments at the kline close of their "
                "settlement, the rest at the entry price.")
    daily = Table("Funding by day (UTC)", [Column("Date"), Column("Settlements", "right"),
                                            Column("Funding", "right"), Column("Cumulative", "right")])
    for row in doc["daily"][-30:]:
        daily.add_row(row["date"], str(row["settlements"]), money(row["funding_usd"]), money(row["cumulative_usd"]))
    if len(doc["daily"]) > 30:
        daily.note(f"the last 30 of {len(doc['daily'])} days; every day is in --format json / csv")
    view = View(head, totals, daily)
    for note in [result.history_note, *result.notes]:
        if note:
            view.add(Text(note, style="dim"))
    return view
