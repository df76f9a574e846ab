"""Execution simulation on a venue's real order book (``dtrack execsim``). Pure, vectorized numpy.

What is simulated, for an order of ``size`` coins on one ``side`` (``buy`` takes the asks, ``sell`` the bids):

- **Market order**: walks the book's side level by level at the arrival time (``walk``). Average price, slippage
  against the mid (the arrival mid: the order starts on that book), levels consumed, cost in USD, and whether the
  book was deep enough: ``enough``, else ``book_truncated`` (the side held as many levels as the venue's answer
  can: more may rest beyond, unknown) or ``side_exhausted`` (the venue returned its whole side and the order is
  bigger). An unfilled remainder is reported, never priced.

- **TWAP / VWAP**: ``slices`` child orders at ``t_i = i·Δ`` (``Δ = over / slices`` hours, ``i = 0 … slices − 1``).
  TWAP sizes are equal; VWAP sizes are proportional to the venue's traded volume by hour of day (UTC) integrated
  over each child's interval ``[t_i, t_i + Δ)`` (``hourly_profile``: 1 h candles of the last days). Each child
  walks the CURRENT book: the book's levels keep their offsets from the current mid, with the depth earlier
  children took missing until it refills. What a child cannot fill (an exhausted book) is added to the next one;
  what is left at the end is reported as unfilled.

- **Resilience**: consumed depth refills best level first at ``refill`` coins per hour =
  ``resilience × V / 24`` (``V``: the venue's 24 h volume in coins; ``resilience`` 1 by default: a side
  recovers at the pace the market trades).

- **The mid**: ``m_i = m0 · exp(σ_h W(t_i) − σ_h² t_i / 2) · (1 + s · φ · Y · σ_d · sqrt(X_i / V))`` with ``m0``
  the arrival mid, ``σ_h`` the realized volatility per sqrt(hour) of the venue's hourly closes (``σ_d`` =
  ``σ_h·sqrt(24)``, per day), ``W`` a Brownian motion (no drift: the mid is a martingale), ``s`` +1 for a buy and
  −1 for a sell, ``X_i`` the coins executed before child ``i``. The last factor is the permanent part of the
  square-root impact law (seed 004: ``impact = Y · σ · sqrt(Q / V)``, daily ``σ`` and ``V``) applied to the
  metaorder so far — applying it per child would make more slices cost more (``N · sqrt(Q / N) = sqrt(N · Q)``).
  ``φ`` is the share of the impact that stays in the mid (seed 004's ``permanent_impact``, 0.1); the rest is the
  book's depletion, which the resilience refills. ``Y`` is calibrated on the book (``calibrate_y``): the price
  displacement beyond the touch needed to take the first ``C`` coins, against ``σ_d · sqrt(C / V)``, fitted by
  least squares through the origin over the levels the order's size reaches (at least five).

- **Iceberg**: a passive limit order pegged at the near touch (best bid for a buy, best ask for a sell: it earns
  the half spread) showing ``visible = size / slices`` coins and refilling it when it fills. In each interval of
  ``Δ`` hours the market trades ``passive_share × V × Δ / 24`` coins against our side (half the volume by
  default); that flow takes the queue resting ahead of us at the touch (its size in the book) before our visible
  clip, and every refill joins the back of the queue again, so an interval fills
  ``flow × visible / (queue + visible)`` coins (at most what is left). Fills are priced at the interval's start
  mid (with the permanent impact) at the touch offset. Whatever is left at ``over`` is sent as a market order
  on the fresh book. Fills are assumed to carry no information (no adverse selection): an optimistic bound for
  passive execution.

- **Paths**: ``Z = numpy.random.default_rng(seed).standard_normal((paths, slices))``; ``W(t_0) = 0`` and
  ``W(t_i) = sqrt(Δ) · (Z_0 + … + Z_{i−1})`` for ``i = 1 … slices`` (``t_slices = over``: the iceberg's clean-up).
  The same draws serve every algorithm (common random numbers: the savings are paired per path). The book walk
  is the same on every path (the depth and the schedule are); only the mid differs.

Slippage is against the arrival mid ``m0`` in basis points, positive = worse for the order
(``s · (avg − m0) / m0 · 10⁴``); ``vs_mid`` is each fill against the mid just before it, weighted by quantity (the
cost of the book alone, without the price's moves); cost = ``s · (avg − m0) · filled`` in USD (negative: the
price moved in the order's favour). Exchange fees are not included.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dtrack.analytics.book import EDGE

if TYPE_CHECKING:
    from dtrack.records import OrderBook

SIDES = ("buy", "sell")
ALGOS = ("market", "twap", "vwap", "iceberg")
BPS = 10_000.0
HOUR_MS = 3_600_000
#: the band of the book the default venue choice compares (fraction of the mid either side)
DEPTH_BAND = 0.01
#: the quantiles of a figure's interval over the paths
LOW_Q, HIGH_Q = 5.0, 95.0

Array = np.ndarray[Any, np.dtype[np.float64]]


def sign_of(side: str) -> int:
    """+1 for a buy, −1 for a sell (a ``ValueError`` for anything else)."""
    if side not in SIDES:
        raise ValueError(f"side must be buy or sell, got {side!r}")
    return 1 if side == "buy" else -1


# --- the book as an order sees it ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ladder:
    """The side of a book an order of ``side`` takes (asks for a buy, bids for a sell), best first: ``prices``
    (USD per coin) and ``depth`` (coins); ``mid`` = (best bid + best ask) / 2; ``may_go_on``: the side holds as
    many levels as the venue's answer can (``OrderBook.limit``), so more may rest beyond its last level;
    ``touch_own`` / ``queue_own``: the best price and size on the order's OWN side (where a passive order rests)."""

    side: str
    mid: float
    prices: Array
    depth: Array
    may_go_on: bool
    touch_own: float
    queue_own: float

    @property
    def sign(self) -> int:
        """+1 buy, −1 sell."""
        return sign_of(self.side)

    @property
    def offsets(self) -> Array:
        """Each level's distance beyond the mid, a fraction (``s · (price − mid) / mid``; > 0 past the mid)."""
        return self.sign * (self.prices - self.mid) / self.mid

    @property
    def half_spread(self) -> float:
        """(ask − bid) / 2 / mid, a fraction."""
        return float(self.offsets[0]) if len(self.prices) else math.nan

    def within(self, band: float = DEPTH_BAND) -> tuple[float, float, bool]:
        """(coins, USD) resting within ``band`` (a fraction) of the mid on this side, and whether the band reaches
        past the last level of a side that may go on (the figures are then lower bounds). The ``book`` query's rule
        (``dtrack.analytics.book``): a level on the band's edge is in, to ``EDGE``; only a last level strictly
        inside the band truncates it."""
        s = self.sign
        far = self.mid * (1.0 + s * band)  # the band's edge price on this side
        keep = s * self.prices <= s * far * (1.0 + s * EDGE)
        coins = float(self.depth[keep].sum())
        usd = float((self.depth[keep] * self.prices[keep]).sum())
        cut = len(self.prices) > 0 and s * float(self.prices[-1]) < s * far * (1.0 - s * EDGE)
        return coins, usd, bool(self.may_go_on and cut)


