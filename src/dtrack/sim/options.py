"""The simulated options market (pure, deterministic): listings, smile, quotes, DVOL, realized vol and trades.

Owns the option side of the simulated venues: which options Deribit, OKX and Bybit list (their real expiry
calendars and instrument names), a sticky-moneyness volatility smile that drifts slowly with time, Black-76 marks
(r = 0, on the forward) with greeks in Deribit's conventions, bid/ask from a spread in volatility, open interest
and volume concentrated near the money, the DVOL index and its candles, hourly realized volatility of the index
path, and a tape of trades with occasional blocks. Everything is a function of (seed, venue, asset, time), so
snapshots, histories and trades agree with each other. No wire format lives here: the venue routes turn these
records into each venue's JSON.

Units, once for the whole module: prices are per one coin of underlying (never per contract), in USD
(``*_usd``) or in the coin (``*_coin`` = USD / the forward ``underlying_price``, as Deribit does: its ticker's
``mark_price × underlying_price`` is the Black-76 USD price); quote IVs are fractions (0.55 = 55 %), trade IVs,
DVOL and realized volatility are percent points (Deribit's units); amounts, open interest and volume are in
contracts (``SimOption.contract_size`` coins each); time to expiry counts 365-day years.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate, pairwise

from dtrack.sim import calendar as cal
from dtrack.sim.model import DAY_MS, HOUR_MS, MarketModel, _unit

YEAR_MS = 365 * DAY_MS
#: the DVOL horizon: 30-day constant-maturity ATM IV
DVOL_YEARS = 30 / 365
#: realized volatility window (hours of hourly log returns)
RV_WINDOW_H = 30 * 24
_MIN_YEARS = 60_000 / YEAR_MS  # marks and greeks treat the last minute before expiry as one minute
_IV_FLOOR = 0.1
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TRADE_SLOT_MS = 60_000  # at most one trade per market and minute
_BLOCK_ODDS = 0.05
_CACHE_SIZE = 64


@dataclass(frozen=True, slots=True)
class OptionMarket:
    """One venue's options on one asset: contract terms, calendar and activity.

    ``contract_size``: coins per contract (OKX: ctVal 1 × ctMult). ``quote``: "coin" (inverse, priced in the
    asset) or "usd". ``tick``: price tick in quote units. ``lot``: amount step in contracts. ``calendar``:
    how many (dailies, Friday weeklies, month-ends, quarterlies) are listed. ``oi_usd``: open interest level.
    ``half_spread``: bid/ask half-spread in volatility at the money, far from expiry. ``trade_odds``: chance
    of a trade in a given minute. ``naming``: "dmy" (``BTC-28MAR25-90000-C``) or "uly" (``BTC-USD-250328-90000-C``).
    """

    venue: str
    asset: str
    settle: str
    quote: str
    contract_size: float
    tick: float
    lot: float
    calendar: tuple[int, int, int, int]
    oi_usd: float
    half_spread: float
    trade_odds: float
    naming: str = "dmy"


#: Every simulated option market. OKX terms follow the real instruments capture (BTC-USD: ctMult 0.1, ETH-USD: 1,
#: ctVal 1, tickSz 0.0005 coin, lotSz 1); Deribit the real get_instruments capture (tick 0.0005 coin, min amount
#: 0.1 BTC / 1 ETH); Bybit's USDC options are priced in USD with 1-coin contracts.
MARKETS: tuple[OptionMarket, ...] = (
    OptionMarket("deribit", "BTC", "BTC", "coin", 1.0, 0.0005, 0.1, (3, 4, 3, 4), 3.5e10, 0.008, 0.4),
    OptionMarket("deribit", "ETH", "ETH", "coin", 1.0, 0.0005, 1.0, (3, 4, 3, 4), 7.0e9, 0.010, 0.3),
    OptionMarket("okx", "BTC", "BTC", "coin", 0.1, 0.0005, 1.0, (2, 3, 2, 3), 1.5e9, 0.012, 0.15, "uly"),
    OptionMarket("okx", "ETH", "ETH", "coin", 1.0, 0.0005, 1.0, (2, 3, 2, 3), 4.0e8, 0.014, 0.1, "uly"),
    OptionMarket("bybit", "BTC", "USDC", "usd", 1.0, 5.0, 0.01, (2, 3, 2, 2), 1.2e9, 0.012, 0.15),
    OptionMarket("bybit", "ETH", "USDC", "usd", 1.0, 0.1, 0.1, (2, 3, 2, 2), 3.0e8, 0.014, 0.1),
    OptionMarket("bybit", "SOL", "USDC", "usd", 1.0, 0.01, 1.0, (2, 3, 2, 2), 6.0e7, 0.020, 0.06),
)


@dataclass(frozen=True, slots=True)
class _AssetVol:
    """Volatility and activity parameters of an underlying's options."""

    level: float  # 30-day ATM IV around which the asset's vol moves (fraction)
    skew: float  # IV change per standard deviation of log-moneyness (negative: put skew)
    curv: float  # IV change per squared standard deviation
    pcr: float  # put/call open-interest ratio
    trade_coins: float  # typical trade size, coins
    steps: tuple[float, ...]  # strike-step ladder: near-the-money step, the next one further out


