"""Market-data records: frozen, slotted, unit-explicit. Imports nothing from the project.

Every number says what it is: rates carry their interval, prices are per ONE unit of the
normalized asset (a ``1000PEPE`` mark price is divided by its multiplier), money is USD.
Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

HOURS_PER_YEAR = 8760.0


class Kind(StrEnum):
    """What sort of instrument."""

    PERP = "perp"
    FUTURE = "future"
    OPTION = "option"
    SPOT = "spot"


class Margin(StrEnum):
    """Linear (quoted and margined in a stablecoin) or inverse (margined in the coin)."""

    LINEAR = "linear"
    INVERSE = "inverse"


class Unit(StrEnum):
    """Unit of a quantity as a venue reports it."""

    CONTRACTS = "contracts"
    BASE = "base"
    USD = "usd"
    QUOTE = "quote"


@dataclass(frozen=True, slots=True)
class Instrument:
    """One venue-native tradable contract.

    ``asset`` is the normalized underlying (``PEPE`` for ``1000PEPEUSDT``); ``multiplier`` is how
    many units of ``asset`` one unit of the venue's base stands for (1000 for ``1000PEPE``/``kPEPE``).
    ``contract_size`` is the value of one contract in ``contract_unit`` (100 USD for Binance
    ``BTCUSD_PERP``; 1 base for linear perps that trade in coin).
    """

    venue: str
    symbol: str
    asset: str
    quote: str
    settle: str
    kind: Kind
    margin: Margin
    multiplier: float = 1.0
    contract_size: float = 1.0
    contract_unit: Unit = Unit.BASE
    expiry: datetime | None = None
    market: str = ""

    @property
    def normalized_id(self) -> str:
        """One id across venues: ``BTC-USDT-PERP``, ``BTC-USD-20261225``."""
        if self.kind is Kind.PERP:
            return f"{self.asset}-{self.quote}-PERP"
        if self.expiry is not None:
            return f"{self.asset}-{self.quote}-{self.expiry:%Y%m%d}"
        return f"{self.asset}-{self.quote}"


def rate_8h(rate: float, interval_hours: float) -> float:
    """A per-interval funding rate expressed per 8 hours."""
    return rate * 8.0 / interval_hours


def rate_apr(rate: float, interval_hours: float) -> float:
    """A per-interval funding rate annualized (simple, fraction per year)."""
    return rate * HOURS_PER_YEAR / interval_hours


@dataclass(frozen=True, slots=True)
class FundingRate:
    """Current funding of one perpetual, with its own interval.

    ``rate`` is the rate (fraction) that applies at the next settlement, per ``interval_hours``;
    ``interval_source`` says where the interval came from (a venue field, a default, ...).
    ``predicted_rate`` is a separately published forecast, when the venue publishes one.
    Prices are per one unit of ``instrument.asset``; ``open_interest_usd`` is one-sided.
    """

    instrument: Instrument
    rate: float
    interval_hours: float
    interval_source: str
    time: datetime
    predicted_rate: float | None = None
    next_funding_time: datetime | None = None
    mark_price: float | None = None
    index_price: float | None = None
    open_interest_usd: float | None = None
    note: str = ""

    @property
    def rate_8h(self) -> float:
        """The rate per 8 hours (8 h-equivalent)."""
        return rate_8h(self.rate, self.interval_hours)

    @property
    def apr(self) -> float:
        """The rate annualized (simple), as a fraction."""
        return rate_apr(self.rate, self.interval_hours)


@dataclass(frozen=True, slots=True)
class FundingPoint:
    """One settled (or, for continuous venues, sampled) funding rate in history."""

    time: datetime
    rate: float
    interval_hours: float

    @property
    def rate_8h(self) -> float:
        """The rate per 8 hours (8 h-equivalent)."""
        return rate_8h(self.rate, self.interval_hours)


@dataclass(frozen=True, slots=True)
class FundingHistory:
    """Funding history of one symbol over a requested window.

    ``available_from`` is the earliest time the venue can serve (when it keeps less than asked),
    and ``note`` says why the history is shorter than asked, if it is.
    """

    venue: str
    symbol: str
    start: datetime
    end: datetime
    points: tuple[FundingPoint, ...]
    note: str = ""


def oi_base_and_usd(instrument: Instrument, amount: float, unit: Unit, price: float) -> tuple[float, float]:
    """One-sided open interest as (units of ``instrument.asset``, USD) from the venue's raw figure.

    ``price`` is USD per one unit of the asset. Contracts are sized with ``contract_size`` in
    ``contract_unit`` (USD for inverse contracts, the venue's base for linear ones); the venue's base
    is ``multiplier`` units of the asset (``1000PEPE``).
    """
    if unit is Unit.CONTRACTS:
        amount, unit = amount * instrument.contract_size, instrument.contract_unit
    if unit in (Unit.USD, Unit.QUOTE):
        return amount / price, amount
    base = amount * instrument.multiplier
    return base, base * price


@dataclass(frozen=True, slots=True)
class OpenInterest:
    """Open interest of one contract, one side, as the venue reports it and converted.

    ``amount`` in ``unit`` is the venue's figure (halved first where the venue counts both sides: the
    ``note`` says so); ``base`` is in units of ``instrument.asset``; ``usd`` = ``base`` x ``price_used``
    (or the USD amount itself for USD-denominated figures), ``price_source`` names that price.
    """

    instrument: Instrument
    amount: float
    unit: Unit
    base: float
    usd: float
    price_used: float
    price_source: str
    time: datetime
    note: str = ""

    @classmethod
    def of(cls, instrument: Instrument, amount: float, unit: Unit, price: float, price_source: str,
           time: datetime, note: str = "") -> OpenInterest:
        """Open interest from the venue's raw figure and the price used to convert it."""
        base, usd = oi_base_and_usd(instrument, amount, unit, price)
        return cls(instrument, amount, unit, base, usd, price, price_source, time, note)


