"""The basis (cash-and-carry) trade: long spot, short the perpetual, collect its funding (seed 004 §26.P.5).

Pure and vectorized (numpy); no I/O. Money is USD, sizes are coins of the asset, prices USD per ONE coin, rates
fractions per their OWN interval (never assumed 8 h: an hourly venue pays eight times as often as an 8 h one).

- ``funding_payments``: what the short perpetual received at each settled funding point after opening:
  ``rate x accrual x size x price``; ``price`` is the perpetual's price at that settlement where known (the kline
  close at the settlement time), else the entry price (each payment says which). ``accrual`` is 1 for a venue that
  settles at discrete times (a position held at the settlement is paid the whole interval); a venue whose history
  is sampled more often than its rate's interval (Deribit: hourly samples of an 8 h-equivalent rate) accrues the
  fraction of the interval since the previous sample (or since opening).
- ``position_pnl``: spot P&L (long), perp P&L (short), funding, fees (a taker fee per leg per trade: entry on both
  legs at entry, exit on both legs at exit), net; return on CAPITAL = spot notional at entry + the perpetual's
  margin at entry (perp notional / leverage; leverage 1 by default: the short fully collateralized), and the
  simple annualization over a 365-day year.
- ``simulate``: seed 004's Monte Carlo of a carry held ``days``: the funding rate per 8 h follows a mean-reverting
  AR(1) (Ornstein-Uhlenbeck sampled at each settlement) around ``avg_8h`` with stationary standard deviation
  ``vol_8h`` and the given half-life (half-life 0: independent draws, exactly seed 004's model), floored at
  -0.5 % per 8 h as the seed does; the price follows a driftless lognormal walk (seed: 2 % a day) that moves the
  notional the funding is paid on and the exit fees. Seeded (``numpy.random.default_rng``).
- ``backtest``: the same position over a venue's REAL settled funding history: constant coins sized from the
  notional at the first price, each settlement paid at its own interval and price, entry and exit fees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from dtrack.records import CarryPosition

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
DAYS_PER_YEAR = 365.0
#: a position held less than this many days shows no annualized return (its fees would dominate a yearly figure)
MIN_ANNUALIZED_DAYS = 1.0
#: seed 004's floor of a simulated funding rate, per 8 h (-0.5 %)
FLOOR_8H = -0.005
#: the percentiles ``simulate`` reports
PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)
#: a kline close this close to a settlement time is that settlement's price (venues stamp settlements a few ms off)
PRICE_MATCH_MS = 5 * 60_000
#: points closer than this share of their interval are samples of an accruing rate, not settlements
SAMPLED_BELOW = 0.75

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


# --- funding received ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Payments:
    """The funding payments a short perpetual received, one per settled point, ascending: settlement time (epoch
    ms), the rate (fraction per ``interval_hours``), the accrued share of the interval, the price used (USD per
    coin), whether that price is the settlement's own (``from_market``; else the entry price) and the amount (USD,
    positive = received by the short)."""

    time_ms: Ints
    rate: Floats
    interval_hours: Floats
    accrual: Floats
    price: Floats
    from_market: NDArray[np.bool_]
    amount: Floats

    @property
    def total(self) -> float:
        """The funding received in all, USD."""
        return float(self.amount.sum())

    def __len__(self) -> int:
        return int(self.time_ms.size)


def prices_at(times_ms: Ints, price_times_ms: Ints, prices: Floats, tolerance_ms: int = PRICE_MATCH_MS) -> Floats:
    """The price at each of ``times_ms``: the price point nearest in time within ``tolerance_ms``, else NaN.
    ``price_times_ms`` ascending."""
    times = np.asarray(times_ms, dtype=np.int64)
    pt = np.asarray(price_times_ms, dtype=np.int64)
    pv = np.asarray(prices, dtype=np.float64)
    out = np.full(times.shape, np.nan)
    if pt.size == 0 or times.size == 0:
        return out
    right = np.clip(np.searchsorted(pt, times), 0, pt.size - 1)
    left = np.clip(right - 1, 0, pt.size - 1)
    nearest = np.where(np.abs(pt[left] - times) <= np.abs(pt[right] - times), left, right)
    close = np.abs(pt[nearest] - times) <= tolerance_ms
    out[close] = pv[nearest[close]]
    return out


def funding_payments(times_ms: Ints, rates: Floats, interval_hours: Floats, *, opened_ms: int, end_ms: int,
                     size: float, entry_price: float, prices: Floats | None = None) -> Payments:
    """The payments of ``size`` coins short on the perpetual from the settled points ``(times_ms, rates,
    interval_hours)`` (any order; points outside ``opened_ms < t <= end_ms`` are context only: the one before
    opening tells a sampled venue's spacing). ``prices`` (aligned with ``times_ms``; NaN where unknown) is the
    perpetual's price at each point; a missing one falls back to ``entry_price``. See the module doc for the
    accrual rule."""
    t = np.asarray(times_ms, dtype=np.int64)
    order = np.argsort(t, kind="stable")
    t = t[order]
    r = np.asarray(rates, dtype=np.float64)[order]
    iv = np.asarray(interval_hours, dtype=np.float64)[order]
    px = (np.full(t.shape, np.nan) if prices is None else np.asarray(prices, dtype=np.float64)[order])
    # the previous point of each (the first has none: taken as a discrete settlement)
    prev = np.concatenate((t[:1], t[:-1]))
    spacing_h = (t - prev) / HOUR_MS
    # sampled: clearly more often than the rate's interval (venues stamp settlements a few ms off the hour)
    sampled = (spacing_h > 0) & (spacing_h < SAMPLED_BELOW * iv)
    since_h = (t - np.maximum(prev, opened_ms)) / HOUR_MS
    accrual = np.where(sampled, np.clip(since_h / iv, 0.0, 1.0), 1.0)
    keep = (t > opened_ms) & (t <= end_ms)
    known = np.isfinite(px) & (px > 0)
    used = np.where(known, px, entry_price)
    amount = r * accrual * size * used
    return Payments(t[keep], r[keep], iv[keep], accrual[keep], used[keep], known[keep], amount[keep])


# --- a position's P&L ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PnL:
    """One position's figures (USD unless said): see ``position_pnl``."""

    spot_pnl: float
    perp_pnl: float
    funding: float
    entry_fees: float
    exit_fees: float
    net: float
    spot_notional: float
    perp_margin: float
    capital: float
    return_on_capital: float
    return_on_notional: float
    days_held: float
    annualized_return: float | None

    @property
    def fees(self) -> float:
        """Entry and exit fees, USD."""
        return self.entry_fees + self.exit_fees


def position_pnl(*, size: float, spot_entry: float, perp_entry: float, spot_price: float, perp_price: float,
                 funding: float, fee_rate: float, closed: bool, days_held: float, leverage: float = 1.0) -> PnL:
    """The P&L of ``size`` coins long spot at ``spot_entry`` and short the perpetual at ``perp_entry``, valued at
    ``spot_price`` / ``perp_price`` (the exit prices when ``closed``), with ``funding`` received (USD).

    Fees: ``fee_rate`` (fraction, per leg per trade) on both legs' notional at entry, and at exit when ``closed``.
    Capital: spot notional at entry + perp margin at entry (perp notional / ``leverage``). Returns are fractions;
    annualized = return on capital x 365 / ``days_held`` (simple; None for a position held less than
    ``MIN_ANNUALIZED_DAYS``: minutes of entry fees scaled to a year are noise, not a return)."""
    spot_pnl = size * (spot_price - spot_entry)
    perp_pnl = size * (perp_entry - perp_price)
    entry_fees = fee_rate * size * (spot_entry + perp_entry)
    exit_fees = fee_rate * size * (spot_price + perp_price) if closed else 0.0
    net = spot_pnl + perp_pnl + funding - entry_fees - exit_fees
    spot_notional = size * spot_entry
    margin = size * perp_entry / leverage
    capital = spot_notional + margin
    roc = net / capital
    annual = roc * DAYS_PER_YEAR / days_held if days_held >= MIN_ANNUALIZED_DAYS else None
    return PnL(spot_pnl, perp_pnl, funding, entry_fees, exit_fees, net, spot_notional, margin, capital, roc,
               net / spot_notional, days_held, annual)


@dataclass(frozen=True, slots=True)
class PositionView:
    """A recorded position with what ``status`` / ``close`` found: the prices it is valued at (USD per coin; the
    exit prices of a closed position, else the current ones) and when, the funding payments since opening and the
    P&L (None where a venue did not answer: ``failures`` of the result say why)."""

    position: CarryPosition
    spot_price: float | None = None
    perp_price: float | None = None
    priced_at: datetime | None = None
    payments: Payments | None = None
    pnl: PnL | None = None


# --- Monte Carlo ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimParams:
    """What ``simulate`` ran: rates per 8 h (fractions), the settlement interval (hours), the half-life of the
    funding's mean reversion (hours; 0 = independent draws), the daily price volatility (fraction), the notional
    (USD), the fee per leg per trade (fraction), the perp leverage, paths and seed."""

    avg_8h: float
    vol_8h: float
    days: float
    interval_hours: float
    half_life_hours: float
    price_vol_daily: float
    notional: float
    fee_rate: float
    leverage: float
    paths: int
    seed: int


@dataclass(frozen=True, slots=True)
class SimReport:
    """The distribution of a simulated carry's outcome over ``params.paths`` paths: per path the funding received,
    the fees and the net (USD) and the return on capital (fraction); the summary in ``stats``."""

    params: SimParams
    settlements: int
    capital: float
    funding: Floats
    fees: Floats
    net: Floats
    stats: dict[str, float] = field(default_factory=dict)


def _summary(values: Floats) -> dict[str, float]:
    pct = np.percentile(values, PERCENTILES)
    out = {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
           "min": float(values.min()), "max": float(values.max())}
    out.update({f"p{p:g}": float(v) for p, v in zip(PERCENTILES, pct, strict=True)})
    return out


def funding_paths(rng: np.random.Generator, *, avg_8h: float, vol_8h: float, steps: int, paths: int,
                  interval_hours: float, half_life_hours: float) -> Floats:
    """Simulated 8 h-equivalent funding rates, ``(paths, steps)``: an AR(1) around ``avg_8h`` with stationary
    standard deviation ``vol_8h`` and persistence ``phi = 0.5 ** (interval / half_life)`` per settlement, started
    from its stationary distribution; floored at -0.5 % per 8 h (seed 004)."""
    phi = 0.0 if half_life_hours <= 0 else 0.5 ** (interval_hours / half_life_hours)
    shocks = rng.standard_normal((paths, steps)) * vol_8h * math.sqrt(1.0 - phi * phi)
    out = np.empty((paths, steps))
    x = rng.standard_normal(paths) * vol_8h if phi > 0 else np.zeros(paths)
    for k in range(steps):  # sequential in time, vectorized across paths
        x = phi * x + shocks[:, k]
        out[:, k] = x
    return np.maximum(avg_8h + out, FLOOR_8H)


def simulate(params: SimParams) -> SimReport:
    """Seed 004's basis-trade Monte Carlo (see the module doc), ``params.paths`` seeded paths at once."""
    p = params
    rng = np.random.default_rng(p.seed)
    # the settlements inside the holding period (a partial last interval is not paid): 1.2 days of 8 h -> 3
    steps = max(1, math.floor(p.days * 24 / p.interval_hours + 1e-9))
    rates_8h = funding_paths(rng, avg_8h=p.avg_8h, vol_8h=p.vol_8h, steps=steps, paths=p.paths,
                             interval_hours=p.interval_hours, half_life_hours=p.half_life_hours)
    step_vol = p.price_vol_daily * math.sqrt(p.interval_hours / 24.0)
    log_moves = rng.standard_normal((p.paths, steps)) * step_vol - 0.5 * step_vol * step_vol
    # the price (relative to entry) at each settlement: the funding is paid on size x that price
    rel_price = np.exp(np.cumsum(log_moves, axis=1))
    per_interval = rates_8h * (p.interval_hours / 8.0)
    funding = p.notional * (per_interval * rel_price).sum(axis=1)
    # spot and perp at the same price at entry and exit: the legs' price P&L cancels (delta-neutral)
    fees = p.fee_rate * 2.0 * p.notional * (1.0 + rel_price[:, -1])
    net = funding - fees
    capital = p.notional * (1.0 + 1.0 / p.leverage)
    roc = net / capital
    stats = {f"net_{k}": v for k, v in _summary(net).items()}
    stats.update({f"return_{k}": v for k, v in _summary(roc).items()})
    stats.update({"funding_mean": float(funding.mean()), "fees_mean": float(fees.mean()),
                  "probability_of_loss": float((net < 0).mean()),
                  "annualized_return_mean": float(roc.mean() * DAYS_PER_YEAR / p.days),
                  "rate_8h_mean": float(rates_8h.mean()),
                  "negative_settlements_share": float((rates_8h < 0).mean())})
    return SimReport(p, steps, capital, funding, fees, net, stats)


# --- backtest over real history ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backtest:
    """A carry held over a real funding history: the payments, the coins held, the fees and the outcome (USD;
    returns as fractions); ``days`` is the span held (first point's previous settlement to the last point)."""

    payments: Payments
    size: float
    entry_price: float
    exit_price: float
    pnl: PnL
    days: float
    intervals: dict[float, int]
    fee_rate: float
    leverage: float


def backtest(times_ms: Ints, rates: Floats, interval_hours: Floats, *, start_ms: int, end_ms: int, notional: float,
             fee_rate: float, leverage: float = 1.0, prices: Floats | None = None,
             entry_price: float | None = None, exit_price: float | None = None) -> Backtest:
    """Hold ``notional`` USD of coins long spot and short the perpetual from ``start_ms`` to ``end_ms`` over the
    settled points ``(times_ms, rates, interval_hours)``, paid at ``prices`` (aligned; NaN where unknown: the entry
    price then). ``entry_price`` / ``exit_price`` default to the first / last known price (1.0 when no price is
    known at all: the notional is then a constant USD amount). Spot and perp are taken at the same price (the
    basis is not in the history): their P&L cancels; fees on both legs at entry and exit."""
    px = None if prices is None else np.asarray(prices, dtype=np.float64)
    known = px[np.isfinite(px) & (px > 0)] if px is not None else np.empty(0)
    entry = entry_price if entry_price is not None else (float(known[0]) if known.size else 1.0)
    exit_ = exit_price if exit_price is not None else (float(known[-1]) if known.size else entry)
    size = notional / entry
    pays = funding_payments(times_ms, rates, interval_hours, opened_ms=start_ms, end_ms=end_ms, size=size,
                            entry_price=entry, prices=px)
    days = (end_ms - start_ms) / DAY_MS
    pnl = position_pnl(size=size, spot_entry=entry, perp_entry=entry, spot_price=exit_, perp_price=exit_,
                       funding=pays.total, fee_rate=fee_rate, closed=True, days_held=days, leverage=leverage)
    values, counts = np.unique(pays.interval_hours, return_counts=True)
    intervals = {float(v): int(c) for v, c in zip(values, counts, strict=True)}
    return Backtest(pays, size, entry, exit_, pnl, days, intervals, fee_rate, leverage)