def ladder_of(book: OrderBook, side: str) -> Ladder:
    """The side of ``book`` an order of ``side`` takes; a ``ValueError`` when either side is empty (no mid)."""
    s = sign_of(side)
    if not book.bids or not book.asks:
        raise ValueError("the book has an empty side: no mid")
    mid = (book.bids[0][0] + book.asks[0][0]) / 2.0
    take, own = (book.asks, book.bids) if s > 0 else (book.bids, book.asks)
    arr = np.asarray(take, dtype=np.float64)
    return Ladder(side=side, mid=mid, prices=arr[:, 0].copy(), depth=arr[:, 1].copy(),
                  may_go_on=len(take) >= book.limit, touch_own=float(own[0][0]), queue_own=float(own[0][1]))


def walk(prices: Array, depth: Array, qty: float) -> tuple[float, float, int]:
    """Take ``qty`` coins from levels best first: (coins filled, USD paid or received, levels touched: up to the
    last level taken from, so ``prices[levels - 1]`` is the worst price paid)."""
    take = _takes(depth, qty)
    taken = np.flatnonzero(take)
    return float(take.sum()), float(take @ prices), int(taken[-1]) + 1 if len(taken) else 0


def _takes(depth: Array, qty: float) -> Array:
    """The coins taken from each level to fill ``qty`` best first (a float residue of the running sums, below
    ``1e-12`` of the depth summed up to that level, is no fill: relative to the book, not to the order, so an
    order larger than the whole side still takes every level)."""
    before = np.concatenate(([0.0], np.cumsum(depth)[:-1]))
    take = np.clip(qty - before, 0.0, depth)
    take[take <= (before + depth) * 1e-12] = 0.0
    return take


