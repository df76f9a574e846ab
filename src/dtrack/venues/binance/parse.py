"""Binance USDⓈ-M / COIN-M / spot / options payloads -> dtrack records (pure: no I/O, no clock).

Every futures function takes the host key (``usdm`` / ``coinm``) because the two hosts differ in
field names and units:

- exchangeInfo: the trading status is ``status`` on USDⓈ-M but ``contractStatus`` on COIN-M,
  and only COIN-M has ``contractSize`` (USD per contract; 100 for BTCUSD_PERP, 10 for ETHUSD_PERP
  in the real 2021 capture ``binance-coinm__rest_exchangeInfo__capture.json``); quarterlies
  (``CURRENT_QUARTER`` / ``NEXT_QUARTER``) carry their delivery time in ``deliveryDate``;
- openInterest: base coin on USDⓈ-M, contracts on COIN-M;
- openInterestHist: USDⓈ-M ``sumOpenInterest`` is base coin and ``sumOpenInterestValue`` USD(T);
  COIN-M ``sumOpenInterest`` is CONTRACTS and ``sumOpenInterestValue`` BASE COIN (per pair and
  contractType, so a quarterly's series is its predecessor's before the last quarterly roll);
- premiumIndex: COIN-M lists delivery contracts too, with ``"lastFundingRate": ""`` and
  ``"nextFundingTime": 0`` (``binance-coinm__rest_premiumIndex__docs.json``).

Bulk answers list hundreds of symbols nobody asked for: a new or odd one (an unknown contract
type, an empty price, a malformed row) is skipped, never a reason to fail the whole venue. A
malformed premiumIndex or fundingInfo row of an ASKED symbol is a ParseError for that symbol alone
(see ``BySymbol``); a malformed exchangeInfo row fails a query for its asset (``Listing.broken``).

Multiplier symbols (``1000PEPEUSDT``, baseAsset ``1000PEPE``) quote prices per 1000 coins;
records carry prices per ONE coin of the normalized asset.
"""

from __future__ import annotations

import calendar
import math
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, Generic, TypeVar

