"""Market-data records: frozen, slotted, unit-explicit. Imports nothing from the project.

Every number says what it is: rates carry their interval, prices are per ONE unit of the
normalized asset (a ``1000PEPE`` mark price is divided by its multiplier), money is USD.
Times are timezone-aware UTC datetimes.

Records are built with keywords only. Every market-data record carries ``time``, the venue's own
timestamp (None when the venue sends none), and ``received_at``, when dtrack received the answer: one
never stands in for the other (``observed_at`` is the display/as-of time: ``time``, else ``received_at``).
History points carry their venue and symbol. ``to_row()`` gives a flat dict of plain scalars (an embedded
``Instrument`` flattened into its columns, derived figures such as ``rate_8h`` and ``apr`` included): the
one row that feeds JSON, CSV, pandas and a store. ``Instrument`` is reference data (a contract's terms),
not an observation: it has no time fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from enum import Enum, StrEnum
from functools import lru_cache
from types import MemberDescriptorType
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar, cast

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


class DataKind(StrEnum):
    """A kind of market data a venue may publish (the keys of each venue's capability table)."""

    FUNDING = "funding"
    FUNDING_HISTORY = "funding_history"
    OPEN_INTEREST = "open_interest"
    OI_HISTORY = "oi_history"
    LONG_SHORT = "long_short"
    KLINES = "klines"
    QUOTES = "quotes"
    SPOT = "spot"
    OPTION_CHAIN = "option_chain"
    VOL_INDEX = "vol_index"
    REALIZED_VOL = "realized_vol"
    OPTION_TRADES = "option_trades"
    LIQUIDATIONS = "liquidations"
    ORDER_BOOK = "order_book"
    MARGIN_TIERS = "margin_tiers"


#: A value in a record's row: plain Python scalars, and aware datetimes for times.
Scalar = str | float | int | bool | datetime | None


def _scalar(name: str, value: object) -> Scalar:
    """``value`` as a plain scalar: an enum as its (lowercase) token, numpy-like numbers as float/int."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name}: naive datetime {value!r} in a record")
        return value
    raise TypeError(f"{name}: {type(value).__name__} is not a row scalar")


class Record:
    """What makes a record a row: ``to_row()``, one flat dict of plain scalars.

    The row holds the dataclass fields in order (an embedded ``Instrument`` flattened into its own row at
    its place: ``venue``, ``symbol``, ... ``normalized_id``), then the derived figures named in
    ``ROW_EXTRAS``; fields named in ``ROW_SKIP`` (a history's tuple of points) are left out. A name that
    would appear twice is an error, never a silent overwrite.
    """

    __slots__ = ()
    #: derived properties included in the row, after the fields
    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ()
    #: fields left out of the row (nested collections, and per-side splits a store row does not hold)
    ROW_SKIP: ClassVar[tuple[str, ...]] = ()

    def to_row(self) -> dict[str, Scalar]:
        """This record as one flat dict of plain scalars (see the class doc)."""
        row: dict[str, Scalar] = {}
        for name in _row_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, Instrument):
                for inner, scalar in _instrument_row(value):
                    _put(row, self, inner, scalar)
            else:
                _put(row, self, name, _scalar(name, value))
        for name in self.ROW_EXTRAS:
            _put(row, self, name, _scalar(name, getattr(self, name)))
        return row


def _put(row: dict[str, Scalar], record: Record, name: str, value: Scalar) -> None:
    if name in row:
        raise ValueError(f"{type(record).__name__}.to_row: column {name!r} twice")
    row[name] = value


_ROW_FIELDS: dict[type, tuple[str, ...]] = {}


def _row_fields(cls: type[Record]) -> tuple[str, ...]:
    """The dataclass fields of a record class that go into its row, in order (computed once per class)."""
    names = _ROW_FIELDS.get(cls)
    if names is None:
        record: Any = cls
        names = _ROW_FIELDS[cls] = tuple(f.name for f in fields(record) if f.name not in cls.ROW_SKIP)
    return names


@lru_cache(maxsize=8192)
def _instrument_row(inst: Instrument) -> tuple[tuple[str, Scalar], ...]:
    """An instrument's own row, computed once per contract (a venue lists a few hundred; records embed them)."""
    return tuple(Record.to_row(inst).items())


_P = ParamSpec("_P")
_R = TypeVar("_R")
_BUILDERS: dict[type, Callable[..., Any]] = {}


def builder(cls: Callable[_P, _R]) -> Callable[_P, _R]:
    """A faster constructor of the frozen, slotted record class ``cls``, for hot paths (a stream parser builds a
    few records per message): the same keywords and defaults as ``cls(...)`` and an equal object of that class,
    built without the frozen ``__init__``'s ``object.__setattr__`` per field (each slot is set through its own
    descriptor). For dataclasses whose fields are all ``__init__`` keywords with plain defaults and which have no
    ``__post_init__`` (every record here); anything else is a TypeError. Made once per class."""
    made = _BUILDERS.get(cast(type, cls))
    if made is None:
        made = _BUILDERS[cast(type, cls)] = _make_builder(cast(type, cls))
    return cast(Callable[_P, _R], made)


def _make_builder(cls: type) -> Callable[..., Any]:
    """The source of ``builder(cls)``, compiled: ``def build(*, a, b=_d_b): o = new(cls); _s_a(o, a); ...``."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__"):
        raise TypeError(f"builder: {cls.__name__} is not a frozen, slotted dataclass without __post_init__")
    names: list[str] = []
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    for f in fields(cls):
        slot = getattr(cls, f.name, None)
        if not f.init or f.default_factory is not MISSING or not isinstance(slot, MemberDescriptorType):
            raise TypeError(f"builder: {cls.__name__}.{f.name} is not a plain slotted __init__ field")
        scope[f"_s_{f.name}"] = slot.__set__
        if f.default is MISSING:
            names.append(f.name)
        else:
            scope[f"_d_{f.name}"] = f.default
            names.append(f"{f.name}=_d_{f.name}")
    body = "".join(f"    _s_{f.name}(o, {f.name})\n" for f in fields(cls))
    exec(f"def build(*, {', '.join(names)}):\n    o = new(cls)\n{body}    return o\n", scope)
    build = scope["build"]
    build.__qualname__ = build.__name__ = f"build_{cls.__name__}"
    build.__doc__ = f"``{cls.__name__}(...)`` by ``records.builder``: the same keywords, an equal record."
    return cast(Callable[..., Any], build)


class Observation(Record):
    """A market-data record: ``time`` (the venue's, or None) and ``received_at`` (dtrack's) as fields."""

    __slots__ = ()
    if TYPE_CHECKING:
        time: datetime | None
        received_at: datetime

    @property
    def observed_at(self) -> datetime:
        """The as-of time to SHOW: the venue's ``time``, else (the venue sent none) ``received_at``. For display
        and as-of reckoning only; never stored as ``time``."""
        return self.time if self.time is not None else self.received_at


@dataclass(frozen=True, slots=True, kw_only=True)
class Instrument(Record):
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

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("normalized_id",)

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


#: the row columns of a funding rate's ``sides``
SIDE_COLUMNS = ("funding_long", "funding_short", "borrow_long", "borrow_short")


@dataclass(frozen=True, slots=True, kw_only=True)
class SideRates(Record):
    """What each side of a perpetual pays per funding interval where the two sides do not pay the same (GMX v2).

    Fractions of the position's notional per the ``FundingRate``'s ``interval_hours``, in the cost frame: positive =
    that side pays, negative = it receives. ``funding_*`` is the funding of the side (on GMX the larger side pays and
    the smaller one receives the same USD amount spread over its smaller open interest, so the two differ);
    ``borrow_*`` the borrow fee the side pays to the pool (never negative, never merged into the funding).
    """

    funding_long: float
    funding_short: float
    borrow_long: float
    borrow_short: float

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("cost_long", "cost_short")

    @property
    def cost_long(self) -> float:
        """Funding plus borrow of a long, per interval (positive = a cost)."""
        return self.funding_long + self.borrow_long

    @property
    def cost_short(self) -> float:
        """Funding plus borrow of a short, per interval (positive = a cost)."""
        return self.funding_short + self.borrow_short


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingRate(Observation):
    """Current funding of one perpetual, with its own interval.

    ``rate`` is the rate (fraction) that applies at the next settlement, per ``interval_hours``;
    ``interval_source`` says where the interval came from (a venue field, a default, ...).
    ``predicted_rate`` is a separately published forecast, when the venue publishes one.
    Prices are per one unit of ``instrument.asset``; ``open_interest_usd`` is one-sided.
    A venue without settlement times (Deribit, GMX: the rate accrues continuously) has ``next_funding_time``
    None (``continuous``) and quotes its rate as an 8 h-equivalent (``interval_hours`` 8).

    ``sides``: where a long and a short do not pay the same (GMX v2), what each pays per interval, funding and
    borrow apart; ``rate`` is then the long side's funding (positive = longs pay). Without it a long pays ``rate``
    and a short receives it. In ``to_row()`` the sides are the columns ``funding_long``, ``funding_short``,
    ``borrow_long`` and ``borrow_short`` (null without sides); ``sides_of_row`` rebuilds them from a stored row.
    """

    instrument: Instrument
    rate: float
    interval_hours: float
    interval_source: str
    time: datetime | None
    received_at: datetime
    predicted_rate: float | None = None
    next_funding_time: datetime | None = None
    mark_price: float | None = None
    index_price: float | None = None
    open_interest_usd: float | None = None
    note: str = ""
    sides: SideRates | None = None

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("rate_8h", "apr", *SIDE_COLUMNS)
    ROW_SKIP: ClassVar[tuple[str, ...]] = ("sides",)

    @property
    def funding_long(self) -> float | None:
        """The long side's funding per interval (``sides``; None without them)."""
        return None if self.sides is None else self.sides.funding_long

    @property
    def funding_short(self) -> float | None:
        """The short side's funding per interval (``sides``; None without them)."""
        return None if self.sides is None else self.sides.funding_short

    @property
    def borrow_long(self) -> float | None:
        """The long side's borrow fee per interval (``sides``; None without them)."""
        return None if self.sides is None else self.sides.borrow_long

    @property
    def borrow_short(self) -> float | None:
        """The short side's borrow fee per interval (``sides``; None without them)."""
        return None if self.sides is None else self.sides.borrow_short

    @staticmethod
    def sides_of_row(row: Mapping[str, Any]) -> SideRates | None:
        """The ``sides`` a stored row carries (its side columns), or None."""
        fl, fs, bl, bs = (row.get(c) for c in SIDE_COLUMNS)
        if fl is None or fs is None or bl is None or bs is None:
            return None
        return SideRates(funding_long=float(fl), funding_short=float(fs), borrow_long=float(bl),
                         borrow_short=float(bs))

    @property
    def rate_8h(self) -> float:
        """The rate per 8 hours (8 h-equivalent)."""
        return rate_8h(self.rate, self.interval_hours)

    @property
    def apr(self) -> float:
        """The rate annualized (simple), as a fraction."""
        return rate_apr(self.rate, self.interval_hours)

    @property
    def continuous(self) -> bool:
        """The rate accrues continuously: the venue has no settlement time (``next_funding_time`` None)."""
        return self.next_funding_time is None

    @property
    def long_cost_8h(self) -> float:
        """What holding a long costs per 8 hours: funding plus borrow where the venue charges it (``sides``),
        else ``rate_8h``. Negative = the long is paid."""
        cost = self.sides.cost_long if self.sides is not None else self.rate
        return rate_8h(cost, self.interval_hours)

    @property
    def short_cost_8h(self) -> float:
        """What holding a short costs per 8 hours: funding plus borrow where the venue charges it (``sides``),
        else ``-rate_8h`` (a short receives what a long pays). Negative = the short is paid."""
        cost = self.sides.cost_short if self.sides is not None else -self.rate
        return rate_8h(cost, self.interval_hours)


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingPoint(Observation):
    """One settled (or, for continuous venues, sampled) funding rate in history, at the venue's ``time``."""

    venue: str
    symbol: str
    time: datetime
    rate: float
    interval_hours: float
    received_at: datetime

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("rate_8h",)

    @property
    def rate_8h(self) -> float:
        """The rate per 8 hours (8 h-equivalent)."""
        return rate_8h(self.rate, self.interval_hours)


class History(Record):
    """A series of points of one symbol: ``to_row()`` is its summary (the points left out, their count in
    ``n_points``); ``rows()`` the points' rows."""

    __slots__ = ()
    if TYPE_CHECKING:
        points: tuple[Record, ...]

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("n_points",)
    ROW_SKIP: ClassVar[tuple[str, ...]] = ("points",)

    @property
    def n_points(self) -> int:
        """How many points the history holds."""
        return len(self.points)

    def rows(self) -> list[dict[str, Scalar]]:
        """The rows of the points, in order."""
        return [p.to_row() for p in self.points]


@dataclass(frozen=True, slots=True, kw_only=True)
class FundingHistory(History):
    """Funding history of one symbol over a requested window.

    ``available_from`` is the earliest time the venue can serve (when it keeps less than asked),
    and ``note`` says why the history is shorter than asked, if it is. ``to_row()`` is the summary (without
    the points, with their count); ``rows()`` the points' rows.
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
    is ``multiplier`` units of the asset (``1000PEPE``). A price that is not > 0 converts nothing: a
    ``ValueError`` (parsers refuse such a price first, naming the venue and endpoint: ``venues.plausible``).
    """
    if not (math.isfinite(price) and price > 0):
        raise ValueError(f"open interest of {instrument.venue} {instrument.symbol} cannot be converted at a price "
                         f"of {price!r}: a price must be > 0")
    if unit is Unit.CONTRACTS:
        amount, unit = amount * instrument.contract_size, instrument.contract_unit
    if unit in (Unit.USD, Unit.QUOTE):
        return amount / price, amount
    base = amount * instrument.multiplier
    return base, base * price


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenInterest(Observation):
    """Open interest of one contract, one side, as the venue reports it and converted.

    ``amount`` in ``unit`` is the venue's figure (halved first where the venue counts both sides: the
    ``note`` says so); ``base`` is in units of ``instrument.asset``; ``usd`` = ``base`` x ``price_used``
    (or the USD amount itself for USD-denominated figures), ``price_source`` names that price.
    ``long_usd`` / ``short_usd``: where the venue publishes the two sides apart (GMX v2, whose traders' longs and
    shorts both face the pool, so ``amount`` is their sum), each side in USD; None elsewhere (one side is the other).
    """

    instrument: Instrument
    amount: float
    unit: Unit
    base: float
    usd: float
    price_used: float
    price_source: str
    time: datetime | None
    received_at: datetime
    note: str = ""
    long_usd: float | None = None
    short_usd: float | None = None

    @classmethod
    def of(cls, *, instrument: Instrument, amount: float, unit: Unit, price: float, price_source: str,
           time: datetime | None, received_at: datetime, note: str = "", long_usd: float | None = None,
           short_usd: float | None = None) -> OpenInterest:
        """Open interest from the venue's raw figure and the price used to convert it."""
        base, usd = oi_base_and_usd(instrument, amount, unit, price)
        return cls(instrument=instrument, amount=amount, unit=unit, base=base, usd=usd, price_used=price,
                   price_source=price_source, time=time, received_at=received_at, note=note, long_usd=long_usd,
                   short_usd=short_usd)


@dataclass(frozen=True, slots=True, kw_only=True)
class OIPoint(Observation):
    """One point of open-interest history: one side, in units of the asset (and USD where known)."""

    venue: str
    symbol: str
    time: datetime
    base: float
    usd: float | None = None
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OIHistory(History):
    """Open-interest history of one contract at a fixed period; ``note`` says when it is shorter than asked.
    ``to_row()`` is the summary (without the points, with their count); ``rows()`` the points' rows."""

    venue: str
    symbol: str
    period_hours: float
    points: tuple[OIPoint, ...]
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class LongShortRatio(Observation):
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
    time: datetime | None
    received_at: datetime
    period: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceQuote(Observation):
    """Prices of one perpetual or dated future, per one unit of ``instrument.asset``, in USD (the quote).

    ``volume_24h_usd``: the contract's rolling 24 h traded volume, one side (each trade counted once), in USD;
    ``volume_24h_base`` the same in units of ``instrument.asset`` (multiplier applied); None where the venue's
    quote answer carries none. Each venue's figure, as its parser reads it: Binance ``ticker/24hr`` USDⓈ-M
    ``quoteVolume`` (USDT/USDC taken as USD) and ``volume`` (coins), COIN-M ``volume`` contracts x
    ``contractSize`` USD and ``baseVolume`` (coins); Bybit linear ``turnover24h`` (quote, taken as USD) and
    ``volume24h`` (coins), inverse ``volume24h`` (USD) and ``turnover24h`` (coins); OKX ``volCcy24h`` (coins),
    USD = inverse ``vol24h`` contracts x ``ctVal`` USD, linear coins x the last price (an approximation: OKX sends
    no quote volume for derivatives); Deribit book summary ``volume_usd`` and ``volume`` (coins); Hyperliquid
    ``dayNtlVlm`` (USD) and ``dayBaseVlm`` (coins); dYdX ``volume24H`` (USD); GMX none.
    """

    instrument: Instrument
    time: datetime | None
    received_at: datetime
    mark_price: float | None = None
    index_price: float | None = None
    last_price: float | None = None
    volume_24h_usd: float | None = None
    volume_24h_base: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpotPrice(Observation):
    """A spot price of one unit of ``asset`` in ``quote`` on a venue (``source``: its spot ticker)."""

    venue: str
    asset: str
    quote: str
    symbol: str
    price: float
    time: datetime | None
    received_at: datetime
    source: str = "spot ticker"


@dataclass(frozen=True, slots=True, kw_only=True)
class PricePoint(Observation):
    """One kline of a price series of the venue's ``symbol``, timed at its close: ``price`` is the close, ``high``
    and ``low`` the bar's high and low (None where the series carries none: rows stored before they were kept,
    or a period whose klines were not all read); all in USD per one unit of the asset."""

    venue: str
    symbol: str
    time: datetime
    price: float
    received_at: datetime
    high: float | None = None
    low: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionQuote(Observation):
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
    time: datetime | None
    received_at: datetime
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

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("normalized_id",)

    @property
    def normalized_id(self) -> str:
        """``BTC-USD-20261225-100000-C``."""
        return f"{self.asset}-USD-{self.expiry:%Y%m%d}-{self.strike:g}-{'C' if self.is_call else 'P'}"


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionTrade(Observation):
    """One option trade: ``side`` is the taker's (aggressor's) side, ``amount`` in contracts of
    ``contract_size`` coins, premium in USD, IV as a fraction; ``block`` marks block trades."""

    venue: str
    symbol: str
    asset: str
    expiry: datetime
    strike: float
    is_call: bool
    time: datetime
    received_at: datetime
    side: str
    amount: float
    contract_size: float
    price_usd: float
    index_price: float
    iv: float | None = None
    block: bool = False
    trade_id: str = ""

    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("normalized_id", "premium_usd")

    @property
    def normalized_id(self) -> str:
        """``BTC-USD-20261225-100000-C``, as ``OptionQuote.normalized_id``."""
        return f"{self.asset}-USD-{self.expiry:%Y%m%d}-{self.strike:g}-{'C' if self.is_call else 'P'}"

    @property
    def premium_usd(self) -> float:
        """Premium paid, USD."""
        return self.price_usd * self.amount * self.contract_size


@dataclass(frozen=True, slots=True, kw_only=True)
class VolPoint(Observation):
    """One point of a volatility series (DVOL close, realized volatility): a fraction per year. ``symbol``
    names the series as the venue does (see each venue's parser)."""

    venue: str
    symbol: str
    time: datetime
    value: float
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap(Record):
    """What a stream did not see: ``stream`` on ``venue`` was interrupted from ``start`` to ``end`` (None while
    it lasts) for ``reason`` (``disconnect``, ``stall``, ``malformed``, ``resubscribe`` ...). Streams yield
    gaps among their records so that a consumer (the store, an alert) knows what it missed. ``collector`` is
    the collector run that had the gap ("" outside a collector)."""

    venue: str
    stream: str
    start: datetime
    end: datetime | None
    reason: str
    received_at: datetime
    collector: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OptionExpiry(Observation):
    """Metrics of one option expiry of ``asset`` on ``venue`` (``"all"``: the cross-venue aggregate), as
    ``dtrack options`` computes them from the venues' chains: the rows of its ``expiries`` and ``aggregate``,
    with their names and units. ``days`` to expiry at ``received_at`` (when dtrack computed them); ``time`` is
    the latest venue time among the expiry's quotes (None when the venue sends none). ``forward`` USD, its
    ``forward_source`` a token (``venue``, ``put_call_parity``, ``per_venue``; None: no forward); IVs and
    ``rr25`` / ``bf25`` fractions; ratios None where undefined; ``max_pain`` a strike (USD); ``oi_contracts`` in
    the venue's contracts (None across venues), ``oi_coins`` and the call/put sums in coins, ``oi_usd`` and
    ``volume_usd`` in USD; ``options`` how many options the expiry lists."""

    venue: str
    asset: str
    expiry: datetime
    time: datetime | None
    received_at: datetime
    days: float
    forward: float | None
    forward_source: str | None
    atm_iv: float | None
    rr25: float | None
    bf25: float | None
    pcr_oi: float | None
    pcr_volume: float | None
    pcr_premium: float | None
    max_pain: float | None
    oi_contracts: float | None
    oi_coins: float
    oi_usd: float
    volume_usd: float
    options: int
    call_oi: float = 0.0
    put_oi: float = 0.0
    call_volume: float = 0.0
    put_volume: float = 0.0


class Coverage(StrEnum):
    """How much of a venue's liquidations its feed carries.

    ``complete``: every liquidation (Bybit ``allLiquidation``, per Bybit); ``sampled``: at most one per symbol
    (or contract) per second, the rest never published (Binance ``forceOrder``, OKX ``liquidation-orders``): a
    total over it is a lower bound; ``trade-flag``: liquidation fills flagged on the public trade feed (Deribit
    ``liquidation`` M/T/MT, dYdX ``LIQUIDATED`` trades): every fill that hit the book, by its trade.
    """

    COMPLETE = "complete"
    SAMPLED = "sampled"
    TRADE_FLAG = "trade-flag"


class PriceKind(StrEnum):
    """Which price a venue sends with a liquidation: the liquidation ``order``'s limit price (Binance ``p``), the
    ``average`` fill price (Binance ``ap``), the ``bankruptcy`` price (Bybit ``p``, OKX ``bkPx``) or the price of
    the ``trade`` that filled it (Deribit, dYdX)."""

    ORDER = "order"
    AVERAGE = "average"
    BANKRUPTCY = "bankruptcy"
    TRADE = "trade"


@dataclass(frozen=True, slots=True, kw_only=True)
class Liquidation(Observation):
    """One liquidation event: a position on ``side`` (``long`` / ``short``: the side of the POSITION liquidated,
    whatever side the venue's message names) closed by the venue at ``price`` (which one: ``price_kind``).

    ``amount`` is the quantity in the venue's ``unit`` (contracts, coins, USD); ``base`` the same in coins of
    ``instrument.asset`` and ``usd`` in USD, converted at ``price`` (``oi_base_and_usd``'s rules: inverse contracts
    are USD-sized). ``time`` is the venue's event time, ``received_at`` dtrack's; ``coverage`` says how complete the
    feed is (a total over ``sampled`` events is a lower bound); ``key`` identifies the event for de-duplication
    (the venue's trade id where it sends one, else the venue's fields that together identify it), so a backlog
    push or a reconnect never counts one twice.
    """

    instrument: Instrument
    side: str
    price: float
    price_kind: PriceKind
    amount: float
    unit: Unit
    base: float
    usd: float
    time: datetime
    received_at: datetime
    coverage: Coverage
    key: str
    note: str = ""

    @classmethod
    def of(cls, *, instrument: Instrument, side: str, price: float, price_kind: PriceKind, amount: float,
           unit: Unit, time: datetime, received_at: datetime, coverage: Coverage, key: str,
           note: str = "") -> Liquidation:
        """A liquidation from the venue's quantity, converted to coins and USD at ``price``."""
        if side not in LIQUIDATION_SIDES:
            raise ValueError(f"liquidation side {side!r}: expected long or short (the position liquidated)")
        base, usd = oi_base_and_usd(instrument, amount, unit, price)
        return cls(instrument=instrument, side=side, price=price, price_kind=price_kind, amount=amount, unit=unit,
                   base=base, usd=usd, time=time, received_at=received_at, coverage=coverage, key=key, note=note)


#: the position sides a liquidation can close
LIQUIDATION_SIDES = ("long", "short")


@dataclass(frozen=True, slots=True, kw_only=True)
class LiquidationLevel(Record):
    """One price bin of an ESTIMATED liquidation map (the heatmap) of ``asset`` as computed at ``time``: the USD of
    ``side`` positions (longs below the price, shorts above) estimated to be liquidated between ``low`` and
    ``high`` (USD per coin), with ``price`` the reference price at ``time``. ``method`` names the estimator and its
    parameters (so estimates of different methods are never compared as one); ``venues`` the venues whose open
    interest went in (comma-separated). The collector stores these hourly so that ``--score`` can compare them
    with the liquidations that followed."""

    asset: str
    method: str
    time: datetime
    received_at: datetime
    price: float
    side: str
    low: float
    high: float
    usd: float
    venues: str = ""


# --- the quant toolkit (issue 13): order books, candles, margin tiers, carry positions -----------------------

#: one side of an order book: (price per ONE unit of the asset, size in coins of the asset), best first
BookSide = tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderBook(Observation):
    """An L2 order book of one contract as the venue answered it.

    ``bids`` and ``asks`` are best first (bids descending, asks ascending), each level ``(price, size)`` with the
    price per ONE unit of ``instrument.asset`` (a ``1000PEPE`` price divided by its multiplier) and the size in
    coins of the asset, converted from the venue's quantity in ``unit`` with the contract's terms (inverse
    contracts are USD-sized: converted at that level's own price). ``limit`` is the most levels a side the answer
    can hold (the depth asked, or the venue's cap: Hyperliquid 20): a side with ``limit`` levels may go on past its
    last level (analytics flag a band that reaches past it as ``truncated``), a side with fewer is the whole side.
    ``sequence`` is the venue's update id where it sends one.
    """

    ROW_SKIP: ClassVar[tuple[str, ...]] = ("bids", "asks")
    ROW_EXTRAS: ClassVar[tuple[str, ...]] = ("best_bid", "best_ask", "levels_bid", "levels_ask")

    instrument: Instrument
    bids: BookSide
    asks: BookSide
    unit: Unit
    limit: int
    time: datetime | None
    received_at: datetime
    sequence: int | None = None
    note: str = ""

    @property
    def best_bid(self) -> float | None:
        """The highest bid, None for an empty side."""
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> float | None:
        """The lowest ask, None for an empty side."""
        return self.asks[0][0] if self.asks else None

    @property
    def levels_bid(self) -> int:
        """Levels on the bid side."""
        return len(self.bids)

    @property
    def levels_ask(self) -> int:
        """Levels on the ask side."""
        return len(self.asks)


@dataclass(frozen=True, slots=True, kw_only=True)
class BookSnapshot(Observation):
    """The depth metrics of one ``OrderBook`` (what the collector stores: seed 003 ``order_book_snapshots``).

    ``mid`` and the best prices are per ONE unit of the asset; ``spread_bps`` = (ask − bid) / mid × 10,000; the
    ``*_1pct`` figures are the resting size within 1 % of the mid per side, in coins and USD, ``imbalance_1pct`` =
    (bids − asks) / (bids + asks) on those coins, and ``truncated_1pct`` says that the venue's answer ended before
    1 % on a side that may go on (the figure is then a lower bound). ``bands`` holds the same metrics for every
    band asked, as JSON text ``[{"band_pct", "bid_base", "ask_base", "bid_usd", "ask_usd", "imbalance",
    "bid_truncated", "ask_truncated"}, ...]``.
    """

    instrument: Instrument
    time: datetime | None
    received_at: datetime
    mid: float
    best_bid: float
    best_ask: float
    spread_bps: float
    bid_base_1pct: float
    ask_base_1pct: float
    bid_usd_1pct: float
    ask_usd_1pct: float
    imbalance_1pct: float | None
    truncated_1pct: bool
    levels_bid: int
    levels_ask: int
    bands: str = "[]"


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle(Observation):
    """One kline (OHLCV bar) of a contract: ``time`` is the bar's OPEN time (the venue's), ``period_seconds`` its
    length; prices per ONE unit of the asset (divided by the contract's multiplier); ``volume_base`` the traded
    quantity in coins of the asset and ``volume_usd`` in USD, each None where the venue's bar does not carry it
    (converted from contracts with the contract's terms; the parser says in its doc which field it read).
    ``closed`` is False for the bar still open at ``received_at`` (its close is the latest price)."""

    venue: str
    symbol: str
    time: datetime
    period_seconds: int
    open: float
    high: float
    low: float
    close: float
    received_at: datetime
    volume_base: float | None = None
    volume_usd: float | None = None
    closed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class MarginTier(Observation):
    """One maintenance-margin tier (risk limit, leverage bracket, position tier) of a contract, from the venue's
    public endpoint.

    A position whose size lies in ``[floor, cap)`` (``cap`` None: no upper bound) measured in ``unit`` (``usd``:
    position notional in the margin currency's USD terms for linear contracts; ``base``: coins, as Binance COIN-M
    and Bybit inverse measure it; ``contracts``: the venue's contracts, as OKX measures it) needs maintenance
    margin ``notional × mmr − deduction`` (``deduction``: Binance ``cum``, Bybit ``mmDeduction``, Hyperliquid's
    maintenance deduction; in the margin currency: USD for linear, coins for inverse), and may use at most
    ``max_leverage`` (``imr`` its initial-margin rate where the venue sends one). ``source`` names the endpoint;
    ``official`` is False for an undocumented one (Binance's public web brackets); ``note`` says anything else
    (how a field was derived)."""

    venue: str
    symbol: str
    tier: int
    floor: float
    cap: float | None
    unit: Unit
    mmr: float
    deduction: float
    max_leverage: float
    time: datetime | None
    received_at: datetime
    imr: float | None = None
    source: str = ""
    official: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class CarryPosition(Record):
    """A basis (cash-and-carry) position the user recorded with ``dtrack carry open``: long ``size`` coins of
    ``asset`` spot on ``spot_venue`` at ``spot_entry`` and short the same on the perpetual ``perp_symbol`` of
    ``perp_venue`` at ``perp_entry`` (USD per coin), opened at ``opened_at``; ``fee_pct`` is the taker fee per leg
    per trade, percent. ``closed_at`` and the exit prices are None while it is open (``dtrack carry close`` fills
    them). ``id`` is its identity in the store."""

    id: str
    asset: str
    spot_venue: str
    perp_venue: str
    perp_symbol: str
    size: float
    spot_entry: float
    perp_entry: float
    opened_at: datetime
    fee_pct: float
    closed_at: datetime | None = None
    spot_exit: float | None = None
    perp_exit: float | None = None
    note: str = ""