@dataclass(frozen=True, slots=True)
class MarketFill:
    """A market order of ``size`` coins walked through the book at once.

    ``avg_price`` (USD per coin) and ``worst_price`` over the ``filled`` coins (None when nothing filled);
    ``slippage_bps`` against the arrival mid, positive = worse; ``cost_usd`` = ``s · (avg − mid) · filled``;
    ``levels`` consumed of ``levels_available``; ``depth``: ``enough``, ``book_truncated`` (the venue's answer ended
    before the order did: the rest is unknown) or ``side_exhausted`` (the venue's whole side was too small)."""

    side: str
    size: float
    mid: float
    filled: float
    notional_usd: float
    avg_price: float | None
    worst_price: float | None
    slippage_bps: float | None
    cost_usd: float | None
    levels: int
    levels_available: int
    depth: str

    @property
    def unfilled(self) -> float:
        """Coins the book could not fill (0 when it was deep enough: not a rounding residue)."""
        return 0.0 if self.depth == "enough" else max(0.0, self.size - self.filled)


def market_order(ladder: Ladder, size: float) -> MarketFill:
    """Walk ``size`` coins through the ladder (see ``MarketFill``)."""
    filled, notional, levels = walk(ladder.prices, ladder.depth, size)
    avg = notional / filled if filled > 0 else None
    short = filled < size * (1 - 1e-12)
    depth = "enough" if not short else ("book_truncated" if ladder.may_go_on else "side_exhausted")
    return MarketFill(
        side=ladder.side, size=size, mid=ladder.mid, filled=filled, notional_usd=notional, avg_price=avg,
        worst_price=float(ladder.prices[levels - 1]) if levels else None,
        slippage_bps=None if avg is None else ladder.sign * (avg - ladder.mid) / ladder.mid * BPS,
        cost_usd=None if avg is None else ladder.sign * (avg - ladder.mid) * filled,
        levels=levels, levels_available=len(ladder.prices), depth=depth)


# --- calibration --------------------------------------------------------------------------------------------


def realized_sigma(closes: Sequence[float] | Array) -> float | None:
    """The standard deviation (ddof 1) of the log returns of consecutive ``closes``: volatility per bar (per
    sqrt(hour) for hourly closes); None with fewer than three closes."""
    c = np.asarray(closes, dtype=np.float64)
    if len(c) < 3 or not np.all(c > 0):
        return None
    return float(np.std(np.diff(np.log(c)), ddof=1))


@dataclass(frozen=True, slots=True)
class Profile:
    """The venue's traded volume by hour of day (UTC): ``share[h]`` (sums to 1) from ``bars`` hourly candles over
    ``days``; ``missing`` hours had no candle and got the mean of the others."""

    share: Array
    bars: int
    days: float
    missing: tuple[int, ...] = ()

    @classmethod
    def flat(cls) -> Profile:
        """Every hour alike (TWAP's schedule as a profile)."""
        return cls(share=np.full(24, 1 / 24), bars=0, days=0.0)


