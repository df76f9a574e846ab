"""Renders ``dtrack vol``: JSON (one object: the assets, the rolling series, the regimes' parameters), CSV (one row
per asset) and terminal tables (``report.table``). Volatilities are fractions in JSON (0.55 = 55 %), percent in
tables."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from dtrack.analytics.volatility import (
    METHOD_NAMES,
    REGIMES,
    AssetVol,
    Bands,
    ImpliedVol,
    RegimeParams,
    VolAnalysis,
    VolParams,
    classify,
    regime_index,
    regime_table,
)
from dtrack.report.format import iso, num
from dtrack.report.table import Column, Table, Text, View
from dtrack.results import VolResult

UNITS = {
    "volatility": "annualized (365 days) standard deviation of log returns, fraction (0.55 = 55 %)",
    "leverage": "multiple of equity: target volatility / realized, capped at the regime's max_leverage",
    "iv_rv_spread": "implied minus realized volatility (primary estimator), fraction",
    "regime_parameters": "position_size, stop_loss, take_profit and cash are fractions (seed 004 heuristics)",
    "times": "bar open times, ISO-8601 UTC; a rolling value covers the window ending with that bar",
}


def _ms(t: int) -> datetime:
    return datetime.fromtimestamp(t / 1000, UTC)


def params_dict(p: VolParams) -> dict[str, Any]:
    """What was asked, with the settings in force."""
    return {"methods": list(p.methods), "primary": p.methods[0], "bars": p.bars, "period_seconds": p.period_seconds,
            "window_bars": p.window_bars, "window_days": p.window.total_seconds() / 86400,
            "periods_per_year": p.per_year, "rolling_days": p.rolling.total_seconds() / 86400,
            "target_vol": p.target,
            "bands": {"low_max": p.bands.low_max, "medium_max": p.bands.medium_max, "high_max": p.bands.high_max},
            "max_leverage": dict(p.caps)}


def implied_dict(iv: ImpliedVol) -> dict[str, Any]:
    """An implied volatility or why there is none (``available`` false, ``reason``)."""
    return {"available": iv.value is not None, "value": num(iv.value) if iv.value is not None else None,
            "venue": iv.venue, "time": iso(iv.time), "label": iv.label, "reason": iv.reason or None}


def _leverage(a: VolAnalysis, target: float) -> dict[str, Any]:
    lev = a.leverage
    return {"leverage": lev.leverage, "uncapped": lev.raw, "cap": lev.cap, "capped": lev.capped, "target_vol": target}


def asset_dict(a: AssetVol, params: VolParams) -> dict[str, Any]:
    """One asset's figures as a JSON-able dict (estimates null where no venue served enough klines)."""
    an = a.analysis
    return {
        "asset": a.asset, "venue": a.venue, "symbol": a.symbol, "choice": a.choice or None, "bars": a.bars,
        "period_seconds": a.period_seconds, "bar_count": a.count, "first_bar": iso(a.first), "last_bar": iso(a.last),
        "window_bars": params.window_bars,
        "realized": {m: (num(an.current[m]) if an is not None else None) for m in params.methods},
        "primary": params.methods[0],
        "rv": num(an.current[an.primary]) if an is not None else None,
        "regime": an.regime if an is not None else None,
        "leverage": _leverage(an, params.target) if an is not None else None,
        "transitions": [{"time": iso(_ms(t.time_ms)), "from": t.from_regime, "to": t.to_regime, "vol": t.vol}
                        for t in an.transitions] if an is not None else [],
        "dvol": implied_dict(a.dvol), "atm_iv_30d": implied_dict(a.atm_iv),
        "iv_rv_spread": num(a.spread) if a.spread is not None else None, "spread_basis": a.spread_basis,
        "notes": list(a.notes),
    }


