"""Funding analytics (pure): normalization, window averages, history statistics, OI-weighted
average, sentiment, alerts, cross-venue arbitrage and position payments.

Conventions: every rate here is a fraction. ``rate_8h = rate x 8 / interval_hours`` and
``apr = rate x 8760 / interval_hours``; averages are of 8 h-equivalent rates over the settlements
in the window. Never assumes 8 h.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations

from dtrack.records import HOURS_PER_YEAR, FundingHistory, FundingPoint, FundingRate

SENTIMENTS = ("extremely bearish", "strongly bearish", "moderately bearish", "neutral",
              "moderately bullish", "strongly bullish", "extremely bullish")


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryStats:
    """Statistics of 8 h-equivalent rates over a window.

    ``trend_per_day`` is the least-squares slope of the 8 h-equivalent rate (fraction per day);
    ``trend`` labels it rising / falling / flat relative to the spread of the rates.
    """

    count: int
    mean: float | None
    min: float | None
    max: float | None
    last: float | None
    trend_per_day: float | None
    trend: str


# Plain Python (math.fsum: exactly rounded sums) rather than numpy: the series are a few hundred settlements at
# most, built from records one by one either way, and `dtrack funding` then starts without numpy's import (about
# 40 ms, a sixth of an answer from the store).


def _series(points: Sequence[FundingPoint]) -> tuple[list[float], list[float]]:
    """(epoch seconds, 8 h-equivalent rates) of ``points`` in time order (ties keep their order)."""
    pairs = sorted(((p.time.timestamp(), p.rate * 8.0 / p.interval_hours) for p in points), key=lambda x: x[0])
    return [t for t, _ in pairs], [r for _, r in pairs]


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def window_average(points: Sequence[FundingPoint], end: datetime, window: timedelta) -> float | None:
    """Mean 8 h-equivalent rate of the settlements in ``(end - window, end]``, or None if there are none."""
    lo, hi = (end - window).timestamp(), end.timestamp()
    inside = [p.rate * 8.0 / p.interval_hours for p in points if lo < p.time.timestamp() <= hi]
    return _mean(inside) if inside else None


def _slope(x: Sequence[float], y: Sequence[float]) -> float:
    """The least-squares slope of ``y`` against ``x`` (x not all equal)."""
    mx, my = _mean(x), _mean(y)
    return math.fsum((a - mx) * (b - my) for a, b in zip(x, y, strict=True)) / math.fsum((a - mx) ** 2 for a in x)


def history_stats(points: Sequence[FundingPoint]) -> HistoryStats:
    """Mean, min, max, last and trend of the 8 h-equivalent rates of ``points``: the trend is the least-squares
    slope per day, called flat when the move it implies over the span is under half the rates' standard
    deviation."""
    if not points:
        return HistoryStats(count=0, mean=None, min=None, max=None, last=None, trend_per_day=None, trend="n/a")
    t, r = _series(points)
    mean = _mean(r)
    slope: float | None = None
    label = "n/a"
    if len(r) >= 3 and t[-1] > t[0]:
        days = [(x - t[0]) / 86400.0 for x in t]
        slope = _slope(days, r)
        spread = math.sqrt(_mean([(x - mean) ** 2 for x in r]))
        move = slope * days[-1]
        label = "flat" if spread == 0 or abs(move) < 0.5 * spread else ("rising" if move > 0 else "falling")
    return HistoryStats(count=len(r), mean=mean, min=min(r), max=max(r), last=r[-1], trend_per_day=slope, trend=label)


def coverage_note(history: FundingHistory, asked_from: datetime) -> str:
    """The venue's own note, or a note when the history starts later than asked (never silent)."""
    if history.note:
        return history.note
    if not history.points:
        return "no settlements returned for the window"
    first = min(p.time for p in history.points)
    slack = timedelta(hours=max(p.interval_hours for p in history.points) + 1)
    if first > asked_from + slack:
        return f"history starts {first:%Y-%m-%d %H:%M} UTC, later than asked ({asked_from:%Y-%m-%d %H:%M} UTC)"
    return ""


@dataclass(frozen=True, slots=True)
class WeightedRate:
    """OI-weighted 8 h-equivalent rate of an asset; ``weighting`` says how it was weighted."""

    rate_8h: float
    apr: float
    weighting: str
    rows: int


def weighted_rate(rates: Sequence[FundingRate]) -> WeightedRate | None:
    """Open-interest-weighted average of the rows' 8 h-equivalent rates.

    Rows without open interest are left out of the weighting (and the text says so); with no
    open interest at all the average is a plain mean, labelled as such.
    """
    if not rates:
        return None
    weighted = [(x.rate_8h, x.open_interest_usd) for x in rates
                if x.open_interest_usd is not None and x.open_interest_usd > 0]
    if weighted:
        avg = math.fsum(r * w for r, w in weighted) / math.fsum(w for _, w in weighted)
        missing = len(rates) - len(weighted)
        text = "open-interest weighted" + (f" ({missing} row(s) without OI left out)" if missing else "")
        used = len(weighted)
    else:
        avg, text, used = _mean([x.rate_8h for x in rates]), "unweighted mean (no open interest available)", len(rates)
    return WeightedRate(avg, avg * HOURS_PER_YEAR / 8.0, text, used)