def hourly_profile(open_ms: Sequence[int] | Array, volume: Sequence[float] | Array) -> Profile | None:
    """The mean volume of each hour of day (UTC) of hourly candles (``open_ms``: each bar's open time, epoch ms),
    normalized to shares; None when no volume is known (no bar, or all zero)."""
    t = np.asarray(open_ms, dtype=np.int64)
    v = np.asarray(volume, dtype=np.float64)
    ok = np.isfinite(v) & (v >= 0)
    t, v = t[ok], v[ok]
    if not len(v) or not v.sum() > 0:
        return None
    hour = (t // HOUR_MS) % 24
    sums = np.bincount(hour, weights=v, minlength=24)
    counts = np.bincount(hour, minlength=24)
    mean = np.divide(sums, counts, out=np.zeros(24), where=counts > 0)
    missing = tuple(int(h) for h in np.flatnonzero(counts == 0))
    if missing:
        mean[counts == 0] = mean[counts > 0].mean()
    return Profile(share=mean / mean.sum(), bars=len(v), days=len(v) / 24.0, missing=missing)


#: the fewest book levels beyond the touch ``calibrate_y`` fits on (when the book has them)
FIT_LEVELS = 5


def calibrate_y(ladder: Ladder, sigma_daily: float, daily_volume: float,
                size: float | None = None) -> tuple[float | None, int, float | None]:
    """(Y, points, R²) of the square-root law ``displacement = Y · σ_d · sqrt(C / V)`` fitted on the book: for every
    level ``k >= 1`` whose coins resting before it ``C`` are at most ``size`` (every level when None; at least the
    first ``FIT_LEVELS`` beyond the touch, so the fit is at the scale of the order), ``displacement`` = its offset
    beyond the touch (``offset_k − offset_0``, a fraction of the mid); least squares through the origin
    (``Y = Σxy / Σx²``), R² uncentered. (None, n, None) when it cannot be fitted (no level beyond the touch, no
    volatility or volume)."""
    off = ladder.offsets
    before = np.cumsum(ladder.depth)[:-1]
    y = off[1:] - off[0]
    if size is not None:
        keep = max(int(np.searchsorted(before, size, side="right")), FIT_LEVELS)
        before, y = before[:keep], y[:keep]
    n = len(y)
    if n < 1 or not sigma_daily > 0 or not daily_volume > 0:
        return None, n, None
    x = sigma_daily * np.sqrt(before / daily_volume)
    sxx = float(x @ x)
    if not sxx > 0:
        return None, n, None
    coef = float(x @ y) / sxx
    syy = float(y @ y)
    resid = y - coef * x
    r2 = 1.0 - float(resid @ resid) / syy if syy > 0 else None
    return coef, n, r2


@dataclass(frozen=True, slots=True)
class Calibration:
    """The model's parameters: ``sigma_hourly`` (fraction per sqrt(hour), from the hourly closes),
    ``daily_volume`` (V, coins per day), ``y`` (the square-root law's coefficient, None: no permanent impact),
    ``permanent_share`` (φ), ``resilience`` (refill per hour as a multiple of an hour's average volume) and
    ``passive_share`` (the share of the volume that trades against a resting order's side)."""

    sigma_hourly: float
    daily_volume: float
    y: float | None
    permanent_share: float = 0.1
    resilience: float = 1.0
    passive_share: float = 0.5

    @property
    def sigma_daily(self) -> float:
        """σ per day (``σ_h · sqrt(24)``)."""
        return self.sigma_hourly * math.sqrt(24.0)

    @property
    def sigma_annual(self) -> float:
        """σ per year of 365 days."""
        return self.sigma_hourly * math.sqrt(24.0 * 365.0)

    @property
    def refill_per_hour(self) -> float:
        """Coins of consumed depth refilled per hour (``resilience · V / 24``)."""
        return self.resilience * self.daily_volume / 24.0

    def law_impact(self, qty: float) -> float | None:
        """``Y · σ_d · sqrt(qty / V)``: the square-root law's impact of ``qty`` coins, a fraction (None without Y)."""
        if self.y is None or not self.daily_volume > 0:
            return None
        return self.y * self.sigma_daily * math.sqrt(max(qty, 0.0) / self.daily_volume)


# --- the simulation -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """What to simulate: ``size`` coins on ``side`` over ``over_hours`` in ``slices`` children, ``paths`` price
    paths from ``seed``; ``start_hour``: the start's hour of day, UTC (fractional: 13.5 = 13:30), for VWAP."""

    side: str
    size: float
    over_hours: float
    slices: int
    paths: int
    seed: int
    start_hour: float = 0.0

    @property
    def dt(self) -> float:
        """Hours between children."""
        return self.over_hours / self.slices


def vwap_weights(profile: Profile, start_hour: float, dt: float, n: int) -> Array:
    """Each child's share of the order: the profile's volume over ``[start + i·dt, start + (i+1)·dt)`` hours of day
    (wrapping at 24), normalized; equal shares where the profile holds no volume in the whole window (hours whose
    candles all traded nothing: no weight to spread by)."""
    share = profile.share
    cum = np.concatenate(([0.0], np.cumsum(share)))

    def integral(x: Array) -> Array:  # volume share from hour 0 of day 0 to x hours
        days, within = np.divmod(x, 24.0)
        h = np.minimum(within.astype(np.int64), 23)
        out: Array = days * cum[-1] + cum[h] + (within - h) * share[h]
        return out

    edges: Array = start_hour + dt * np.arange(n + 1, dtype=np.float64)
    w = np.diff(integral(edges))
    total = float(w.sum())
    weights: Array = w / total if total > 0 else np.full(n, 1.0 / n)
    return weights


def schedule(algo: str, spec: Spec, profile: Profile | None = None) -> Array:
    """Child sizes (coins) of ``twap`` (equal) or ``vwap`` (by ``profile``)."""
    if algo == "twap":
        return np.full(spec.slices, spec.size / spec.slices)
    if algo == "vwap":
        if profile is None:
            raise ValueError("vwap needs a volume profile")
        return spec.size * vwap_weights(profile, spec.start_hour, spec.dt, spec.slices)
    raise ValueError(f"no schedule for {algo!r}")


def _refill(depth: Array, avail: Array, amount: float) -> Array:
    """``avail`` after ``amount`` coins of the missing depth came back, best level first."""
    if amount <= 0:
        return avail
    missing = np.cumsum(depth - avail)
    left = np.maximum(missing - amount, 0.0)
    return depth - np.diff(left, prepend=0.0)


def child_walks(ladder: Ladder, sizes: Array, dt: float, refill_per_hour: float) -> tuple[Array, Array, Array]:
    """Walk each child through the current book (refilled for ``dt`` hours before every child but the first; what
    one cannot fill is added to the next): (coins filled, mean offset beyond the mid of its fills, levels touched)
    per child. The same on every path."""
    size = float(np.sum(sizes))
    # only the levels the whole order could ever reach matter (a child reaches level k only if the coins resting
    # before k are fewer than the order): the result is the same, the arrays shorter
    reach = int(np.searchsorted(np.cumsum(ladder.depth), size * (1 + 1e-12))) + 1
    depth, offsets = ladder.depth[:reach], ladder.offsets[:reach]
    avail = depth.copy()
    n = len(sizes)
    filled, offset, levels = np.zeros(n), np.zeros(n), np.zeros(n)
    carry = 0.0
    for i in range(n):
        if i:
            avail = _refill(depth, avail, refill_per_hour * dt)
        want = float(sizes[i]) + carry
        take = _takes(avail, want)
        got = float(take.sum())
        filled[i], levels[i] = got, np.count_nonzero(take)
        offset[i] = float(take @ offsets) / got if got > 0 else 0.0
        carry = max(0.0, want - got)
        avail = avail - take
    return filled, offset, levels


def mid_paths(m0: float, sigma_hourly: float, dt: float, z: Array) -> Array:
    """The exogenous mid at ``t_0 … t_n`` (``z``: (paths, n) standard normals): (paths, n + 1)."""
    paths, n = z.shape
    t = dt * np.arange(n + 1)
    w = np.zeros((paths, n + 1))
    np.cumsum(z, axis=1, out=w[:, 1:])
    w *= math.sqrt(dt)
    return m0 * np.exp(sigma_hourly * w - 0.5 * sigma_hourly ** 2 * t)


def impact_factor(cal: Calibration, sign: int, executed_before: Array) -> Array:
    """``1 + s · φ · Y · σ_d · sqrt(X / V)`` for each cumulative ``X`` (coins executed before)."""
    if cal.y is None or not cal.daily_volume > 0:
        return np.ones_like(executed_before)
    return 1.0 + sign * cal.permanent_share * cal.y * cal.sigma_daily * np.sqrt(executed_before / cal.daily_volume)


@dataclass(frozen=True, slots=True)
class Stat:
    """A figure over the paths: ``expected`` (the model's exact expectation: the mid is a martingale, so the
    average over infinitely many paths), ``mean`` over the paths simulated, and the ``low``–``high`` interval (the
    5th and 95th percentiles over the paths)."""

    expected: float
    mean: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Array, expected: float | None = None) -> Stat:
        """The statistic of ``values`` (one per path); ``expected`` defaults to their mean."""
        lo, hi = np.percentile(values, [LOW_Q, HIGH_Q])
        mean = float(np.mean(values))
        return cls(mean if expected is None else float(expected), mean, float(lo), float(hi))


