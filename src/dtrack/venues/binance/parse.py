"""Binance USDⓈ-M / COIN-M payloads -> dtrack records (pure: no I/O, no clock).

Every function takes the host key (``usdm`` / ``coinm``) because the two hosts differ in
field names and units:

- exchangeInfo: the trading status is ``status`` on USDⓈ-M but ``contractStatus`` on COIN-M,
  and only COIN-M has ``contractSize`` (USD per contract; 100 for BTCUSD_PERP, 10 for ETHUSD_PERP
  in the real 2021 capture ``binance-coinm__rest_exchangeInfo__capture.json``);
- openInterest: base coin on USDⓈ-M, contracts on COIN-M;
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

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from dtrack.errors import ParseError
from dtrack.records import FundingHistory, FundingRate, Instrument, Kind, Margin, Unit
from dtrack.symbols import split_multiplier
from dtrack.venues.binance import api
from dtrack.venues.fields import Listing, Reader, Row, points_from_settlements, utc_to_ms, within

R = TypeVar("R")

HOUR_MS = 3_600_000


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


# --- instruments -------------------------------------------------------------------------------


def parse_exchange_info(body: object, host: str) -> Listing:
    """The trading perpetuals of one host's ``exchangeInfo``.

    Dated futures (``CURRENT_QUARTER`` ...), unknown contract types (``""`` on a pending listing,
    TradFi perpetuals) and symbols not in trading status (``PENDING_TRADING``, ``SETTLING``) are
    left out without reading further. A trading perpetual whose row does not parse goes to
    ``broken`` under its ``baseAsset`` (a query for that asset fails; the reason names the host's
    path, as the two hosts share one listing); a payload where no perpetual parses at all is a
    ParseError (and is therefore never cached).
    """
    r = reader(api.PATHS[host].exchange_info)
    rows = r.arr(r.field(r.obj(body), "symbols"), "symbols")
    status_key = api.STATUS_FIELD[host]
    # rows that are not objects have nothing to identify, and nobody asked for them
    perps = [raw for raw in rows if isinstance(raw, Mapping)
             and raw.get("contractType") == api.PERPETUAL and raw.get(status_key) == api.TRADING]
    return Listing.read(perps, lambda row: _instrument(r, row, host), lambda row: _identify(row, r.endpoint), whole=r)


def _identify(row: Row, path: str) -> tuple[str, str]:
    """(asset, symbol) of a (possibly malformed) row from ``baseAsset`` and ``symbol`` ("" where
    unreadable); the symbol is followed by the host's path, which the listing of both hosts loses."""
    base, symbol = row.get("baseAsset"), row.get("symbol")
    asset = split_multiplier(base)[0] if isinstance(base, str) and base else ""
    name = symbol if isinstance(symbol, str) and symbol else asset
    return asset, f"{name} in {path}" if name else ""


def _instrument(r: Reader, row: Mapping[str, object], host: str) -> Instrument:
    symbol = r.text(row, "symbol")
    asset, multiplier = split_multiplier(r.text(row, "baseAsset"))
    quote, settle = r.text(row, "quoteAsset"), r.text(row, "marginAsset")
    if host == api.COINM:
        # Inverse: one contract is worth contractSize USD (a JSON number in the real capture).
        size = r.num(row, "contractSize")
        if size <= 0:
            raise r.fail(f"contractSize of {symbol} is {size!r}, expected > 0")
        return Instrument(api.VENUE, symbol, asset, quote, settle, Kind.PERP, Margin.INVERSE,
                          multiplier=multiplier, contract_size=size, contract_unit=Unit.USD, market=host)
    # Linear: quantities (and openInterest) are in the base coin, e.g. 1000PEPE units.
    return Instrument(api.VENUE, symbol, asset, quote, settle, Kind.PERP, Margin.LINEAR,
                      multiplier=multiplier, contract_size=1.0, contract_unit=Unit.BASE, market=host)


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
    if isinstance(body, Mapping):  # the answer to ``?symbol=``: one object, which must name its symbol
        r.text(body, "symbol")
    rows: Sequence[object] = [body] if isinstance(body, Mapping) else r.arr(body)
    out: dict[str, Premium] = {}
    bad: dict[str, ParseError] = {}
    for raw in rows:
        symbol = _symbol_of(raw)
        if symbol is None or (symbols is not None and symbol not in symbols):
            continue
        try:
            out[symbol] = _premium(r, r.obj(raw), symbol)
        except ParseError as exc:
            bad[symbol] = exc
    return BySymbol(out, bad)