def sentiment(rate_8h: float, extreme: float, strong: float, moderate: float) -> str:
    """Label an 8 h-equivalent rate with the configured bands (fractions per 8 h).

    > extreme: extremely bullish; (strong, extreme]: strongly; (moderate, strong]: moderately;
    [-moderate, moderate]: neutral; and the mirror image for negative rates.
    """
    size = abs(rate_8h)
    if size <= moderate:
        return "neutral"
    level = 3 if size > extreme else 2 if size > strong else 1
    return SENTIMENTS[3 + level] if rate_8h > 0 else SENTIMENTS[3 - level]


def is_alert(rate_8h: float, threshold: float | None) -> bool:
    """True when the 8 h-equivalent rate exceeds the threshold (fraction per 8 h) in absolute value."""
    return threshold is not None and abs(rate_8h) > threshold


@dataclass(frozen=True, slots=True, kw_only=True)
class ArbOpportunity:
    """Long one leg, short the other: the orientation that earns more.

    ``spread_8h`` is what the pair earns per 8 h before trading fees: what the short leg receives minus what the
    long leg pays, each leg's funding AND borrow fee where its venue charges one (GMX: ``FundingRate.sides``);
    between two venues without borrow fees that is the higher 8 h-equivalent rate minus the lower (long the lower).
    It is negative when neither orientation earns (two legs paying borrow). ``long_cost_8h`` / ``short_cost_8h``:
    what each leg costs per 8 h (negative = it is paid); ``costs_note`` names the borrow fees counted. ``fees``:
    the round-trip taker fees of both legs (enter and leave, fraction of notional); ``net_apr`` the gross APR less
    the fees amortized over ``holding_days``; ``breakeven_days`` how long the spread takes to pay the fees.
    """

    asset: str
    long: FundingRate
    short: FundingRate
    spread_8h: float
    gross_apr: float
    fees: float
    net_apr: float
    breakeven_days: float | None
    holding_days: float
    simultaneous: bool
    timing_note: str
    long_cost_8h: float = 0.0
    short_cost_8h: float = 0.0
    costs_note: str = ""


def payment_timing(long: FundingRate, short: FundingRate) -> str:
    """Why the two legs' payments are not simultaneous, or "" when they settle together
    (same interval and next settlement within a minute)."""
    continuous = [r.instrument.venue for r in (long, short) if r.next_funding_time is None]
    if continuous:
        verb = "accrues" if len(continuous) == 1 else "accrue"
        return f"payments not simultaneous: {' and '.join(continuous)} {verb} continuously"
    if long.interval_hours != short.interval_hours:
        return (f"payments not simultaneous: long leg settles every {long.interval_hours:g} h, "
                f"short leg every {short.interval_hours:g} h")
    assert long.next_funding_time is not None and short.next_funding_time is not None
    if abs((long.next_funding_time - short.next_funding_time).total_seconds()) > 60:
        return (f"payments not simultaneous: next settlements {long.next_funding_time:%H:%M} and "
                f"{short.next_funding_time:%H:%M} UTC")
    return ""


def _leg_costs(long: FundingRate, short: FundingRate) -> str:
    """Which legs pay a borrow fee beside funding (counted in the pair's costs), or ""."""
    legs = [f"{side} leg ({r.instrument.venue}) pays borrow beside funding"
            for side, r, fee in (("long", long, long.sides.borrow_long if long.sides else 0.0),
                                 ("short", short, short.sides.borrow_short if short.sides else 0.0)) if fee > 0]
    return "; ".join(legs) + ": counted in the spread" if legs else ""


def arbitrage(
    rates: Sequence[FundingRate],
    fees: Mapping[str, float],
    holding_days: float,
    min_spread_8h: float | None = None,
) -> list[ArbOpportunity]:
    """Every cross-venue pair per asset, each in the orientation that earns more, sorted by net APR (best first).

    A leg's cost is its side's funding plus its borrow fee where the venue charges one (``FundingRate.long_cost_8h``,
    ``short_cost_8h``); without borrow fees the pair is long the lower rate, short the higher.
    ``fees``: taker fee per venue (fraction); ``min_spread_8h`` filters on the spread.
    """
    out: list[ArbOpportunity] = []
    by_asset: dict[str, list[FundingRate]] = {}
    for r in rates:
        by_asset.setdefault(r.instrument.asset, []).append(r)
    for asset, rows in by_asset.items():
        for a, b in combinations(rows, 2):
            if a.instrument.venue == b.instrument.venue:
                continue
            a_long = -a.long_cost_8h - b.short_cost_8h  # long a, short b
            b_long = -b.long_cost_8h - a.short_cost_8h
            low, high, spread = (a, b, a_long) if a_long >= b_long else (b, a, b_long)
            if min_spread_8h is not None and spread < min_spread_8h:
                continue
            fee = 2.0 * (fees.get(low.instrument.venue, 0.0) + fees.get(high.instrument.venue, 0.0))
            gross_apr = spread * HOURS_PER_YEAR / 8.0
            net_apr = gross_apr - fee * 365.0 / holding_days
            per_day = spread * 3.0
            breakeven = fee / per_day if per_day > 0 else None
            note = payment_timing(low, high)
            simultaneous = not note
            out.append(ArbOpportunity(asset=asset, long=low, short=high, spread_8h=spread, gross_apr=gross_apr,
                                      fees=fee, net_apr=net_apr, breakeven_days=breakeven, holding_days=holding_days,
                                      simultaneous=simultaneous, timing_note=note, long_cost_8h=low.long_cost_8h,
                                      short_cost_8h=high.short_cost_8h, costs_note=_leg_costs(low, high)))
    out.sort(key=lambda o: o.net_apr, reverse=True)
    return out


