"""Renders the execution simulation (``dtrack execsim``): JSON (one object with every parameter, its unit and
source), CSV (the comparison table) and terminal tables (the seed-004 comparison with a 5–95 % interval per figure,
the market order's walk, the venue choice and the parameters)."""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING, Any

from dtrack.report.format import amount, iso, num, price, usd
from dtrack.report.table import Column, Table, Text, View

if TYPE_CHECKING:
    from dtrack.analytics.execution import AlgoRun, Stat
    from dtrack.results import ExecSimResult

MODEL = ("market order: walks the book level by level; twap/vwap: children at t_i = i*over/slices walk the current "
         "book (depth taken refills best level first at resilience x V/24 coins per hour), sizes equal (twap) or "
         "by the venue's hourly volume profile (vwap); iceberg: a passive order pegged at the near touch showing "
         "size/slices, filled by passive_share of the volume after the queue ahead, the rest sent as a market order "
         "at the end; mid = arrival x exp(sigma_h W(t) - sigma_h^2 t/2) x (1 + s phi Y sigma_d sqrt(X/V)), "
         "X = coins executed before; fees not included (see dtrack.analytics.execution)")
UNITS = {
    "avg_price": "USD per one unit of the asset", "slippage_bps": "basis points against the arrival mid, positive = "
    "worse for the order", "cost_usd": "USD: side x (average price - arrival mid) x coins filled",
    "hours": "hours from the start to the last fill (a TWAP/VWAP child fills when sent: the last at over - "
    "over/slices)", "fills": "orders (market, children) or iceberg clips that filled",
    "saving_usd": "USD the algorithm costs less than the market order (per path)",
    "saving_share": "fraction of the market order's expected cost", "expected": "the model's expectation",
    "mean/p05/p95": "over the simulated paths", "*_base": "coins of the asset",
}
RANGE = "5–95 %"


def _stat(st: Stat | None) -> dict[str, float | None] | None:
    if st is None:
        return None
    return {"expected": num(st.expected), "mean": num(st.mean), "p05": num(st.low), "p95": num(st.high)}


def _param(value: Any, unit: str | None, source: str) -> dict[str, Any]:
    if isinstance(value, float):
        value = num(value)
    return {"value": value, "unit": unit, "source": source}


