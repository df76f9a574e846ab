"""Liquidations of the simulated market (pure, seeded, deterministic for a seed and a time like the rest of the sim).

The model follows the sim's own open interest (``MarketModel.open_interest_base``, per contract), the way the
estimated liquidation map (``dtrack.analytics.liquidation_map``) reads it:

- Opened. Every ``SLOT_MS`` (5 min) a contract (each perpetual of the asset, and each dated future listed at that
  hour) whose open interest rises over the slot opens that many coins of new positions, at the asset's index price
  at the slot's start (``MarketModel.index_price``, the minute sample). A new position has a long and a short
  holder; the LEVERAGED side counted is long for ``long_share`` of the coins and short for the rest, with
  ``long_share`` the model's long/short statistic of the contract where its venue publishes one
  (``MarketModel.long_share``: Binance ``top positions``, Bybit and OKX ``accounts``; ``LONG_SHORT``) and 50/50
  elsewhere. Each side is spread over ``LEVERAGES`` (2x .. 100x, their weights jittered per slot: x 0.4 .. 1.6,
  renormalized, so the USD opened is exactly the increase). One ``Cohort`` per (asset, slot, side, leverage) holds
  every contract's part (``parts``: USD at opening per contract x ``weight``).
- Closed. Where a contract's open interest falls over a slot, the same fraction of every one of its open cohorts
  closes (``1 - OI_end / OI_start``, pro rata): a cohort's part at time ``t`` is its part at opening x the product
  of those ratios over the whole slots between its opening slot and ``t``'s (``survival``). No other flow: positions
  older than ``LIFETIME_MS`` (3 days) count as closed by their traders (the map keeps them for its whole window; a
  difference the scoring lives with).
- Liquidated. A cohort's liquidation level is ``entry x (1 - 1/L + m)`` for longs and ``entry x (1 + 1/L - m)`` for
  shorts (``m`` its maintenance margin, ``MAINTENANCE`` x 0.5 .. 1.5); its bankruptcy price ``entry x (1 -/+ 1/L)``.
  The price path the cohorts watch is the model's index price sampled every minute and linear in between
  (``path_price``). A cohort is liquidated the first time that path reaches its level: longs on a down move, shorts
  on an up move (``crossings``, the exact crossing time interpolated in the minute). So liquidations CLUSTER where
  the price moves through levels that many positions share (a move to a new low or high of the last hours sweeps the
  high-leverage cohorts opened along the way), on both sides over a path with up and down moves, and they are
  largest where open interest was added.

Per contract, each cohort liquidation becomes a BURST: the contract's part of the cohort still open at the crossing
(``Cohort.part`` x ``survival``), cut into 1..``MAX_BURST`` events with heavy-tailed (Pareto) sizes, spread over a
few seconds after the crossing (exponential gaps, mean ``BURST_GAP_MS``, all within ``MAX_DELAY_MS``). On top, a
quiet background: isolated liquidations at random times (Poisson, a contract's ``background_per_minute``), either
side, more often on the side the path is moving against (noise no map can place). Sizes are in the venue's unit
(``quantity_step``: coins of the venue's base on Binance USDⓈ-M and Bybit linear, USD contracts on Binance COIN-M,
Bybit inverse and Deribit inverse, contracts of ``contract_size`` on OKX), rounded to the lot (at least one lot);
``base`` and ``usd`` follow from that quantity at the fill price.

Prices: a cohort event fills a little past its level (never past its bankruptcy price), a background one near the
path; both in the contract's price units (the index times the contract's mark/index ratio at the minute's start:
premium, basis and multiplier included). Venue formats round prices to their ticks.

Everything is a pure function of (seed, asset or contract, minute): events of minute ``b`` are the same whenever
and however often they are asked for; the results are cached (open interest per contract and hour, cohorts per
asset and slot, crossings and events per minute; ``CACHE_BLOCKS``) so that many connections cost one computation.
``sampled`` is the per-contract sampling of the venues that push at most one liquidation per symbol per second
(Binance ``forceOrder``, OKX ``liquidation-orders``).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import struct
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any

from dtrack.sim.model import FUTURE_LINES, HOUR_MS, PERPS, MarketModel, SimFuture, SimPerp

Contract = SimPerp | SimFuture
Key = tuple[str, str, str]

BLOCK_MS = 60_000
#: cohorts open every SLOT_MS (a multiple of the minute; HOUR_MS a multiple of it)
SLOT_MS = 5 * BLOCK_MS
SLOTS_PER_HOUR = HOUR_MS // SLOT_MS
LIFETIME_MS = 72 * HOUR_MS
#: (leverage, share of the leveraged notional opened at that leverage)
LEVERAGES: tuple[tuple[float, float], ...] = (
    (2, 0.06), (3, 0.06), (5, 0.12), (10, 0.20), (20, 0.20), (25, 0.12), (50, 0.12), (75, 0.06), (100, 0.06))
MAINTENANCE = 0.004
#: the long/short statistic of the model a venue publishes (the split of its new positions); 50/50 elsewhere
LONG_SHORT = {"binance": "top positions", "bybit": "accounts", "okx": "accounts"}
#: a burst has about one event per BURST_USD of the contract's part of the cohort (1..MAX_BURST events)
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
_U16 = struct.Struct(">32H")


@dataclass(frozen=True, slots=True)
class Cohort:
    """Positions opened together on ``asset`` at ``open_ms`` (index ``entry``) at one leverage, on one side, over
    every contract whose open interest rose in that slot: ``parts`` (contract key, USD opened on that side; shared
    by the side's cohorts of the slot) x ``weight`` (this leverage's share) is each contract's part; ``usd`` their
    sum (at opening, before any closing)."""

    asset: str
    open_ms: int
    side: str  # "long" | "short"
    leverage: float
    entry: float
    level: float  # the index price that liquidates it
    bankruptcy: float  # index terms
    usd: float
    weight: float = 1.0
    parts: tuple[tuple[Key, float], ...] = ()

    def part(self, contract: Contract) -> float:
        """The contract's USD of this cohort at opening (0: none opened there)."""
        key = contract_key(contract)
        for k, usd in self.parts:
            if k == key:
                return usd * self.weight
        return 0.0


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
        out += [x / 65536.0 for x in _U16.unpack(digest)]
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


