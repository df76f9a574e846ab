"""Liquidations of the simulated market (pure, seeded, deterministic for a seed and a time like the rest of the sim).

The model: every ``SLOT_MS`` (5 min) leveraged traders open COHORTS on each asset, a long and a short one per
leverage of ``LEVERAGES`` (2x .. 100x), at the asset's index price of that moment (each cohort's entry jittered a
little), sized from the asset's open interest (``OPEN_SHARE`` of it per slot, split by the leverage mix, about as
much long as short). A cohort's liquidation level is ``entry x (1 - 1/L + m)`` for longs and ``entry x (1 + 1/L - m)``
for shorts (``m`` its maintenance margin, about ``MAINTENANCE``); its bankruptcy price ``entry x (1 -/+ 1/L)``.
Cohorts live ``LIFETIME_MS`` (24 h; older positions count as closed by their traders).

The price path the cohorts watch is the model's index price (``MarketModel.index_price``) sampled every minute and
linear in between (``path_price``). A cohort is liquidated the first time that path reaches its level: longs on a
down move, shorts on an up move (``crossings``, the exact crossing time interpolated in the minute). So liquidations
CLUSTER where the price moves through levels that many cohorts share (a move to a new low or high of the last hours
sweeps the high-leverage cohorts opened along the way), on both sides over a path with up and down moves.

Per contract (a perpetual or dated future of a venue), each cohort liquidation becomes a BURST: the contract's share
of the cohort's notional (``SimPerp.share``), cut into 1..``MAX_BURST`` events with heavy-tailed (Pareto) sizes,
spread over a few seconds after the crossing (exponential gaps, mean ``BURST_GAP_MS``, all within
``MAX_DELAY_MS``). On top, a quiet background: isolated liquidations at random times (Poisson, a contract's
``background_per_minute``), either side, more often on the side the path is moving against. Sizes are in the
venue's unit (``quantity_step``: coins of the venue's base on Binance USDⓈ-M and Bybit linear, USD contracts on
Binance COIN-M, Bybit inverse and Deribit inverse, contracts of ``contract_size`` on OKX), rounded to the lot
(at least one lot); ``base`` and ``usd`` follow from that quantity at the fill price.

Prices: a cohort event fills a little past its level (never past its bankruptcy price), a background one near the
path; both in the contract's price units (the index times the contract's mark/index ratio at the minute's start:
premium, basis and multiplier included). Venue formats round prices to their ticks.

Everything is a pure function of (seed, asset or contract, minute): events of minute ``b`` are the same whenever
and however often they are asked for; the results are cached per minute (``CACHE_BLOCKS``) so that many
connections cost one computation. ``sampled`` is the per-contract sampling of the venues that push at most one
liquidation per symbol per second (Binance ``forceOrder``, OKX ``liquidation-orders``).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from dtrack.sim.model import ASSETS, HOUR_MS, MarketModel, SimFuture, SimPerp

Contract = SimPerp | SimFuture

BLOCK_MS = 60_000
#: cohorts open every SLOT_MS (a multiple of the minute)
SLOT_MS = 5 * BLOCK_MS
LIFETIME_MS = 24 * HOUR_MS
#: (leverage, share of the leveraged notional opened at that leverage)
LEVERAGES: tuple[tuple[float, float], ...] = (
    (2, 0.06), (3, 0.06), (5, 0.12), (10, 0.20), (20, 0.20), (25, 0.12), (50, 0.12), (75, 0.06), (100, 0.06))
MAINTENANCE = 0.004
#: share of an asset's open interest opened per slot by the leveraged cohorts (longs and shorts together)
OPEN_SHARE = 0.0004
#: a burst has about one event per BURST_USD of the contract's share of the cohort (1..MAX_BURST events)
BURST_USD = 15_000.0
MAX_BURST = 12
BURST_GAP_MS = 500.0
MAX_DELAY_MS = 30_000
#: background liquidations per minute on a contract: BACKGROUND_BASE + BACKGROUND_PER_SHARE x its OI share
BACKGROUND_BASE = 0.3
BACKGROUND_PER_SHARE = 6.0
#: a background liquidation's USD size: about BACKGROUND_USD, heavy-tailed
BACKGROUND_USD = 4_000.0
PARETO_ALPHA = 1.4
#: the sampling window of Binance ``forceOrder`` and OKX ``liquidation-orders`` (one event per symbol per window)
SAMPLE_MS = 1000
CACHE_BLOCKS = 8192


@dataclass(frozen=True, slots=True)
class Cohort:
    """Positions opened together on ``asset`` at ``open_ms`` (index ``entry``) at one leverage, on one side."""

    asset: str
    open_ms: int
    side: str  # "long" | "short"
    leverage: float
    entry: float
    level: float  # the index price that liquidates it
    bankruptcy: float  # index terms
    usd: float


@dataclass(frozen=True, slots=True)
class Crossing:
    """A cohort liquidated: the path reached its level at ``t_ms``."""

    cohort: Cohort
    t_ms: int


@dataclass(frozen=True, slots=True)
class SimLiquidation:
    """One liquidation on a contract.

    ``side``: the POSITION liquidated (``long`` / ``short``). ``price``: the average fill price and ``bankruptcy``
    the position's bankruptcy price, both per unit of the venue's base (the contract's price units). ``qty``: the
    size in the venue's unit (``quantity_step``); ``base`` the same in units of the venue's base and ``usd`` in USD.
    ``cohort``: from a cohort crossing (False: background). ``draw``: a uniform number in [0, 1) the venue formats
    use for their own choices (OKX position mode, Deribit maker/taker), fixed with the event.
    """

    contract: Contract
    t_ms: int
    side: str
    price: float
    bankruptcy: float
    qty: float
    base: float
    usd: float
    cohort: bool
    draw: float

    @property
    def order_side(self) -> str:
        """The side of the order that closed the position: ``sell`` for a long, ``buy`` for a short."""
        return "sell" if self.side == "long" else "buy"


def draws(n: int, *key: object) -> list[float]:
    """``n`` deterministic numbers in [0, 1) from a key (16 bits each)."""
    out: list[float] = []
    text = ":".join(map(str, key))
    part = 0
    while len(out) < n:
        digest = hashlib.blake2b(f"{text}:{part}".encode(), digest_size=64).digest()
        out += [int.from_bytes(digest[i:i + 2], "big") / 65536.0 for i in range(0, 64, 2)]
        part += 1
    return out[:n]


def _poisson(mean: float, u: float) -> int:
    """The Poisson(``mean``) count at the quantile ``u``."""
    k, p = 0, math.exp(-mean)
    total = p
    while u >= total and k < 100:
        k += 1
        p *= mean / k
        total += p
    return k


def pareto(u: float) -> float:
    """A heavy-tailed weight >= 1 (Pareto, alpha ``PARETO_ALPHA``, capped at 50)."""
    return min(50.0, float((1.0 - u) ** (-1.0 / PARETO_ALPHA)))


def contract_key(contract: Contract) -> tuple[str, str, str]:
    """(venue, host, symbol): a contract's identity."""
    return contract.venue, contract.host, contract.symbol


def quantity_step(contract: Contract) -> tuple[str, float]:
    """(unit, lot) of a venue's liquidation size: ``base`` (coins of the venue's base, multiplier included, e.g.
    1000PEPE), ``usd`` or ``contracts`` (of ``contract_size`` in ``contract_unit``)."""
    venue, inverse = contract.venue, contract.margin == "inverse"
    if venue == "okx" or (venue == "binance" and contract.host == "coinm"):
        return "contracts", 1.0
    if venue == "deribit":
        return ("usd" if inverse else "base"), contract.contract_size
    if inverse:
        return "usd", 1.0
    if venue == "binance":
        return "base", 1.0 if contract.multiplier != 1 else 0.001
    return "base", 0.001


def sized(contract: Contract, usd: float, price: float) -> tuple[float, float, float]:
    """(qty in the venue's unit on its lot, at least one lot; base; usd) of a liquidation of about ``usd`` at
    ``price`` (per unit of the venue's base)."""
    unit, lot = quantity_step(contract)
    if unit == "contracts":
        per_contract = contract.contract_size * (1.0 if contract.contract_unit == "usd" else price)
        qty = max(1, round(usd / per_contract)) * lot
        if contract.contract_unit == "usd":
            return qty, qty * contract.contract_size / price, qty * contract.contract_size
        return qty, qty * contract.contract_size, qty * contract.contract_size * price
    if unit == "usd":
        qty = round(max(1, round(usd / lot)) * lot, 10)
        return qty, qty / price, qty
    qty = round(max(1, round(usd / price / lot)) * lot, 10)
    return qty, qty, qty * price


class _Lru:
    """A small bounded cache."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: Any) -> Any:
        self.data[key] = value
        if len(self.data) > self.size:
            self.data.popitem(last=False)
        return value


class LiquidationModel:
    """The liquidations of one market model (see the module docstring). Pure: any instance over the same seed
    gives the same events; an instance only caches."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.seed = model.seed
        self._samples = _Lru(8 * (LIFETIME_MS // BLOCK_MS) + 64)
        self._chunks = _Lru(8 * (LIFETIME_MS // SLOT_MS) + 64)
        self._cohorts = _Lru(8 * (LIFETIME_MS // SLOT_MS) + 64)
        self._crossings = _Lru(CACHE_BLOCKS)
        self._events = _Lru(CACHE_BLOCKS)
        self._ratios = _Lru(CACHE_BLOCKS)

    # --- the path -----------------------------------------------------------------------------------------------

    def sample(self, asset: str, minute: int) -> float:
        """The index price of ``asset`` at the start of ``minute`` (epoch minutes)."""
        key = (asset, minute)
        value = self._samples.get(key)
        if value is None:
            value = self._samples.put(key, self.model.index_price(asset, minute * BLOCK_MS))
        return float(value)

    def path_price(self, asset: str, t_ms: int) -> float:
        """The path the cohorts watch: minute samples of the index, linear in between."""
        minute, offset = divmod(t_ms, BLOCK_MS)
        p0 = self.sample(asset, minute)
        return p0 if offset == 0 else p0 + (self.sample(asset, minute + 1) - p0) * offset / BLOCK_MS

    def _chunk(self, asset: str, slot: int) -> tuple[float, float]:
        """(min, max) of the minute samples of one slot (its first minute to its last)."""
        key = (asset, slot)
        value = self._chunks.get(key)
        if value is None:
            per = SLOT_MS // BLOCK_MS
            prices = [self.sample(asset, slot * per + i) for i in range(per)]
            value = self._chunks.put(key, (min(prices), max(prices)))
        return value  # type: ignore[no-any-return]

    # --- cohorts and crossings --------------------------------------------------------------------------------

    def cohorts(self, asset: str, slot: int) -> tuple[Cohort, ...]:
        """The cohorts opened on ``asset`` in ``slot`` (at ``slot x SLOT_MS``): one long and one short a leverage."""
        key = (asset, slot)
        found = self._cohorts.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        open_ms = slot * SLOT_MS
        price = self.sample(asset, open_ms // BLOCK_MS)
        notional = ASSETS[asset].oi_usd * OPEN_SHARE
        d = draws(1 + 5 * len(LEVERAGES), self.seed, "cohort", asset, slot)
        long_share = 0.4 + 0.2 * d[0]
        out: list[Cohort] = []
        for i, (leverage, weight) in enumerate(LEVERAGES):
            jitter, margin, size_l, size_s, spread = d[1 + 5 * i: 6 + 5 * i]
            entry = price * (1.0 + 0.002 * (2.0 * jitter - 1.0))
            m = MAINTENANCE * (0.5 + margin)
            usd = notional * weight * (0.4 + 1.2 * spread)
            for side, share, size in (("long", long_share, size_l), ("short", 1.0 - long_share, size_s)):
                sign = -1.0 if side == "long" else 1.0
                out.append(Cohort(asset, open_ms, side, leverage, entry, entry * (1.0 + sign * (1.0 / leverage - m)),
                                  entry * (1.0 + sign / leverage), usd * 2.0 * share * (0.5 + size)))
        return self._cohorts.put(key, tuple(out))  # type: ignore[no-any-return]

    def crossings(self, asset: str, minute: int) -> tuple[Crossing, ...]:
        """The cohorts liquidated in ``minute``, by time: alive at its start (the path has not reached their level
        since they opened) and reached within it."""
        key = (asset, minute)
        found = self._crossings.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        p0, p1 = self.sample(asset, minute), self.sample(asset, minute + 1)
        out: list[Crossing] = []
        if p0 != p1:
            falling = p1 < p0
            per = SLOT_MS // BLOCK_MS
            last_slot = minute // per
            first_slot = -(-(minute * BLOCK_MS - LIFETIME_MS) // SLOT_MS)
            partial = [self.sample(asset, m) for m in range(last_slot * per, minute + 1)]
            low, high = min(partial), max(partial)  # of the path from the slot's open to the minute's start
            for slot in range(last_slot, first_slot - 1, -1):
                if slot < last_slot:
                    c_low, c_high = self._chunk(asset, slot)
                    low, high = min(low, c_low), max(high, c_high)
                if (low <= p1) if falling else (high >= p1):
                    break  # every older cohort of that side was liquidated before, or lies beyond p1
                for cohort in self.cohorts(asset, slot):
                    if falling and cohort.side == "long" and p1 <= cohort.level < low:
                        frac = (p0 - cohort.level) / (p0 - p1)
                    elif not falling and cohort.side == "short" and high < cohort.level <= p1:
                        frac = (cohort.level - p0) / (p1 - p0)
                    else:
                        continue
                    out.append(Crossing(cohort, minute * BLOCK_MS + min(BLOCK_MS - 1, int(frac * BLOCK_MS))))
        out.sort(key=lambda c: (c.t_ms, c.cohort.side, c.cohort.open_ms, c.cohort.leverage))
        return self._crossings.put(key, tuple(out))  # type: ignore[no-any-return]

    # --- per contract -----------------------------------------------------------------------------------------

    def ratio(self, contract: Contract, minute: int) -> float:
        """The contract's mark over the index at the minute's start (premium, basis and multiplier)."""
        key = (contract_key(contract), minute)
        value = self._ratios.get(key)
        if value is None:
            t = minute * BLOCK_MS
            value = self._ratios.put(key, self.model.contract_mark(contract, t) / self.sample(contract.asset, minute))
        return float(value)

    @staticmethod
    def background_per_minute(contract: Contract) -> float:
        """The mean count of background liquidations a minute on a contract."""
        return BACKGROUND_BASE + BACKGROUND_PER_SHARE * contract.share

    def _burst(self, contract: Contract, crossing: Crossing) -> list[SimLiquidation]:
        """One contract's events of a cohort liquidation."""
        c = crossing.cohort
        usd = c.usd * contract.share
        d = draws(1 + 4 * MAX_BURST, self.seed, "burst", *contract_key(contract), c.asset, c.open_ms, c.side,
                   c.leverage)
        n = max(1, min(MAX_BURST, math.ceil(usd / BURST_USD * (0.5 + d[0]))))
        weights, gaps, slips, marks = (d[1 + k * MAX_BURST: 1 + k * MAX_BURST + n] for k in range(4))
        sizes = [pareto(u) for u in weights]
        total = sum(sizes)
        ratio = self.ratio(contract, crossing.t_ms // BLOCK_MS)
        sign = -1.0 if c.side == "long" else 1.0
        out: list[SimLiquidation] = []
        t = crossing.t_ms
        for size, gap, slip, draw in zip(sizes, gaps, slips, marks, strict=True):
            t += int(-BURST_GAP_MS * math.log(1.0 - gap))
            if t > crossing.t_ms + MAX_DELAY_MS:
                break
            # a fill past the level by at most a fifth of the smallest maintenance margin: short of bankruptcy
            price = c.level * (1.0 + sign * 0.2 * MAINTENANCE * slip) * ratio
            qty, base, value = sized(contract, usd * size / total, price)
            out.append(SimLiquidation(contract, t, c.side, price, c.bankruptcy * ratio, qty, base, value, True, draw))
        return out

    def _background(self, contract: Contract, minute: int) -> list[SimLiquidation]:
        """A contract's background liquidations in ``minute``."""
        d = draws(1, self.seed, "quiet", *contract_key(contract), minute)
        n = _poisson(self.background_per_minute(contract), d[0])
        if not n:
            return []
        d = draws(5 * n, self.seed, "quiet", *contract_key(contract), minute, "events")
        p0, p1 = self.sample(contract.asset, minute), self.sample(contract.asset, minute + 1)
        long_odds = 0.5 + (0.15 if p1 < p0 else -0.15 if p1 > p0 else 0.0)
        ratio = self.ratio(contract, minute)
        out = []
        for i in range(n):
            at, side_u, size_u, slip_u, draw = d[5 * i: 5 * i + 5]
            t = minute * BLOCK_MS + int(at * BLOCK_MS)
            side = "long" if side_u < long_odds else "short"
            sign = -1.0 if side == "long" else 1.0
            price = self.path_price(contract.asset, t) * ratio * (1.0 + sign * 0.0004 * slip_u)
            bankruptcy = price * (1.0 + sign * (0.002 + 0.006 * slip_u))
            qty, base, usd = sized(contract, BACKGROUND_USD * pareto(size_u) / 3.0, price)
            out.append(SimLiquidation(contract, t, side, price, bankruptcy, qty, base, usd, False, draw))
        return out

    def minute_events(self, contract: Contract, minute: int) -> tuple[SimLiquidation, ...]:
        """The contract's liquidations whose time falls in ``minute``, by time (bursts of crossings of this minute
        and the one before, and the background)."""
        key = (contract_key(contract), minute)
        found = self._events.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        out = self._background(contract, minute)
        for before in range(minute - 1 - MAX_DELAY_MS // BLOCK_MS, minute + 1):
            for crossing in self.crossings(contract.asset, before):
                out += [e for e in self._burst(contract, crossing) if e.t_ms // BLOCK_MS == minute]
        if isinstance(contract, SimFuture):
            out = [e for e in out if e.t_ms < contract.expiry_ms]
        out.sort(key=lambda e: (e.t_ms, e.side, e.qty, e.price))
        return self._events.put(key, tuple(out))  # type: ignore[no-any-return]

    def events(self, contract: Contract, start_ms: int, end_ms: int) -> list[SimLiquidation]:
        """The contract's liquidations with ``start_ms <= time < end_ms``, by time."""
        out: list[SimLiquidation] = []
        for minute in range(start_ms // BLOCK_MS, (end_ms - 1) // BLOCK_MS + 1):
            found = self.minute_events(contract, minute)
            times = [e.t_ms for e in found]
            out += found[bisect.bisect_left(times, start_ms): bisect.bisect_left(times, end_ms)]
        return out

    def sampled(self, contract: Contract, start_ms: int, end_ms: int) -> list[SimLiquidation]:
        """What a venue publishing at most one liquidation per symbol per ``SAMPLE_MS`` shows of the contract's
        liquidations in the whole windows of ``[start_ms, end_ms)``: of each window, its latest event, provided it
        comes at least ``SAMPLE_MS`` after the latest event of the window before (so no two events shown are less
        than ``SAMPLE_MS`` apart); the others are never published. Windows are aligned on ``SAMPLE_MS``."""
        first = -(-start_ms // SAMPLE_MS)
        last = end_ms // SAMPLE_MS  # windows first .. last - 1
        if last <= first:
            return []
        latest: dict[int, SimLiquidation] = {}
        for e in self.events(contract, (first - 1) * SAMPLE_MS, last * SAMPLE_MS):
            latest[e.t_ms // SAMPLE_MS] = e  # sorted by time: the last one of a window stays
        out = []
        for window in range(first, last):
            pick, before = latest.get(window), latest.get(window - 1)
            if pick is not None and (before is None or pick.t_ms - before.t_ms >= SAMPLE_MS):
                out.append(pick)
        return out


def by_time(events: Iterable[SimLiquidation]) -> list[SimLiquidation]:
    """Events of several contracts in time order (ties by symbol)."""
    return sorted(events, key=lambda e: (e.t_ms, e.contract.symbol))


def decimals(step: float) -> int:
    """Decimal places of a tick or lot (0.001 -> 3, 10 -> 0)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def plain(x: float, step: float) -> str:
    """``x`` on the grid of ``step`` as a plain decimal string without trailing zeros (never an exponent)."""
    places = decimals(step)
    text = f"{round(round(x / step) * step, places):.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