def parameters(result: ExecSimResult) -> dict[str, dict[str, Any]]:
    """Every parameter the simulation used: name -> {value, unit, source}."""
    book, ladder, cal, spec = result.book, result.ladder, result.calibration, result.spec
    out: dict[str, dict[str, Any]] = {}
    if book is None or ladder is None:
        return out
    venue = book.instrument.venue
    book_time = book.time or book.received_at
    out["venue"] = _param(venue, None, result.choice)
    out["symbol"] = _param(book.instrument.symbol, None, f"{venue}'s main {result.asset} perpetual (largest 24 h "
                                                        "volume of its quotes)")
    out["book_time"] = _param(iso(book_time), "ISO-8601 UTC",
                              "the venue's book timestamp" if book.time else "when the book was received")
    out["arrival_mid"] = _param(ladder.mid, "USD per coin", "(best bid + best ask) / 2 of the book")
    out["half_spread_bps"] = _param(ladder.half_spread * 1e4, "bps", "(best ask - best bid) / 2 / mid")
    out["book_levels"] = _param(len(ladder.prices), "levels", f"the {'ask' if result.side == 'buy' else 'bid'} "
                                f"side as returned (depth asked, venue cap: {book.limit})")
    out["size_base"] = _param(result.size_base, "coins", "--size in coins" if result.size.unit == "base" else
                              f"--size {result.size.text} USD / the arrival mid")
    if spec is not None:
        out["over_hours"] = _param(spec.over_hours, "hours", "--over")
        out["slices"] = _param(spec.slices, "child orders", "--slices")
        out["interval_hours"] = _param(spec.dt, "hours", "over / slices")
        out["paths"] = _param(spec.paths, "paths", "--paths")
        out["seed"] = _param(spec.seed, None, "--seed (numpy default_rng)")
        out["start_hour_utc"] = _param(spec.start_hour, "hour of day, UTC", "the book's time")
        out["iceberg_visible_base"] = _param(spec.size / spec.slices, "coins", "size / slices")
    if cal is None:
        return out
    closes = (f"std of the log returns of {result.candles} closed 1 h candles of {venue} {book.instrument.symbol}"
              + (f" from {iso(result.candles_first)} to {iso(result.candles_last)}" if result.candles_first else ""))
    out["sigma_hourly"] = _param(cal.sigma_hourly, "fraction per sqrt(hour)", closes)
    out["sigma_daily"] = _param(cal.sigma_daily, "fraction per sqrt(day)", "sigma_hourly x sqrt(24)")
    out["sigma_annual"] = _param(cal.sigma_annual, "fraction per sqrt(year)", "sigma_hourly x sqrt(24 x 365)")
    out["daily_volume_base"] = _param(cal.daily_volume, "coins per day", result.volume_source or "not known")
    out["daily_volume_usd"] = _param(cal.daily_volume * ladder.mid, "USD per day", "daily_volume_base x arrival mid")
    r2 = f", R² {result.fit_r2:.3f}" if result.fit_r2 is not None else ""
    out["impact_y"] = _param(cal.y, "dimensionless", f"fitted on {result.fit_points} book levels{r2}: displacement "
                             "beyond the touch = Y x sigma_daily x sqrt(coins before / daily volume)")
    law = cal.law_impact(result.size_base or 0.0)
    out["law_impact_bps"] = _param(None if law is None else law * 1e4, "bps",
                                   "Y x sigma_daily x sqrt(size / daily volume): the square-root law for the order")
    out["permanent_share"] = _param(cal.permanent_share, "fraction", "settings execsim.permanent_share (seed 004's "
                                    "permanent_impact)")
    out["resilience"] = _param(cal.resilience, "x an hour's volume per hour", "settings execsim.resilience")
    out["refill_per_hour_base"] = _param(cal.refill_per_hour, "coins per hour", "resilience x daily volume / 24")
    out["passive_share"] = _param(cal.passive_share, "fraction", "settings execsim.passive_share")
    out["queue_ahead_base"] = _param(ladder.queue_own, "coins", "size at the near touch (where the iceberg rests)")
    if result.profile is not None:
        out["volume_profile"] = _param(f"{result.profile.bars} candles", "1 h candles",
                                       f"{venue} {book.instrument.symbol} volume by hour of day (UTC) over "
                                       f"{result.profile.days:.1f} days")
    return out


def market_dict(result: ExecSimResult) -> dict[str, Any] | None:
    """The market order walked through the book."""
    c = result.comparison
    if c is None:
        return None
    m = c.market
    return {"size_base": m.size, "filled_base": m.filled, "unfilled_base": m.unfilled,
            "avg_price": num(m.avg_price) if m.avg_price is not None else None, "worst_price": m.worst_price,
            "arrival_mid": m.mid, "slippage_bps": m.slippage_bps, "slippage_vs_arrival_bps": m.slippage_bps,
            "cost_usd": m.cost_usd, "notional_usd": m.notional_usd, "levels": m.levels,
            "levels_available": m.levels_available, "depth": m.depth}


def algo_rows(result: ExecSimResult) -> list[dict[str, Any]]:
    """One row per algorithm: every figure with its expectation, mean and 5–95 % interval."""
    c = result.comparison
    if c is None:
        return []
    rows = []
    for name, run in c.runs.items():
        st = run.stats()
        saving = c.savings.get(name)
        rows.append({"algo": name, "avg_price": _stat(st["avg_price"]), "slippage_bps": _stat(st["slippage_bps"]),
                     "cost_usd": _stat(st["cost_usd"]), "hours": _stat(st["hours"]), "fills": _stat(st["fills"]),
                     "slippage_vs_mid_bps": num(run.vs_mid_bps), "filled_base": run.filled,
                     "unfilled_base": run.unfilled, "children": len(run.children),
                     "child_sizes_base": [float(x) for x in run.children], "max_levels": run.levels,
                     "depth": run.note or "enough", "saving_usd": _stat(saving.usd) if saving else None,
                     "saving_share": num(saving.share) if saving and saving.share is not None else None})
    return rows