@dataclass(frozen=True, slots=True)
class Payment:
    """Expected funding for a position at the current rate, USD (positive = received)."""

    per_interval: float
    per_day: float
    per_30d: float


def position_payment(rate: float, interval_hours: float, notional_usd: float, side: str) -> Payment:
    """Funding a ``side`` (long/short) position of ``notional_usd`` receives at the current rate.

    A positive rate means longs pay shorts.
    """
    sign = -1.0 if side == "long" else 1.0
    per_interval = sign * rate * notional_usd
    per_day = per_interval * 24.0 / interval_hours
    return Payment(per_interval, per_day, per_day * 30.0)


def payment_of(rate: FundingRate, notional_usd: float, side: str) -> Payment:
    """What a ``side`` position of ``notional_usd`` receives at the current terms: ``position_payment`` of the rate,
    or, where the two sides pay differently (``FundingRate.sides``: GMX), minus the side's funding AND borrow fee."""
    if rate.sides is None:
        return position_payment(rate.rate, rate.interval_hours, notional_usd, side)
    cost = rate.sides.cost_long if side == "long" else rate.sides.cost_short
    return position_payment(cost, rate.interval_hours, notional_usd, "long")


@dataclass(frozen=True, slots=True)
class FundingRow:
    """One venue x symbol line of the funding report."""

    rate: FundingRate
    avg_24h_8h: float | None
    avg_7d_8h: float | None
    alert: bool
    stats: HistoryStats | None
    history_note: str
    payment: Payment | None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetSummary:
    """Cross-venue summary of one asset."""

    asset: str
    weighted: WeightedRate | None
    sentiment: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingReport:
    """Everything the funding command shows, before formatting."""

    as_of: datetime
    assets: tuple[str, ...]
    history_window: timedelta
    rows: tuple[FundingRow, ...]
    summary: tuple[AssetSummary, ...]
    arbitrage: tuple[ArbOpportunity, ...] | None
    alert_threshold: float | None
    position: tuple[float, str] | None


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What the user asked of the report. Thresholds are fractions per 8 h."""

    history_window: timedelta
    sentiment_bands: tuple[float, float, float]
    alert_threshold: float | None = None
    arb: bool = False
    min_spread_8h: float | None = None
    fees: Mapping[str, float] | None = None
    holding_days: float = 30.0
    position: tuple[float, str] | None = None


def build_report(
    as_of: datetime,
    assets: Sequence[str],
    rates: Sequence[FundingRate],
    histories: Mapping[tuple[str, str], tuple[Sequence[FundingPoint], str]],
    opts: ReportOptions,
) -> FundingReport:
    """Assemble the funding report from rates and ``{(venue, symbol): (points, note)}`` histories."""
    rows = []
    ordered = sorted(rates, key=lambda r: (assets.index(r.instrument.asset) if r.instrument.asset in assets
                                           else len(assets), r.instrument.venue, r.instrument.symbol))
    for r in ordered:
        key = (r.instrument.venue, r.instrument.symbol)
        points, note = histories.get(key, ((), "no history fetched"))
        in_window = [p for p in points if p.time > as_of - opts.history_window]
        stats = history_stats(in_window) if key in histories else None
        if stats is not None and stats.count == 0 and not note:
            note = f"no settlement in the window (interval {r.interval_hours:g} h)"
        payment = payment_of(r, *opts.position) if opts.position else None
        rows.append(FundingRow(
            rate=r,
            avg_24h_8h=window_average(points, as_of, timedelta(hours=24)),
            avg_7d_8h=window_average(points, as_of, timedelta(days=7)),
            alert=is_alert(r.rate_8h, opts.alert_threshold),
            stats=stats,
            history_note=note,
            payment=payment,
        ))
    summary = []
    for asset in assets:
        weighted = weighted_rate([r for r in rates if r.instrument.asset == asset])
        label = sentiment(weighted.rate_8h, *opts.sentiment_bands) if weighted else "n/a"
        summary.append(AssetSummary(asset=asset, weighted=weighted, sentiment=label))
    arb = None
    if opts.arb:
        arb = tuple(arbitrage(rates, opts.fees or {}, opts.holding_days, opts.min_spread_8h))
    return FundingReport(as_of=as_of, assets=tuple(assets), history_window=opts.history_window, rows=tuple(rows),
                         summary=tuple(summary), arbitrage=arb, alert_threshold=opts.alert_threshold,
                         position=opts.position)
