"""The dashboard's signals and risk assessment, and the series behind its sparklines (pure, no numpy).

Inputs are the dashboard's per-asset panels (plain dicts cut from the other queries' JSON documents: fractions,
USD), so each signal carries exactly the numbers those queries printed. Every signal is
``{signal, label, level, numbers}``: ``level`` is ``info`` (a reading), ``watch`` (outside the usual) or
``warning`` (beyond a threshold named in ``numbers``).

Thresholds, stated once (the funding bands and IV-rank bands come from settings):
- funding sentiment: ``warning`` beyond the ``extreme`` band (0.08 % per 8 h), ``watch`` beyond ``strong`` (0.03 %);
- funding extremes: ``warning`` when a perpetual's 8 h-equivalent rate is beyond ``extreme``;
- OI change: ``warning`` beyond 15 % in 24 h (seed 001 ``oi_change_large``);
- OI/price divergence: ``watch`` for any classified move, ``warning`` at confidence >= 2/3;
- positioning: ``warning`` when the long share of accounts is above 65 % or below 35 % (crowded; dtrack's choice);
- IV rank: ``watch`` above ``rank_high`` (expensive) or below ``rank_low`` (cheap); IV-RV: ``watch`` when implied
  volatility is below realized (options cheap against what the market does);
- cascade risk: the estimated liquidation map's own level (``critical``/``high``: ``warning``; ``medium``: ``watch``).

Risk: each factor is flagged or not against its threshold (unknown inputs are not flagged, and say so); the level
is how many are flagged: 0 ``low``, 1 ``moderate``, 2 ``elevated``, 3 or more ``high``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: seed 001: an open-interest change beyond this in 24 h is large
OI_CHANGE_LARGE = 0.15
#: long share of accounts beyond which positioning is crowded (either way)
CROWDED_LONG_SHARE = 0.65
#: confidence of a divergence from which it is a warning (a risk factor from 1/3: both moves clear their thresholds)
DIVERGENCE_WARNING = 2.0 / 3.0
DIVERGENCE_FACTOR = 1.0 / 3.0
#: divergence signals that read as risk (positions being forced or built against the price)
RISKY_DIVERGENCE = ("bearish", "long_liquidation", "short_squeeze")
RISK_LEVELS = ("low", "moderate", "elevated", "high")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Bands from settings: funding sentiment (fractions per 8 h) and IV rank (fractions)."""

    sentiment_extreme: float = 0.0008
    sentiment_strong: float = 0.0003
    rank_high: float = 0.8
    rank_low: float = 0.2


def _signal(name: str, label: str | None, level: str, /, **numbers: Any) -> dict[str, Any]:
    return {"signal": name, "label": label, "level": level, "numbers": numbers}