def rolling_rows(a: AssetVol, bands: Bands) -> list[dict[str, Any]]:
    """The rolling series of one asset: per bar, every method's value over the window ending there and the
    primary method's regime."""
    an = a.analysis
    if an is None:
        return []
    idx = regime_index(an.rolling[an.primary], bands)
    cols = {m: an.rolling[m].tolist() for m in an.methods}
    return [{"asset": a.asset, "time": iso(_ms(int(t))), **{m: cols[m][i] for m in an.methods},
             "regime": REGIMES[int(idx[i])]} for i, t in enumerate(an.rolling_time_ms.tolist())]


def regime_dict(r: RegimeParams, current: Sequence[str]) -> dict[str, Any]:
    """One regime's parameters (percent figures as fractions); ``assets``: the assets in it now."""
    return {"regime": r.regime, "vol_from": r.vol_from, "vol_to": r.vol_to, "max_leverage": r.max_leverage,
            "position_size": r.position_size_pct / 100, "stop_loss": r.stop_loss_pct / 100,
            "take_profit": r.take_profit_pct / 100, "cash": r.cash_pct / 100, "strategy": r.strategy,
            "assets": list(current)}


def _table_of(result: VolResult) -> tuple[RegimeParams, ...]:
    return regime_table(result.params.bands, result.params.caps)


def to_json(result: VolResult) -> dict[str, Any]:
    """The document of ``dtrack vol --format json``."""
    p = result.params
    in_regime = {r: [a.asset for a in result.assets if a.analysis is not None and a.analysis.regime == r]
                 for r in REGIMES}
    return {
        "as_of": iso(result.as_of), "units": UNITS, "params": params_dict(p),
        "assets": [asset_dict(a, p) for a in result.assets],
        "rolling": [row for a in result.assets for row in rolling_rows(a, p.bands)],
        "regimes": [regime_dict(r, in_regime[r.regime]) for r in _table_of(result)],
        "errors": [f.to_row() for f in result.failures],
    }


CSV_FIELDS = ("asset", "venue", "symbol", "bars", "window_bars", "last_bar", "cc", "parkinson", "gk", "rs", "yz",
              "primary", "rv", "regime", "leverage", "leverage_cap", "dvol", "atm_iv_30d", "iv_rv_spread",
              "spread_basis", "time")