_VOLS: dict[str, _AssetVol] = {
    "BTC": _AssetVol(0.54, -0.025, 0.010, 0.70, 0.5, (500, 1000, 2000, 5000, 10_000, 20_000, 50_000)),
    "ETH": _AssetVol(0.64, -0.022, 0.010, 0.80, 5.0, (25, 50, 100, 200, 500, 1000, 2000)),
    "SOL": _AssetVol(0.82, -0.030, 0.012, 0.85, 60.0, (2, 5, 10, 20, 50, 100)),
}
#: open-interest weight and daily turnover (volume / OI) of an expiry by its kind
_PERIOD_OI = {"day": 0.12, "week": 0.45, "month": 1.2, "quarter": 2.0}
_PERIOD_TURNOVER = {"day": 8.0, "week": 2.0, "month": 1.0, "quarter": 0.6}


@dataclass(frozen=True, slots=True)
class SimOption:
    """A listed option in its venue's real naming.

    ``expiry_ms``: expiry, 08:00 UTC. ``strike``: USD. ``contract_size``: coins per contract. ``settle``: the
    settlement currency ("BTC", "ETH", "USDC"). ``quote``: "coin" or "usd", the unit of its prices.
    ``tick_size``: price tick in quote units. ``min_amount``: amount step in contracts. ``period``: "day",
    "week", "month" or "quarter" (Deribit's ``settlement_period`` calls quarters "month").
    ``listed_ms``: when the expiry entered the venue's calendar (08:00 UTC).
    """

    venue: str
    instrument: str
    asset: str
    expiry_ms: int
    strike: float
    is_call: bool
    contract_size: float
    settle: str
    quote: str
    tick_size: float
    min_amount: float
    period: str
    listed_ms: int

    @property
    def option_type(self) -> str:
        """"call" or "put"."""
        return "call" if self.is_call else "put"


@dataclass(frozen=True, slots=True)
class SimOptionQuote:
    """A snapshot of one option at ``ts_ms``.

    Prices are per coin of underlying: ``*_usd`` in USD, ``*_coin`` in the coin (USD / ``underlying_price``).
    ``index_price``: the asset's index (USD). ``underlying_price``: the forward to the expiry (USD), the price
    Black-76 runs on. ``years``: time to expiry (365-day years, at least one minute). IVs are fractions;
    ``bid_*`` are None when nobody bids (far out of the money). Bid/ask prices sit on the venue's tick in its
    quote currency (bid rounded down, ask up), so they lie within one tick of the price at ``bid_iv``/``ask_iv``.
    Greeks at the mark IV, Deribit's conventions: ``delta`` forward, undiscounted (N(d1) or N(d1) - 1),
    ``gamma`` per USD, ``vega`` USD per vol point, ``theta`` USD per day. ``open_interest``, ``volume_24h``,
    ``bid_size``, ``ask_size``: contracts.
    """

    option: SimOption
    ts_ms: int
    index_price: float
    underlying_price: float
    years: float
    mark_iv: float
    bid_iv: float | None
    ask_iv: float
    mark_price_usd: float
    mark_price_coin: float
    bid_price_usd: float | None
    bid_price_coin: float | None
    ask_price_usd: float
    ask_price_coin: float
    bid_size: float
    ask_size: float
    delta: float
    gamma: float
    vega: float
    theta: float
    open_interest: float
    volume_24h: float

    @property
    def mark_price(self) -> float:
        """Mark price in the option's quote units (coin or USD)."""
        return self.mark_price_coin if self.option.quote == "coin" else self.mark_price_usd

    @property
    def bid_price(self) -> float | None:
        """Best bid in the option's quote units, None without a bid."""
        return self.bid_price_coin if self.option.quote == "coin" else self.bid_price_usd

    @property
    def ask_price(self) -> float:
        """Best ask in the option's quote units."""
        return self.ask_price_coin if self.option.quote == "coin" else self.ask_price_usd