@dataclass(frozen=True, slots=True)
class AlgoRun:
    """One algorithm over every path: per path the average price (USD per coin), slippage against the arrival mid
    (bps), cost (USD), time to the last fill (hours) and fills (orders or clips that filled); ``expected_price``:
    the model's expectation of the average price; ``arrival`` the arrival mid, ``sign`` +1 buy −1 sell;
    ``vs_mid_bps`` (the
    fills against the mid just before each, quantity-weighted: the same on every path), ``filled`` and
    ``unfilled`` coins, ``children`` (the coins each child was asked; market: one), the most ``levels`` one child
    took."""

    algo: str
    arrival: float
    sign: int
    avg_price: Array
    slippage_bps: Array
    cost_usd: Array
    hours: Array
    fills: Array
    expected_price: float
    vs_mid_bps: float
    filled: float
    unfilled: float
    children: Array
    levels: int
    note: str = ""

    def stats(self) -> dict[str, Stat]:
        """Expectation, mean and 5–95 % interval of every per-path figure."""
        return {"avg_price": Stat.of(self.avg_price, self.expected_price),
                "slippage_bps": Stat.of(self.slippage_bps, self.expected_slippage_bps),
                "cost_usd": Stat.of(self.cost_usd, self.expected_cost_usd), "hours": Stat.of(self.hours),
                "fills": Stat.of(self.fills)}

    @property
    def expected_slippage_bps(self) -> float:
        """The model's expected slippage against the arrival mid (bps)."""
        return self.sign * (self.expected_price - self.arrival) / self.arrival * BPS

    @property
    def expected_cost_usd(self) -> float:
        """The model's expected cost (USD)."""
        return self.sign * (self.expected_price - self.arrival) * self.filled


