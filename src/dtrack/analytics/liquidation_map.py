"""Estimated liquidation levels (the liquidation map, or heatmap) and the scoring of the estimate. Pure, numpy.

THIS IS AN ESTIMATE. No venue publishes where its traders' positions would be liquidated; the map is a model of
where leveraged positions opened in the last ``window`` would be, from public open interest and prices. Every
output says so (``estimate: true``, the method's name, version and parameters).

The method (``oi-delta``, version ``METHOD_VERSION``), per contract (one venue's perpetual of the asset), on its
hourly bars (open-interest history in coins, aligned with the contract's klines, close, high and low, at the same
times; a kline hour the open-interest history lacks merges into the next bar, ``align``):

1. Positions opened. Where open interest rose from one bar to the next (``ΔOI > 0``), ``ΔOI`` coins were opened
   during that bar, at its typical price ``(high + low + close) / 3``. A bar's high and low (``MapParams.bar_range``
   ``high-low``, the default) are the kline's own, widened to the previous close where that lies outside them (the
   bar's path starts there): ``max``/``min`` of (high, low, close, previous close). Where the kline's high and low
   are not known (rows the store kept before it kept them, a period whose klines were not all read), and for every
   bar under ``bar_range`` ``closes`` (the method before highs and lows were kept), they are those of the path
   between its two closes (``max``/``min`` of the previous and this close: a lower bound of the bar's true range);
   the map names the contracts with such bars. Positions opened before the window are not in the map (their entry
   prices are unknown).
2. Long or short. Every contract has a long and a short holder; the map counts the leveraged side of each new
   position: ``ΔOI × long_share`` as longs and ``ΔOI × (1 − long_share)`` as shorts, with ``long_share`` the
   venue's published long/short share (``LongShortRatio``: its positions statistic where it has one, else its
   accounts statistic) or, where the venue publishes none, a stated 50/50.
3. Leverage. Each side is spread over a leverage mix (settings ``liquidation_map.leverage``; default the seed's
   2x 5 %, 3x 13 %, 5x 25 %, 10x 25 %, 20x 15 %, 25x 10 %, 50x 5 %, 100x 2 %). A leverage the venue cannot carry
   at its maintenance rate (``1/L <= mmr``: the liquidation price would not be below the entry) is dropped and the
   remaining weights rescaled.
4. Liquidation price of a cohort entered at ``E`` with leverage ``L`` and maintenance-margin rate ``m`` (isolated,
   one-way, margin ``E/L`` per coin, no maintenance deduction; research notes §2.2, the Binance USDⓈ-M formula
   with ``cum = 0``): long ``E (1 − 1/L) / (1 − m)``, short ``E (1 + 1/L) / (1 + m)``. ``m`` is, for a map made
   from the venues, each contract's own margin tiers (``MapParams.tiered``; ``dtrack.analytics.liqprice.tier_rule``:
   the rate of the lowest tier allowing the leverage, a leverage no tier allows dropped), and where a contract's
   tiers could not be read, or for a map made from the store (which keeps no tiers), a flat rate per venue
   (settings ``liquidation_map.maintenance_rate_pct``; ``VENUE_MAINTENANCE`` by default: each venue's first BTC
   tier). ``MaintenanceRule`` is the hook: any callable ``(venue, symbol, leverages) -> rates``.
5. Consumed. A cohort is removed once price has traded through its level after the bar it was opened in: a long
   when a later bar's low is at or below its liquidation price, a short when a later high is at or above it (the
   highs and lows of step 1: a level only a wick reached is consumed where the klines carry their wicks, kept where
   only closes are known); and, at the end, a long whose level is at or above the current price (a short at or
   below it).
6. Closed. Where open interest fell (``OI_t < OI_{t-1}``), the same fraction ``1 − OI_t / OI_{t-1}`` of every
   cohort still open is removed (positions close pro rata).
7. Binned. What remains, in USD at each cohort's liquidation price (coins × liquidation price: what a venue would
   report as liquidated), is summed in ``bins`` equal bins over ``±range`` around the current price: half the bins
   below (longs), half above (shorts). ``distance`` is the bin's middle against the current price, a fraction.

Density labels: each bin against the map's own distribution: the median USD of its non-empty bins (both sides);
``critical`` at ``density_critical`` × that median or more, ``high_density`` at ``density_high`` × (defaults 4
and 2). A flat map has no label; one bin standing out has.

Cascade risk, each with its inputs:
- bands (seed 000): estimated USD within 5 % of the price, both sides: ``critical`` above $500M, ``high`` from
  $200M, ``medium`` from $100M, else ``low``; the seed's thresholds are for BTC with $18.5B of open interest
  (seed 002's dashboard), so they are scaled by the asset's open interest / ``reference_oi_usd``
  (settings ``liquidation_map.cascade_reference_oi_usd``, default 18.5e9);
- ratio (seed 004): estimated USD within 10 % / 24 h volume: ``extreme`` above 0.5, ``high`` above 0.25,
  ``elevated`` above 0.10, else ``normal`` (null when the 24 h volume is not known). The volume is the sum of the
  rolling 24 h traded volume (USD, one side) of the contracts the map is made of, as their venues publish it
  (``PriceQuote.volume_24h_usd``); contracts whose volume is unknown are named, and the ratio is then an upper
  bound (their liquidations are in the numerator, their volume is not in the denominator).

Scoring (``score_estimates``): an estimate frozen at ``t0`` (the collector stores one hourly) is compared with the
liquidations recorded in ``(t0, t0 + horizon]``, over the bins price traversed in that window (from the klines'
closes only, not their highs and lows: the kline holding ``t0`` may have made its extreme before ``t0``; starting
at the price at ``t0``: a long bin counts once price came down to its upper edge, a short bin once price rose to
its lower edge; a bin never reached is "not tested", not a miss). Realized liquidations are
binned the same way by their side (the position side) and the price the venue sent. Over every (estimate,
traversed bin) pair pooled: Spearman's rank correlation between estimated and realized USD, and the share of the
realized USD that falls in each estimate's ``top_k`` traversed bins by estimated USD; the same for a naive
baseline, the "leverage ladder" (``ladder_baseline``): all open interest assumed opened at the price at ``t0``,
spread over the map's own leverage mix and maintenance rates (steps 3 and 4, the same ``MapParams``: leverages a
venue cannot carry dropped), each of the estimate's venues weighted equally; a bin's weight is the share of that
ladder whose liquidation price falls in it (longs below, shorts above), so most bins weigh 0 (a tie). It knows
the method's published parameters and the distance from the price at ``t0``, nothing of the market's history
(no open interest, no price path): what the map adds over it is the history.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

METHOD_NAME = "oi-delta"
METHOD_VERSION = 1
HOUR_MS = 3_600_000

#: the seed's leverage mix (seed 004 §26.P.6): leverage -> share of the positions
DEFAULT_LEVERAGE: Mapping[float, float] = {100.0: 0.02, 50.0: 0.05, 25.0: 0.10, 20.0: 0.15, 10.0: 0.25, 5.0: 0.25,
                                           3.0: 0.13, 2.0: 0.05}
#: each venue's flat maintenance-margin rate (fraction): its first BTC tier (research notes §2.1: Binance and OKX
#: 0.4 %, Bybit 0.5 %, Deribit 1 % + size, Hyperliquid half the initial margin at 40x, dYdX v4 MMF 3 %)
VENUE_MAINTENANCE: Mapping[str, float] = {"binance": 0.004, "okx": 0.004, "bybit": 0.005, "deribit": 0.01,
                                          "hyperliquid": 0.0125, "dydx": 0.03}
#: the rate of a venue not named anywhere (the seed's 0.5 %)
DEFAULT_MAINTENANCE = 0.005
#: how a bar's high and low are read (step 1 of the module doc): the klines' own where they carry them (else the
#: path between closes), or the path between closes only (the method before kline highs and lows were kept)
BAR_RANGES = ("high-low", "closes")
HIGH_LOW_TEXT = "kline high/low where the klines carry them, else the path between closes"
#: the seed-000 cascade bands: (level, lower edge in USD of estimated liquidations within 5 %), for BTC ...
CASCADE_BANDS: tuple[tuple[str, float], ...] = (("critical", 500e6), ("high", 200e6), ("medium", 100e6))
#: ... with this much open interest (seed 002: "Total OI: $18.5B")
CASCADE_REFERENCE_OI = 18.5e9
CASCADE_NEAR = 0.05
#: the seed-004 ratio: (level, exclusive lower edge of near-price liquidations / 24 h volume)
CASCADE_RATIO: tuple[tuple[str, float], ...] = (("extreme", 0.5), ("high", 0.25), ("elevated", 0.10))
RATIO_NEAR = 0.10

#: (venue, symbol, leverages) -> the maintenance-margin rate of each leverage (fractions): the tier hook
MaintenanceRule = Callable[[str, str, FloatArray], FloatArray]


def flat_maintenance(rates: Mapping[str, float] | None = None, default: float = DEFAULT_MAINTENANCE
                     ) -> MaintenanceRule:
    """A ``MaintenanceRule`` of one flat rate per venue: ``rates`` over ``VENUE_MAINTENANCE``, else ``default``.
    (A tiered rule would pick, for each leverage, the rate of the lowest tier that allows it.)"""
    table = {**VENUE_MAINTENANCE, **(rates or {})}

    def rule(venue: str, symbol: str, leverage: FloatArray) -> FloatArray:
        return np.full(leverage.shape, table.get(venue, default), dtype=np.float64)

    return rule


def maintenance_table(rates: Mapping[str, float] | None = None) -> dict[str, float]:
    """The flat rates in force per venue (the built-in ones with ``rates`` over them)."""
    return {**VENUE_MAINTENANCE, **(rates or {})}


@dataclass(frozen=True, slots=True)
class MapParams:
    """The estimator's parameters (``method_id`` hashes them: estimates of different parameters are never
    compared as one). ``range`` is a fraction (0.10 = ±10 %), ``bins`` the total number of bins (even)."""

    leverage: Mapping[float, float] = field(default_factory=lambda: dict(DEFAULT_LEVERAGE))
    maintenance: Mapping[str, float] = field(default_factory=dict)
    default_maintenance: float = DEFAULT_MAINTENANCE
    window_hours: int = 30 * 24
    range: float = 0.10
    bins: int = 50
    density_high: float = 2.0
    density_critical: float = 4.0
    reference_oi_usd: float = CASCADE_REFERENCE_OI
    #: maintenance from each contract's margin tiers (flat rates where a contract has none): another method id
    tiered: bool = False
    #: a bar's high and low (``BAR_RANGES``): ``high-low`` the klines' where they carry them, else the path between
    #: closes; ``closes`` that path only (the id of the estimates made before highs and lows were kept)
    bar_range: str = "high-low"

    def __post_init__(self) -> None:
        if self.bar_range not in BAR_RANGES:
            raise ValueError(f"bar_range must be one of {', '.join(BAR_RANGES)}, got {self.bar_range!r}")
        if self.bins < 2 or self.bins % 2:
            raise ValueError(f"bins must be an even number >= 2 (half below the price, half above), got {self.bins}")
        if not 0 < self.range < 1:
            raise ValueError(f"range must be a fraction in (0, 1), got {self.range}")
        if not self.leverage or any(k <= 1 or w < 0 for k, w in self.leverage.items()) \
                or sum(self.leverage.values()) <= 0:
            raise ValueError("leverage: a mix of leverages > 1 with weights >= 0 that sum to more than 0")

    def weights(self) -> tuple[FloatArray, FloatArray]:
        """(leverages ascending, their weights normalized to 1)."""
        lev = np.array(sorted(self.leverage), dtype=np.float64)
        w = np.array([self.leverage[k] for k in sorted(self.leverage)], dtype=np.float64)
        return lev, w / w.sum()

    def rule(self) -> MaintenanceRule:
        """The flat maintenance rule these parameters name (rates per venue; a tiered map's fallback)."""
        return flat_maintenance(self.maintenance, self.default_maintenance)

    def parameters(self) -> dict[str, object]:
        """The parameters as JSON-ready values (leverage keys as text, e.g. ``"100"``)."""
        lev, w = self.weights()
        return {"leverage": {f"{k:g}": round(float(x), 10) for k, x in zip(lev, w, strict=True)},
                "maintenance_rate": {k: v for k, v in sorted(maintenance_table(self.maintenance).items())},
                "default_maintenance_rate": self.default_maintenance, "window_hours": self.window_hours,
                "range": self.range, "bins": self.bins, "entry": "typical price (high + low + close) / 3",
                "liquidation_price": "isolated: long E(1-1/L)/(1-m), short E(1+1/L)/(1+m)",
                "split": "venue long share, else 0.5"} | (
                    {"maintenance_tiers": "each contract's margin tiers: the rate of the lowest tier allowing the "
                                          "leverage; the flat rates where a contract's tiers were not read"}
                    if self.tiered else {}) | (
                    # absent for ``closes``: the id of the estimates made before stays theirs
                    {"bar_range": HIGH_LOW_TEXT} if self.bar_range == "high-low" else {})

    @property
    def method_id(self) -> str:
        """``oi-delta-v1/`` and 10 hex digits of the parameters that shape the bins (what a stored estimate's
        ``method`` column holds)."""
        keep = {k: v for k, v in self.parameters().items()}
        digest = hashlib.sha1(json.dumps(keep, sort_keys=True).encode(), usedforsecurity=False).hexdigest()[:10]
        return f"{METHOD_NAME}-v{METHOD_VERSION}/{digest}"


# --- inputs -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bars:
    """One contract's hourly bars, ascending: open interest in coins of the asset, and the bar's high, low and
    close (USD per coin); ``long_share`` per bar (or one number); ``split`` says where it came from; ``ranged``
    which bars' high and low came from their klines (the others: the path between closes; None: none did)."""

    venue: str
    symbol: str
    time_ms: IntArray
    oi: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    long_share: FloatArray
    split: str = "50/50 (no long/short ratio published)"
    ranged: BoolArray | None = None

    @classmethod
    def from_klines(cls, venue: str, symbol: str, time_ms: Sequence[int] | IntArray, oi: Sequence[float] | FloatArray,
                    close: Sequence[float] | FloatArray, high: Sequence[float] | FloatArray | None = None,
                    low: Sequence[float] | FloatArray | None = None,
                    long_share: float | Sequence[float] | FloatArray = 0.5, split: str | None = None) -> Bars:
        """Bars from kline closes and, where known, their highs and lows (NaN: unknown; None: none known). A bar
        whose high and low are known ranges over ``max``/``min`` of (high, low, close, previous close); one
        without, over the path between its close and the previous one (the first bar's: its close)."""
        t = np.asarray(time_ms, dtype=np.int64)
        c = np.asarray(close, dtype=np.float64)
        hi = np.full(c.shape, np.nan) if high is None else np.asarray(high, dtype=np.float64)
        lo = np.full(c.shape, np.nan) if low is None else np.asarray(low, dtype=np.float64)
        if hi.shape != c.shape or lo.shape != c.shape:
            raise ValueError(f"{venue} {symbol}: {len(c)} closes but {len(hi)} highs and {len(lo)} lows")
        ranged = np.isfinite(hi) & np.isfinite(lo)
        prev = np.concatenate([c[:1], c[:-1]])
        top, bottom = np.maximum(prev, c), np.minimum(prev, c)
        share = np.broadcast_to(np.asarray(long_share, dtype=np.float64), c.shape).copy()
        return cls(venue=venue, symbol=symbol, time_ms=t, oi=np.asarray(oi, dtype=np.float64),
                   high=np.where(ranged, np.fmax(np.fmax(top, hi), lo), top),
                   low=np.where(ranged, np.fmin(np.fmin(bottom, lo), hi), bottom), close=c, long_share=share,
                   split=split if split is not None else
                   ("50/50 (no long/short ratio published)" if np.all(share == 0.5) else "given"),
                   ranged=ranged)

    @classmethod
    def from_closes(cls, venue: str, symbol: str, time_ms: Sequence[int] | IntArray, oi: Sequence[float] | FloatArray,
                    close: Sequence[float] | FloatArray, long_share: float | Sequence[float] | FloatArray = 0.5,
                    split: str | None = None) -> Bars:
        """Bars from closes only: each bar's high and low are the larger and smaller of its close and the previous
        one (the first bar's are its close)."""
        return cls.from_klines(venue, symbol, time_ms, oi, close, long_share=long_share, split=split)

    @property
    def ranged_bars(self) -> int:
        """How many bars' high and low came from their klines."""
        return 0 if self.ranged is None else int(self.ranged.sum())

    def path_only(self) -> Bars:
        """The same bars, each ranging over the path between its close and the previous one only (``bar_range``
        ``closes``)."""
        return Bars.from_closes(self.venue, self.symbol, self.time_ms, self.oi, self.close, self.long_share,
                                self.split)

    def until(self, at_ms: int) -> Bars:
        """The bars at or before ``at_ms``."""
        n = int(np.searchsorted(self.time_ms, at_ms, side="right"))
        return Bars(venue=self.venue, symbol=self.symbol, time_ms=self.time_ms[:n], oi=self.oi[:n],
                    high=self.high[:n], low=self.low[:n], close=self.close[:n], long_share=self.long_share[:n],
                    split=self.split, ranged=None if self.ranged is None else self.ranged[:n])


def align(oi_time_ms: Sequence[int] | IntArray, oi_base: Sequence[float] | FloatArray,
          close_time_ms: Sequence[int] | IntArray, close: Sequence[float] | FloatArray,
          high: Sequence[float] | FloatArray | None = None, low: Sequence[float] | FloatArray | None = None
          ) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The times both series hold (ascending, each once), with the open interest, the close, and the kline high and
    low at each (NaN: unknown). A kline time the open interest lacks merges into the next bar kept: that bar's high
    and low span every kline since the bar before (NaN unless all of them are known)."""
    ot = np.asarray(oi_time_ms, dtype=np.int64)
    ct = np.asarray(close_time_ms, dtype=np.int64)
    c = np.asarray(close, dtype=np.float64)
    hi = np.full(c.shape, np.nan) if high is None else np.asarray(high, dtype=np.float64)
    lo = np.full(c.shape, np.nan) if low is None else np.asarray(low, dtype=np.float64)
    order = np.argsort(ct, kind="mergesort")
    ct, c, hi, lo = ct[order], c[order], hi[order], lo[order]
    first = np.concatenate([[True], ct[1:] != ct[:-1]]) if len(ct) else np.empty(0, dtype=bool)
    ct, c, hi, lo = ct[first], c[first], hi[first], lo[first]  # one kline per time: the first given
    common, oi_i, c_i = np.intersect1d(ot, ct, assume_unique=False, return_indices=True)
    if not len(common):
        empty = np.empty(0)
        return common, empty, empty, empty, empty
    # bar k spans the klines (c_i[k-1], c_i[k]]; the first bar its own kline
    starts = np.concatenate([c_i[:1], c_i[:-1] + 1])
    span_hi, span_lo = hi[:c_i[-1] + 1], lo[:c_i[-1] + 1]
    known = np.logical_and.reduceat(np.isfinite(span_hi) & np.isfinite(span_lo), starts)
    bar_hi = np.where(known, np.fmax.reduceat(span_hi, starts), np.nan)
    bar_lo = np.where(known, np.fmin.reduceat(span_lo, starts), np.nan)
    return common, np.asarray(oi_base, dtype=np.float64)[oi_i], c[c_i], bar_hi, bar_lo


# --- the cohorts --------------------------------------------------------------------------------------------------


def liquidation_prices(entry: FloatArray, leverage: FloatArray, mmr: FloatArray, is_long: bool) -> FloatArray:
    """Isolated one-way liquidation prices (see the module doc, step 4): broadcast over the arrays."""
    if is_long:
        return np.asarray(entry * (1.0 - 1.0 / leverage) / (1.0 - mmr), dtype=np.float64)
    return np.asarray(entry * (1.0 + 1.0 / leverage) / (1.0 + mmr), dtype=np.float64)


@dataclass(frozen=True, slots=True)
class SeriesStats:
    """What the method did with one contract: coins opened in the window, closed by open-interest decreases,
    consumed by price, still open (and their USD at their liquidation prices); the split, the maintenance rate
    and the leverages dropped; ``ranged_bars``: how many of its bars ranged over their klines' own high and low
    (the others: the path between closes)."""

    venue: str
    symbol: str
    bars: int
    first_ms: int | None
    last_ms: int | None
    opened: float
    closed: float
    consumed: float
    alive: float
    alive_usd: float
    long_share: float | None
    split: str
    maintenance_rate: float
    dropped_leverage: tuple[float, ...]
    last_close: float | None
    ranged_bars: int = 0


@dataclass(frozen=True, slots=True)
class Cohorts:
    """The cohorts still open at the end, flattened: liquidation ``price``, coins ``base``, ``usd`` (= base x
    price), ``is_long``, ``leverage``, the bar time they were opened at and the index of their contract in
    ``series``."""

    price: FloatArray
    base: FloatArray
    is_long: BoolArray
    leverage: FloatArray
    opened_ms: IntArray
    series_index: IntArray
    series: tuple[SeriesStats, ...]

    @property
    def usd(self) -> FloatArray:
        """USD at each cohort's liquidation price."""
        return np.asarray(self.base * self.price, dtype=np.float64)


def _suffix_after(values: FloatArray, op: np.ufunc, empty: float) -> FloatArray:
    """``op`` (minimum / maximum) of ``values[t+1:]`` for every ``t`` (``empty`` for the last)."""
    acc = op.accumulate(values[::-1])[::-1]
    return np.append(acc[1:], empty)


def series_cohorts(bars: Bars, params: MapParams, price: float, rule: MaintenanceRule | None = None
                   ) -> tuple[dict[str, np.ndarray], SeriesStats]:
    """The open cohorts of one contract (steps 1-6 of the module doc) as flat arrays, and what was done."""
    if params.bar_range == "closes" and bars.ranged_bars:
        bars = bars.path_only()
    lev_all, w_all = params.weights()
    mmr_all = (rule or params.rule())(bars.venue, bars.symbol, lev_all)
    valid = 1.0 / lev_all > mmr_all
    dropped = tuple(float(x) for x in lev_all[~valid])
    lev, mmr = lev_all[valid], mmr_all[valid]
    w = w_all[valid] / w_all[valid].sum() if valid.any() else w_all[valid]
    n = len(bars.time_ms)
    empty: dict[str, np.ndarray] = {"price": np.empty(0), "base": np.empty(0), "is_long": np.empty(0, dtype=bool),
                                    "leverage": np.empty(0), "opened_ms": np.empty(0, dtype=np.int64)}

    def stats(opened: float, closed: float, consumed: float, alive: float, alive_usd: float) -> SeriesStats:
        return SeriesStats(venue=bars.venue, symbol=bars.symbol, bars=n,
                           first_ms=int(bars.time_ms[0]) if n else None, last_ms=int(bars.time_ms[-1]) if n else None,
                           opened=opened, closed=closed, consumed=consumed, alive=alive, alive_usd=alive_usd,
                           long_share=float(bars.long_share[-1]) if n else None, split=bars.split,
                           maintenance_rate=float(mmr_all[0]) if len(mmr_all) else params.default_maintenance,
                           dropped_leverage=dropped, last_close=float(bars.close[-1]) if n else None,
                           ranged_bars=bars.ranged_bars)

    if n < 2 or not len(lev):
        return empty, stats(0.0, 0.0, 0.0, 0.0, 0.0)
    oi = bars.oi
    d = np.diff(oi)  # the change into bar t, t = 1 .. n-1
    prev = oi[:-1]
    f = np.ones(n)
    falling = (d < 0) & (prev > 0)
    f[1:][falling] = np.clip(oi[1:][falling] / prev[falling], 0.0, 1.0)
    survive = np.append(np.cumprod(f[::-1])[::-1][1:], 1.0)  # prod of f over the bars after t
    low_after = _suffix_after(bars.low, np.minimum, np.inf)
    high_after = _suffix_after(bars.high, np.maximum, -np.inf)
    t = np.nonzero(d > 0)[0] + 1
    opened = d[t - 1]
    entry = (bars.high[t] + bars.low[t] + bars.close[t]) / 3.0
    share = np.clip(bars.long_share[t], 0.0, 1.0)
    kept = opened * survive[t]
    parts: dict[str, list[np.ndarray]] = {k: [] for k in empty}
    consumed = 0.0
    for is_long, side_share in ((True, share), (False, 1.0 - share)):
        lp = liquidation_prices(entry[:, None], lev[None, :], mmr[None, :], is_long)
        q = (kept * side_share)[:, None] * w[None, :]
        # alive: price never traded through the level after the bar it was opened in, nor is past it now
        alive = ((lp < low_after[t][:, None]) & (lp < price) if is_long
                 else (lp > high_after[t][:, None]) & (lp > price))
        consumed += float(q[~alive].sum())
        parts["price"].append(lp[alive])
        parts["base"].append(q[alive])
        parts["is_long"].append(np.full(int(alive.sum()), is_long))
        parts["leverage"].append(np.broadcast_to(lev[None, :], lp.shape)[alive])
        parts["opened_ms"].append(np.broadcast_to(bars.time_ms[t][:, None], lp.shape)[alive])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    alive_base = float(out["base"].sum())
    total = float(opened.sum())
    return out, stats(total, total - float(kept.sum()), consumed, alive_base, float((out["base"] * out["price"]).sum()))


def build_cohorts(series: Sequence[Bars], params: MapParams, price: float,
                  rule: MaintenanceRule | None = None) -> Cohorts:
    """The open cohorts of every contract, together."""
    arrays: list[dict[str, np.ndarray]] = []
    stats: list[SeriesStats] = []
    for bars in series:
        a, s = series_cohorts(bars, params, price, rule)
        arrays.append(a)
        stats.append(s)
    if not arrays:
        return Cohorts(np.empty(0), np.empty(0), np.empty(0, dtype=bool), np.empty(0), np.empty(0, dtype=np.int64),
                       np.empty(0, dtype=np.int64), ())
    index = np.concatenate([np.full(len(a["price"]), i, dtype=np.int64) for i, a in enumerate(arrays)])
    return Cohorts(price=np.concatenate([a["price"] for a in arrays]),
                   base=np.concatenate([a["base"] for a in arrays]),
                   is_long=np.concatenate([a["is_long"] for a in arrays]),
                   leverage=np.concatenate([a["leverage"] for a in arrays]),
                   opened_ms=np.concatenate([a["opened_ms"] for a in arrays]), series_index=index,
                   series=tuple(stats))


# --- the map ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LevelBin:
    """One bin of the map: ``side`` (``long`` below the price, ``short`` above), its price range, its middle
    ``price``, the estimated ``usd``, ``distance`` of the middle from the current price (a fraction, negative
    below) and ``density`` (``critical``, ``high_density`` or None)."""

    side: str
    low: float
    high: float
    usd: float
    distance: float
    density: str | None = None

    @property
    def price(self) -> float:
        """The bin's middle."""
        return (self.low + self.high) / 2.0


@dataclass(frozen=True, slots=True)
class CascadeBands:
    """Seed-000 bands: ``within_usd`` (estimated, both sides, within ``near`` of the price) against thresholds
    scaled by ``scale`` = ``total_oi_usd`` / ``reference_oi_usd``; ``level`` None when the OI is unknown."""

    level: str | None
    within_usd: float
    within_long_usd: float
    within_short_usd: float
    near: float
    total_oi_usd: float | None
    reference_oi_usd: float
    scale: float | None
    thresholds: dict[str, float]


@dataclass(frozen=True, slots=True)
class CascadeRatio:
    """Seed-004 ratio: estimated USD within ``near`` of the price / 24 h volume, and its level (None without
    the volume). ``volumes``: the (venue, symbol, USD) that make up ``volume_24h_usd``; ``missing``: the map's
    contracts without a known volume (the ratio is then an upper bound); ``source``: where the volumes were read;
    ``note``: why there is no ratio, or what limits it."""

    level: str | None
    ratio: float | None
    near_usd: float
    volume_24h_usd: float | None
    near: float
    thresholds: dict[str, float]
    note: str = ""
    volumes: tuple[tuple[str, str, float], ...] = ()
    missing: tuple[tuple[str, str], ...] = ()
    source: str = ""

    @property
    def venues(self) -> dict[str, float]:
        """USD of 24 h volume per venue (its contracts summed), in the order they came."""
        out: dict[str, float] = {}
        for venue, _symbol, usd in self.volumes:
            out[venue] = out.get(venue, 0.0) + usd
        return out


@dataclass(frozen=True, slots=True)
class LiquidationMap:
    """The estimated liquidation map of one asset at ``time``: its bins (price descending), totals, density
    reference, cascade risk and what each contract contributed. An ESTIMATE (``estimate`` is always True)."""

    asset: str
    time: datetime
    price: float
    params: MapParams
    bins: tuple[LevelBin, ...]
    long_usd: float
    short_usd: float
    long_beyond_usd: float
    short_beyond_usd: float
    density_median_usd: float | None
    bands: CascadeBands
    ratio: CascadeRatio
    series: tuple[SeriesStats, ...]
    estimate: bool = True

    @property
    def venues(self) -> list[str]:
        """The venues whose open interest went in."""
        return list(dict.fromkeys(s.venue for s in self.series if s.bars >= 2))


def bin_edges(price: float, range_: float, bins: int) -> tuple[FloatArray, FloatArray]:
    """(edges below the price, ascending; edges above it, ascending): ``bins/2`` equal bins a side."""
    half = bins // 2
    return (np.linspace(price * (1.0 - range_), price, half + 1),
            np.linspace(price, price * (1.0 + range_), half + 1))


def density_labels(usd: FloatArray, high: float, critical: float) -> tuple[list[str | None], float | None]:
    """Each bin's label against the median of the non-empty bins (and that median; None when all are empty)."""
    filled = usd[usd > 0]
    if not len(filled):
        return [None] * len(usd), None
    median = float(np.median(filled))
    out: list[str | None] = []
    for x in usd:
        out.append("critical" if x >= critical * median and x > 0 else
                   "high_density" if x >= high * median and x > 0 else None)
    return out, median


def cascade_bands(within_long: float, within_short: float, total_oi_usd: float | None,
                  reference_oi_usd: float = CASCADE_REFERENCE_OI, near: float = CASCADE_NEAR) -> CascadeBands:
    """The seed-000 level of ``within_long + within_short`` with thresholds x (total OI / reference OI)."""
    within = within_long + within_short
    if total_oi_usd is None or not total_oi_usd > 0:
        return CascadeBands(None, within, within_long, within_short, near, total_oi_usd, reference_oi_usd, None,
                            {})
    scale = total_oi_usd / reference_oi_usd
    thresholds = {name: edge * scale for name, edge in CASCADE_BANDS}
    if within > thresholds["critical"]:
        level = "critical"
    elif within >= thresholds["high"]:
        level = "high"
    elif within >= thresholds["medium"]:
        level = "medium"
    else:
        level = "low"
    return CascadeBands(level, within, within_long, within_short, near, total_oi_usd, reference_oi_usd, scale,
                        thresholds)


#: why a ratio has no volume when the caller gives no reason
NO_VOLUME = "no 24 h volume of the map's contracts was read"


def cascade_ratio(near_usd: float, volume_24h_usd: float | None, near: float = RATIO_NEAR, *,
                  volumes: Sequence[tuple[str, str, float]] = (), missing: Sequence[tuple[str, str]] = (),
                  source: str = "", why: str = "") -> CascadeRatio:
    """The seed-004 level of ``near_usd / volume_24h_usd`` (None without a positive volume, ``why`` saying why);
    ``volumes``, ``missing`` and ``source`` are carried as the inputs shown (see ``CascadeRatio``)."""
    thresholds = dict(CASCADE_RATIO)
    kept, gone = tuple(volumes), tuple(missing)
    if volume_24h_usd is None or not volume_24h_usd > 0:
        reason = why or (f"the 24 h volume is {volume_24h_usd:g} USD" if volume_24h_usd is not None else NO_VOLUME)
        return CascadeRatio(None, None, near_usd, volume_24h_usd, near, thresholds, f"no 24 h volume: {reason}",
                            kept, gone, source)
    ratio = near_usd / volume_24h_usd
    level = next((name for name, edge in CASCADE_RATIO if ratio > edge), "normal")
    note = (f"no 24 h volume of {', '.join(f'{v} {s}' for v, s in gone)}: their estimated liquidations count, "
            "their volume does not, so the ratio is an upper bound") if gone else ""
    return CascadeRatio(level, ratio, near_usd, volume_24h_usd, near, thresholds, note, kept, gone, source)


def series_volume(series: Sequence[Bars], volumes: Mapping[tuple[str, str], float]
                  ) -> tuple[float | None, tuple[tuple[str, str, float], ...], tuple[tuple[str, str], ...]]:
    """(the summed 24 h volume in USD, the (venue, symbol, USD) summed, the (venue, symbol) without one) of the
    contracts of ``series`` with at least two bars (the contracts the map is made of), each contract once."""
    kept: list[tuple[str, str, float]] = []
    gone: list[tuple[str, str]] = []
    for key in dict.fromkeys((b.venue, b.symbol) for b in series if len(b.time_ms) >= 2):
        usd = volumes.get(key)
        if usd is None:
            gone.append(key)
        else:
            kept.append((*key, float(usd)))
    return (sum(x for *_, x in kept) if kept else None), tuple(kept), tuple(gone)


def within(cohorts: Cohorts, price: float, near: float) -> tuple[float, float]:
    """(long USD, short USD) of the cohorts whose level is within ``near`` of ``price``."""
    close = np.abs(cohorts.price / price - 1.0) <= near
    usd = cohorts.usd
    return float(usd[close & cohorts.is_long].sum()), float(usd[close & ~cohorts.is_long].sum())


def estimate_map(asset: str, time: datetime, series: Sequence[Bars], params: MapParams, price: float, *,
                 total_oi_usd: float | None = None, volume_24h_usd: float | None = None,
                 volumes: Mapping[tuple[str, str], float] | None = None, volume_source: str = "",
                 volume_why: str = "", rule: MaintenanceRule | None = None) -> LiquidationMap:
    """The estimated liquidation map of ``asset`` from its contracts' ``series`` (each cut at ``time`` by the
    caller), around the current ``price`` (see the module doc). ``total_oi_usd``: the asset's open interest for
    the cascade bands (default: the contracts' last open interest x last close). The cascade ratio's 24 h volume:
    ``volumes`` by (venue, symbol) in USD, summed over the map's contracts (``series_volume``; ``volume_source``
    says where they were read), or a total ``volume_24h_usd``; ``volume_why``: why there is none."""
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"a liquidation map needs a price > 0, got {price!r}")
    cohorts = build_cohorts(series, params, price, rule)
    below, above = bin_edges(price, params.range, params.bins)
    usd = cohorts.usd
    longs, shorts = cohorts.is_long, ~cohorts.is_long
    long_hist = np.histogram(cohorts.price[longs], bins=below, weights=usd[longs])[0]
    short_hist = np.histogram(cohorts.price[shorts], bins=above, weights=usd[shorts])[0]
    all_usd = np.concatenate([short_hist[::-1], long_hist[::-1]])  # price descending
    labels, median = density_labels(all_usd, params.density_high, params.density_critical)
    bins: list[LevelBin] = []
    half = params.bins // 2
    for i in range(half):  # shorts, highest first
        j = half - 1 - i
        lo, hi = float(above[j]), float(above[j + 1])
        bins.append(LevelBin("short", lo, hi, float(short_hist[j]), (lo + hi) / 2 / price - 1.0, labels[i]))
    for i in range(half):  # longs, nearest first
        j = half - 1 - i
        lo, hi = float(below[j]), float(below[j + 1])
        bins.append(LevelBin("long", lo, hi, float(long_hist[j]), (lo + hi) / 2 / price - 1.0, labels[half + i]))
    in_long = float(long_hist.sum())
    in_short = float(short_hist.sum())
    if total_oi_usd is None:
        total_oi_usd = sum(float(b.oi[-1] * b.close[-1]) for b in series if len(b.oi)) or None
    wl, ws = within(cohorts, price, CASCADE_NEAR)
    nl, ns = within(cohorts, price, RATIO_NEAR)
    kept: tuple[tuple[str, str, float], ...] = ()
    gone: tuple[tuple[str, str], ...] = ()
    if volumes is not None and volume_24h_usd is None:
        volume_24h_usd, kept, gone = series_volume(series, volumes)
    return LiquidationMap(
        asset=asset, time=time, price=price, params=params, bins=tuple(bins), long_usd=in_long, short_usd=in_short,
        long_beyond_usd=float(usd[longs].sum()) - in_long, short_beyond_usd=float(usd[shorts].sum()) - in_short,
        density_median_usd=median,
        bands=cascade_bands(wl, ws, total_oi_usd, params.reference_oi_usd),
        ratio=cascade_ratio(nl + ns, volume_24h_usd, volumes=kept, missing=gone, source=volume_source,
                            why=volume_why),
        series=cohorts.series)