def to_csv(result: VolResult) -> str:
    """One row per asset: every estimate asked (empty where not asked), regime, leverage, implied, spread."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for a in result.assets:
        d = asset_dict(a, result.params)
        row = {**d, **d["realized"], "last_bar": d["last_bar"],
               "leverage": d["leverage"]["leverage"] if d["leverage"] else None,
               "leverage_cap": d["leverage"]["cap"] if d["leverage"] else None,
               "dvol": d["dvol"]["value"], "atm_iv_30d": d["atm_iv_30d"]["value"], "time": iso(result.as_of)}
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()


# --- the terminal view -----------------------------------------------------------------------------------------


def _pc(x: float | None, digits: int = 1) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x * 100:.{digits}f}%"


def _band(lo: float, hi: float | None) -> str:
    return f"> {lo * 100:g}%" if hi is None else f"{lo * 100:g}-{hi * 100:g}%"


def _implied_line(name: str, iv: ImpliedVol) -> str:
    if iv.value is None:
        return f"{name}: not available ({iv.reason})"
    when = f", {iv.time:%Y-%m-%d %H:%M} UTC" if iv.time is not None else ""
    return f"{name}: {_pc(iv.value)} ({iv.label}{when})"


def _asset_view(a: AssetVol, p: VolParams) -> View:
    from dtrack.report.dashboard import spark

    view = View()
    an = a.analysis
    span = f"{p.window_bars} {p.bars} bars ({p.window.total_seconds() / 86400:g} days)"
    if an is None or a.first is None or a.last is None:
        view.add(Text(f"{a.asset}: no volatility ({'; '.join(a.notes) or 'no klines'})", style="bold"))
        return view
    view.add(Text(f"{a.asset}  {a.venue} {a.symbol}  {a.count} closed {a.bars} bars, {a.first:%Y-%m-%d %H:%M} to "
                  f"{a.last:%Y-%m-%d %H:%M} UTC (open times)", style="bold"))
    if a.choice:
        view.add(Text(f"Klines: {a.choice}", style="dim"))
    table = Table(f"{a.asset} REALIZED VOLATILITY (annualized, last {span})", [
        Column("Estimator"), Column("Volatility", "right"), Column("Regime", priority=2),
        Column(f"Range over {p.rolling.days} d", "right", 3), Column("Rolling", priority=4)])
    bands = p.bands
    for m in an.methods:
        series = an.rolling[m]
        vol = an.current[m]
        label = METHOD_NAMES[m] + (" *" if m == an.primary else "")
        tail = series[-min(len(series), 60):].tolist()
        table.add_row(label, _pc(vol), classify(vol, bands), f"{_pc(float(series.min()))}-{_pc(float(series.max()))}",
                      spark(tail))
    table.note(f"* drives the regime and leverage. Rolling: the last {min(len(an.rolling[an.primary]), 60)} "
               f"windows, one per bar.", style="dim")
    view.add(table)
    lev = an.leverage
    cap = f"capped at {lev.cap:g}x, the {an.regime} regime's maximum" if lev.capped else \
        f"under the {an.regime} cap of {lev.cap:g}x"
    view.add(Text(f"Regime: {an.regime.upper()} ({METHOD_NAMES[an.primary]} {_pc(an.current[an.primary])}; band "
                  f"{_band(*bands.range_of(an.regime))})   Adaptive leverage: {lev.leverage:.2f}x (target "
                  f"{_pc(p.target, 0)} / {_pc(an.current[an.primary])} = {lev.raw:.2f}x, {cap})"))
    view.add(Text(_implied_line("DVOL", a.dvol)))
    view.add(Text(_implied_line("ATM IV 30d", a.atm_iv)))
    if a.spread is not None:
        basis = "DVOL" if a.spread_basis == "dvol" else "ATM IV 30d"
        view.add(Text(f"IV - RV: {a.spread * 100:+.1f} vol points ({basis} - {METHOD_NAMES[an.primary]} "
                      f"{_pc(an.current[an.primary])})"))
    else:
        view.add(Text("IV - RV: not available (no implied volatility)"))
    if an.transitions:
        tr = Table(f"{a.asset} REGIME TRANSITIONS ({METHOD_NAMES[an.primary]}, rolling {span})", [
            Column("Bar (UTC)"), Column("From"), Column("To"), Column("Volatility", "right")])
        for t in an.transitions[-12:]:
            tr.add_row(f"{_ms(t.time_ms):%Y-%m-%d %H:%M}", t.from_regime, t.to_regime, _pc(t.vol))
        if len(an.transitions) > 12:
            tr.note(f"the last 12 of {len(an.transitions)} (all in --format json)", style="dim")
        view.add(tr)
    else:
        view.add(Text(f"No regime transition in the rolling series ({len(an.rolling[an.primary])} windows).",
                      style="dim"))
    view.add(*(Text(f"note: {n}", style="dim") for n in a.notes))
    view.add(Text(""))
    return view


def render_table(result: VolResult) -> View:
    """Per asset: the estimates, regime, leverage, implied volatility and transitions; then the regime table."""
    view = View()
    for a in result.assets:
        view.add(_asset_view(a, result.params))
    current = {a.analysis.regime for a in result.assets if a.analysis is not None}
    table = Table("REGIME PARAMETERS (bands and max leverage: settings vol; the rest: seed 004)", [
        Column("Regime"), Column("Volatility", "right"), Column("Max lev.", "right"), Column("Size", "right", 2),
        Column("Stop", "right", 2), Column("Take profit", "right", 3), Column("Cash", "right", 3),
        Column("Strategy", priority=4, wrap=True)])
    for r in _table_of(result):
        table.add_row(r.regime + (" <" if r.regime in current else ""), _band(r.vol_from, r.vol_to),
                      f"{r.max_leverage:g}x", f"{r.position_size_pct:g}%", f"{r.stop_loss_pct:g}%",
                      f"{r.take_profit_pct:g}%", f"{r.cash_pct:g}%", r.strategy)
    table.note("< a regime an asset is in now", style="dim")
    view.add(table)
    return view