def document(result: ExecSimResult) -> dict[str, Any]:
    """The ``execsim`` document."""
    book = result.book
    candidates = []
    for cand, lad in result.candidates:
        coins, dollars, cut = lad.within()
        assert cand.book is not None and cand.instrument is not None
        candidates.append({"venue": cand.venue, "symbol": cand.instrument.symbol, "mid": lad.mid,
                           "depth_1pct_base": coins, "depth_1pct_usd": dollars, "truncated": cut,
                           "levels": len(lad.prices), "limit": cand.book.limit,
                           "book_time": iso(cand.book.time or cand.book.received_at),
                           "volume_24h_usd": cand.quote.volume_24h_usd if cand.quote else None,
                           "chosen": cand.venue == result.venue})
    profile = None
    if result.profile is not None:
        profile = [{"hour": h, "share": float(x)} for h, x in enumerate(result.profile.share)]
    return {
        "as_of": iso(result.as_of), "asset": result.asset, "side": result.side,
        "order": {"size": result.size.amount, "size_unit": result.size.unit, "size_input": result.size.text,
                  "size_base": result.size_base,
                  "size_usd": result.size_base * result.ladder.mid if result.size_base and result.ladder else None},
        "venue": result.venue, "symbol": book.instrument.symbol if book else None, "choice": result.choice,
        "candidates": candidates,
        "book": None if book is None or result.ladder is None else {
            "time": iso(book.time), "received_at": iso(book.received_at), "best_bid": book.best_bid,
            "best_ask": book.best_ask, "mid": result.ladder.mid, "levels_bid": book.levels_bid,
            "levels_ask": book.levels_ask, "limit": book.limit,
            "may_go_on": result.ladder.may_go_on},
        "market": market_dict(result),
        "algorithms": algo_rows(result),
        "parameters": parameters(result),
        "volume_profile": profile,
        "model": MODEL, "units": UNITS,
        "not_covered": result.not_covered, "notes": result.notes,
        "errors": [f.to_row() for f in result.failures],
    }


CSV_STATS = ("avg_price", "slippage_bps", "cost_usd", "hours", "fills", "saving_usd")
CSV_COLUMNS = ("algo", *(f"{k}{s}" for k in CSV_STATS for s in ("", "_mean", "_p05", "_p95")),
               "saving_share", "slippage_vs_mid_bps", "filled_base", "unfilled_base", "children", "depth")