@dataclass(frozen=True, slots=True)
class OIPoint:
    """One point of open-interest history: one side, in units of the asset (and USD where known)."""

    time: datetime
    base: float
    usd: float | None = None


@dataclass(frozen=True, slots=True)
class OIHistory:
    """Open-interest history of one contract at a fixed period; ``note`` says when it is shorter than asked."""

    venue: str
    symbol: str
    period_hours: float
    points: tuple[OIPoint, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class LongShortRatio:
    """A venue's published long/short positioning: ``ratio`` = longs / shorts, ``long_share`` in [0, 1].

    ``definition`` names what is counted (``accounts``, ``top-trader accounts``, ``top-trader positions``)
    and over what (a symbol or the whole currency), in the venue's own terms.
    """

    venue: str
    asset: str
    symbol: str
    definition: str
    ratio: float
    long_share: float
    time: datetime
    period: str = ""


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """Prices of one perpetual or dated future, per one unit of ``instrument.asset``, in USD (the quote)."""

    instrument: Instrument
    time: datetime
    mark_price: float | None = None
    index_price: float | None = None
    last_price: float | None = None


@dataclass(frozen=True, slots=True)
class SpotPrice:
    """A spot price of one unit of ``asset`` in ``quote`` on a venue (``source``: its spot ticker)."""

    venue: str
    asset: str
    quote: str
    symbol: str
    price: float
    time: datetime
    source: str = "spot ticker"


@dataclass(frozen=True, slots=True)
class PricePoint:
    """One close of a price series (klines): USD per one unit of the asset."""

    time: datetime
    price: float


@dataclass(frozen=True, slots=True)
class OptionQuote:
    """One listed option as the venue marks it, with units made explicit.

    Prices: ``mark_price_usd`` in USD and ``mark_price_coin`` in the underlying coin (venues that price
    in the coin send the latter; the other is converted with ``underlying_price``, and ``price_note``
    says which way); bid/ask in USD (None when the book side is empty). ``underlying_price`` is what the
    venue prices the option against (the forward of its expiry where the venue says so). IVs are
    fractions (0.55 = 55 %) whatever the venue sends; None when the venue sends none. Open interest and volume
    are in contracts of ``contract_size`` coins. Greeks are the venue's own, when it publishes them
    (delta per option, gamma per USD, vega USD per vol point, theta USD per day).
    """

    venue: str
    symbol: str
    asset: str
    expiry: datetime
    strike: float
    is_call: bool
    time: datetime
    underlying_price: float
    index_price: float | None = None
    mark_price_usd: float | None = None
    mark_price_coin: float | None = None
    bid_price_usd: float | None = None
    ask_price_usd: float | None = None
    mark_iv: float | None = None
    bid_iv: float | None = None
    ask_iv: float | None = None
    delta: float | None = None
    gamma: float | None = None
    vega: float | None = None
    theta: float | None = None
    open_interest: float = 0.0
    volume: float = 0.0
    contract_size: float = 1.0
    settle: str = ""
    price_note: str = ""

    @property
    def normalized_id(self) -> str:
        """``BTC-USD-20261225-100000-C``."""
        return f"{self.asset}-USD-{self.expiry:%Y%m%d}-{self.strike:g}-{'C' if self.is_call else 'P'}"


@dataclass(frozen=True, slots=True)
class OptionTrade:
    """One option trade: ``side`` is the taker's (aggressor's) side, ``amount`` in contracts of
    ``contract_size`` coins, premium in USD, IV as a fraction; ``block`` marks block trades."""

    venue: str
    symbol: str
    asset: str
    expiry: datetime
    strike: float
    is_call: bool
    time: datetime
    side: str
    amount: float
    contract_size: float
    price_usd: float
    index_price: float
    iv: float | None = None
    block: bool = False
    trade_id: str = ""

    @property
    def premium_usd(self) -> float:
        """Premium paid, USD."""
        return self.price_usd * self.amount * self.contract_size


@dataclass(frozen=True, slots=True)
class VolPoint:
    """One point of a volatility series (DVOL close, realized volatility): a fraction per year."""

    time: datetime
    value: float