@dataclass(frozen=True, slots=True)
class OptionTrade:
    """One simulated trade. ``direction``: the taker's side, "buy" or "sell". ``amount``: contracts.
    ``price``/``mark_price``: per coin, in the option's quote units; ``price_usd`` the same in USD.
    ``iv``: the trade's IV in percent points. ``index_price``: USD. ``trade_id``: a numeric string rising with
    time within a market. ``block_trade_id``: set on block trades (about 5 %, larger sizes), else None."""

    option: SimOption
    ts_ms: int
    direction: str
    amount: float
    price: float
    price_usd: float
    iv: float
    mark_price: float
    index_price: float
    trade_id: str
    block_trade_id: str | None

    @property
    def instrument(self) -> str:
        """The option's venue-native name."""
        return self.option.instrument


@dataclass(frozen=True, slots=True)
class _Smile:
    """The asset's smile parameters at one time: 30-day ATM level, term slope, skew and curvature."""

    level: float
    slope: float
    skew: float
    curv: float

    def atm(self, years: float) -> float:
        """ATM IV at a maturity: the 30-day level tilted by the term slope (exactly ``level`` at 30 days)."""
        tilt = math.exp(-DVOL_YEARS / 0.3) - math.exp(-years / 0.3)
        return max(_IV_FLOOR, self.level * (1.0 + self.slope * tilt))


@dataclass(frozen=True, slots=True)
class _Term:
    """What every option of one expiry shares at one time."""

    forward: float
    years: float
    atm: float
    sd: float  # atm × sqrt(years): one standard deviation of log-moneyness
    skew: float
    curv: float
    spread: float  # half-spread in vol at the money


@dataclass(frozen=True, slots=True)
class _Listing:
    """A day's listing of one market with each option's open interest, volume and book-size levels."""

    options: tuple[SimOption, ...]
    oi: tuple[float, ...]  # contracts
    volume: tuple[float, ...]  # contracts per 24 h, before the hourly swing
    size: tuple[float, ...]  # coins at the best bid/ask, before the minute swing
    cum_volume: tuple[float, ...]  # running sum of ``volume``, for picking traded options
    where: dict[str, int]


def _ncdf(x: float) -> float:
    """Standard normal CDF; erfc keeps far-tail values accurate (deep out-of-the-money prices stay positive)."""
    return 0.5 * math.erfc(-x / _SQRT2)


def _black(forward: float, strike: float, years: float, vol: float, is_call: bool) -> float:
    """Black-76 price (r = 0) per coin of underlying, USD."""
    sd = vol * math.sqrt(years)
    d1 = math.log(forward / strike) / sd + 0.5 * sd
    if is_call:
        return forward * _ncdf(d1) - strike * _ncdf(d1 - sd)
    return strike * _ncdf(sd - d1) - forward * _ncdf(-d1)


def _both(price: float, forward: float, quote: str) -> tuple[float, float]:
    """(USD, coin) of a price given in quote units; the quoted one stays exactly as given."""
    return (price * forward, price) if quote == "coin" else (price, price / forward)


def _on_tick(price: float, tick: float, rounding: Callable[[float], int]) -> float:
    """``price`` on the tick grid (``rounding``: math.floor, math.ceil or round), without float dust."""
    return round(rounding(round(price / tick, 9)) * tick, 10)


def _anchor(t_ms: int) -> int:
    """The 08:00 UTC at or before ``t_ms``: listings change once a day, when the day's options expire."""
    hour8 = cal.EXPIRY_HOUR * HOUR_MS
    return (t_ms - hour8) // DAY_MS * DAY_MS + hour8


def _period(expiry_ms: int) -> str:
    t = datetime.fromtimestamp(expiry_ms / 1000, UTC)
    if cal.last_friday(t.year, t.month) == t:
        return "quarter" if t.month % 3 == 0 else "month"
    return "week" if t.weekday() == 4 else "day"  # 4: Friday


def _round_lot(x: float, lot: float) -> float:
    return round(round(x / lot) * lot, 8)