def _priced(algo: str, m0: float, sign: int, fills: Array, mids: Array, factor: Array, vs_mid_bps: float,
            hours: float, count: int, size: float, children: Array, levels: int, note: str = "") -> AlgoRun:
    """An ``AlgoRun`` from the coins filled per step (n,), the exogenous mids of the steps per path (paths, n) and
    each step's price factor on that mid (n,: the permanent impact and the fills' offsets)."""
    got = float(fills.sum())
    paths = mids.shape[0]
    if got > 0:
        weights = fills * factor
        avg = mids @ weights / got
        expected = m0 * float(weights.sum()) / got
    else:
        avg, expected = np.full(paths, np.nan), math.nan
    return AlgoRun(algo=algo, arrival=m0, sign=sign, avg_price=avg, slippage_bps=sign * (avg - m0) / m0 * BPS,
                   cost_usd=sign * (avg - m0) * got, hours=np.full(paths, hours), fills=np.full(paths, float(count)),
                   expected_price=expected, vs_mid_bps=vs_mid_bps, filled=got, unfilled=max(0.0, size - got),
                   children=children, levels=levels, note=note)


def run_market(ladder: Ladder, spec: Spec) -> AlgoRun:
    """The market order as an ``AlgoRun`` (the same on every path: it fills at once on the arrival book)."""
    m = market_order(ladder, spec.size)
    fills = np.array([m.filled])
    factor = np.array([m.avg_price / ladder.mid if m.avg_price is not None else 1.0])
    vs_mid = m.slippage_bps if m.slippage_bps is not None else math.nan
    note = "" if m.depth == "enough" else m.depth
    return _priced("market", ladder.mid, ladder.sign, fills, np.full((spec.paths, 1), ladder.mid), factor, vs_mid,
                   0.0, 1 if m.filled > 0 else 0, spec.size, np.array([spec.size]), m.levels, note)


def run_sliced(algo: str, ladder: Ladder, cal: Calibration, spec: Spec, mids: Array, sizes: Array) -> AlgoRun:
    """TWAP or VWAP: children of ``sizes`` at ``t_0 … t_{n−1}`` on the paths' exogenous ``mids`` (paths, n + 1)."""
    s = ladder.sign
    n = len(sizes)
    filled, offset, levels = child_walks(ladder, sizes, spec.dt, cal.refill_per_hour)
    before = np.concatenate(([0.0], np.cumsum(filled)[:-1]))
    factor = impact_factor(cal, s, before) * (1.0 + s * offset)
    got = float(filled.sum())
    vs_mid = float(filled @ offset) / got * BPS if got > 0 else math.nan
    done = np.flatnonzero(filled > 0)
    last = int(done[-1]) * spec.dt if len(done) else 0.0  # child i is sent, and fills, at t_i = i·dt
    note = "" if got >= spec.size * (1 - 1e-9) else ("book_truncated" if ladder.may_go_on else "side_exhausted")
    return _priced(algo, ladder.mid, s, filled, mids[:, :n], factor, vs_mid, last, len(done), spec.size, sizes,
                   int(levels.max()) if n else 0, note)