def signals(row: Mapping[str, Any], extra: Mapping[str, Any], th: Thresholds) -> list[dict[str, Any]]:
    """The level-3 signals of one asset, in the dashboard's order, each with the numbers behind it. ``row`` holds the
    asset's panels; ``extra`` the divergence aggregate (``divergence``), its best arbitrage pairs (``arbitrage``) and
    carry trades (``carry``), and the liquidation map's cascade risk (``cascade``)."""
    out: list[dict[str, Any]] = []
    funding = row.get("funding") or {}
    w = funding.get("weighted_rate_8h")
    level = "info"
    if w is not None:
        level = "warning" if abs(w) > th.sentiment_extreme else "watch" if abs(w) > th.sentiment_strong else "info"
    out.append(_signal("funding_sentiment", funding.get("sentiment_label"), level, weighted_rate_8h=w,
                       apr=funding.get("apr"), strong_8h=th.sentiment_strong, extreme_8h=th.sentiment_extreme))
    rates = [r for r in funding.get("rates") or [] if r.get("rate_8h") is not None]
    if rates:
        high = max(rates, key=lambda r: r["rate_8h"])
        low = min(rates, key=lambda r: r["rate_8h"])
        beyond = sum(1 for r in rates if abs(r["rate_8h"]) > th.sentiment_extreme)
        out.append(_signal("funding_extremes", f"{beyond} perpetual(s) beyond the extreme band" if beyond
                           else "every perpetual within the extreme band", "warning" if beyond else "info",
                           high_venue=high["venue"], high_symbol=high["symbol"], high_rate_8h=high["rate_8h"],
                           low_venue=low["venue"], low_symbol=low["symbol"], low_rate_8h=low["rate_8h"],
                           spread_8h=high["rate_8h"] - low["rate_8h"], beyond_extreme=beyond,
                           extreme_8h=th.sentiment_extreme))
    oi = row.get("open_interest") or {}
    change = oi.get("change_24h")
    out.append(_signal("oi_change", None if change is None else "large" if abs(change) > OI_CHANGE_LARGE else "usual",
                       "warning" if change is not None and abs(change) > OI_CHANGE_LARGE else "info",
                       change_24h=change, change_7d=oi.get("change_7d"), threshold=OI_CHANGE_LARGE))
    div = extra.get("divergence")
    if div is not None:
        token, conf = div.get("signal"), div.get("confidence") or 0.0
        level = ("info" if token in (None, "neutral") else "warning" if conf >= DIVERGENCE_WARNING else "watch")
        out.append(_signal("oi_price_divergence", div.get("label") or "n/a", level, window=div.get("window"),
                           oi_change=div.get("oi_change"), price_change=div.get("price_change"), signal=token,
                           confidence=div.get("confidence")))
    ls = oi.get("long_short")
    if ls is not None and ls.get("long_share") is not None:
        share = ls["long_share"]
        crowded = share > CROWDED_LONG_SHARE or share < 1 - CROWDED_LONG_SHARE
        out.append(_signal("positioning", ("crowded long" if share > 0.5 else "crowded short") if crowded
                           else "balanced", "warning" if crowded else "info", venue=ls["venue"],
                           definition=ls["definition"], ratio=ls["ratio"], long_share=share,
                           crowded_above=CROWDED_LONG_SHARE))
    cascade = extra.get("cascade") or {}
    if cascade.get("status") == "ok":
        lvl = str(cascade.get("level") or cascade.get("risk") or "").lower()
        out.append(_signal("cascade_risk", lvl or None, "warning" if lvl in ("critical", "high")
                           else "watch" if lvl == "medium" else "info",
                           **{k: v for k, v in cascade.items() if k not in ("status", "note", "asset")}))
    else:
        out.append(_signal("cascade_risk", None, "info", note=cascade.get("note") or "not available"))
    opt = row.get("options") or {}
    if opt:
        interp = opt.get("interpretation")
        out.append(_signal("iv_rank", interp, "watch" if interp in ("expensive", "cheap") else "info",
                           iv_rank=opt.get("iv_rank"), iv_percentile=opt.get("iv_percentile"), dvol=opt.get("dvol"),
                           rank_high=th.rank_high, rank_low=th.rank_low))
        spread = opt.get("iv_rv_spread")
        out.append(_signal("iv_rv", None if spread is None else "iv above rv" if spread >= 0 else "iv below rv",
                           "watch" if spread is not None and spread < 0 else "info", iv_rv_spread=spread,
                           rv_30d=opt.get("rv_30d"), iv=opt.get("dvol") if opt.get("dvol") is not None
                           else opt.get("atm_iv")))
    carry = extra.get("carry") or []
    if carry:
        c = carry[0]
        out.append(_signal("best_carry", c.get("strategy_label"), "info", venue=c["venue"], instrument=c["instrument"],
                           strategy=c["strategy"], net_yield=c["net_yield"], gross_yield=c["gross_yield"],
                           fees=c["fees"], days=c["days"]))
    else:
        out.append(_signal("best_carry", "no carry trade earns more than its fees", "info"))
    pairs = extra.get("arbitrage") or []
    if pairs:
        p = pairs[0]
        out.append(_signal("funding_arbitrage", "simultaneous" if p["simultaneous"] else "not simultaneous", "info",
                           long_venue=p["long_venue"], long_symbol=p["long_symbol"], short_venue=p["short_venue"],
                           short_symbol=p["short_symbol"], spread_8h=p["spread_8h"], net_apr=p["net_apr"],
                           breakeven_days=p["breakeven_days"]))
    else:
        out.append(_signal("funding_arbitrage", "no cross-venue pair", "info"))
    return out