def _strike_text(strike: float) -> str:
    return str(int(strike)) if strike == int(strike) else f"{strike:g}"


def option_name(market: OptionMarket, expiry_ms: int, strike: float, is_call: bool) -> str:
    """The venue-native instrument name: ``BTC-28MAR25-90000-C`` (Deribit, Bybit USDC) or ``BTC-USD-250328-90000-C``
    (OKX)."""
    cp = "C" if is_call else "P"
    if market.naming == "uly":
        return f"{market.asset}-USD-{cal.yymmdd(expiry_ms)}-{_strike_text(strike)}-{cp}"
    return f"{market.asset}-{cal.dmy(expiry_ms)}-{_strike_text(strike)}-{cp}"


def strike_grid(forward: float, sd: float, steps: tuple[float, ...], max_count: int = 45) -> list[float]:
    """Round strikes around ``forward`` out to ±4 ``sd`` of log-moneyness (at least ±8 %, at most ±160 %): one
    ladder step near the money and the next one further out. The finest step, with the widest fine band (half,
    a third, a quarter of the range), that keeps the count within ``max_count`` wins."""
    wide = min(max(4.0 * sd, 0.08), 1.6)
    lo, hi = forward * math.exp(-wide), forward * math.exp(wide)
    strikes: list[float] = []
    for fine, coarse in pairwise(steps):
        for share in (0.5, 0.33, 0.25):
            near_lo, near_hi = forward * math.exp(-wide * share), forward * math.exp(wide * share)
            inner = {fine * i for i in range(max(1, math.ceil(near_lo / fine)), math.floor(near_hi / fine) + 1)}
            outer = {coarse * i for i in range(max(1, math.ceil(lo / coarse)), math.floor(hi / coarse) + 1)
                     if not near_lo <= coarse * i <= near_hi}
            strikes = sorted(inner | outer)
            if len(strikes) <= max_count:
                return strikes
    return strikes


def _market(venue: str, asset: str) -> OptionMarket:
    found = next((m for m in MARKETS if m.venue == venue and m.asset == asset), None)
    if found is None:
        raise KeyError(f"no simulated options for {asset} on {venue}")
    return found