from dtrack.errors import ParseError, UnsupportedError
from dtrack.records import (
    Candle,
    FundingHistory,
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    Margin,
    MarginTier,
    OIHistory,
    OIPoint,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    OrderBook,
    PricePoint,
    PriceQuote,
    SpotPrice,
    Unit,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.binance import api
from dtrack.venues.books import array_side, check_book
from dtrack.venues.fields import (
    HOUR_MS,
    Kline,
    Listing,
    Reader,
    Row,
    ms_to_utc,
    page_windows,
    points_from_settlements,
    price_point,
    utc_to_ms,
    within,
)

R = TypeVar("R")

#: How much later than "30 days ago" the first openInterestHist page starts: the venue refuses an
#: older ``startTime``, and its clock and ours may differ a little.
KEPT_MARGIN_MS = 5 * 60_000


def reader(path: str) -> Reader:
    """A field reader whose errors name Binance and the endpoint path."""
    return Reader(api.VENUE, path)


@dataclass(frozen=True, slots=True)
class BySymbol(Generic[R]):
    """Rows of a bulk endpoint by symbol, and the asked-for rows that did not parse.

    ``get`` re-raises a malformed row's ParseError, so it drops that symbol only.
    """

    rows: Mapping[str, R]
    bad: Mapping[str, ParseError] = field(default_factory=dict)
    #: the funding caps fundingInfo states per symbol (``adjustedFundingRateCap`` / ``Floor``; that table
    #: alone has them): what its rows say beside the interval, not part of the table's equality
    caps: Mapping[str, plausible.FundingCap] = field(default_factory=dict, compare=False)

    def get(self, symbol: str) -> R | None:
        """The parsed row of ``symbol`` (None when absent); its ParseError when it was malformed."""
        if symbol in self.bad:
            raise self.bad[symbol]
        return self.rows.get(symbol)


def _symbol_of(raw: object) -> str | None:
    """The ``symbol`` of a bulk row, or None when the row is not an object with a string symbol."""
    if isinstance(raw, Mapping):
        symbol = raw.get("symbol")
        if isinstance(symbol, str) and symbol:
            return symbol
    return None


def _by_symbol(r: Reader, body: object, symbols: Collection[str] | None,
               read: Callable[[Mapping[str, Any], str], R]) -> BySymbol[R]:
    """Rows of a bulk answer (an array, or one object for ``?symbol=``) read by ``read`` for the
    asked ``symbols`` (all when None); other rows and rows without a symbol are skipped unread, an
    asked row that does not parse goes to ``bad``."""
    if isinstance(body, Mapping):  # the answer to ``?symbol=``: one object, which must name its symbol
        r.text(body, "symbol")
    rows: Sequence[object] = [body] if isinstance(body, Mapping) else r.arr(body)
    r.answered(rows, symbols or ())  # symbols asked of an empty list: a broken answer, not "none trades"
    out: dict[str, R] = {}
    bad: dict[str, ParseError] = {}
    for raw in rows:
        symbol = _symbol_of(raw)
        if symbol is None or (symbols is not None and symbol not in symbols):
            continue
        try:
            out[symbol] = read(r.obj(raw), symbol)
        except ParseError as exc:
            bad[symbol] = exc
    return BySymbol(out, bad)


def _cell(row: Sequence[Any], index: int, name: str) -> Mapping[str, Any]:
    """Position ``index`` of an array row as a one-field object, so ``Reader`` checks it by ``name``."""
    return {name: row[index]} if index < len(row) else {}


# --- instruments -------------------------------------------------------------------------------


def parse_exchange_info(body: object, host: str) -> Listing:
    """The trading perpetuals and quarterlies of one host's ``exchangeInfo``.

    Quarterlies (``CURRENT_QUARTER`` / ``NEXT_QUARTER``) are dated futures expiring at their
    ``deliveryDate``. Unknown contract types (``""`` on a pending listing, TradFi perpetuals) and
    symbols not in trading status (``PENDING_TRADING``, ``SETTLING``) are left out without reading
    further. A trading contract whose row does not parse goes to ``broken`` under its ``baseAsset``
    (a query for that asset fails; the reason names the host's path, as the two hosts share one
    listing); a payload where no contract parses at all is a ParseError (and is therefore never cached).
    """
    r = reader(api.PATHS[host].exchange_info)
    rows = r.arr(r.field(r.obj(body), "symbols"), "symbols")
    status_key = api.STATUS_FIELD[host]
    # rows that are not objects have nothing to identify, and nobody asked for them
    listed = [raw for raw in rows if isinstance(raw, Mapping) and _kind_of(raw) is not None
              and raw.get(status_key) == api.TRADING]
    return Listing.read(listed, lambda row: _instrument(r, row, host), lambda row: _identify(row, r.endpoint),
                        whole=r)


def _kind_of(row: Row) -> Kind | None:
    """PERP for a perpetual, FUTURE for a quarterly, None for a contract type dtrack does not list."""
    contract_type = row.get("contractType")
    if contract_type == api.PERPETUAL:
        return Kind.PERP
    return Kind.FUTURE if isinstance(contract_type, str) and contract_type in api.DATED else None


def _identify(row: Row, path: str) -> tuple[str, str]:
    """(asset, symbol) of a (possibly malformed) row from ``baseAsset`` and ``symbol`` ("" where
    unreadable); the symbol is followed by the host's path, which the listing of both hosts loses."""
    base, symbol = row.get("baseAsset"), row.get("symbol")
    asset = split_multiplier(base)[0] if isinstance(base, str) and base else ""
    name = symbol if isinstance(symbol, str) and symbol else asset
    return asset, f"{name} in {path}" if name else ""


def _instrument(r: Reader, row: Mapping[str, object], host: str) -> Instrument:
    symbol = r.text(row, "symbol")
    kind = _kind_of(row) or Kind.PERP
    asset, multiplier = split_multiplier(r.text(row, "baseAsset"))
    quote, settle = r.text(row, "quoteAsset"), r.text(row, "marginAsset")
    # perpetuals carry a far-future deliveryDate (2100-12-25): only a quarterly's is an expiry
    expiry = r.time_ms(row, "deliveryDate") if kind is Kind.FUTURE else None
    if host == api.COINM:
        # Inverse: one contract is worth contractSize USD (a JSON number in the real capture).
        size = r.num(row, "contractSize")
        if size <= 0:
            raise r.fail(f"contractSize of {symbol} is {size!r}, expected > 0")
        return Instrument(venue=api.VENUE, symbol=symbol, asset=asset, quote=quote, settle=settle, kind=kind,
                          margin=Margin.INVERSE, multiplier=multiplier,
                          contract_size=size, contract_unit=Unit.USD, expiry=expiry, market=host)
    # Linear: quantities (and openInterest) are in the base coin, e.g. 1000PEPE units.
    return Instrument(venue=api.VENUE, symbol=symbol, asset=asset, quote=quote, settle=settle, kind=kind,
                      margin=Margin.LINEAR, multiplier=multiplier,
                      contract_size=1.0, contract_unit=Unit.BASE, expiry=expiry, market=host)


def quarterly_deliveries(around: datetime) -> list[datetime]:
    """Binance's quarterly delivery times (last Friday of Mar/Jun/Sep/Dec, 08:00 UTC) from the year
    before ``around`` to the year after, ascending."""
    out: list[datetime] = []
    for year in range(around.year - 1, around.year + 2):
        for month in api.QUARTER_MONTHS:
            day = datetime(year, month, calendar.monthrange(year, month)[1], api.DELIVERY_HOUR, tzinfo=UTC)
            out.append(day - timedelta(days=(day.weekday() - calendar.FRIDAY) % 7))
    return out


def contract_type(instrument: Instrument, now: datetime) -> str:
    """A quarterly's ``contractType`` at ``now``: CURRENT_QUARTER when its delivery is the next one,
    NEXT_QUARTER when one delivery comes before it (COIN-M statistics are kept per contractType)."""
    if instrument.expiry is None:
        return api.PERPETUAL
    ahead = [d for d in quarterly_deliveries(now) if now < d <= instrument.expiry]
    if len(ahead) in (1, 2) and ahead[-1] == instrument.expiry:
        return api.CURRENT_QUARTER if len(ahead) == 1 else api.NEXT_QUARTER
    raise UnsupportedError(f"binance: {instrument.symbol} is not the current or next quarterly, and COIN-M "
                           f"statistics are kept per contractType only")


def last_roll(now: datetime) -> datetime:
    """The latest quarterly delivery at or before ``now``: when COIN-M's CURRENT_QUARTER and
    NEXT_QUARTER series last moved to other contracts."""
    return max(d for d in quarterly_deliveries(now) if d <= now)


# --- current funding ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Premium:
    """One premiumIndex row: prices per unit of the venue's base (multiplier included).

    ``rate`` (``lastFundingRate``) is the rate charged at ``next_funding``; both are None on
    delivery contracts, which Binance lists with ``""`` and ``0``.
    """

    symbol: str
    rate: float | None
    next_funding: datetime | None
    mark: float
    index: float
    time: datetime | None


def parse_premium_index(body: object, host: str, symbols: Collection[str] | None = None) -> BySymbol[Premium]:
    """``premiumIndex`` rows by symbol (an array without ``symbol``, one object with it).

    Only the rows of ``symbols`` (all rows when None) are read; the others are skipped unread, so a
    new listing with an empty price cannot fail the query. An asked row that does not parse goes
    to ``bad``.
    """
    r = reader(api.PATHS[host].premium_index)
    return _by_symbol(r, body, symbols, lambda row, symbol: _premium(r, row, symbol))


def _premium(r: Reader, row: Mapping[str, object], symbol: str) -> Premium:
    premium = Premium(
        symbol=symbol,
        rate=r.opt_num(row, "lastFundingRate"),
        next_funding=r.opt_time_ms(row, "nextFundingTime"),
        mark=r.num(row, "markPrice"),
        index=r.num(row, "indexPrice"),
        time=r.opt_time_ms(row, "time"),
    )
    # prices every record of the row is built from (the rate and the times are checked with them)
    rules = plausible.Rules(api.VENUE, r.endpoint, symbol)
    rules.price("markPrice", premium.mark)
    rules.price("indexPrice", premium.index)
    return premium


def parse_funding_intervals(body: object, host: str) -> BySymbol[float]:
    """``fundingInfo``: symbol -> ``fundingIntervalHours`` (only symbols with an adjustment), with the
    symbols' caps (``caps``, from ``adjustedFundingRateCap`` / ``adjustedFundingRateFloor``).

    A row without a symbol is skipped; a row whose interval does not parse goes to ``bad``, so
    that symbol (and only it) fails instead of silently taking the 8 h default. A cap that is absent or
    does not parse is no cap (the rate is then held to ``plausible.BACKSTOP``).
    """
    r = reader(api.PATHS[host].funding_info)
    rows = r.arr(body)
    intervals = _by_symbol(r, rows, None, lambda row, symbol: _positive(r, row, "fundingIntervalHours", symbol))
    caps = _by_symbol(r, rows, None, lambda row, _symbol: _cap(r, row))
    return BySymbol(intervals.rows, intervals.bad, {s: cap for s, cap in caps.rows.items() if cap is not None})


def _cap(r: Reader, row: Mapping[str, object]) -> plausible.FundingCap | None:
    """The cap and floor of one fundingInfo row, None unless both are numbers with floor < cap."""
    try:
        cap, floor = r.opt_num(row, "adjustedFundingRateCap"), r.opt_num(row, "adjustedFundingRateFloor")
    except ParseError:
        return None
    if cap is None or floor is None or floor >= cap:
        return None
    return plausible.FundingCap(floor, cap, "Binance fundingInfo adjustedFundingRateCap / Floor")


def _positive(r: Reader, row: Mapping[str, object], key: str, symbol: str) -> float:
    """A required number that must be > 0."""
    value = r.num(row, key)
    if value <= 0:
        raise r.fail(f"{key} of {symbol} is {value!r}, expected > 0")
    return value


def cap_of(instrument: Instrument, intervals: BySymbol[float]) -> plausible.FundingCap | None:
    """The funding cap fundingInfo states for ``instrument``; None for a symbol it does not list (Binance
    publishes no default cap: such a rate is held to ``plausible.BACKSTOP``)."""
    return intervals.caps.get(instrument.symbol)


def interval_of(instrument: Instrument, intervals: BySymbol[float]) -> tuple[float, str]:
    """(interval hours, where it came from): fundingInfo, else Binance's default of 8 h.

    A malformed fundingInfo row of this symbol is its ParseError, not the default.
    """
    hours = intervals.get(instrument.symbol)
    if hours is not None:
        return hours, "fundingInfo.fundingIntervalHours"
    return float(api.DEFAULT_INTERVAL_HOURS), f"default {api.DEFAULT_INTERVAL_HOURS} h (not in fundingInfo)"


def on_schedule(next_funding: datetime, hours: float) -> bool:
    """Whether a settlement time lies on the UTC grid of ``hours``-hour intervals.

    Binance settles at whole multiples of the interval since 00:00 UTC (8 h: 00/08/16; 4 h:
    00/04/...; 1 h: every hour), so a ``nextFundingTime`` off that grid means the interval is
    not ``hours`` (any more).
    """
    step = round(hours * HOUR_MS)
    return step > 0 and utc_to_ms(next_funding) % step == 0


def off_schedule(instrument: Instrument, premium: Premium, intervals: BySymbol[float]) -> bool:
    """Whether this perpetual's ``nextFundingTime`` contradicts the interval fundingInfo gives it."""
    if premium.next_funding is None:
        return False
    try:
        hours, _source = interval_of(instrument, intervals)
    except ParseError:
        return False  # the row fails anyway; refetching for it is not worth a request
    return not on_schedule(premium.next_funding, hours)


@dataclass(frozen=True, slots=True)
class OIReading:
    """One ``openInterest`` answer: the amount (base coin on USDⓈ-M, contracts on COIN-M) and
    Binance's time of it (None when absent)."""

    amount: float
    time: datetime | None


def parse_open_interest(body: object, host: str, symbol: str) -> OIReading:
    """``openInterest`` of one symbol: base coin (USDⓈ-M) or contracts (COIN-M)."""
    r = reader(api.PATHS[host].open_interest)
    row = r.obj(body)
    got = r.text(row, "symbol")
    if got != symbol:
        raise r.fail(f"asked for {symbol}, answer is for {got}")
    amount = r.num(row, "openInterest")
    plausible.Rules(api.VENUE, r.endpoint, symbol).amount("openInterest", amount)
    return OIReading(amount, r.opt_time_ms(row, "time"))


def open_interest(instrument: Instrument, reading: OIReading, premium: Premium, received: datetime) -> OpenInterest:
    """The OpenInterest of one contract, priced at its own mark (premiumIndex) per one unit of the asset.

    Binance counts one side. USDⓈ-M reports the venue's base (``1000PEPE`` units: the multiplier
    makes them PEPE); COIN-M reports contracts of ``contractSize`` USD.
    """
    unit = Unit.CONTRACTS if instrument.market == api.COINM else Unit.BASE
    return plausible.open_interest(api.PATHS[instrument.market].open_interest, instrument=instrument,
                                   amount=reading.amount, unit=unit, price=premium.mark / instrument.multiplier,
                                   price_source="mark (premiumIndex)", time=reading.time or premium.time,
                                   received_at=received)


def open_interest_usd(instrument: Instrument, amount: float, mark: float) -> tuple[float, str]:
    """One-sided OI in USD and how it was converted.

    COIN-M: contracts x contractSize USD. USDⓈ-M: base coin (``1000PEPE`` units for multiplier
    symbols) x the mark of that same unit.
    """
    if instrument.contract_unit is Unit.USD:
        return (amount * instrument.contract_size,
                f"OI = openInterest (contracts) x contractSize {instrument.contract_size:g} USD")
    base = instrument.symbol.removesuffix(instrument.quote) or instrument.asset
    return amount * mark, f"OI = openInterest ({base}) x mark"


def funding_rate(
    instrument: Instrument,
    premium: Premium,
    intervals: BySymbol[float],
    open_interest: float | None,
    received: datetime,
) -> FundingRate:
    """The FundingRate of one perpetual from its premiumIndex row, fundingInfo and OI.

    ``open_interest`` is the raw openInterest amount, or None when it could not be fetched.
    ``time`` is Binance's own ``time`` of the row (None without one). When ``nextFundingTime`` is
    off the interval's grid the interval is kept (it is the venue's word) and the note says so.
    """
    r = reader(api.PATHS[instrument.market].premium_index)
    if premium.rate is None or premium.next_funding is None:
        raise r.fail(f"perpetual {instrument.symbol} has no lastFundingRate / nextFundingTime")
    hours, source = interval_of(instrument, intervals)
    oi_usd, note = None, "OI unavailable (see errors)"
    if open_interest is not None:
        oi_usd, note = open_interest_usd(instrument, open_interest, premium.mark)
    if not on_schedule(premium.next_funding, hours):
        note += (f"; interval unconfirmed: nextFundingTime {premium.next_funding:%Y-%m-%d %H:%M} UTC is not "
                 f"on the {hours:g} h grid ({source}), the interval may have changed")
    return plausible.funding_rate(r.endpoint, FundingRate(
        instrument=instrument,
        rate=premium.rate,
        interval_hours=hours,
        interval_source=source,
        time=premium.time,
        received_at=received,
        predicted_rate=None,  # lastFundingRate already IS the rate of the coming settlement
        next_funding_time=premium.next_funding,
        mark_price=premium.mark / instrument.multiplier,
        index_price=premium.index / instrument.multiplier,
        open_interest_usd=oi_usd,
        note=note,
    ), cap_of(instrument, intervals))


# --- history -----------------------------------------------------------------------------------


def parse_funding_history(body: object, host: str, symbol: str) -> list[tuple[datetime, float]]:
    """``fundingRate`` rows as (fundingTime, rate), in the order Binance sent them.

    The answer to a ``symbol=`` query holds that symbol only: a row of another one means the
    filter was ignored (and paging would be wrong), so it is a ParseError.
    """
    r = reader(api.PATHS[host].funding_rate)
    out: list[tuple[datetime, float]] = []
    for raw in r.arr(body):
        row = r.obj(raw, "fundingRate row")
        got = r.text(row, "symbol")
        if got != symbol:
            raise r.fail(f"asked for {symbol}, a row is for {got}")
        rate = plausible.settlement(plausible.Rules(api.VENUE, r.endpoint, symbol), r.num(row, "fundingRate"))
        out.append((r.time_ms(row, "fundingTime"), rate))
    return out


def funding_history(
    instrument: Instrument,
    rows: Iterable[tuple[datetime, float]],
    start: datetime,
    end: datetime,
    current_interval_hours: float,
    received: datetime,
) -> FundingHistory:
    """A FundingHistory from settled (time, rate) rows received at ``received``; notes when Binance returned
    nothing early enough."""
    points = within(points_from_settlements(rows, current_interval_hours, venue=api.VENUE, symbol=instrument.symbol,
                                            received_at=received), start, end)
    note = ""
    if not points:
        note = f"Binance returned no settlement of {instrument.symbol} in the window"
    elif (points[0].time - start).total_seconds() > points[0].interval_hours * 3600.0:
        note = (f"Binance returned no settlement of {instrument.symbol} before "
                f"{points[0].time:%Y-%m-%d %H:%M} UTC (listed later, or history not kept)")
    return FundingHistory(venue=api.VENUE, symbol=instrument.symbol, start=start, end=end, points=points, note=note)


# --- pages of time series ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Page:
    """One request of a time series: the points at ``start_ms``, ``start_ms + step`` ... ``end_ms``
    (both inclusive), ``count`` of them."""

    start_ms: int
    end_ms: int
    count: int


def pages(start_ms: int, end_ms: int, step_ms: int, per_page: int, span_max_ms: int | None = None) -> list[Page]:
    """The pages covering every multiple of ``step_ms`` in ``[start_ms, end_ms]``, each with at most
    ``per_page`` points (and spanning at most ``span_max_ms``): the whole window is known up front,
    so every page can be asked at once."""
    per = per_page if span_max_ms is None else max(1, min(per_page, span_max_ms // step_ms + 1))
    return [Page(a, b, (b - a) // step_ms + 1) for a, b in page_windows(start_ms, end_ms, step_ms, per)]


def period_name(period_hours: int) -> str:
    """Binance's ``period`` / ``interval`` for 1, 4 or 24 hours; UnsupportedError for another."""
    name = api.PERIODS.get(period_hours)
    if name is None:
        raise UnsupportedError(f"binance: no {period_hours} h period (dtrack asks 1, 4 or 24 h)")
    return name


# --- open-interest history ---------------------------------------------------------------------


def oi_history_window(start: datetime, end: datetime, now: datetime) -> tuple[datetime, str]:
    """Where openInterestHist can start for ``[start, end]`` and the note when that is later than asked:
    Binance keeps only the latest 30 days (and refuses an older ``startTime``)."""
    kept_from = now - timedelta(days=api.FUTURES_DATA_DAYS) + timedelta(milliseconds=KEPT_MARGIN_MS)
    if start >= kept_from:
        return start, ""
    return kept_from, (f"Binance keeps openInterestHist for the latest {api.FUTURES_DATA_DAYS} days only: asked "
                       f"from {start:%Y-%m-%d %H:%M} UTC, served from {kept_from:%Y-%m-%d %H:%M} UTC")


def oi_history_params(instrument: Instrument, now: datetime) -> dict[str, str]:
    """How openInterestHist names a contract: ``symbol`` on USDⓈ-M, ``pair`` + ``contractType`` on COIN-M."""
    if instrument.market == api.COINM:
        return {"pair": instrument.symbol.split("_")[0], "contractType": contract_type(instrument, now)}
    return {"symbol": instrument.symbol}


def coinm_roll_start(instrument: Instrument, now: datetime) -> tuple[datetime | None, str]:
    """For a COIN-M quarterly: since when its contractType series is this contract, and the note
    saying so (None and "" for anything else: USDⓈ-M series are per symbol, perpetuals never roll)."""
    if instrument.market != api.COINM or instrument.expiry is None:
        return None, ""
    roll = last_roll(now)
    return roll, (f"COIN-M openInterestHist is kept per contractType: before the quarterly roll at "
                  f"{roll:%Y-%m-%d %H:%M} UTC that series was another contract, so history starts there")


def parse_oi_history(body: object, instrument: Instrument, params: Mapping[str, str],
                     received: datetime) -> list[OIPoint]:
    """openInterestHist rows of one contract as one-sided points (units of the asset, and USD).

    USDⓈ-M: ``sumOpenInterest`` in the venue's base (x multiplier), ``sumOpenInterestValue`` USD(T).
    COIN-M: ``sumOpenInterest`` in contracts (x contractSize USD), ``sumOpenInterestValue`` in base coin.
    A row of another symbol, pair or contractType than asked is a ParseError.
    """
    host = instrument.market
    r = reader(f"{api.PATHS[host].open_interest_hist} ({'dapi' if host == api.COINM else 'fapi'})")
    out: list[OIPoint] = []
    for raw in r.arr(body):
        row = r.obj(raw, "openInterestHist row")
        for key, want in params.items():
            got = row.get(key, want) if key == "contractType" else r.text(row, key)  # contractType: optional
            if got != want:
                raise r.fail(f"asked for {key} {want}, a row is for {got!r}")
        amount, value = r.num(row, "sumOpenInterest"), r.num(row, "sumOpenInterestValue")
        rules = plausible.Rules(api.VENUE, r.endpoint, instrument.symbol)
        rules.amount("sumOpenInterest", amount)
        rules.amount("sumOpenInterestValue", value)
        if host == api.COINM:
            base, usd = value * instrument.multiplier, amount * instrument.contract_size
        else:
            base, usd = amount * instrument.multiplier, value
        point = OIPoint(venue=api.VENUE, symbol=instrument.symbol, time=r.time_ms(row, "timestamp"), base=base,
                        usd=usd, received_at=received)
        out.append(point)
    return out


def oi_history(instrument: Instrument, points: Iterable[OIPoint], start: datetime, end: datetime,
               period_hours: int, note: str) -> OIHistory:
    """An OIHistory of the points in ``[start, end]``, ascending, one per time."""
    kept = sorted({p.time: p for p in points if start <= p.time <= end}.values(), key=lambda p: p.time)
    return OIHistory(venue=api.VENUE, symbol=instrument.symbol, period_hours=float(period_hours), points=tuple(kept),
                     note=note)


# --- long/short ratios -------------------------------------------------------------------------


def parse_long_short(body: object, path: str, instrument: Instrument, definition: str,
                     received: datetime) -> LongShortRatio | None:
    """The latest row of a long/short statistic of a USDⓈ-M symbol (None when Binance has no row).

    ``longShortRatio`` = longs / shorts; ``longAccount`` is the long share (accounts, or positions for
    topLongShortPositionRatio, whose USDⓈ-M rows keep the ``longAccount`` name; the COIN-M variant's
    ``longPosition`` is read when ``longAccount`` is absent).
    """
    r = reader(path)
    rows = [r.obj(raw, "row") for raw in r.arr(body)]
    if not rows:
        return None
    row = max(rows, key=lambda x: r.ms(x, "timestamp"))
    got = r.text(row, "symbol")
    if got != instrument.symbol:
        raise r.fail(f"asked for {instrument.symbol}, a row is for {got}")
    ratio = r.num(row, "longShortRatio")
    share = r.num(row, "longAccount" if "longAccount" in row else "longPosition")
    if ratio < 0 or not 0.0 <= share <= 1.0:
        raise r.fail(f"long/short ratio {ratio!r} / long share {share!r} of {got} out of range")
    return LongShortRatio(venue=api.VENUE, asset=instrument.asset, symbol=got,
                          definition=f"{definition} (USDⓈ-M {got})", ratio=ratio, long_share=share,
                          time=r.time_ms(row, "timestamp"), received_at=received, period=api.LONG_SHORT_PERIOD)


# --- klines, tickers, quotes, spot -------------------------------------------------------------


def _ohlc(r: Reader, rules: plausible.Rules, row: Sequence[Any]) -> tuple[int, float, float, float, float]:
    """(open time ms, open, high, low, close) of one kline row ``[openTime, open, high, low, close, ...]``: prices
    > 0, the open and close inside ``[low, high]``."""
    open_ms = r.ms(_cell(row, 0, "openTime"), "openTime")
    o, hi, lo, c = (r.num(_cell(row, i, name), name) for i, name in enumerate(("open", "high", "low", "close"), 1))
    rules.bar(o, hi, lo, c)
    return open_ms, o, hi, lo, c


def parse_klines(body: object, host: str) -> list[Kline]:
    """Kline rows ``[openTime, open, high, low, close, volume, closeTime, ...]`` as ``Kline`` (open ms, close,
    high, low), in the order sent. Prices must be > 0 with the open and close in ``[low, high]`` (the candle
    parser's rule on the same rows)."""
    r = reader(api.PATHS[host].klines)
    rules = plausible.Rules(api.VENUE, r.endpoint, "")
    out: list[Kline] = []
    for raw in r.arr(body):
        row = r.arr(raw, "kline")
        open_ms, _, hi, lo, c = _ohlc(r, rules, row)
        out.append(Kline(open_ms, c, hi, lo))
    return out


def price_history(instrument: Instrument, candles: Iterable[Kline], period_hours: int,
                  start: datetime, end: datetime, now: datetime, received: datetime) -> tuple[PricePoint, ...]:
    """Closes, highs and lows per one unit of the asset, timed at each candle's close (``now`` for the candle
    still open: its high and low so far), in ``[start, end]``, ascending, one per time; ``received``: when the
    klines arrived."""
    step, now_ms = period_hours * HOUR_MS, utc_to_ms(now)
    bars: dict[datetime, Kline] = {}
    for candle in candles:
        if candle.open_ms > now_ms:
            continue
        t = ms_to_utc(candle.open_ms + step) if candle.open_ms + step <= now_ms else now
        if start <= t <= end:
            bars[t] = candle
    return tuple(price_point(k, venue=api.VENUE, symbol=instrument.symbol, time=t, multiplier=instrument.multiplier,
                             received_at=received) for t, k in sorted(bars.items()))


def parse_price_tickers(body: object, path: str, symbols: Collection[str]) -> BySymbol[float]:
    """``ticker/price`` rows (``{"symbol", "price"}``, futures add ``time``) of the asked symbols."""
    r = reader(path)
    return _by_symbol(r, body, symbols, lambda row, symbol: _price(r, row, symbol))


def _price(r: Reader, row: Mapping[str, object], symbol: str) -> float:
    """A ticker's ``price``, > 0."""
    price = r.num(row, "price")
    plausible.Rules(api.VENUE, r.endpoint, symbol).price("price", price)
    return price


@dataclass(frozen=True, slots=True)
class DayTicker:
    """One ``ticker/24hr`` row as sent: ``last`` (``lastPrice``, per unit of the venue's base) and the rolling 24 h
    volume: ``volume`` (USDⓈ-M: base coins; COIN-M: contracts), ``quote_volume`` (USDⓈ-M ``quoteVolume``, in the
    quote asset) and ``base_volume`` (COIN-M ``baseVolume``, base coins); the other one None."""

    last: float
    volume: float
    quote_volume: float | None = None
    base_volume: float | None = None


def parse_day_tickers(body: object, host: str, symbols: Collection[str]) -> BySymbol[DayTicker]:
    """``ticker/24hr`` rows of the asked symbols (``lastPrice`` > 0, volumes >= 0)."""
    r = reader(api.PATHS[host].ticker_24hr)
    other = "quoteVolume" if host == api.USDM else "baseVolume"

    def read(row: Mapping[str, object], symbol: str) -> DayTicker:
        rules = plausible.Rules(api.VENUE, r.endpoint, symbol)
        last, volume, second = r.num(row, "lastPrice"), r.num(row, "volume"), r.num(row, other)
        rules.price("lastPrice", last)
        rules.amount("volume", volume)
        rules.amount(other, second)
        if host == api.USDM:
            return DayTicker(last, volume, quote_volume=second)
        return DayTicker(last, volume, base_volume=second)

    return _by_symbol(r, body, symbols, read)


def day_volume(instrument: Instrument, ticker: DayTicker) -> tuple[float | None, float | None]:
    """(USD, units of the asset) the contract traded in the last 24 h, one side. USDⓈ-M: ``quoteVolume`` (USDT or
    USDC, taken as USD) and ``volume`` base coins x the multiplier. COIN-M: ``volume`` contracts x ``contractSize``
    USD (exact: a COIN-M contract is a fixed USD amount) and ``baseVolume`` coins."""
    m = instrument.multiplier
    if instrument.market == api.COINM:
        usd = ticker.volume * instrument.contract_size if instrument.contract_unit is Unit.USD else None
        return usd, None if ticker.base_volume is None else ticker.base_volume * m
    return ticker.quote_volume, ticker.volume * m


def price_quote(instrument: Instrument, premium: Premium, last: float | None, received: datetime, *,
                day: DayTicker | None = None) -> PriceQuote:
    """Mark and index (premiumIndex) and last price (``last``, else ``day``'s: the ticker) per one unit of the
    asset, with the 24 h volume of ``day`` (``ticker/24hr``; see ``day_volume``) when given."""
    m = instrument.multiplier
    if last is None and day is not None:
        last = day.last
    usd, base = day_volume(instrument, day) if day is not None else (None, None)
    return plausible.price_quote(api.PATHS[instrument.market].premium_index, PriceQuote(
        instrument=instrument, time=premium.time, received_at=received, mark_price=premium.mark / m,
        index_price=premium.index / m, last_price=None if last is None else last / m, volume_24h_usd=usd,
        volume_24h_base=base))


def spot_symbol(asset: str) -> str:
    """The spot pair dtrack reads for an asset: ``BTCUSDT`` (spot has no ``1000PEPE`` multiples)."""
    return f"{asset}{api.SPOT_QUOTE}"


def spot_price(asset: str, price: float, received: datetime) -> SpotPrice:
    """A SpotPrice from the spot ticker (which carries no time: ``time`` is None)."""
    return plausible.spot_price(api.SPOT_TICKER_PRICE, SpotPrice(
        venue=api.VENUE, asset=asset, quote=api.SPOT_QUOTE, symbol=spot_symbol(asset), price=price, time=None,
        received_at=received, source=f"spot ticker ({api.SPOT_TICKER_PRICE})"))


# --- European options (eapi) -------------------------------------------------------------------
#
# Binance options are quoted and settled in USDT (taken as USD) per CONTRACT of ``unit`` coins (1 for
# every option in the docs and captures; prices, greeks and quantities are divided by ``unit`` to get
# dtrack's per-coin figures, UNCONFIRMED for a unit other than 1). IVs are FRACTIONS (``markIV``
# "0.708575" in the real ``binance__ccxt_fetchAllGreeks.json``), and a missing bid/ask IV is negative
# ("-0.00000001" there, "-1.0" in the docs' mark stream). Greeks follow Deribit's conventions (checked on
# the docs' mark-stream example BTC-251120-126000-C, index 104334.60, IV 0.9408, 8.8 days: Black-76 on the
# index gives delta 0.1112, gamma 1.245e-5 per USD, vega 30.66 USD per vol point, theta -164.3 USD per day,
# as sent). Binance prices on its spot index (``/eapi/v1/index``) with the row's ``riskFreeInterest``.

_OPTION_SYMBOL = re.compile(r"^(?P<asset>[A-Z0-9]+)-(?P<date>\d{6})-(?P<strike>\d+(?:\.\d+)?)-(?P<cp>[CP])$")


@dataclass(frozen=True, slots=True)
class OptionSymbol:
    """One listed option: asset, underlying (``BTCUSDT``), expiry (UTC), strike (USD), call or put, ``unit``
    (coins per contract) and quote asset."""

    symbol: str
    asset: str
    underlying: str
    expiry: datetime
    strike: float
    is_call: bool
    unit: float
    quote: str

    @property
    def expiration(self) -> str:
        """The expiry as openInterest's ``expiration`` parameter: ``261225``."""
        return f"{self.expiry:%y%m%d}"


@dataclass(frozen=True, slots=True)
class OptionListing:
    """The trading options of ``/eapi/v1/exchangeInfo`` by symbol, and the rows that did not parse by asset."""

    options: Mapping[str, OptionSymbol]
    broken: Mapping[str, tuple[ParseError, ...]] = field(default_factory=dict)

    def of_asset(self, asset: str) -> list[OptionSymbol]:
        """The listed options on ``asset``, by expiry, strike, call before put."""
        return sorted((o for o in self.options.values() if o.asset == asset),
                      key=lambda o: (o.expiry, o.strike, not o.is_call))

    def unit_of(self, asset: str) -> float | None:
        """Coins per contract of ``asset``'s listed options (None when none is listed)."""
        return next((o.unit for o in self.options.values() if o.asset == asset), None)


def _option_asset(row: Row) -> str:
    """The asset of a (possibly malformed) exchangeInfo row, read leniently ("" when unreadable)."""
    symbol = row.get("symbol")
    return symbol.split("-")[0] if isinstance(symbol, str) else ""


def parse_option_exchange_info(body: object) -> OptionListing:
    """The options of ``/eapi/v1/exchangeInfo`` that are trading (a row with another ``status`` is left out;
    rows without one, as in older answers, count as trading). A row that does not parse goes to ``broken``
    under its asset; an answer where no row parses at all is a ParseError (and is never cached)."""
    r = reader(api.OPTION_EXCHANGE_INFO)
    rows = r.arr(r.field(r.obj(body), "optionSymbols"), "optionSymbols")
    options: dict[str, OptionSymbol] = {}
    broken: dict[str, list[ParseError]] = {}
    for raw in rows:
        if isinstance(raw, Mapping) and raw.get("status", api.TRADING) != api.TRADING:
            continue
        try:
            option = _option_symbol(r, r.obj(raw, "optionSymbols row"))
        except ParseError as exc:
            broken.setdefault(_option_asset(raw) if isinstance(raw, Mapping) else "", []).append(exc)
            continue
        options[option.symbol] = option
    if broken and not options:
        first = next(iter(broken.values()))[0]
        raise r.fail(f"no option row parsed ({sum(map(len, broken.values()))} malformed; first: {first.detail})")
    return OptionListing(options, {asset: tuple(errors) for asset, errors in broken.items()})


def _option_symbol(r: Reader, row: Row) -> OptionSymbol:
    symbol, underlying, quote = r.text(row, "symbol"), r.text(row, "underlying"), r.text(row, "quoteAsset")
    side = r.text(row, "side")
    if side not in api.OPTION_SIDES:
        raise r.fail(f"{symbol}: side is {side!r}, expected CALL or PUT")
    asset = underlying.removesuffix(quote)
    if asset == underlying or not asset:
        raise r.fail(f"{symbol}: underlying {underlying!r} is not an asset quoted in {quote}")
    strike, unit = r.num(row, "strikePrice"), r.num(row, "unit")
    if strike <= 0 or unit <= 0:
        raise r.fail(f"{symbol}: strikePrice {strike!r} / unit {unit!r}, expected > 0")
    return OptionSymbol(symbol, asset, underlying, r.time_ms(row, "expiryDate"), strike, api.OPTION_SIDES[side],
                        unit, quote)


def option_of_symbol(symbol: str, unit: float, path: str) -> OptionSymbol:
    """The terms written in an option symbol (``BTC-261225-100000-C``: BTC call struck at 100,000 USDT,
    expiring 2026-12-25 08:00 UTC) with the given ``unit``, for an option the listing no longer holds."""
    r = reader(path)
    m = _OPTION_SYMBOL.match(symbol)
    if m is None:
        raise r.fail(f"{symbol!r} is not an option symbol (BTC-261225-100000-C)")
    try:
        expiry = datetime.strptime(m["date"], "%y%m%d").replace(hour=api.OPTION_EXPIRY_HOUR, tzinfo=UTC)
    except ValueError:
        raise r.fail(f"{symbol!r} names no real date") from None
    return OptionSymbol(symbol, m["asset"], f"{m['asset']}{api.OPTION_QUOTE}", expiry, float(m["strike"]),
                        m["cp"] == "C", unit, api.OPTION_QUOTE)


@dataclass(frozen=True, slots=True)
class OptionMark:
    """One ``/eapi/v1/mark`` row as sent: mark price per contract (USDT), IVs as fractions (None where
    Binance has no quote), greeks per contract, and the risk-free rate of Binance's model."""

    symbol: str
    price: float
    mark_iv: float | None
    bid_iv: float | None
    ask_iv: float | None
    delta: float | None
    gamma: float | None
    vega: float | None
    theta: float | None
    rate: float | None


def _positive_or_none(r: Reader, row: Row, key: str) -> float | None:
    """A price or IV where Binance writes a value <= 0 for "none" (an empty book side)."""
    value = r.opt_num(row, key)
    return value if value is not None and value > 0 else None


def parse_option_marks(body: object, symbols: Collection[str] | None = None) -> BySymbol[OptionMark]:
    """``/eapi/v1/mark`` rows of ``symbols`` (all when None); an asked row that does not parse goes to ``bad``."""
    r = reader(api.OPTION_MARK)

    def read(row: Row, symbol: str) -> OptionMark:
        return OptionMark(symbol, r.num(row, "markPrice"), _positive_or_none(r, row, "markIV"),
                          _positive_or_none(r, row, "bidIV"), _positive_or_none(r, row, "askIV"),
                          r.opt_num(row, "delta"), r.opt_num(row, "gamma"), r.opt_num(row, "vega"),
                          r.opt_num(row, "theta"), r.opt_num(row, "riskFreeInterest"))

    return _by_symbol(r, body, symbols, read)


@dataclass(frozen=True, slots=True)
class OptionTicker:
    """One ``/eapi/v1/ticker`` row: 24 h volume (contracts), last trade and best bid/ask per contract (USDT;
    None when there is none)."""

    volume: float
    last: float | None
    bid: float | None
    ask: float | None


def parse_option_tickers(body: object, symbols: Collection[str] | None = None) -> BySymbol[OptionTicker]:
    """``/eapi/v1/ticker`` rows of ``symbols`` (all when None); an asked row that does not parse goes to ``bad``."""
    r = reader(api.OPTION_TICKER)

    def read(row: Row, symbol: str) -> OptionTicker:
        volume = r.num(row, "volume")
        plausible.Rules(api.VENUE, r.endpoint, symbol).amount("volume", volume)
        return OptionTicker(volume, _positive_or_none(r, row, "lastPrice"), _positive_or_none(r, row, "bidPrice"),
                            _positive_or_none(r, row, "askPrice"))

    return _by_symbol(r, body, symbols, read)


def parse_option_open_interest(body: object, asset: str) -> dict[str, float]:
    """``/eapi/v1/openInterest`` of one asset and expiry: symbol -> ``sumOpenInterest`` in contracts (the docs
    example's ``sumOpenInterestUsd`` is it times the index: contracts of one coin). A row of another asset
    means the filter was ignored: a ParseError. (The docs example answers ``expiration=221225`` with a
    221119 row, so the expiry is not checked; rows are used by symbol.)"""
    r = reader(api.OPTION_OPEN_INTEREST)
    out: dict[str, float] = {}
    for raw in r.arr(body):
        row = r.obj(raw, "openInterest row")
        symbol = r.text(row, "symbol")
        if not symbol.startswith(f"{asset}-"):
            raise r.fail(f"asked for {asset}, a row is for {symbol}")
        amount = r.num(row, "sumOpenInterest")
        plausible.Rules(api.VENUE, r.endpoint, symbol).amount("sumOpenInterest", amount)
        out[symbol] = amount
    return out


@dataclass(frozen=True, slots=True)
class IndexPrice:
    """``/eapi/v1/index``: the spot index of one underlying (USDT) and Binance's time of it."""

    price: float
    time: datetime | None


def parse_option_index(body: object) -> IndexPrice:
    """``/eapi/v1/index``: ``indexPrice`` (> 0) and ``time``."""
    r = reader(api.OPTION_INDEX)
    row = r.obj(body)
    price = r.num(row, "indexPrice")
    plausible.Rules(api.VENUE, r.endpoint, "").price("indexPrice", price)
    return IndexPrice(price, r.opt_time_ms(row, "time"))


def _option_note(option: OptionSymbol, mark: OptionMark | None) -> str:
    if mark is None:
        return "no /eapi/v1/mark row (not marked yet): no mark, IVs or greeks"
    note = (f"markPrice in {option.quote} (taken as USD) per contract of {option.unit:g} {option.asset}, / unit; "
            f"coin = USD / index (Binance marks on its spot index")
    return note + (f", riskFreeInterest {mark.rate:g})" if mark.rate else ")")


def _per_coin(value: float | None, unit: float) -> float | None:
    return None if value is None else value / unit


def option_quote(option: OptionSymbol, index: IndexPrice, mark: OptionMark | None, ticker: OptionTicker | None,
                 open_interest: float | None, received: datetime) -> OptionQuote:
    """The OptionQuote of one listed option: prices and greeks per ONE coin (Binance's per contract / ``unit``)
    in USD (USDT taken as USD) and in the coin (USD / the index, which Binance prices on and which is
    ``underlying_price``). Without a mark row the option is kept with no mark, IVs or greeks; without a
    ticker row (or open-interest row) its volume (open interest) is 0."""
    unit = option.unit
    mark_usd = _per_coin(mark.price if mark else None, unit)
    return plausible.option_quote(api.OPTION_MARK, OptionQuote(
        venue=api.VENUE, symbol=option.symbol, asset=option.asset, expiry=option.expiry, strike=option.strike,
        is_call=option.is_call, time=index.time, received_at=received, underlying_price=index.price,
        index_price=index.price,
        mark_price_usd=mark_usd, mark_price_coin=None if mark_usd is None else mark_usd / index.price,
        bid_price_usd=_per_coin(ticker.bid if ticker else None, unit),
        ask_price_usd=_per_coin(ticker.ask if ticker else None, unit),
        mark_iv=mark.mark_iv if mark else None, bid_iv=mark.bid_iv if mark else None,
        ask_iv=mark.ask_iv if mark else None,
        delta=_per_coin(mark.delta if mark else None, unit), gamma=_per_coin(mark.gamma if mark else None, unit),
        vega=_per_coin(mark.vega if mark else None, unit), theta=_per_coin(mark.theta if mark else None, unit),
        open_interest=open_interest or 0.0, volume=ticker.volume if ticker else 0.0, contract_size=unit,
        settle=option.quote, price_note=_option_note(option, mark),
    ))


def parse_block_trades(body: object, asset: str, listing: OptionListing, index: float, start: datetime,
                       end: datetime, received: datetime) -> tuple[list[OptionTrade], list[ParseError]]:
    """The block trades of ``asset`` in ``[start, end]`` from one ``/eapi/v1/blockTrades`` answer (every
    underlying), in the venue's order. ``side`` is the taker's (1 buy, -1 sell); ``qty`` in contracts (its
    sign follows the side in the docs example, so its size is taken); ``price`` USDT per contract. The rows
    carry no index nor IV: ``index`` (the current index, not the trade's) fills ``index_price``, IV is None.
    An option the listing no longer holds takes its terms from the symbol and its asset's ``unit``. A row
    that does not parse is an error of its own."""
    r = reader(api.OPTION_BLOCK_TRADES)
    trades: list[OptionTrade] = []
    errors: list[ParseError] = []
    for raw in r.arr(body):
        symbol = raw.get("symbol") if isinstance(raw, Mapping) else None
        if isinstance(symbol, str) and not symbol.startswith(f"{asset}-"):
            continue
        try:
            row = r.obj(raw, "blockTrades row")
            trade = _block_trade(r, row, asset, listing, index, received)
        except ParseError as exc:
            errors.append(r.about(symbol, exc) if symbol else exc)
            continue
        if start <= trade.time <= end:
            trades.append(trade)
    return trades, errors


def _block_trade(r: Reader, row: Row, asset: str, listing: OptionListing, index: float,
                 received: datetime) -> OptionTrade:
    symbol = r.text(row, "symbol")
    option = listing.options.get(symbol)
    if option is None:
        unit = listing.unit_of(asset)
        if unit is None:
            raise r.fail(f"no {asset} option is listed to take the contract unit from")
        option = option_of_symbol(symbol, unit, api.OPTION_BLOCK_TRADES)
    side = r.field(row, "side")
    if isinstance(side, bool) or not isinstance(side, int) or side not in api.TAKER_SIDES:
        raise r.fail(f"side is {side!r}, expected 1 (buy) or -1 (sell)")
    trade_id = r.field(row, "id")
    if isinstance(trade_id, bool) or not isinstance(trade_id, int | str):
        raise r.fail(f"id is {trade_id!r}, expected an integer")
    price = r.num(row, "price")
    return plausible.option_trade(r.endpoint, OptionTrade(
        venue=api.VENUE, symbol=symbol, asset=option.asset, expiry=option.expiry, strike=option.strike,
        is_call=option.is_call, time=r.time_ms(row, "time"), received_at=received, side=api.TAKER_SIDES[side],
        amount=abs(r.num(row, "qty")), contract_size=option.unit, price_usd=price / option.unit,
        index_price=index, iv=None, block=True, trade_id=str(trade_id),
    ))


# --- order books, candles, margin tiers (the quant toolkit) ---------------------------------------------------
#
# The real captures show the shapes: ``/fapi/v1/depth`` (``binance-usdm__rest_depth__capture.json``, SUSHIUSDT)
# answers ``{"lastUpdateId", "E", "T", "bids", "asks"}`` with ``[price, qty]`` string pairs, best first; COIN-M
# (``binance-coinm__rest_depth__capture.json``, BCHUSD_PERP) adds ``symbol`` and ``pair`` and counts quantities in
# CONTRACTS of ``contractSize`` USD. ccxt's static response (``binance__ccxt_fetchOrderBook.json``) sends
# ``lastUpdateId``, ``E`` and ``T`` as strings: both are read.


def _update_id(r: Reader, row: Row) -> int | None:
    """``lastUpdateId`` as an int (a JSON integer, or its digits as a string as in ccxt's capture); None if absent."""
    value = row.get("lastUpdateId")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise r.fail(f"field 'lastUpdateId' is {value!r}, expected a non-negative integer")


def parse_depth(body: object, instrument: Instrument, limit: int, received: datetime) -> OrderBook:
    """A ``depth`` answer of one contract as an ``OrderBook`` of ``limit`` levels a side asked (``books.array_side``:
    USDⓈ-M quantities in the venue's base, COIN-M ones in USD contracts converted at each level's price). ``time``
    is ``T`` (the matching engine's transaction time; ``E``, when the message was sent, if ``T`` is missing);
    ``sequence`` is ``lastUpdateId``. An answer naming another symbol (COIN-M sends ``symbol``) or a side out of order
    is a ParseError, a crossed book (best bid >= best ask) Implausible."""
    host = instrument.market
    r = reader(api.PATHS[host].depth)
    row = r.obj(body)
    if "symbol" in row and (got := r.text(row, "symbol")) != instrument.symbol:
        raise r.fail(f"asked for {instrument.symbol}, the answer is for {got}")
    rules = plausible.Rules(api.VENUE, r.endpoint, instrument.symbol)
    # USDⓈ-M qty in the venue's base (1000PEPE units), COIN-M qty in contracts of contract_size USD
    inverse = instrument.contract_unit is Unit.USD
    unit = Unit.CONTRACTS if inverse else Unit.BASE
    bids = array_side(r, r.field(row, "bids"), "bids", instrument, unit, rules, ("price", "qty"))
    asks = array_side(r, r.field(row, "asks"), "asks", instrument, unit, rules, ("price", "qty"))
    check_book(r, rules, instrument, bids, asks, "bids/asks")
    time = r.opt_time_ms(row, "T") or r.opt_time_ms(row, "E")
    rules.time("T", time, received)
    note = (f"qty in contracts of {instrument.contract_size:g} USD, in {instrument.asset} at each level's price"
            if inverse else "")
    return OrderBook(instrument=instrument, bids=bids, asks=asks, unit=unit,
                     limit=limit, time=time, received_at=received, sequence=_update_id(r, row), note=note)


def kline_interval(period_seconds: int) -> str:
    """Binance's klines ``interval`` for a candle length in seconds; UnsupportedError for one dtrack does not ask."""
    name = api.KLINE_INTERVALS.get(period_seconds)
    if name is None:
        known = ", ".join(str(s) for s in api.KLINE_INTERVALS)
        raise UnsupportedError(f"binance: no {period_seconds} s candles in dtrack (known: {known} s)")
    return name


def parse_candles(body: object, instrument: Instrument, period_seconds: int, received: datetime) -> list[Candle]:
    """Kline rows ``[openTime, open, high, low, close, volume, closeTime, quoteVolume, ...]`` of one contract as
    Candles, in the order sent, prices per ONE unit of the asset (/ multiplier).

    Volumes: USDⓈ-M ``volume`` (field 5) is the venue's base (x multiplier = coins) and ``quoteVolume`` (field 7)
    the quote asset (USDT/USDC, taken as USD); COIN-M ``volume`` is CONTRACTS (x ``contractSize`` USD) and field 7
    (``baseVolume``) is coins. The bar containing ``received`` is ``closed=False``. A bar whose high/low do not
    bound its open and close is implausible.
    """
    r = reader(api.PATHS[instrument.market].klines)
    rules = plausible.Rules(api.VENUE, r.endpoint, instrument.symbol)
    step, received_ms, m = period_seconds * 1000, utc_to_ms(received), instrument.multiplier
    out: list[Candle] = []
    for raw in r.arr(body):
        row = r.arr(raw, "kline")
        open_ms, o, hi, lo, c = _ohlc(r, rules, row)
        volume, second = r.num(_cell(row, 5, "volume"), "volume"), r.num(_cell(row, 7, "quoteVolume"), "quoteVolume")
        rules.amount("volume", volume)
        rules.amount("quoteVolume", second)
        if instrument.contract_unit is Unit.USD:  # COIN-M: contracts, and the base-asset volume
            base, usd = second * m, volume * instrument.contract_size
        else:
            base, usd = volume * instrument.contract_size * m, second
        out.append(Candle(venue=api.VENUE, symbol=instrument.symbol, time=ms_to_utc(open_ms),
                          period_seconds=period_seconds, open=o / m, high=hi / m, low=lo / m, close=c / m,
                          received_at=received, volume_base=base, volume_usd=usd,
                          closed=not open_ms <= received_ms < open_ms + step))
    return out


def candles(rows: Iterable[Candle], start: datetime, end: datetime) -> tuple[Candle, ...]:
    """The candles opening in ``[start, end]``, ascending, one per open time (pages may overlap)."""
    return tuple(sorted({c.time: c for c in rows if start <= c.time <= end}.values(), key=lambda c: c.time))


# Margin tiers come from the public web brackets (UNOFFICIAL, see ``api``):
# ``{"code": "000000", "data": {"brackets": [{"symbol", "updateTime", "notionalLimit", "riskBrackets": [{"bracketSeq",
# "bracketNotionalFloor", "bracketNotionalCap", "bracketMaintenanceMarginRate", "cumFastMaintenanceAmount",
# "minOpenPosLeverage", "maxOpenPosLeverage"}]}]}, "success": true}`` with bare JSON numbers (the real BTCUSDT answer
# of 2026-08-02 in ``binance-web__rest_brackets__capture.json``). USDⓈ-M floors, caps and ``cum`` are USD(T) notional;
# COIN-M ones are COINS (the research notes, 2026-12, §2.1).

#: how far two sides of the cum continuity rule may differ: a millionth of the boundary notional (the venue's
#: ``cum`` is rounded; a real table is off by far less, a wrong one by whole percents of the notional)
CUM_TOLERANCE = 1e-6
_UNOFFICIAL = ("UNOFFICIAL: Binance's public web brackets (www.binance.com/bapi, undocumented, keyless; may lag new "
               "listings); the official leverageBracket needs an API key")


def parse_brackets(body: object, host: str) -> BySymbol[Row]:
    """The web brackets envelope of one host: its ``data.brackets`` rows by symbol, unread (each contract's table is
    read and checked when asked: ``margin_tiers``). A code other than ``"000000"`` or no ``brackets`` array is a
    ParseError (and is never cached)."""
    r = reader(api.PATHS[host].brackets)
    envelope = r.obj(body)
    code = envelope.get("code")
    if code != api.WEB_OK:
        raise r.fail(f"code is {code!r} ({envelope.get('message')!r}), expected {api.WEB_OK!r}")
    rows = r.arr(r.field(r.obj(r.field(envelope, "data"), "data"), "brackets"), "data.brackets")
    return BySymbol({symbol: raw for raw in rows if isinstance(raw, Mapping) and (symbol := _symbol_of(raw))})


def margin_tiers(table: BySymbol[Row], instrument: Instrument, received: datetime) -> tuple[MarginTier, ...]:
    """The maintenance-margin tiers of one contract from its host's web brackets, lowest first.

    COIN-M rows are looked up by symbol, then by pair (``BTCUSD``: the official COIN-M v1 brackets are per pair;
    which the web table uses is UNCONFIRMED). Each tier is checked: floors and caps contiguous and rising, MMR in
    (0, 1], leverage >= 1, and ``cum`` continuous at every boundary (``floor_n x MMR_(n-1) - cum_(n-1) = floor_n x
    MMR_n - cum_n`` within ``CUM_TOLERANCE`` of the notional): a table that breaks any rule is a ParseError.
    """
    host = instrument.market
    r = reader(api.PATHS[host].brackets)
    row = table.get(instrument.symbol)
    if row is None and host == api.COINM:
        row = table.get(instrument.symbol.split("_")[0])
    if row is None:
        raise r.fail(f"no brackets for {instrument.symbol} (the public table may lag new listings)")
    row = r.obj(row, f"{instrument.symbol} row")
    raw_tiers = r.arr(r.field(row, "riskBrackets"), f"{instrument.symbol} riskBrackets")
    if not raw_tiers:
        raise r.fail(f"{instrument.symbol}: no riskBrackets")
    unit = Unit.BASE if host == api.COINM else Unit.USD
    time = r.opt_time_ms(row, "updateTime")
    plausible.Rules(api.VENUE, r.endpoint, instrument.symbol).time("updateTime", time, received)
    tiers = sorted((_tier(r, r.obj(raw, "riskBrackets row"), instrument, unit, time, received) for raw in raw_tiers),
                   key=lambda t: t.tier)
    for low, high in pairwise(tiers):
        _check_boundary(r, instrument.symbol, low, high)
    return tuple(tiers)


def _tier(r: Reader, row: Row, instrument: Instrument, unit: Unit, time: datetime | None,
          received: datetime) -> MarginTier:
    seq = r.num(row, "bracketSeq")
    floor, cap = r.num(row, "bracketNotionalFloor"), r.num(row, "bracketNotionalCap")
    mmr, cum = r.num(row, "bracketMaintenanceMarginRate"), r.num(row, "cumFastMaintenanceAmount")
    leverage = r.num(row, "maxOpenPosLeverage")
    name = f"{instrument.symbol} bracket {seq:g}"
    if seq != int(seq) or seq < 1:
        raise r.fail(f"{name}: bracketSeq is not a positive integer")
    if not 0 <= floor < cap:
        raise r.fail(f"{name}: floor {floor:g} / cap {cap:g}, expected 0 <= floor < cap")
    if not 0 < mmr <= 1 or leverage < 1 or cum < 0:
        raise r.fail(f"{name}: maintenance rate {mmr!r} (expected 0 < rate <= 1), max leverage {leverage!r} "
                     f"(expected >= 1), cum {cum!r} (expected >= 0)")
    return MarginTier(venue=api.VENUE, symbol=instrument.symbol, tier=int(seq), floor=floor, cap=cap, unit=unit,
                      mmr=mmr, deduction=cum, max_leverage=leverage, time=time, received_at=received,
                      source=r.endpoint, official=False, note=_UNOFFICIAL)


def _check_boundary(r: Reader, symbol: str, low: MarginTier, high: MarginTier) -> None:
    """Two neighbouring tiers: numbered one apart, contiguous (``high.floor == low.cap``), and with a maintenance
    margin continuous at the boundary (Binance's ``cum`` is defined so)."""
    if high.tier != low.tier + 1:
        raise r.fail(f"{symbol}: bracket {high.tier} follows bracket {low.tier}")
    if low.cap is None or not math.isclose(high.floor, low.cap, rel_tol=1e-9):
        raise r.fail(f"{symbol}: bracket {high.tier} starts at {high.floor:g}, bracket {low.tier} ends at {low.cap}")
    below = high.floor * low.mmr - low.deduction
    above = high.floor * high.mmr - high.deduction
    if abs(below - above) > CUM_TOLERANCE * high.floor:
        raise r.fail(f"{symbol}: cum is not continuous at {high.floor:g}: floor x MMR - cum is {below!r} in bracket "
                     f"{low.tier} but {above!r} in bracket {high.tier}")