def _factor(factor: str, value: float | None, threshold: float, flagged: bool, **more: Any) -> dict[str, Any]:
    return {"factor": factor, "value": value, "threshold": threshold, "flagged": bool(flagged and value is not None),
            "known": value is not None, **more}


def risk(row: Mapping[str, Any], extra: Mapping[str, Any], th: Thresholds) -> dict[str, Any]:
    """The asset's risk assessment: each factor against its threshold, and the level from how many are flagged."""
    funding = row.get("funding") or {}
    oi = row.get("open_interest") or {}
    opt = row.get("options") or {}
    w = funding.get("weighted_rate_8h")
    change = oi.get("change_24h")
    ls = (oi.get("long_short") or {}).get("long_share")
    div = extra.get("divergence") or {}
    rank = opt.get("iv_rank")
    cascade = extra.get("cascade") or {}
    lvl = str(cascade.get("level") or cascade.get("risk") or "").lower() if cascade.get("status") == "ok" else None
    factors = [
        _factor("funding_extreme", abs(w) if w is not None else None, th.sentiment_strong,
                w is not None and abs(w) > th.sentiment_strong),
        _factor("oi_change_large", abs(change) if change is not None else None, OI_CHANGE_LARGE,
                change is not None and abs(change) > OI_CHANGE_LARGE),
        _factor("divergence", div.get("confidence") if div.get("signal") not in (None,) else None, DIVERGENCE_FACTOR,
                div.get("signal") in RISKY_DIVERGENCE and (div.get("confidence") or 0.0) >= DIVERGENCE_FACTOR,
                signal=div.get("signal")),
        _factor("crowded_positioning", abs(ls - 0.5) if ls is not None else None, CROWDED_LONG_SHARE - 0.5,
                ls is not None and abs(ls - 0.5) > CROWDED_LONG_SHARE - 0.5),
        _factor("options_expensive", rank, th.rank_high, rank is not None and rank > th.rank_high),
        _factor("cascade", None if lvl is None else float(lvl in ("high", "critical")), 1.0,
                lvl in ("high", "critical"), cascade_level=lvl),
    ]
    score = sum(1 for f in factors if f["flagged"])
    return {"level": RISK_LEVELS[min(score, 3)], "score": score, "factors": factors}


# --- sparkline series ------------------------------------------------------------------------------------------------


def downsample(points: Sequence[tuple[datetime, float]], n: int) -> dict[str, Any]:
    """A series of (time, value) as at most ``n`` values for a sparkline: the span from the first to the last time
    cut into ``n`` equal buckets, each the last value in it (empty buckets left out); with the series' count, first
    and last time, minimum and maximum (of all points)."""
    ordered = sorted(points, key=lambda p: p[0])
    first, last = ordered[0][0], ordered[-1][0]
    span = (last - first).total_seconds() or 1.0
    buckets: dict[int, float] = {}
    for t, v in ordered:
        buckets[min(int((t - first).total_seconds() / span * n), n - 1)] = v
    values = [buckets[k] for k in sorted(buckets)]
    return {"points": len(ordered), "first": first, "last": last, "min": min(v for _, v in ordered),
            "max": max(v for _, v in ordered), "values": values}


def total_series(points: Sequence[tuple[datetime, str, str, float]]) -> list[tuple[datetime, float]]:
    """The sum of several series (``(time, venue, symbol, value)``) per hour: each series' last value in the hour,
    carried forward; summed from the first hour every series has a value (so no series entering late reads as a
    jump)."""
    hourly: dict[tuple[str, str], dict[datetime, float]] = {}
    for t, venue, symbol, v in sorted(points, key=lambda p: p[0]):
        hour = t.replace(minute=0, second=0, microsecond=0)
        hourly.setdefault((venue, symbol), {})[hour] = v
    if not hourly:
        return []
    start = max(min(s) for s in hourly.values())
    hours = sorted({h for s in hourly.values() for h in s if h >= start})
    out: list[tuple[datetime, float]] = []
    last: dict[tuple[str, str], float] = {k: s[max(h for h in s if h <= start)] for k, s in hourly.items()}
    for h in hours:
        for k, s in hourly.items():
            if h in s:
                last[k] = s[h]
        out.append((h, sum(last.values())))
    return out