class OptionsModel:
    """The simulated options market over a ``MarketModel`` (its seed, index path and futures basis)."""

    def __init__(self, market: MarketModel) -> None:
        self.market = market
        self._phases = {(asset, key): math.pi * (1.0 + _unit(market.seed, "ophase", asset, key))
                        for asset in _VOLS for key in ("level", "wave", "slope", "skew", "pcr")}
        self._listings: dict[tuple[str, str, int], _Listing] = {}
        self._listed_at: dict[tuple[str, str, int], int] = {}

    # --- catalog ---------------------------------------------------------------------------

    @staticmethod
    def markets(venue: str | None = None) -> list[OptionMarket]:
        """The simulated option markets (of one venue)."""
        return [m for m in MARKETS if venue is None or m.venue == venue]

    @staticmethod
    def expiries(venue: str, asset: str, now_ms: int) -> list[int]:
        """The venue's listed expiries (epoch ms, 08:00 UTC) strictly after ``now_ms``, ascending."""
        days, weeks, months, quarters = _market(venue, asset).calendar
        return sorted(set(cal.dailies(now_ms, days)) | set(cal.fridays(now_ms, weeks))
                      | set(cal.month_ends(now_ms, months)) | set(cal.quarterlies(now_ms, quarters)))

    def listed(self, venue: str, asset: str, now_ms: int) -> list[SimOption]:
        """Every option the venue lists on ``asset`` at ``now_ms``, by expiry, strike, call before put.

        The strikes are set at 08:00 UTC from that time's forward and stay fixed until the next 08:00."""
        return list(self._listing(_market(venue, asset), now_ms).options)

    def find(self, venue: str, instrument: str, now_ms: int) -> SimOption | None:
        """One listed option by its venue-native name, None if not listed at ``now_ms``."""
        for market in self.markets(venue):
            listing = self._listing(market, now_ms)
            if instrument in listing.where:
                return listing.options[listing.where[instrument]]
        return None

    # --- curves ----------------------------------------------------------------------------

    def forward(self, venue: str, asset: str, expiry_ms: int, t_ms: int) -> float:
        """Forward price (USD) of ``asset`` to ``expiry_ms``: the venue's dated-futures basis curve without its
        minute noise (``MarketModel.annual_basis``), so options and futures agree."""
        _, terms = self._terms(_market(venue, asset), {expiry_ms}, t_ms)
        return terms[expiry_ms].forward

    def _wave(self, asset: str, key: str, t_ms: int, days: float) -> float:
        return math.sin(2.0 * math.pi * t_ms / DAY_MS / days + self._phases[asset, key])

    def _knots(self, asset: str, t_ms: int, step_ms: int) -> float:
        """Hash noise in [-1, 1) at multiples of ``step_ms``, linear in between (continuous in time)."""
        i, rest = divmod(t_ms, step_ms)
        a = _unit(self.market.seed, "ivnoise", asset, step_ms, i)
        if rest == 0:
            return a
        b = _unit(self.market.seed, "ivnoise", asset, step_ms, i + 1)
        return a + (b - a) * rest / step_ms

    def vol_level(self, asset: str, t_ms: int) -> float:
        """The 30-day ATM IV (fraction): the asset's level, a slow wave over months, a faster one over weeks and
        noise continuous in time (6-hourly and hourly knots)."""
        p = _VOLS[asset]
        move = (0.20 * self._wave(asset, "level", t_ms, 150.0) + 0.09 * self._wave(asset, "wave", t_ms, 41.0)
                + 0.05 * self._knots(asset, t_ms, 6 * HOUR_MS) + 0.015 * self._knots(asset, t_ms, HOUR_MS))
        return max(_IV_FLOOR, p.level * (1.0 + move))

    def _smile(self, asset: str, t_ms: int) -> _Smile:
        p = _VOLS[asset]
        return _Smile(self.vol_level(asset, t_ms), 0.25 * self._wave(asset, "slope", t_ms, 90.0),
                      p.skew * (1.0 + 0.35 * self._wave(asset, "skew", t_ms, 60.0)), p.curv)

    def atm_iv(self, asset: str, years: float, t_ms: int) -> float:
        """ATM IV (fraction) at a maturity in years: upward or inverted term structure as the slope drifts."""
        return self._smile(asset, t_ms).atm(max(years, _MIN_YEARS))

    def _term(self, market: OptionMarket, expiry_ms: int, t_ms: int, smile: _Smile, basis: float,
              index: float) -> _Term:
        years = max(expiry_ms - t_ms, 0) / YEAR_MS
        forward = index * (1.0 + basis * years)  # the one carry formula: simple annual basis, as the futures
        years = max(years, _MIN_YEARS)
        atm = smile.atm(years)
        near_expiry = min(4.0, 1.0 + 0.5 * math.sqrt(7.0 / 365.0 / years))
        curv = smile.curv * (1.0 + 0.5 * math.exp(-years / 0.05))
        return _Term(forward, years, atm, atm * math.sqrt(years), smile.skew, curv, market.half_spread * near_expiry)

    def _terms(self, market: OptionMarket, expiries: set[int], t_ms: int) -> tuple[float, dict[int, _Term]]:
        """(index price, each expiry's term) at ``t_ms``."""
        smile = self._smile(market.asset, t_ms)
        basis = self.market.annual_basis(market.venue, market.asset, t_ms)
        index = self.market.index_price(market.asset, t_ms)
        return index, {e: self._term(market, e, t_ms, smile, basis, index) for e in expiries}

    @staticmethod
    def _z(term: _Term, strike: float) -> float:
        """Standardized log-moneyness, squashed beyond ±5 so wings stay finite near expiry."""
        return 5.0 * math.tanh(math.log(strike / term.forward) / term.sd / 5.0)

    @staticmethod
    def _iv(term: _Term, z: float) -> float:
        return max(_IV_FLOOR, term.atm + term.skew * z + term.curv * z * z)

    def implied_vol(self, venue: str, asset: str, expiry_ms: int, strike: float, t_ms: int) -> float:
        """Mark IV (fraction) of a strike and expiry: iv = atm(T) + skew·z + curv·z², z = ln(K/F) / (atm √T)
        (sticky moneyness: the smile moves with the forward), floored at 0.1."""
        _, terms = self._terms(_market(venue, asset), {expiry_ms}, t_ms)
        term = terms[expiry_ms]
        return self._iv(term, self._z(term, strike))

    # --- listings --------------------------------------------------------------------------

    def _listing(self, market: OptionMarket, t_ms: int) -> _Listing:
        key = (market.venue, market.asset, _anchor(t_ms))
        if (found := self._listings.get(key)) is None:
            if len(self._listings) >= _CACHE_SIZE:
                del self._listings[next(iter(self._listings))]
            found = self._listings[key] = self._build_listing(market, key[2])
        return found

    def _listed_ms(self, market: OptionMarket, expiry_ms: int, anchor: int) -> int:
        """The first 08:00 UTC at which ``expiry_ms`` was in the calendar (membership only grows until expiry)."""
        key = (market.venue, market.asset, expiry_ms)
        if key not in self._listed_at:
            lo, hi = 0, (anchor - (expiry_ms - 500 * DAY_MS)) // DAY_MS  # listed k days before ``anchor``?
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if expiry_ms in self.expiries(market.venue, market.asset, anchor - mid * DAY_MS):
                    lo = mid
                else:
                    hi = mid - 1
            self._listed_at[key] = anchor - lo * DAY_MS
        return self._listed_at[key]

    def _build_listing(self, market: OptionMarket, anchor: int) -> _Listing:
        p = _VOLS[market.asset]
        seed = self.market.seed
        expiries = self.expiries(market.venue, market.asset, anchor)
        index, terms = self._terms(market, set(expiries), anchor)
        pcr = p.pcr * (1.0 + 0.12 * self._wave(market.asset, "pcr", anchor, 23.0))
        options: list[SimOption] = []
        oi_w: list[float] = []
        vol_w: list[float] = []
        size: list[float] = []
        for expiry in expiries:
            term = terms[expiry]
            period = _period(expiry)
            weight = _PERIOD_OI[period] * (1.0 if term.years < 0.6 else 0.5)
            listed = self._listed_ms(market, expiry, anchor)
            for strike in strike_grid(term.forward, term.sd, p.steps):
                z = math.log(strike / term.forward) / term.sd
                for is_call in (True, False):
                    name = option_name(market, expiry, strike, is_call)
                    options.append(SimOption(market.venue, name, market.asset, expiry, strike, is_call,
                                             market.contract_size, market.settle, market.quote, market.tick,
                                             market.lot, period, listed))
                    side = 1.0 if is_call else pcr
                    centre = 0.35 if is_call else -0.35  # open interest leans out of the money
                    noise = 1.0 + 0.4 * _unit(seed, "oi", name, anchor)
                    oi_w.append(weight * side * noise * (math.exp(-0.5 * ((z - centre) / 1.2) ** 2) + 0.03))
                    vol_noise = 1.0 + 0.5 * _unit(seed, "volume", name, anchor)
                    vol_w.append(weight * _PERIOD_TURNOVER[period] * vol_noise
                                 * (math.exp(-0.5 * (z / 0.8) ** 2) + 0.01))
                    size.append(p.trade_coins * (2.0 + 38.0 * (0.5 + 0.5 * _unit(seed, "size", name, anchor))))
        oi_coins = market.oi_usd / index
        oi_total, vol_total = sum(oi_w), sum(vol_w)
        per_contract = oi_coins / market.contract_size
        oi = tuple(_round_lot(per_contract * w / oi_total, market.lot) for w in oi_w)
        volume = tuple(0.06 * per_contract * w / vol_total for w in vol_w)
        return _Listing(tuple(options), oi, volume, tuple(size), tuple(accumulate(volume)),
                        {o.instrument: i for i, o in enumerate(options)})

    # --- quotes ----------------------------------------------------------------------------

    def chain(self, venue: str, asset: str, now_ms: int) -> list[SimOptionQuote]:
        """Quotes of every listed option at ``now_ms`` (the order of ``listed``)."""
        market = _market(venue, asset)
        listing = self._listing(market, now_ms)
        index, terms = self._terms(market, {o.expiry_ms for o in listing.options}, now_ms)
        hourly = self._volume_swing(market, now_ms)
        return [self._listed_quote(listing, i, now_ms, index, terms[o.expiry_ms], hourly)
                for i, o in enumerate(listing.options)]

    def quote(self, option: SimOption, now_ms: int) -> SimOptionQuote:
        """One option's quote at ``now_ms`` (the same numbers as its row in ``chain``; open interest, volume and
        sizes are 0 when the option is not listed at ``now_ms``)."""
        market = _market(option.venue, option.asset)
        listing = self._listing(market, now_ms)
        index, terms = self._terms(market, {option.expiry_ms}, now_ms)
        i = listing.where.get(option.instrument)
        if i is None:
            return self._quote(option, now_ms, index, terms[option.expiry_ms], 0.0, 0.0, 0.0)
        return self._listed_quote(listing, i, now_ms, index, terms[option.expiry_ms],
                                  self._volume_swing(market, now_ms))

    def _volume_swing(self, market: OptionMarket, t_ms: int) -> float:
        """The hour's factor on 24 h volume (±25 %)."""
        return 1.0 + 0.25 * _unit(self.market.seed, "volume-hour", market.venue, market.asset, t_ms // HOUR_MS)

    def _listed_quote(self, listing: _Listing, i: int, t_ms: int, index: float, term: _Term,
                      hourly: float) -> SimOptionQuote:
        """The quote of the listing's ``i``-th option; book sizes swing from minute to minute."""
        size = listing.size[i] * (1.0 + 0.5 * math.sin(0.37 * (t_ms // 60_000) + i))
        return self._quote(listing.options[i], t_ms, index, term, listing.oi[i], listing.volume[i] * hourly, size)

    @staticmethod
    def _quote(o: SimOption, t_ms: int, index: float, term: _Term, oi: float, volume: float,
               size_coins: float) -> SimOptionQuote:
        forward, years, strike = term.forward, term.years, o.strike
        z = OptionsModel._z(term, strike)
        iv = OptionsModel._iv(term, z)
        sqrt_t = math.sqrt(years)
        sd = iv * sqrt_t
        d1 = math.log(forward / strike) / sd + 0.5 * sd
        n1, pdf = _ncdf(d1), math.exp(-0.5 * d1 * d1) * _INV_SQRT_2PI
        if o.is_call:
            mark = forward * n1 - strike * _ncdf(d1 - sd)
            delta = n1
        else:
            mark = strike * _ncdf(sd - d1) - forward * _ncdf(-d1)
            delta = n1 - 1.0
        mark = max(mark, 0.0)  # minutes before expiry far out of the money the difference rounds below zero
        half = term.spread * (1.0 + 0.25 * abs(z))
        to_quote = 1.0 / forward if o.quote == "coin" else 1.0  # USD -> the quote currency
        tick = o.tick_size
        ask_iv = iv + half
        ask_q = max(tick, _on_tick(_black(forward, strike, years, ask_iv, o.is_call) * to_quote, tick, math.ceil))
        bid_iv: float | None = None
        bid_q: float | None = None
        if iv - half > 0.02:  # far out of the money the bid price rounds to nothing: no bid
            raw = _on_tick(_black(forward, strike, years, iv - half, o.is_call) * to_quote, tick, math.floor)
            if raw >= tick:
                bid_iv, bid_q = iv - half, raw
        lots = max(o.min_amount, _round_lot(size_coins / o.contract_size, o.min_amount))
        ask_usd, ask_coin = _both(ask_q, forward, o.quote)
        bid_usd, bid_coin = (None, None) if bid_q is None else _both(bid_q, forward, o.quote)
        return SimOptionQuote(
            option=o, ts_ms=t_ms, index_price=index, underlying_price=forward, years=years,
            mark_iv=iv, bid_iv=bid_iv, ask_iv=ask_iv,
            mark_price_usd=mark, mark_price_coin=mark / forward,
            bid_price_usd=bid_usd, bid_price_coin=bid_coin, ask_price_usd=ask_usd, ask_price_coin=ask_coin,
            bid_size=lots if bid_q is not None else 0.0, ask_size=lots,
            delta=delta, gamma=pdf / (forward * sd), vega=forward * pdf * sqrt_t / 100.0,
            theta=-forward * pdf * iv / (2.0 * sqrt_t) / 365.0,
            open_interest=oi, volume_24h=_round_lot(volume, o.min_amount))

    # --- volatility indices ----------------------------------------------------------------

    def dvol(self, asset: str, t_ms: int) -> float:
        """DVOL at ``t_ms`` in percent points: the 30-day constant-maturity ATM IV."""
        return 100.0 * self.vol_level(asset, t_ms)

    def dvol_candles(self, asset: str, start_ms: int, end_ms: int,
                     resolution_s: int) -> list[tuple[int, float, float, float, float]]:
        """DVOL candles (open time ms, open, high, low, close; percent points) opening at multiples of the resolution
        within ``[start_ms, min(end_ms, now)]``. A candle closes at the next one's open (the last one at now); highs
        and lows include the hourly knots inside it. Any history depth works: callers bound the window (Deribit
        answers at most 1,000 candles per call)."""
        step = resolution_s * 1000
        now = self.market.now_ms()
        end_ms = min(end_ms, now)
        out: list[tuple[int, float, float, float, float]] = []
        for t in range(-(-start_ms // step) * step, end_ms + 1, step):
            close_t = min(t + step, now)
            inner = range((t // HOUR_MS + 1) * HOUR_MS, close_t, HOUR_MS)
            values = [self.dvol(asset, x) for x in (t, *inner, close_t)]
            out.append((t, values[0], max(values), min(values), values[-1]))
        return out

    def historical_volatility(self, asset: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """Hourly realized volatility of the index, Deribit style: (hour ms, percent points), annualized from the
        squared hourly log returns of the trailing ``RV_WINDOW_H`` hours, for hours in ``[start_ms, min(end_ms,
        now)]``."""
        end_ms = min(end_ms, self.market.now_ms())
        first = -(-start_ms // HOUR_MS) * HOUR_MS
        if first > end_ms:
            return []
        hours = range(first - RV_WINDOW_H * HOUR_MS, end_ms + 1, HOUR_MS)
        logs = [math.log(self.market.index_price(asset, t)) for t in hours]
        cum = [0.0]
        for a, b in pairwise(logs):
            cum.append(cum[-1] + (b - a) ** 2)
        per_year = 365 * 24 / RV_WINDOW_H
        return [(hours[i], 100.0 * math.sqrt((cum[i] - cum[i - RV_WINDOW_H]) * per_year))
                for i in range(RV_WINDOW_H, len(hours))]

    # --- trades ----------------------------------------------------------------------------

    def trades(self, venue: str, asset: str, start_ms: int, end_ms: int) -> list[OptionTrade]:
        """Trades with ``start_ms <= time <= min(end_ms, now)``, ascending. Each minute of each market holds at
        most one trade fixed by the seed, so windows that overlap agree; about one in 20 is a block."""
        market = _market(venue, asset)
        end_ms = min(end_ms, self.market.now_ms())
        out: list[OptionTrade] = []
        for slot in range(start_ms // _TRADE_SLOT_MS, end_ms // _TRADE_SLOT_MS + 1):
            trade = self._trade(market, slot)
            if trade is not None and start_ms <= trade.ts_ms <= end_ms:
                out.append(trade)
        return out

    def _trade(self, market: OptionMarket, slot: int) -> OptionTrade | None:
        seed, venue, asset = self.market.seed, market.venue, market.asset
        if 0.5 + 0.5 * _unit(seed, "otrade", venue, asset, slot) >= market.trade_odds:
            return None
        at, pick, kind, side, size, edge = (0.5 + 0.5 * _unit(seed, "otrade", venue, asset, slot, j)
                                            for j in range(6))
        t_ms = slot * _TRADE_SLOT_MS + int(at * _TRADE_SLOT_MS)
        listing = self._listing(market, t_ms)
        i = min(bisect.bisect_right(listing.cum_volume, pick * listing.cum_volume[-1]), len(listing.options) - 1)
        option = listing.options[i]
        index, terms = self._terms(market, {option.expiry_ms}, t_ms)
        term = terms[option.expiry_ms]
        mark = self._listed_quote(listing, i, t_ms, index, term, 1.0)
        buy = side < 0.55
        # the taker pays up to the half-spread over the mark (buy) or gives it up (sell)
        iv = max(_IV_FLOOR / 2, mark.mark_iv + (1.0 if buy else -1.0) * edge * (mark.ask_iv - mark.mark_iv))
        to_quote = 1.0 / term.forward if option.quote == "coin" else 1.0
        price_q = _black(term.forward, option.strike, term.years, iv, option.is_call) * to_quote
        price = max(option.tick_size, _on_tick(price_q, option.tick_size, round))
        block = kind < _BLOCK_ODDS
        coins = _VOLS[asset].trade_coins * (40.0 * math.exp(1.5 * size) if block else math.exp(5.0 * size - 2.5))
        amount = max(option.min_amount, _round_lot(coins / option.contract_size, option.min_amount))
        trade_id = str(slot * 100 + MARKETS.index(market))
        return OptionTrade(option, t_ms, "buy" if buy else "sell", amount, price, price / to_quote,
                           round(100.0 * iv, 2), mark.mark_price, index, trade_id, trade_id if block else None)