def contract_key(contract: Contract) -> Key:
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


@dataclass(frozen=True, slots=True)
class HourOI:
    """One contract's open interest over one hour: ``coins`` of the asset at the start of each of its slots and at
    the hour's end (``SLOTS_PER_HOUR + 1`` values); ``kept[i]``: the share of positions open at the hour's start
    still open at the start of slot ``i`` (the product of the falls' ratios over slots ``0 .. i-1``)."""

    coins: tuple[float, ...]
    kept: tuple[float, ...]


class LiquidationModel:
    """The liquidations of one market model (see the module docstring). Pure: any instance over the same seed
    gives the same events; an instance only caches."""

    def __init__(self, model: MarketModel) -> None:
        self.model = model
        self.seed = model.seed
        slots = LIFETIME_MS // SLOT_MS
        self._samples = _Lru(8 * (LIFETIME_MS // BLOCK_MS) + 64)
        self._chunks = _Lru(8 * slots + 64)
        self._cohorts = _Lru(8 * slots + 64)
        self._levels = _Lru(8 * slots + 64)
        self._listed = _Lru(8 * (LIFETIME_MS // HOUR_MS) + 64)
        self._oi = _Lru(256 * (LIFETIME_MS // HOUR_MS + 2))  # (contract, hour): every contract of 4 assets
        self._kept = _Lru(2048)
        self._crossings = _Lru(CACHE_BLOCKS)
        self._burst_cache = _Lru(CACHE_BLOCKS)
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

    def _slot(self, asset: str, slot: int) -> tuple[float, float, tuple[Cohort, ...], list[float], tuple[Cohort, ...],
                                                    list[float]]:
        """(min, max) of the slot's minute samples and its long and short cohorts, each by level with the levels."""
        key = (asset, slot)
        found = self._levels.get(key)
        if found is None:
            low, high = self._chunk(asset, slot)
            cohorts = self.cohorts(asset, slot)
            longs = tuple(sorted((c for c in cohorts if c.side == "long"), key=lambda c: c.level))
            shorts = tuple(sorted((c for c in cohorts if c.side == "short"), key=lambda c: c.level))
            found = self._levels.put(key, (low, high, longs, [c.level for c in longs], shorts,
                                           [c.level for c in shorts]))
        return found  # type: ignore[no-any-return]

    # --- open interest ------------------------------------------------------------------------------------------

    def contracts(self, asset: str, hour: int) -> tuple[Contract, ...]:
        """The contracts of ``asset`` positions open on in ``hour`` (epoch hours): its perpetuals and the dated
        futures listed at the hour's start (expiries fall on whole hours)."""
        key = (asset, hour)
        found = self._listed.get(key)
        if found is None:
            t = hour * HOUR_MS
            futures: list[Contract] = []
            for venue, host in dict.fromkeys((line.venue, line.host) for line in FUTURE_LINES if line.asset == asset):
                futures += [f for f in MarketModel.futures(venue, t, host) if f.asset == asset]
            found = self._listed.put(key, tuple(p for p in PERPS if p.asset == asset) + tuple(futures))
        return found  # type: ignore[no-any-return]

    def hour_oi(self, contract: Contract, hour: int) -> HourOI:
        """The contract's open interest in ``hour`` at its slots' starts and the share kept (see ``HourOI``)."""
        key = (contract_key(contract), hour)
        found = self._oi.get(key)
        if found is None:
            t0 = hour * HOUR_MS
            coins = tuple(self.model.open_interest_base(contract, t0 + i * SLOT_MS) * contract.multiplier
                          for i in range(SLOTS_PER_HOUR + 1))
            kept = [1.0]
            for a, b in itertools.pairwise(coins):
                kept.append(kept[-1] * (b / a if 0 < b < a else 1.0))
            found = self._oi.put(key, HourOI(coins, tuple(kept)))
        return found  # type: ignore[no-any-return]

    def _kept_before(self, contract: Contract, hour: int) -> list[float]:
        """``out[k]``: the share kept over the ``k`` whole hours before ``hour`` (k = 0 .. the lifetime in hours)."""
        key = (contract_key(contract), hour)
        found = self._kept.get(key)
        if found is None:
            found = [1.0]
            for before in range(hour - 1, hour - 2 - LIFETIME_MS // HOUR_MS, -1):
                found.append(found[-1] * self.hour_oi(contract, before).kept[-1])
            self._kept.put(key, found)
        return found  # type: ignore[no-any-return]

    def survival(self, contract: Contract, first_slot: int, end_slot: int) -> float:
        """The share of the contract's positions open at the start of ``first_slot`` still open at the start of
        ``end_slot``: the product of ``OI_end / OI_start`` over the slots in between where its open interest fell
        (``first_slot`` at most a lifetime before)."""
        if end_slot <= first_slot:
            return 1.0
        h0, i0 = divmod(first_slot, SLOTS_PER_HOUR)
        h1, i1 = divmod(end_slot, SLOTS_PER_HOUR)
        first = self.hour_oi(contract, h0)
        if h0 == h1:
            return first.kept[i1] / first.kept[i0]
        out = first.kept[-1] / first.kept[i0] * self._kept_before(contract, h1)[h1 - h0 - 1]
        return out * self.hour_oi(contract, h1).kept[i1] if i1 else out

    # --- cohorts and crossings --------------------------------------------------------------------------------

    def cohorts(self, asset: str, slot: int) -> tuple[Cohort, ...]:
        """The cohorts opened on ``asset`` in ``slot`` (at ``slot x SLOT_MS``): per side and leverage, over every
        contract whose open interest rose in the slot (none when it rose nowhere)."""
        key = (asset, slot)
        found = self._cohorts.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        open_ms = slot * SLOT_MS
        hour, i = divmod(slot, SLOTS_PER_HOUR)
        price = self.sample(asset, open_ms // BLOCK_MS)
        longs: list[tuple[Key, float]] = []
        shorts: list[tuple[Key, float]] = []
        for contract in self.contracts(asset, hour):
            if isinstance(contract, SimFuture) and contract.expiry_ms <= open_ms:
                continue
            oi = self.hour_oi(contract, hour)
            added = oi.coins[i + 1] - oi.coins[i]
            if added <= 0:
                continue
            kind = LONG_SHORT.get(contract.venue)
            share = 0.5 if kind is None else self.model.long_share(contract.venue, contract.symbol, kind, open_ms)
            usd = added * price
            longs.append((contract_key(contract), usd * share))
            shorts.append((contract_key(contract), usd * (1.0 - share)))
        out: list[Cohort] = []
        if longs:
            d = draws(3 * len(LEVERAGES), self.seed, "cohort", asset, slot)
            for side, parts, noise in (("long", tuple(longs), d[0::3]), ("short", tuple(shorts), d[1::3])):
                mix = [weight * (0.4 + 1.2 * u) for (_lev, weight), u in zip(LEVERAGES, noise, strict=True)]
                total_mix, total_usd = sum(mix), sum(u for _k, u in parts)
                sign = -1.0 if side == "long" else 1.0
                for (leverage, _w), w, margin in zip(LEVERAGES, mix, d[2::3], strict=True):
                    m = MAINTENANCE * (0.5 + margin)
                    out.append(Cohort(asset, open_ms, side, leverage, price,
                                      price * (1.0 + sign * (1.0 / leverage - m)), price * (1.0 + sign / leverage),
                                      total_usd * w / total_mix, w / total_mix, parts))
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
                c_low, c_high, longs, long_levels, shorts, short_levels = self._slot(asset, slot)
                if slot < last_slot:
                    low, high = min(low, c_low), max(high, c_high)
                if (low <= p1) if falling else (high >= p1):
                    break  # every older cohort of that side was liquidated before, or lies beyond p1
                if falling:  # longs with p1 <= level < low
                    hit = longs[bisect.bisect_left(long_levels, p1): bisect.bisect_left(long_levels, low)]
                else:  # shorts with high < level <= p1
                    hit = shorts[bisect.bisect_right(short_levels, high): bisect.bisect_right(short_levels, p1)]
                for cohort in hit:
                    frac = (cohort.level - p0) / (p1 - p0)
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
        """One contract's events of a cohort liquidation: its part of the cohort still open at the crossing."""
        c = crossing.cohort
        usd = c.part(contract)
        if usd <= 0:
            return []
        usd *= self.survival(contract, c.open_ms // SLOT_MS, crossing.t_ms // SLOT_MS)
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

    def _bursts(self, contract: Contract, minute: int) -> tuple[SimLiquidation, ...]:
        """The contract's events of the crossings of ``minute`` (some fall in the next minute)."""
        key = (contract_key(contract), minute)
        found = self._burst_cache.get(key)
        if found is None:
            out: list[SimLiquidation] = []
            for crossing in self.crossings(contract.asset, minute):
                out += self._burst(contract, crossing)
            found = self._burst_cache.put(key, tuple(out))
        return found  # type: ignore[no-any-return]

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
            out += [e for e in self._bursts(contract, before) if e.t_ms // BLOCK_MS == minute]
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