def _premium(r: Reader, row: Mapping[str, object], symbol: str) -> Premium:
    return Premium(
        symbol=symbol,
        rate=r.opt_num(row, "lastFundingRate"),
        next_funding=r.opt_time_ms(row, "nextFundingTime"),
        mark=r.num(row, "markPrice"),
        index=r.num(row, "indexPrice"),
        time=r.opt_time_ms(row, "time"),
    )


def parse_funding_intervals(body: object, host: str) -> BySymbol[float]:
    """``fundingInfo``: symbol -> ``fundingIntervalHours`` (only symbols with an adjustment).

    A row without a symbol is skipped; a row whose interval does not parse goes to ``bad``, so
    that symbol (and only it) fails instead of silently taking the 8 h default.
    """
    r = reader(api.PATHS[host].funding_info)
    out: dict[str, float] = {}
    bad: dict[str, ParseError] = {}
    for raw in r.arr(body):
        symbol = _symbol_of(raw)
        if symbol is None:
            continue
        try:
            hours = r.num(r.obj(raw), "fundingIntervalHours")
            if hours <= 0:
                raise r.fail(f"fundingIntervalHours of {symbol} is {hours!r}, expected > 0")
            out[symbol] = hours
        except ParseError as exc:
            bad[symbol] = exc
    return BySymbol(out, bad)


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


def parse_open_interest(body: object, host: str, symbol: str) -> float:
    """``openInterest`` of one symbol: base coin (USDⓈ-M) or contracts (COIN-M)."""
    r = reader(api.PATHS[host].open_interest)
    row = r.obj(body)
    got = r.text(row, "symbol")
    if got != symbol:
        raise r.fail(f"asked for {symbol}, answer is for {got}")
    amount = r.num(row, "openInterest")
    if amount < 0:
        raise r.fail(f"openInterest of {symbol} is {amount!r}, expected >= 0")
    return amount


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
    ``time`` is Binance's own ``time`` of the row, else ``received``. When ``nextFundingTime`` is
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
    return FundingRate(
        instrument=instrument,
        rate=premium.rate,
        interval_hours=hours,
        interval_source=source,
        time=premium.time or received,
        predicted_rate=None,  # lastFundingRate already IS the rate of the coming settlement
        next_funding_time=premium.next_funding,
        mark_price=premium.mark / instrument.multiplier,
        index_price=premium.index / instrument.multiplier,
        open_interest_usd=oi_usd,
        note=note,
    )


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
        out.append((r.time_ms(row, "fundingTime"), r.num(row, "fundingRate")))
    return out


def funding_history(
    instrument: Instrument,
    rows: Iterable[tuple[datetime, float]],
    start: datetime,
    end: datetime,
    current_interval_hours: float,
) -> FundingHistory:
    """A FundingHistory from settled (time, rate) rows; notes when Binance returned nothing early enough."""
    points = within(points_from_settlements(rows, current_interval_hours), start, end)
    note = ""
    if not points:
        note = f"Binance returned no settlement of {instrument.symbol} in the window"
    elif (points[0].time - start).total_seconds() > points[0].interval_hours * 3600.0:
        note = (f"Binance returned no settlement of {instrument.symbol} before "
                f"{points[0].time:%Y-%m-%d %H:%M} UTC (listed later, or history not kept)")
    return FundingHistory(api.VENUE, instrument.symbol, start, end, points, note)