# --- scoring ------------------------------------------------------------------------------------------------------


def rankdata(x: Sequence[float] | FloatArray) -> FloatArray:
    """Ranks from 1, ties given the mean of the ranks they span (as ``scipy.stats.rankdata``'s default)."""
    a = np.asarray(x, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    ranks = np.empty(len(a), dtype=np.float64)
    starts = np.concatenate([[True], sorted_a[1:] != sorted_a[:-1]]) if len(a) else np.empty(0, dtype=bool)
    group = np.cumsum(starts) - 1
    first = np.nonzero(starts)[0]
    last = np.append(first[1:], len(a)) - 1
    ranks[order] = (first[group] + last[group]) / 2.0 + 1.0
    return ranks


def spearman(x: Sequence[float] | FloatArray, y: Sequence[float] | FloatArray) -> float | None:
    """Spearman's rank correlation (Pearson's correlation of the tie-averaged ranks); None with fewer than three
    pairs or when either side is constant."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(a) != len(b):
        raise ValueError(f"spearman of {len(a)} and {len(b)} values")
    if len(a) < 3:
        return None
    ra, rb = rankdata(a) - (len(a) + 1) / 2.0, rankdata(b) - (len(b) + 1) / 2.0
    den = math.sqrt(float((ra * ra).sum()) * float((rb * rb).sum()))
    if den == 0:
        return None
    return float((ra * rb).sum()) / den


def top_k_capture(estimated: FloatArray, realized: FloatArray, k: int) -> float:
    """Realized USD in the ``k`` bins with the largest estimates; where a tie straddles the k-th place, the tied
    bins count in proportion to the places left (the expected capture over random tie-breaking)."""
    if k <= 0 or not len(estimated):
        return 0.0
    values = np.unique(estimated)[::-1]  # descending
    left = float(k)
    got = 0.0
    for v in values:
        tied = estimated == v
        n = int(tied.sum())
        take = min(left, n)
        got += float(realized[tied].sum()) * take / n
        left -= take
        if left <= 0:
            break
    return got


def top_k_share(estimated: Sequence[float] | FloatArray, realized: Sequence[float] | FloatArray, k: int
                ) -> float | None:
    """The share of the realized USD that falls in the ``k`` bins with the largest estimates (None when nothing
    was realized)."""
    e, r = np.asarray(estimated, dtype=np.float64), np.asarray(realized, dtype=np.float64)
    total = float(r.sum())
    return None if total <= 0 else top_k_capture(e, r, k) / total


def ladder_baseline(is_long: BoolArray, low: FloatArray, high: FloatArray, price: float,
                    venues: Sequence[str], params: MapParams) -> FloatArray:
    """The naive baseline (the "leverage ladder", see the module doc): each bin's share of a ladder of positions
    all opened at ``price``, over ``params``' leverage mix and each venue's maintenance rate (``params.rule()``;
    a leverage the venue cannot carry dropped and the rest rescaled, as the map does), the ``venues`` weighted
    equally (none: one venue at ``params.default_maintenance``); a long rung's liquidation price in a long bin
    ``[low, high)``, a short rung's in a short bin. No history: the distance from ``price`` and the parameters."""
    lev_all, w_all = params.weights()
    names = list(dict.fromkeys(venues)) or [""]
    rule = params.rule()
    rung_lev: list[FloatArray] = []
    rung_mmr: list[FloatArray] = []
    rung_w: list[FloatArray] = []
    for venue in names:
        mmr = rule(venue, "", lev_all)
        ok = 1.0 / lev_all > mmr
        if not ok.any():
            continue
        rung_lev.append(lev_all[ok])
        rung_mmr.append(mmr[ok])
        rung_w.append(w_all[ok] / w_all[ok].sum() / len(names))
    out = np.zeros(len(low))
    if not rung_lev:
        return out
    lev, mmr, w = np.concatenate(rung_lev), np.concatenate(rung_mmr), np.concatenate(rung_w)
    for side in (True, False):
        at = liquidation_prices(np.full(len(lev), price), lev, mmr, side)  # one rung per (venue, leverage)
        inside = (is_long[:, None] == side) & (low[:, None] <= at[None, :]) & (at[None, :] < high[:, None])
        out += inside.astype(np.float64) @ w
    return out


@dataclass(frozen=True, slots=True)
class Frozen:
    """One stored estimate: its time (ms), the price then, its bins (``is_long``, ``low``, ``high``, estimated
    ``usd``) and the venues it was made from (the baseline's maintenance rates)."""

    time_ms: int
    price: float
    is_long: BoolArray
    low: FloatArray
    high: FloatArray
    usd: FloatArray
    venues: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Realized:
    """Recorded liquidations: time (ms), the price the venue sent, USD, and whether a long was liquidated."""

    time_ms: IntArray
    price: FloatArray
    usd: FloatArray
    is_long: BoolArray

    @classmethod
    def of(cls, time_ms: Sequence[int], price: Sequence[float], usd: Sequence[float],
           is_long: Sequence[bool]) -> Realized:
        """From plain sequences (sorted by time here)."""
        t = np.asarray(time_ms, dtype=np.int64)
        order = np.argsort(t, kind="mergesort")
        return cls(t[order], np.asarray(price, dtype=np.float64)[order], np.asarray(usd, dtype=np.float64)[order],
                   np.asarray(is_long, dtype=bool)[order])


@dataclass(frozen=True, slots=True)
class PricePath:
    """The price path (time ms ascending, price): kline closes."""

    time_ms: IntArray
    price: FloatArray

    @classmethod
    def of(cls, time_ms: Sequence[int], price: Sequence[float]) -> PricePath:
        """From plain sequences (sorted by time here)."""
        t = np.asarray(time_ms, dtype=np.int64)
        order = np.argsort(t, kind="mergesort")
        return cls(t[order], np.asarray(price, dtype=np.float64)[order])


def realized_in_bins(frozen: Frozen, realized: Realized, start_ms: int, end_ms: int) -> tuple[FloatArray, float]:
    """Realized USD per bin of ``frozen`` from the liquidations in ``(start_ms, end_ms]`` (a long liquidation in a
    long bin ``[low, high)``, a short one in a short bin), and the realized USD of that window outside every bin."""
    lo = int(np.searchsorted(realized.time_ms, start_ms, side="right"))
    hi = int(np.searchsorted(realized.time_ms, end_ms, side="right"))
    price, usd, is_long = realized.price[lo:hi], realized.usd[lo:hi], realized.is_long[lo:hi]
    out = np.zeros(len(frozen.usd))
    placed = np.zeros(len(price), dtype=bool)
    for side in (True, False):
        bins = np.nonzero(frozen.is_long == side)[0]
        if not len(bins):
            continue
        order = bins[np.argsort(frozen.low[bins])]
        lows, highs = frozen.low[order], frozen.high[order]
        events = np.nonzero(is_long == side)[0]
        j = np.searchsorted(lows, price[events], side="right") - 1
        ok = (j >= 0) & (price[events] < highs[np.clip(j, 0, None)])
        np.add.at(out, order[j[ok]], usd[events[ok]])
        placed[events[ok]] = True
    return out, float(usd[~placed].sum())


def traversed(frozen: Frozen, path: PricePath, start_ms: int, end_ms: int) -> BoolArray:
    """The bins price reached in ``(start_ms, end_ms]``, starting from ``frozen.price``: a long bin once price came
    down to its upper edge, a short bin once it rose to its lower edge."""
    lo = int(np.searchsorted(path.time_ms, start_ms, side="right"))
    hi = int(np.searchsorted(path.time_ms, end_ms, side="right"))
    prices = np.append(path.price[lo:hi], frozen.price)
    low, high = float(prices.min()), float(prices.max())
    return np.where(frozen.is_long, low <= frozen.high, high >= frozen.low)


@dataclass(frozen=True, slots=True)
class Score:
    """The estimate against what happened, and the leverage-ladder baseline against the same: pooled over every
    (estimate, traversed bin) pair. ``spearman`` / ``top_k_share`` None where undefined; ``beats_baseline``
    True when the estimate is better on both, False when it is not better on either, None when mixed or
    undefined."""

    snapshots: int
    scored: int
    pairs: int
    realized_usd: float
    realized_unbinned_usd: float
    spearman: float | None
    top_k_share: float | None
    baseline_spearman: float | None
    baseline_top_k_share: float | None
    top_k: int
    horizon_ms: int

    @property
    def beats_baseline(self) -> bool | None:
        """Whether the estimate beats the baseline on both figures (see the class doc)."""
        pairs = [(self.spearman, self.baseline_spearman), (self.top_k_share, self.baseline_top_k_share)]
        if any(a is None or b is None for a, b in pairs):
            return None
        better = [a > b for a, b in pairs]  # type: ignore[operator]
        return True if all(better) else False if not any(better) else None


def score_estimates(frozen: Sequence[Frozen], realized: Realized, path: PricePath, *, horizon_ms: int, top_k: int,
                    until_ms: int, params: MapParams | None = None) -> Score:
    """Score ``frozen`` estimates (see the module doc): each against the liquidations and the price path of the
    ``horizon_ms`` after it; only estimates whose horizon ended by ``until_ms`` count. ``params``: the parameters
    the estimates were made with (the baseline's ladder; default ``MapParams()``)."""
    params = params if params is not None else MapParams()
    est: list[FloatArray] = []
    base: list[FloatArray] = []
    real: list[FloatArray] = []
    captured = captured_base = 0.0
    realized_total = unbinned = 0.0
    scored = 0
    for f in frozen:
        end = f.time_ms + horizon_ms
        if end > until_ms:
            continue
        scored += 1
        got, outside = realized_in_bins(f, realized, f.time_ms, end)
        reached = traversed(f, path, f.time_ms, end)
        unbinned += outside + float(got[~reached].sum())
        e, r = f.usd[reached], got[reached]
        b = ladder_baseline(f.is_long[reached], f.low[reached], f.high[reached], f.price, f.venues, params)
        est.append(e)
        base.append(b)
        real.append(r)
        realized_total += float(r.sum())
        captured += top_k_capture(e, r, top_k)
        captured_base += top_k_capture(b, r, top_k)
    e_all = np.concatenate(est) if est else np.empty(0)
    b_all = np.concatenate(base) if base else np.empty(0)
    r_all = np.concatenate(real) if real else np.empty(0)
    share = captured / realized_total if realized_total > 0 else None
    share_base = captured_base / realized_total if realized_total > 0 else None
    return Score(snapshots=len(frozen), scored=scored, pairs=len(r_all), realized_usd=realized_total,
                 realized_unbinned_usd=unbinned, spearman=spearman(e_all, r_all), top_k_share=share,
                 baseline_spearman=spearman(b_all, r_all), baseline_top_k_share=share_base, top_k=top_k,
                 horizon_ms=horizon_ms)
