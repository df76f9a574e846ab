"""The seeded market model behind every simulated venue (pure, deterministic).

One price path per asset, venue premia, funding by each symbol's own interval, and open
interest, all functions of (seed, venue, symbol, time): the same seed gives the same market,
and "current" and "history" endpoints agree because both read the same functions.
Funding for a settlement at time T is fixed once T is known; the current rate of a perpetual is
the rate of its next settlement, and history lists the settlements before now.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from dtrack.sim import calendar as cal

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@dataclass(frozen=True, slots=True)
class SimAsset:
    """An underlying: a start price, a funding level (fraction per 8 h), total OI in USD, a price
    volatility scale and the annualized basis (carry) of its dated futures around which it moves."""

    name: str
    price: float
    funding_8h: float
    oi_usd: float
    vol: float
    carry: float = 0.0


ASSETS: dict[str, SimAsset] = {a.name: a for a in (
    SimAsset("BTC", 91_500.0, 0.00008, 9.0e9, 0.03, 0.07),
    SimAsset("ETH", 3_150.0, 0.00006, 5.0e9, 0.04, 0.08),
    SimAsset("SOL", 138.0, -0.00004, 1.2e9, 0.06, -0.02),
    SimAsset("PEPE", 0.0000092, 0.00025, 2.5e8, 0.09),
)}


@dataclass(frozen=True, slots=True)
class SimPerp:
    """A simulated perpetual on one venue host.

    ``multiplier``: units of the asset per unit of the venue's base (1000 for ``1000PEPEUSDT``).
    ``contract_size``: value of one contract in ``contract_unit`` ("usd" or "base").
    ``share``: this symbol's share of the asset's open interest.
    """

    venue: str
    host: str
    symbol: str
    asset: str
    quote: str
    margin: str  # "linear" | "inverse"
    interval_h: int
    multiplier: float = 1.0
    contract_size: float = 1.0
    contract_unit: str = "base"
    share: float = 0.05


def _p(venue: str, host: str, symbol: str, asset: str, quote: str, margin: str, interval: int,
       share: float, *, mult: float = 1.0, cs: float = 1.0, unit: str = "base") -> SimPerp:
    return SimPerp(venue, host, symbol, asset, quote, margin, interval, mult, cs, unit, share)


#: Every simulated perpetual. Intervals follow the real venues: 1 h / 4 h on some alts.
PERPS: tuple[SimPerp, ...] = (
    _p("binance", "usdm", "BTCUSDT", "BTC", "USDT", "linear", 8, 0.22),
    _p("binance", "usdm", "ETHUSDT", "ETH", "USDT", "linear", 8, 0.24),
    _p("binance", "usdm", "SOLUSDT", "SOL", "USDT", "linear", 4, 0.25),
    _p("binance", "usdm", "1000PEPEUSDT", "PEPE", "USDT", "linear", 1, 0.30, mult=1000),
    _p("binance", "usdm", "BTCUSDC", "BTC", "USDC", "linear", 8, 0.03),
    _p("binance", "usdm", "ETHUSDC", "ETH", "USDC", "linear", 8, 0.03),
    _p("binance", "coinm", "BTCUSD_PERP", "BTC", "USD", "inverse", 8, 0.05, cs=100, unit="usd"),
    _p("binance", "coinm", "ETHUSD_PERP", "ETH", "USD", "inverse", 8, 0.04, cs=10, unit="usd"),
    _p("binance", "coinm", "SOLUSD_PERP", "SOL", "USD", "inverse", 8, 0.03, cs=10, unit="usd"),
    _p("bybit", "rest", "BTCUSDT", "BTC", "USDT", "linear", 8, 0.15),
    _p("bybit", "rest", "ETHUSDT", "ETH", "USDT", "linear", 8, 0.14),
    _p("bybit", "rest", "SOLUSDT", "SOL", "USDT", "linear", 4, 0.18),
    _p("bybit", "rest", "1000PEPEUSDT", "PEPE", "USDT", "linear", 4, 0.22, mult=1000),
    _p("bybit", "rest", "BTCPERP", "BTC", "USDC", "linear", 8, 0.02),
    _p("bybit", "rest", "ETHPERP", "ETH", "USDC", "linear", 8, 0.02),
    _p("bybit", "rest", "BTCUSD", "BTC", "USD", "inverse", 8, 0.04, cs=1, unit="usd"),
    _p("bybit", "rest", "ETHUSD", "ETH", "USD", "inverse", 8, 0.03, cs=1, unit="usd"),
    _p("okx", "rest", "BTC-USDT-SWAP", "BTC", "USDT", "linear", 8, 0.12, cs=0.01),
    _p("okx", "rest", "ETH-USDT-SWAP", "ETH", "USDT", "linear", 8, 0.12, cs=0.1),
    _p("okx", "rest", "SOL-USDT-SWAP", "SOL", "USDT", "linear", 4, 0.12, cs=1),
    _p("okx", "rest", "PEPE-USDT-SWAP", "PEPE", "USDT", "linear", 8, 0.15, cs=10_000_000),
    _p("okx", "rest", "BTC-USDC-SWAP", "BTC", "USDC", "linear", 8, 0.01, cs=0.0001),
    _p("okx", "rest", "BTC-USD-SWAP", "BTC", "USD", "inverse", 8, 0.04, cs=100, unit="usd"),
    _p("okx", "rest", "ETH-USD-SWAP", "ETH", "USD", "inverse", 8, 0.03, cs=10, unit="usd"),
    _p("deribit", "rest", "BTC-PERPETUAL", "BTC", "USD", "inverse", 8, 0.05, cs=10, unit="usd"),
    _p("deribit", "rest", "ETH-PERPETUAL", "ETH", "USD", "inverse", 8, 0.03, cs=1, unit="usd"),
    _p("deribit", "rest", "BTC_USDC-PERPETUAL", "BTC", "USDC", "linear", 8, 0.005, cs=0.001),
    _p("deribit", "rest", "ETH_USDC-PERPETUAL", "ETH", "USDC", "linear", 8, 0.005, cs=0.01),
    _p("deribit", "rest", "SOL_USDC-PERPETUAL", "SOL", "USDC", "linear", 8, 0.005, cs=0.1),
    _p("hyperliquid", "rest", "BTC", "BTC", "USDC", "linear", 1, 0.08),
    _p("hyperliquid", "rest", "ETH", "ETH", "USDC", "linear", 1, 0.09),
    _p("hyperliquid", "rest", "SOL", "SOL", "USDC", "linear", 1, 0.10),
    _p("hyperliquid", "rest", "kPEPE", "PEPE", "USDC", "linear", 1, 0.08, mult=1000),
    _p("dydx", "rest", "BTC-USD", "BTC", "USDC", "linear", 1, 0.02),
    _p("dydx", "rest", "ETH-USD", "ETH", "USDC", "linear", 1, 0.02),
    _p("dydx", "rest", "SOL-USD", "SOL", "USDC", "linear", 1, 0.03),
    _p("dydx", "rest", "PEPE-USD", "PEPE", "USDC", "linear", 1, 0.02),
    # GMX v2 pools, per chain (host): funding accrues every second, so ``interval_h`` is the 8 h the sim quotes the
    # model's 8 h-equivalent level over (as a per-second factor); several pools per asset, and one name on both chains
    _p("gmx", "arbitrum", "BTC/USD [WBTC.b-USDC]", "BTC", "USD", "linear", 8, 0.03),
    _p("gmx", "arbitrum", "BTC/USD [tBTC-tBTC]", "BTC", "USD", "linear", 8, 0.005),
    _p("gmx", "arbitrum", "ETH/USD [WETH-USDC]", "ETH", "USD", "linear", 8, 0.03),
    _p("gmx", "arbitrum", "SOL/USD [SOL-USDC]", "SOL", "USD", "linear", 8, 0.02),
    _p("gmx", "arbitrum", "PEPE/USD [PEPE-USDC]", "PEPE", "USD", "linear", 8, 0.01),
    _p("gmx", "avalanche", "BTC/USD [BTC.b-USDC]", "BTC", "USD", "linear", 8, 0.005),
    _p("gmx", "avalanche", "ETH/USD [WETH.e-USDC]", "ETH", "USD", "linear", 8, 0.005),
    _p("gmx", "avalanche", "SOL/USD [SOL-USDC]", "SOL", "USD", "linear", 8, 0.003),
)


@dataclass(frozen=True, slots=True)
class SimFuture:
    """A simulated dated future on one venue host (see ``SimPerp`` for the contract terms).

    ``symbol`` is in the venue's real naming; ``expiry_ms`` is the delivery time (08:00 UTC).
    """

    venue: str
    host: str
    symbol: str
    asset: str
    quote: str
    margin: str  # "linear" | "inverse"
    expiry_ms: int
    multiplier: float = 1.0
    contract_size: float = 1.0
    contract_unit: str = "base"
    share: float = 0.01


@dataclass(frozen=True, slots=True)
class FutureLine:
    """A family of dated futures a venue lists: which expiries (from ``dtrack.sim.calendar``) and how
    the symbol is written from the expiry (``name(expiry_ms)``)."""

    venue: str
    host: str
    asset: str
    quote: str
    margin: str
    expiries: Callable[[int], list[int]]
    name: Callable[[int], str]
    contract_size: float = 1.0
    contract_unit: str = "base"
    share: float = 0.01


_BYBIT_MONTH = "FGHJKMNQUVXZ"  # futures month codes: BTCUSDH25 = March 2025


def _weeklies_and_quarterlies(weeks: int, quarters: int) -> Callable[[int], list[int]]:
    def expiries(now_ms: int) -> list[int]:
        return sorted(set(cal.fridays(now_ms, weeks)) | set(cal.quarterlies(now_ms, quarters)))
    return expiries


def _quarters(n: int) -> Callable[[int], list[int]]:
    return lambda now_ms: cal.quarterlies(now_ms, n)


def _deribit_expiries(now_ms: int) -> list[int]:
    return sorted(set(cal.fridays(now_ms, 2)) | set(cal.month_ends(now_ms, 2)) | set(cal.quarterlies(now_ms, 3)))


def _bybit_inverse(asset: str) -> Callable[[int], str]:
    def name(ms: int) -> str:
        t = datetime.fromtimestamp(ms / 1000, UTC)
        return f"{asset}USD{_BYBIT_MONTH[t.month - 1]}{t:%y}"
    return name


#: Every family of simulated dated futures, with the venues' real naming.
FUTURE_LINES: tuple[FutureLine, ...] = (
    FutureLine("binance", "usdm", "BTC", "USDT", "linear", _quarters(2), lambda ms: f"BTCUSDT_{cal.yymmdd(ms)}",
               share=0.02),
    FutureLine("binance", "usdm", "ETH", "USDT", "linear", _quarters(2), lambda ms: f"ETHUSDT_{cal.yymmdd(ms)}",
               share=0.015),
    FutureLine("binance", "coinm", "BTC", "USD", "inverse", _quarters(2), lambda ms: f"BTCUSD_{cal.yymmdd(ms)}",
               100, "usd", 0.02),
    FutureLine("binance", "coinm", "ETH", "USD", "inverse", _quarters(2), lambda ms: f"ETHUSD_{cal.yymmdd(ms)}",
               10, "usd", 0.015),
    FutureLine("bybit", "rest", "BTC", "USDT", "linear", _weeklies_and_quarterlies(2, 2),
               lambda ms: f"BTCUSDT-{cal.dmy(ms)}", share=0.01),
    FutureLine("bybit", "rest", "ETH", "USDT", "linear", _weeklies_and_quarterlies(2, 2),
               lambda ms: f"ETHUSDT-{cal.dmy(ms)}", share=0.01),
    FutureLine("bybit", "rest", "BTC", "USDC", "linear", _quarters(2), lambda ms: f"BTC-{cal.dmy(ms)}", share=0.005),
    FutureLine("bybit", "rest", "BTC", "USD", "inverse", _quarters(2), _bybit_inverse("BTC"), 1, "usd", 0.015),
    FutureLine("bybit", "rest", "ETH", "USD", "inverse", _quarters(2), _bybit_inverse("ETH"), 1, "usd", 0.01),
    FutureLine("okx", "rest", "BTC", "USD", "inverse", _weeklies_and_quarterlies(2, 2),
               lambda ms: f"BTC-USD-{cal.yymmdd(ms)}", 100, "usd", 0.02),
    FutureLine("okx", "rest", "ETH", "USD", "inverse", _weeklies_and_quarterlies(2, 2),
               lambda ms: f"ETH-USD-{cal.yymmdd(ms)}", 10, "usd", 0.015),
    FutureLine("okx", "rest", "BTC", "USDT", "linear", _weeklies_and_quarterlies(2, 2),
               lambda ms: f"BTC-USDT-{cal.yymmdd(ms)}", 0.01, "base", 0.01),
    FutureLine("okx", "rest", "SOL", "USD", "inverse", _quarters(2), lambda ms: f"SOL-USD-{cal.yymmdd(ms)}",
               10, "usd", 0.01),
    FutureLine("deribit", "rest", "BTC", "USD", "inverse", _deribit_expiries, lambda ms: f"BTC-{cal.dmy(ms)}",
               10, "usd", 0.01),
    FutureLine("deribit", "rest", "ETH", "USD", "inverse", _deribit_expiries, lambda ms: f"ETH-{cal.dmy(ms)}",
               1, "usd", 0.01),
)


def _unit(*key: object) -> float:
    """A deterministic number in [-1, 1) from a key."""
    digest = hashlib.blake2b(":".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


class MarketModel:
    """The simulated market. ``now_ms`` pins the clock (tests); by default it is real time."""

    def __init__(self, seed: int = 7, now_ms: int | None = None) -> None:
        self.seed = seed
        self._now_ms = now_ms

    def now_ms(self) -> int:
        """Current time of the simulated market, epoch ms."""
        return self._now_ms if self._now_ms is not None else int(time.time() * 1000)

    # --- catalog ---------------------------------------------------------------------------

    @staticmethod
    def perps(venue: str, host: str | None = None) -> list[SimPerp]:
        """The simulated perpetuals of a venue (optionally of one host)."""
        return [p for p in PERPS if p.venue == venue and (host is None or p.host == host)]

    @staticmethod
    def perp(venue: str, symbol: str) -> SimPerp | None:
        """One perpetual by its venue-native symbol."""
        return next((p for p in PERPS if p.venue == venue and p.symbol == symbol), None)

    @staticmethod
    def futures(venue: str, now_ms: int, host: str | None = None) -> list[SimFuture]:
        """The dated futures a venue (optionally one host) lists at ``now_ms``, by expiry."""
        out: list[SimFuture] = []
        for line in FUTURE_LINES:
            if line.venue == venue and (host is None or line.host == host):
                out += [SimFuture(line.venue, line.host, line.name(e), line.asset, line.quote, line.margin, e,
                                  1.0, line.contract_size, line.contract_unit, line.share)
                        for e in line.expiries(now_ms)]
        return sorted(out, key=lambda f: (f.asset, f.expiry_ms, f.symbol))

    @classmethod
    def future(cls, venue: str, symbol: str, now_ms: int) -> SimFuture | None:
        """One listed dated future by its venue-native symbol."""
        return next((f for f in cls.futures(venue, now_ms) if f.symbol == symbol), None)

    # --- prices ----------------------------------------------------------------------------

    def _phase(self, *key: object) -> float:
        return math.pi * (1.0 + _unit(self.seed, "phase", *key))

    def index_price(self, asset: str, t_ms: int) -> float:
        """Index (spot) price of one unit of ``asset`` at ``t_ms``."""
        a = ASSETS[asset]
        t = t_ms / DAY_MS
        x = (a.vol * 1.5 * math.sin(2 * math.pi * t / 7 + self._phase(asset, 7))
             + a.vol * 0.5 * math.sin(2 * math.pi * t + self._phase(asset, 1))
             + a.vol * 0.15 * math.sin(2 * math.pi * t * 8 + self._phase(asset, 3)))
        return a.price * math.exp(x)

    def premium(self, perp: SimPerp, t_ms: int) -> float:
        """Mark premium over index, a small fraction that follows the funding sign."""
        return 0.25 * self.funding_8h_equiv(perp, t_ms) + 0.00005 * _unit(self.seed, "prem", perp.symbol,
                                                                            t_ms // 60_000)

    def mark_price(self, perp: SimPerp, t_ms: int) -> float:
        """Mark price of one unit of the venue's base (includes the multiplier)."""
        return self.index_price(perp.asset, t_ms) * perp.multiplier * (1.0 + self.premium(perp, t_ms))

    def spot_price(self, venue: str, asset: str, t_ms: int) -> float:
        """A venue's spot price of one unit of ``asset``: the index within a few basis points."""
        return self.index_price(asset, t_ms) * (1.0 + 0.0003 * _unit(self.seed, "spot", venue, asset,
                                                                       t_ms // 60_000))

    def annual_basis(self, venue: str, asset: str, t_ms: int) -> float:
        """Annualized basis (simple) of ``asset``'s dated futures on a venue: the asset's carry, a
        slow wave that sometimes inverts it, and a small venue bias."""
        a = ASSETS[asset]
        t = t_ms / DAY_MS
        wave = 0.04 * math.sin(2 * math.pi * t / 11 + self._phase("carry", asset))
        return a.carry + wave + 0.01 * _unit(self.seed, "carry", venue, asset)

    def future_price(self, fut: SimFuture, t_ms: int) -> float:
        """Mark price of a dated future: index x (1 + annual basis x years to expiry), plus noise."""
        years = max(0, fut.expiry_ms - t_ms) / (365 * DAY_MS)
        noise = 0.0002 * _unit(self.seed, "fut", fut.symbol, t_ms // 60_000)
        basis = self.annual_basis(fut.venue, fut.asset, t_ms) * years + noise * min(1.0, years * 12)
        return self.index_price(fut.asset, t_ms) * fut.multiplier * (1.0 + basis)

    def contract_mark(self, contract: SimPerp | SimFuture, t_ms: int) -> float:
        """Mark price of a perpetual or a dated future (one unit of the venue's base)."""
        if isinstance(contract, SimFuture):
            return self.future_price(contract, t_ms)
        return self.mark_price(contract, t_ms)

    def candle(self, contract: SimPerp | SimFuture, open_ms: int, length_ms: int) -> tuple[float, float, float, float]:
        """(open, high, low, close) of the contract's mark over ``[open_ms, open_ms + length_ms)``; a
        candle still open at ``now`` closes at the current price."""
        end = min(open_ms + length_ms, max(open_ms, self.now_ms()))
        samples = [self.contract_mark(contract, open_ms + (end - open_ms) * k // 6) for k in range(7)]
        return samples[0], max(samples), min(samples), samples[-1]

    def book(self, contract: SimPerp | SimFuture, t_ms: int, depth: int, tick: float
             ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """An order book of ``depth`` levels a side around the contract's mark at ``t_ms``: (bids, asks) of
        (price, size), best first, deterministic per (seed, venue, symbol, second).

        The best bid is the last tick strictly below the mark and the best ask the next tick (so the mid is within
        one tick of the mark). Level ``i`` lies ``reach20 x (i / 20) ** 1.1`` of the mark beyond the best price,
        on the tick (at least one tick past the level before): the gaps grow with the distance, 20 levels reach
        about ``4 % x`` the asset's volatility scale (BTC ~0.1 %, PEPE ~0.35 %; ±30 % per contract, ±10 % per
        second) and 500 to 1,000 levels several percent. Sizes (units of the venue's base) grow as
        ``sqrt(i + 1)`` from 0.0036 % of the contract's one-sided open interest at the best level (so deeper
        venues and assets have deeper books; ±30 % per contract), with ±50 % noise per level and a per-second
        lean of up to ±20 % between bids and asks (the imbalance moves)."""
        mark = self.contract_mark(contract, t_ms)
        below = math.ceil(round(mark / tick, 9)) - 1  # the tick index of the best bid
        oi = self.open_interest_base(contract, t_ms)
        places = max(0, -math.floor(math.log10(tick))) + 2
        second = t_ms // 1000
        key = (self.seed, "book", contract.venue, contract.symbol)
        reach20 = (ASSETS[contract.asset].vol * 0.04 * (1.0 + 0.3 * _unit(*key, "reach"))
                   * (1.0 + 0.1 * _unit(*key, "reach", second)))
        per_level = reach20 / 20 ** 1.1 * mark / tick  # ticks from the best price at level 1
        offsets: list[int] = []  # ticks from the best price, strictly increasing
        for i in range(depth):
            offsets.append(0 if i == 0 else max(offsets[-1] + 1, round(per_level * i ** 1.1)))
        scale = oi * 0.000036 * (1.0 + 0.3 * _unit(*key, "depth"))
        lean = 0.2 * _unit(*key, "lean", second)

        def size(side: str, level: int, tilt: float) -> float:
            return scale * tilt * math.sqrt(level + 1) * (1.0 + 0.5 * _unit(*key, side, level, second))

        bids = [(round((below - k) * tick, places), size("bid", i, 1.0 + lean))
                for i, k in enumerate(offsets) if below - k > 0]
        asks = [(round((below + 1 + k) * tick, places), size("ask", i, 1.0 - lean)) for i, k in enumerate(offsets)]
        return bids, asks

    def long_share(self, venue: str, symbol: str, kind: str, t_ms: int) -> float:
        """Share of longs (0..1) in a venue's long/short statistic ``kind`` (accounts, top positions ...)."""
        t = t_ms / DAY_MS
        wave = 0.1 * math.sin(2 * math.pi * t / 4 + self._phase("ls", venue, symbol, kind))
        noise = 0.02 * _unit(self.seed, "ls", venue, symbol, kind, t_ms // (5 * 60_000))
        return min(0.85, max(0.15, 0.52 + wave + noise))

    # --- funding ---------------------------------------------------------------------------

    def funding_8h_equiv(self, perp: SimPerp, t_ms: int) -> float:
        """The 8 h-equivalent funding level around ``t_ms`` (before rounding to an interval)."""
        a = ASSETS[perp.asset]
        t = t_ms / DAY_MS
        venue_bias = 0.4 * abs(a.funding_8h) * _unit(self.seed, "bias", perp.venue, perp.symbol)
        wave = 0.8 * abs(a.funding_8h) * math.sin(2 * math.pi * t / 3 + self._phase(perp.venue, perp.symbol))
        hour = t_ms // HOUR_MS
        noise = 0.3 * abs(a.funding_8h) * _unit(self.seed, "fund", perp.venue, perp.symbol, hour)
        return a.funding_8h + venue_bias + wave + noise

    def next_funding_ms(self, perp: SimPerp, t_ms: int) -> int:
        """The next settlement strictly after ``t_ms`` (settlements on UTC interval boundaries)."""
        step = perp.interval_h * HOUR_MS
        return (t_ms // step + 1) * step

    def funding_rate(self, perp: SimPerp, settle_ms: int) -> float:
        """The rate (fraction per interval) paid at the settlement ``settle_ms``, 8 decimals."""
        rate = self.funding_8h_equiv(perp, settle_ms - 1) * perp.interval_h / 8.0
        return round(rate, 8)

    def current_funding(self, perp: SimPerp, now_ms: int) -> tuple[float, int]:
        """(rate of the next settlement, its time)."""
        nxt = self.next_funding_ms(perp, now_ms)
        return self.funding_rate(perp, nxt), nxt

    def settlements(self, perp: SimPerp, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """Settled (time, rate) pairs with ``start_ms <= time <= end_ms`` and time <= now, ascending."""
        step = perp.interval_h * HOUR_MS
        end_ms = min(end_ms, self.now_ms())
        first = -(-start_ms // step) * step
        return [(t, self.funding_rate(perp, t)) for t in range(first, end_ms + 1, step)]

    # --- open interest ---------------------------------------------------------------------

    def open_interest_base(self, contract: SimPerp | SimFuture, t_ms: int) -> float:
        """One-sided open interest in units of the venue's base (i.e. divided by the multiplier).

        It swings by about ±8 % over a few days and a little within the day, so 1 h .. 7 d changes
        and OI/price divergences have something to show.
        """
        a = ASSETS[contract.asset]
        t = t_ms / DAY_MS
        swing = (1.0 + 0.08 * math.sin(2 * math.pi * t / 5 + self._phase("oi", contract.venue, contract.symbol))
                 + 0.01 * math.sin(2 * math.pi * t * 3 + self._phase("oi3", contract.venue, contract.symbol)))
        usd = a.oi_usd * contract.share * swing
        return usd / self.index_price(contract.asset, t_ms) / contract.multiplier