def iceberg_plan(ladder: Ladder, cal: Calibration, spec: Spec) -> tuple[Array, float, float]:
    """(coins filled passively in each interval, hours until the last passive fill, visible clip) of the iceberg
    (see the module doc)."""
    visible = spec.size / spec.slices
    flow = cal.passive_share * cal.daily_volume / 24.0 * spec.dt
    capacity = flow * visible / (ladder.queue_own + visible)
    fills = np.zeros(spec.slices)
    left = spec.size
    end = 0.0
    for i in range(spec.slices):
        if left <= 0:
            break
        got = min(left, capacity)
        fills[i] = got
        left -= got
        end = (i + (got / capacity if capacity > 0 else 1.0)) * spec.dt
    return fills, end, visible


def run_iceberg(ladder: Ladder, cal: Calibration, spec: Spec, mids: Array) -> AlgoRun:
    """The passive iceberg with a market clean-up at ``over`` (see the module doc)."""
    s = ladder.sign
    passive, end, visible = iceberg_plan(ladder, cal, spec)
    rest = max(0.0, spec.size - float(passive.sum()))
    touch = s * (ladder.touch_own - ladder.mid) / ladder.mid  # < 0: better than the mid
    steps = np.append(passive, 0.0)
    offs = np.full(spec.slices + 1, touch)
    levels = 1
    note = ""
    if rest > spec.size * 1e-12:
        got, notional, levels = walk(ladder.prices, ladder.depth, rest)
        steps[-1] = got
        offs[-1] = s * (notional / got - ladder.mid) / ladder.mid if got > 0 else 0.0
        end = spec.over_hours
        if got < rest * (1 - 1e-9):
            note = "book_truncated" if ladder.may_go_on else "side_exhausted"
    before = np.concatenate(([0.0], np.cumsum(steps)[:-1]))
    factor = impact_factor(cal, s, before) * (1.0 + s * offs)
    got_all = float(steps.sum())
    vs_mid = float(steps @ offs) / got_all * BPS if got_all > 0 else math.nan
    clips = math.ceil(float(passive.sum()) / visible - 1e-9) + (1 if steps[-1] > 0 else 0)
    return _priced("iceberg", ladder.mid, s, steps, mids, factor, vs_mid, end, clips, spec.size,
                   np.full(spec.slices, visible), levels, note)


@dataclass(frozen=True, slots=True)
class Saving:
    """What an algorithm saves against the market order, per path (USD; positive = cheaper), and the expected
    saving as a share of the market order's cost (None when that cost is not positive). Only for algorithms that
    filled the whole order when the market order did too (else the costs are over different quantities)."""

    usd: Stat
    share: float | None


@dataclass(frozen=True, slots=True)
class Comparison:
    """Every algorithm run on the same paths, with the savings against the market order."""

    spec: Spec
    calibration: Calibration
    market: MarketFill
    runs: dict[str, AlgoRun]
    savings: dict[str, Saving] = field(default_factory=dict)


def compare(ladder: Ladder, cal: Calibration, spec: Spec, algos: Sequence[str],
            profile: Profile | None = None) -> Comparison:
    """Run ``algos`` (``market`` always runs: it is the reference) on the same ``spec.paths`` paths."""
    unknown = [a for a in algos if a not in ALGOS]
    if unknown:
        raise ValueError(f"unknown algorithm {unknown[0]!r}")
    z = np.random.default_rng(spec.seed).standard_normal((spec.paths, spec.slices))
    mids = mid_paths(ladder.mid, cal.sigma_hourly, spec.dt, z)
    runs: dict[str, AlgoRun] = {"market": run_market(ladder, spec)}
    for algo in algos:
        if algo in ("twap", "vwap"):
            runs[algo] = run_sliced(algo, ladder, cal, spec, mids, schedule(algo, spec, profile))
        elif algo == "iceberg":
            runs[algo] = run_iceberg(ladder, cal, spec, mids)
    market = runs["market"]
    savings: dict[str, Saving] = {}
    base = market.expected_cost_usd
    for algo, run in runs.items():
        if algo == "market" or market.unfilled > spec.size * 1e-9 or run.unfilled > spec.size * 1e-9:
            continue  # costs over different quantities do not compare
        saved = market.cost_usd - run.cost_usd
        expected = base - run.expected_cost_usd
        savings[algo] = Saving(Stat.of(saved, expected), expected / base if base > 0 else None)
    return Comparison(spec=spec, calibration=cal, market=market_order(ladder, spec.size), runs=runs, savings=savings)