def csv_text(result: ExecSimResult) -> str:
    """The comparison as CSV: each figure's expectation, mean and 5–95 % interval (USD, bps, hours)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in algo_rows(result):
        flat: dict[str, Any] = {k: row[k] for k in ("algo", "saving_share", "slippage_vs_mid_bps", "filled_base",
                                                   "unfilled_base", "children", "depth")}
        for key in CSV_STATS:
            st = row[key] or {}
            for suffix, name in (("", "expected"), ("_mean", "mean"), ("_p05", "p05"), ("_p95", "p95")):
                flat[key + suffix] = st.get(name)
        writer.writerow({k: ("" if v is None else v) for k, v in flat.items()})
    return buf.getvalue()


# --- tables -------------------------------------------------------------------------------------------------


def _bps(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.2f}"


def _span(st: Stat, fmt: Any) -> str:
    return "" if st.low == st.high else f"{fmt(st.low)} – {fmt(st.high)}"


def _hours(h: float) -> str:
    return "0" if h == 0 else (f"{h * 60:.0f}m" if h < 1 else f"{h:.2f}h".replace(".00h", "h"))


def _row(table: Table, run: AlgoRun, saving: Any) -> None:
    st = run.stats()
    sav = saving.usd if saving is not None else None
    share = f" ({saving.share * 100:+.0f} %)" if saving is not None and saving.share is not None else ""
    table.add_row(run.algo.upper(), price(st["avg_price"].expected), _span(st["avg_price"], price),
                  _bps(st["slippage_bps"].expected), _span(st["slippage_bps"], _bps),
                  usd(st["cost_usd"].expected), _span(st["cost_usd"], usd), _hours(st["hours"].expected),
                  f"{st['fills'].expected:.0f}", "" if sav is None else usd(sav.expected) + share,
                  "" if sav is None else _span(sav, usd), run.note.replace("_", " "),
                  mark="!" if run.note else "")


def view(result: ExecSimResult) -> View:
    """The comparison table, the market order's walk, the venue choice and the parameters."""
    c, book, ladder = result.comparison, result.book, result.ladder
    parts: list[Any] = []
    if c is None or book is None or ladder is None:
        return View(Text(result.empty_line()))
    inst = book.instrument
    size = result.size_base or 0.0
    title = (f"{result.asset} EXECUTION SIMULATION: {result.side} {amount(size)} {result.asset} "
             f"({usd(size * ladder.mid)}) on {inst.venue} {inst.symbol} over {_hours(result.over_hours)} in "
             f"{result.slices} slices, {result.paths:,} paths (seed {result.seed})")
    table = Table(title, [Column("Algo"), Column("Avg price", "right"), Column(RANGE, "right", 4),
                          Column("Slip. bps", "right"), Column(RANGE, "right", 3), Column("Cost", "right"),
                          Column(RANGE, "right", 2), Column("Time", "right", 1), Column("Fills", "right", 1),
                          Column("Saving vs market", "right"), Column(RANGE, "right", 2),
                          Column("Depth", priority=5)])
    for name, run in c.runs.items():
        _row(table, run, c.savings.get(name))
    table.note(f"Expected figures (the model's expectation; the mid is a martingale) with their {RANGE} range "
               f"over the paths; slippage and cost against the arrival mid {price(ladder.mid)}, positive = worse. "
               "Fees not included.")
    parts.append(table)
    m = c.market
    if m.depth == "enough":
        depth = "the book was deep enough"
    elif m.depth == "book_truncated":
        depth = (f"BOOK TRUNCATED: the venue's answer ended after {m.levels_available} levels with "
                 f"{amount(m.unfilled)} {result.asset} unfilled (what rests beyond is unknown)")
    else:
        depth = f"SIDE EXHAUSTED: the venue's whole side held {amount(m.filled)} {result.asset}"
    parts.append(Text(f"Market order: {m.levels} of {m.levels_available} levels, average {price(m.avg_price)}, "
                      f"worst {price(m.worst_price)}, {_bps(m.slippage_bps)} bps vs the mid (= arrival), cost "
                      f"{usd(m.cost_usd)}; {depth}."))
    others = [f"{cand.venue} {usd(lad.within()[1])}" for cand, lad in result.candidates if cand.venue != result.venue]
    parts.append(Text(f"Venue: {inst.venue} {inst.symbol}, {result.choice}"
                      + (f" (others: {', '.join(others)})" if others else "") + "."))
    params = Table("MODEL PARAMETERS", [Column("Parameter"), Column("Value", "right"), Column("Unit", priority=2),
                                        Column("Source", priority=1, wrap=True, min_width=30)])
    for name, p in parameters(result).items():
        if name in ("venue", "symbol"):
            continue
        v = p["value"]
        shown = "n/a" if v is None else (f"{v:.6g}" if isinstance(v, float) else str(v))
        params.add_row(name, shown, p["unit"] or "", p["source"])
    parts.append(params)
    for note in result.notes:
        parts.append(Text(note, style="dim"))
    for o in result.not_covered:
        parts.append(Text(f"{o['venue']}: not covered: {o['reason']}", style="dim"))
    return View(*parts)
