"""Bybit v5 JSON -> records (pure: no I/O, no clock; the receive time is passed in).

Owns the ``retCode`` envelope, instruments-info pages (perpetuals with their ``fundingInterval``, dated
futures with their ``deliveryTime``, options), tickers (current funding, open interest, mark/index/last
prices; spot last prices; option chains), funding/history, open-interest history, kline (closes and whole
OHLCV candles) and account-ratio rows, option trades (recent-trade), realized volatility
(historical-volatility), order books (orderbook) and risk-limit tiers (risk-limit).

Quirks handled here, with the payload that shows them:
- ``fundingInterval`` in instruments-info is in MINUTES (480 = 8 h; docs example
  ``bybit__rest_instruments_info__docs.json``); tickers' ``fundingIntervalHour`` is in hours and
  is absent from older tickers (the 2024 capture ``bybit__ccxt_fetchFundingRates.json``).
- ``openInterest`` is documented as both sides added since 2026-06-11 (docs example: openInterest =
  2 x ``singleOpenInterest``), with ``singleOpenInterest`` one side. Payloads WITHOUT the key predate
  that and carry one side in ``openInterest`` (the 2024 capture: 69,656 BTC, in line with one-sided
  figures elsewhere); a payload that has the key but sends it empty ("" or null) is a current one,
  so one side is ``openInterest`` / 2. The choice goes by the key's presence, never by its value.
  The open-interest history rows follow the same rule (``bybit__rest_open_interest__docs.json`` has
  both keys, 63,910,691 ~ 2 x 31,955,346; the 2025 capture ``bybit__ccxt_fetchOpenInterest.json``
  has ``openInterest`` alone).
- Linear open interest is in the base coin (``1000PEPE`` units for ``1000PEPEUSDT``); inverse open
  interest is in USD contracts of 1 USD, and there ``openInterestValue`` is in the coin
  (``bybit__rest_tickers__docs.json``: 240,113,967 USD / mark 114,898 = 2,089.8 BTC).
- Klines are arrays ``[startTime, open, high, low, close, volume, turnover]``, newest first
  (``bybit__ccxt_fetchOHLCV.json``); prices are per unit of the venue's base (per 1000 PEPE). Linear
  ``volume`` is in the base coin and ``turnover`` in the quote (1575.305 BTC / 68,345,898 USDT = 43,386 USDT per
  BTC, inside that bar's 43,264.8..43,474.1); inverse ``volume`` is USD contracts and ``turnover`` coins.
- Order books ``{s, b: [[px, sz]], a, ts, u, seq}`` (``bybit__ccxt_fetchOrderBook.json``): linear sizes in the
  base coin, inverse sizes in USD contracts.
- risk-limit: rates are FRACTIONS in live answers but PERCENT in the docs example (see ``parse_risk_limit``);
  ``riskLimitValue`` is a tier's cap; ``mmDeduction`` is "" on the lowest tier; inverse limits are in coins.
- account-ratio ``buyRatio`` / ``sellRatio`` are the shares of ACCOUNTS net long / net short
  (``bybit__rest_account_ratio__docs.json``: 0.49 / 0.51), not of positions.
- ccxt's captures re-serialised ``retCode`` and ``time`` as strings: both types are accepted.
- Options (category ``option``): prices in the settlement coin (USDC, or USDT for the ``-USDT`` symbols),
  taken as USD, per ONE coin; IVs are fractions (``markIv`` 0.552 in ``bybit__ccxt_fetchTickers.json``), and
  "0" stands for none (an empty book side); greeks follow Deribit's conventions (checked on that capture:
  vega 117.1 USD per vol point, theta -58.3 USD per day); sizes and open interest in coins. The tickers rows
  carry no expiry: it comes from instruments-info ``deliveryTime`` or, failing that, the symbol (08:00 UTC).
  historical-volatility answers ``result`` as a bare list beside ``category``, values as fractions.

Bulk lists (instruments-info, tickers) may hold rows dtrack was not asked about in shapes it does not
know: those are skipped, never parsed. Only the rows asked for must parse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from dtrack.errors import DtrackError, Implausible, ParseError, RateLimited, VenueError
from dtrack.records import (
    Candle,
    FundingRate,
    Instrument,
    Kind,
    LongShortRatio,
    Margin,
    MarginTier,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    OrderBook,
    PriceQuote,
    SpotPrice,
    Unit,
    VolPoint,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.books import array_side, check_book
from dtrack.venues.bybit import api
from dtrack.venues.fields import Listing, OptionSpec, Reader, Row, Stamp, ms_to_utc, parse_each, utc_to_ms

VENUE = "bybit"
T = TypeVar("T")

#: instruments-info ``contractType`` -> (kind, margin) of the contracts dtrack lists.
_CONTRACTS = {
    api.LINEAR_PERPETUAL: (Kind.PERP, Margin.LINEAR),
    api.INVERSE_PERPETUAL: (Kind.PERP, Margin.INVERSE),
    api.LINEAR_FUTURES: (Kind.FUTURE, Margin.LINEAR),
    api.INVERSE_FUTURES: (Kind.FUTURE, Margin.INVERSE),
}


def reader(endpoint: str) -> Reader:
    """A field reader whose errors name Bybit and ``endpoint``."""
    return Reader(VENUE, endpoint)


def check_envelope(body: Any) -> None:
    """Raise the matching ``VenueError`` for a non-zero ``retCode`` (rate-limit codes -> ``RateLimited``)."""
    if not isinstance(body, Mapping) or "retCode" not in body:
        return
    raw = body["retCode"]
    try:
        code = int(raw)
    except (TypeError, ValueError):
        return  # left to the parser, which names the endpoint
    if code == api.RET_OK:
        return
    text = body.get("retMsg")
    message = f"retCode {code}: {text}" if text else f"retCode {code}"
    if code in api.RET_RATE_LIMITED:
        raise RateLimited(VENUE, f"rate limited ({message})", status=None, code=str(code))
    raise VenueError(VENUE, message, code=str(code))


def result_rows(body: Any, endpoint: str) -> tuple[Sequence[Any], str]:
    """The ``result.list`` items of an answer and its ``nextPageCursor`` ("" when there is none).

    The items are not checked one by one: each endpoint decides what an odd row means.
    """
    r = reader(endpoint)
    result = r.obj(r.field(r.obj(body), "result"), "result")
    rows = r.arr(r.field(result, "list"), "result.list")
    cursor = result.get("nextPageCursor") or ""
    if not isinstance(cursor, str):
        raise r.fail(f"nextPageCursor is {cursor!r}, expected a string")
    return rows, cursor


def cursor_param(cursor: str) -> str:
    """The ``cursor`` query value for a ``nextPageCursor``.

    Bybit hands the cursor out already URL-encoded (``first%3DBIOUSDT%26last%3DBIOUSDT`` in
    ``bybit__rest_instruments_info__docs.json``) for use verbatim in a query string; the HTTP client
    encodes parameter values itself, so it gets the decoded text and puts Bybit's bytes on the wire.
    """
    return unquote(cursor)


def answer_time(body: Any, endpoint: str, received: datetime) -> Stamp:
    """The venue's own ``time`` of an answer (epoch ms, number or string; None when absent) and ``received``."""
    return Stamp(reader(endpoint).opt_time_ms(reader(endpoint).obj(body), "time"), received)


# --- instruments-info --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstrumentsPage:
    """One instruments-info page: its trading perpetuals and dated futures (and, in ``listing.broken``,
    the rows of those that did not parse), the perpetuals' funding intervals (hours, from
    ``fundingInterval`` in minutes) and the next cursor."""

    listing: Listing
    intervals: Mapping[str, float]
    #: symbol -> why its ``fundingInterval`` is unusable (the instrument itself parsed)
    bad_intervals: Mapping[str, str]
    cursor: str


def _is_live_contract(row: Mapping[str, Any]) -> bool:
    """A perpetual or dated future that trades now (not an option, pre-launch/settling or unknown row)."""
    kind, status = row.get("contractType"), row.get("status")
    return isinstance(kind, str) and kind in _CONTRACTS and status == api.STATUS_TRADING


#: Quote suffixes of Bybit perpetual symbols, to guess the asset of a row without ``baseCoin``.
_SUFFIXES = ("USDT", "USDC", "PERP", "USD")
#: The expiry of an inverse future's symbol (``BTCUSDZ25``: month code and year).
_INVERSE_EXPIRY = re.compile(r"(?<=USD)[FGHJKMNQUVXZ]\d\d$")


def _identify(row: Row) -> tuple[str, str]:
    """(asset, symbol) of a (possibly malformed) row: the asset from ``baseCoin``, else guessed from
    the symbol without its expiry (``BTCUSDT-28NOV25``, ``BTC-26DEC25``, ``BTCUSDZ25``) and quote
    ("" where unreadable)."""
    symbol = row.get("symbol")
    symbol = symbol if isinstance(symbol, str) else ""
    base = row.get("baseCoin")
    if not isinstance(base, str) or not base:
        stem = _INVERSE_EXPIRY.sub("", symbol.split("-")[0])
        base = next((stem[: -len(s)] for s in _SUFFIXES if stem.endswith(s) and len(stem) > len(s)), stem)
    return (split_multiplier(base)[0] if base else ""), symbol


def parse_instruments_page(body: Any) -> InstrumentsPage:
    """One instruments-info page. Rows that are not trading perpetuals or dated futures (options, other
    statuses, not even objects) are skipped; a trading contract whose row does not parse is kept aside
    in ``listing.broken`` under its asset, so one odd row does not fail the venue unless its asset is
    asked for. Only perpetuals carry a funding interval."""
    r = reader(api.INSTRUMENTS)
    rows, cursor = result_rows(body, api.INSTRUMENTS)
    intervals: dict[str, float] = {}
    bad_intervals: dict[str, str] = {}

    def contract(row: Row) -> Instrument:
        inst = _instrument(r, row)
        if inst.kind is Kind.PERP:
            try:
                intervals[inst.symbol] = _interval_hours(r, row)
            except ParseError as err:
                bad_intervals[inst.symbol] = err.detail
        return inst

    live = [row for row in rows if isinstance(row, Mapping) and _is_live_contract(row)]
    return InstrumentsPage(Listing.read(live, contract, _identify), intervals, bad_intervals, cursor)


def _instrument(r: Reader, row: Mapping[str, Any]) -> Instrument:
    kind, margin = _CONTRACTS[r.text(row, "contractType")]
    category = margin.value  # Bybit's category names equal dtrack's margin names
    base = r.text(row, "baseCoin")
    asset, multiplier = split_multiplier(base)  # 1000PEPE -> PEPE x 1000
    if margin is Margin.INVERSE:
        size, unit = api.INVERSE_CONTRACT_USD, Unit.USD
    else:
        size, unit = 1.0, Unit.BASE
    # deliveryTime is epoch ms as a string; "0" on perpetuals
    expiry = r.time_ms(row, "deliveryTime") if kind is Kind.FUTURE else None
    return Instrument(
        venue=VENUE, symbol=r.text(row, "symbol"), asset=asset, quote=r.text(row, "quoteCoin"),
        settle=r.text(row, "settleCoin"), kind=kind, margin=margin, multiplier=multiplier,
        contract_size=size, contract_unit=unit, expiry=expiry, market=category,
    )


def _interval_hours(r: Reader, row: Mapping[str, Any]) -> float:
    """``fundingInterval`` (minutes) in hours."""
    minutes = r.num(row, "fundingInterval")
    if minutes <= 0:
        raise r.fail(f"fundingInterval of {row.get('symbol')!r} is {minutes:g} minutes")
    return minutes / 60.0


# --- tickers -----------------------------------------------------------------------------------


def _wanted_rows(body: Any, wanted: Mapping[str, Instrument]) -> list[tuple[Mapping[str, Any], Instrument]]:
    """Rows of a tickers answer for the ``wanted`` contracts, matched by symbol AND category
    (``BTCUSDT`` is both a linear perpetual and a spot pair). An empty list while contracts of the category
    are wanted is a ParseError (``Reader.answered``): "list": [] is not "none of them trades"."""
    r = reader(api.TICKERS)
    rows, _ = result_rows(body, api.TICKERS)
    category = r.text(r.obj(r.field(body, "result"), "result"), "category")
    r.answered(rows, [symbol for symbol, inst in wanted.items() if inst.market == category])
    out: list[tuple[Mapping[str, Any], Instrument]] = []
    for row in rows:  # other rows (other symbols, odd shapes) are not read at all
        symbol = row.get("symbol") if isinstance(row, Mapping) else None
        if isinstance(symbol, str) and symbol in wanted and wanted[symbol].market == category:
            out.append((row, wanted[symbol]))
    return out


def symbols_without_interval(body: Any, wanted: Mapping[str, Instrument]) -> set[str]:
    """The ``wanted`` symbols whose tickers row carries no ``fundingIntervalHour`` (older payloads)."""
    return {inst.symbol for row, inst in _wanted_rows(body, wanted)
            if row.get("fundingIntervalHour") in (None, "")}


def parse_tickers(
    body: Any,
    wanted: Mapping[str, Instrument],
    received: datetime,
    intervals: Mapping[str, float] | None = None,
    errors: list[DtrackError] | None = None,
) -> list[FundingRate]:
    """Current funding of the ``wanted`` perpetuals (by symbol) found in one tickers answer.

    ``intervals`` (hours, from instruments-info) is used only for rows without ``fundingIntervalHour``.
    A row of an asked perpetual that does not parse fails the answer (a ParseError); with ``errors``, an
    implausible one costs only its own perpetual (its ``Implausible`` is appended there), else it is raised too.
    """
    rates, failed = _per_row(body, wanted, lambda r, row, inst, at: _funding(r, row, inst, at, intervals or {}),
                             received)
    for err in failed:
        if errors is None or not isinstance(err, Implausible):
            raise err
        errors.append(err)
    return rates


def _interval(r: Reader, row: Mapping[str, Any], symbol: str, intervals: Mapping[str, float]) -> tuple[float, str]:
    hours = r.opt_num(row, "fundingIntervalHour")
    source = "tickers fundingIntervalHour"
    if hours is None:
        if symbol not in intervals:
            raise r.fail(f"{symbol}: no fundingIntervalHour and no instruments-info fundingInterval to fall back on")
        hours, source = intervals[symbol], "instruments-info fundingInterval (minutes)"
    if hours <= 0:
        raise r.fail(f"{symbol}: funding interval is {hours:g} h")
    return hours, source


_BOTH_SIDES = "openInterest counts both sides since 2026-06-11 (documented as 2 x singleOpenInterest)"


@dataclass(frozen=True, slots=True)
class OneSide:
    """One side of a Bybit open-interest figure in the venue's unit, the field(s) it was read from and,
    where that field is not ``singleOpenInterest``, why."""

    amount: float
    field: str
    caveat: str = ""

    @property
    def explanation(self) -> str:
        """Why this is one side: the caveat, or the documented meaning of ``singleOpenInterest``."""
        return self.caveat or f"one side; {_BOTH_SIDES}"


def one_side(r: Reader, row: Mapping[str, Any]) -> OneSide:
    """The one-sided open interest of a tickers or open-interest row.

    By the PRESENCE of ``singleOpenInterest`` (never by its value): absent -> an answer from before
    2026-06-11, whose ``openInterest`` is one side; present -> today's semantics, where ``openInterest``
    is both sides, so an empty ``singleOpenInterest`` ("" or null) falls back to ``openInterest`` / 2.
    """
    if "singleOpenInterest" not in row:
        return OneSide(r.num(row, "openInterest"), "openInterest",
                       "no singleOpenInterest in this answer, so openInterest is taken as one side (pre-2026-06-11)")
    single = r.opt_num(row, "singleOpenInterest")
    if single is not None:
        return OneSide(single, "singleOpenInterest")
    return OneSide(r.num(row, "openInterest") / 2.0, "openInterest / 2",
                   f"singleOpenInterest is empty, and {_BOTH_SIDES}")


def oi_unit(inst: Instrument) -> tuple[Unit, str]:
    """The unit of an instrument's open interest on Bybit and how to say it: linear in the venue's base
    coin (``1000PEPE``), inverse in USD contracts."""
    if inst.margin is Margin.INVERSE:
        return Unit.USD, f"USD contracts of {inst.contract_size:g} USD"
    return Unit.BASE, f"{inst.multiplier:g}{inst.asset}" if inst.multiplier != 1 else inst.asset


def _open_interest(r: Reader, row: Mapping[str, Any], inst: Instrument, mark: float) -> tuple[float, str]:
    """One-sided open interest in USD for a funding row, and how it was converted (see ``one_side``)."""
    side = one_side(r, row)
    unit, unit_text = oi_unit(inst)
    caveat = f"; {side.caveat}" if side.caveat else ""
    if unit is Unit.USD:
        return side.amount * inst.contract_size, f"OI = {side.field} ({unit_text}){caveat}"
    return side.amount * mark, f"OI = {side.field} ({unit_text}) x mark{caveat}"


def funding_cap(r: Reader, row: Mapping[str, Any]) -> plausible.FundingCap | None:
    """The funding cap a tickers row states: ``fundingCap``, the symmetric bound of the rate per interval
    (tickers since 2025-10; "0.005" in ``bybit__rest_tickers__docs.json``); None when absent or empty (older
    answers, dated futures)."""
    cap = r.opt_num(row, "fundingCap")
    return plausible.FundingCap.symmetric(cap, "Bybit tickers fundingCap") if cap else None


def _funding(r: Reader, row: Mapping[str, Any], inst: Instrument, at: Stamp,
             intervals: Mapping[str, float]) -> FundingRate:
    hours, source = _interval(r, row, inst.symbol, intervals)
    mark = r.num(row, "markPrice")  # per unit of the venue's base (per 1000 PEPE for 1000PEPEUSDT)
    index = r.opt_num(row, "indexPrice")
    oi_usd, note = _open_interest(r, row, inst, mark)
    return plausible.funding_rate(r.endpoint, FundingRate(
        instrument=inst,
        rate=r.num(row, "fundingRate"),  # the rate of the settlement at nextFundingTime
        interval_hours=hours,
        interval_source=source,
        time=at.time,
        received_at=at.received_at,
        predicted_rate=None,  # Bybit publishes no separate forecast
        next_funding_time=r.time_ms(row, "nextFundingTime"),
        mark_price=mark / inst.multiplier,
        index_price=index / inst.multiplier if index is not None else None,
        open_interest_usd=oi_usd,
        note=note,
    ), funding_cap(r, row))


def listed_symbols(body: Any, wanted: Mapping[str, Instrument]) -> set[str]:
    """The ``wanted`` symbols that have a row (of any shape) in one tickers answer."""
    return {inst.symbol for _, inst in _wanted_rows(body, wanted)}


def _per_row(body: Any, wanted: Mapping[str, Instrument],
             read: Callable[[Reader, Mapping[str, Any], Instrument, Stamp], T],
             received: datetime) -> tuple[list[T], list[ParseError]]:
    """``read`` over the tickers rows of the ``wanted`` contracts: what parsed, and a ParseError (naming
    the symbol) per row that did not, so one bad row costs only its own contract."""
    at = answer_time(body, api.TICKERS, received)
    r = reader(api.TICKERS)
    items: list[T] = []
    errors: list[ParseError] = []
    for row, inst in _wanted_rows(body, wanted):
        try:
            items.append(read(r, row, inst, at))
        except ParseError as err:
            errors.append(r.about(inst.symbol, err))
    return items, errors


def _oi_row(r: Reader, row: Mapping[str, Any], inst: Instrument, at: Stamp) -> OpenInterest:
    side = one_side(r, row)
    unit, unit_text = oi_unit(inst)
    mark = r.num(row, "markPrice") / inst.multiplier  # per ONE unit of the asset
    return plausible.open_interest(r.endpoint, instrument=inst, amount=side.amount, unit=unit, price=mark,
                                   price_source="mark", time=at.time, received_at=at.received_at,
                                   note=f"{side.field} ({unit_text}): {side.explanation}")


def parse_open_interest(body: Any, wanted: Mapping[str, Instrument],
                        received: datetime) -> tuple[list[OpenInterest], list[ParseError]]:
    """One-sided open interest of the ``wanted`` perpetuals and dated futures in one tickers answer,
    converted with the mark price (see ``one_side`` for the field used; the note says which)."""
    return _per_row(body, wanted, _oi_row, received)


def day_volume(r: Reader, row: Mapping[str, Any], inst: Instrument) -> tuple[float | None, float | None]:
    """(USD, units of the asset) a contract traded in the last 24 h, one side, from its tickers row. Linear:
    ``turnover24h`` in the quote (USDT or USDC, taken as USD) and ``volume24h`` in the venue's base coin (x the
    multiplier); inverse: ``volume24h`` in USD contracts (x ``contract_size`` USD) and ``turnover24h`` in coins
    (the docs' BTCUSD row: 13713832 USD / 115.6907 BTC = 118537, inside its 24 h low-high; ccxt's real BTCUSDT
    row: 2352063794 USDT / 47293.887 BTC = 49733, likewise)."""
    volume, turnover = r.opt_num(row, "volume24h"), r.opt_num(row, "turnover24h")
    if inst.margin is Margin.INVERSE:
        return (None if volume is None else volume * inst.contract_size,
                None if turnover is None else turnover * inst.multiplier)
    return turnover, None if volume is None else volume * inst.multiplier


def _quote_row(r: Reader, row: Mapping[str, Any], inst: Instrument, at: Stamp) -> PriceQuote:
    def per_unit(key: str) -> float | None:
        value = r.opt_num(row, key)
        return value / inst.multiplier if value is not None else None

    usd, base = day_volume(r, row, inst)
    return plausible.price_quote(r.endpoint, PriceQuote(
        instrument=inst, time=at.time, received_at=at.received_at, mark_price=r.num(row, "markPrice") / inst.multiplier,
        index_price=per_unit("indexPrice"), last_price=per_unit("lastPrice"), volume_24h_usd=usd,
        volume_24h_base=base))


def parse_quotes(body: Any, wanted: Mapping[str, Instrument],
                 received: datetime) -> tuple[list[PriceQuote], list[ParseError]]:
    """Mark (required), index and last prices of the ``wanted`` contracts in one tickers answer, per
    one unit of the asset (``1000PEPEUSDT`` prices divided by 1000), and their 24 h volume (``day_volume``)."""
    return _per_row(body, wanted, _quote_row, received)


#: The readers of ONE tickers row, shared with the ``tickers.{symbol}`` WebSocket stream (``bybit.stream``), whose
#: merged snapshot + deltas is the same row: funding of a perpetual, open interest, prices.
ticker_funding = _funding
ticker_open_interest = _oi_row
ticker_quote = _quote_row
ticker_interval = _interval


def spot_symbol(asset: str) -> str:
    """The spot pair read for an asset's spot price: ``BTCUSDT``."""
    return f"{asset}{api.SPOT_QUOTE}"


def parse_spot(body: Any, assets: Collection[str], received: datetime) -> tuple[list[SpotPrice], list[ParseError]]:
    """Last prices of the ``<ASSET>USDT`` pairs of a spot tickers answer; an asset without a pair is
    absent, a pair whose row does not parse is an error of its own."""
    r = reader(api.TICKERS)
    rows, _ = result_rows(body, api.TICKERS)
    category = r.text(r.obj(r.field(body, "result"), "result"), "category")
    if category != api.SPOT_CATEGORY:
        raise r.fail(f"category is {category!r}, expected {api.SPOT_CATEGORY!r}")
    at = answer_time(body, api.TICKERS, received)
    by_symbol = {spot_symbol(a): a for a in assets}
    r.answered(rows, by_symbol)
    prices: list[SpotPrice] = []
    errors: list[ParseError] = []
    for row in rows:
        symbol = row.get("symbol") if isinstance(row, Mapping) else None
        if not isinstance(symbol, str) or symbol not in by_symbol:
            continue
        try:
            prices.append(plausible.spot_price(r.endpoint, SpotPrice(
                venue=VENUE, asset=by_symbol[symbol], quote=api.SPOT_QUOTE, symbol=symbol,
                price=r.num(row, "lastPrice"), time=at.time, received_at=at.received_at)))
        except ParseError as err:
            errors.append(r.about(symbol, err))
    return prices, errors


# --- funding/history ---------------------------------------------------------------------------


def parse_funding_history(body: Any, symbol: str) -> list[tuple[datetime, float]]:
    """(settlement time, rate) pairs of one funding/history page, in the venue's order (newest first)."""
    r = reader(api.FUNDING_HISTORY)
    rows, _ = result_rows(body, api.FUNDING_HISTORY)
    out = []
    for item in rows:
        row = r.obj(item, "result.list item")
        if row.get("symbol", symbol) != symbol:
            raise r.fail(f"row for {row.get('symbol')!r} in the history of {symbol!r}")
        rate = plausible.settlement(plausible.Rules(VENUE, r.endpoint, symbol), r.num(row, "fundingRate"))
        out.append((r.time_ms(row, "fundingRateTimestamp"), rate))
    return out



# --- open-interest history ---------------------------------------------------------------------


def _check_symbol(r: Reader, body: Any, symbol: str) -> None:
    """The answer's ``result.symbol``, when present, must be the one asked for."""
    got = r.obj(r.field(r.obj(body), "result"), "result").get("symbol", symbol)
    if got != symbol:
        raise r.fail(f"answer for {got!r}, asked for {symbol!r}")


def parse_oi_history(body: Any, symbol: str) -> list[tuple[datetime, OneSide]]:
    """(time, one side in the venue's unit) of one open-interest page, in the venue's order (newest
    first); see ``one_side`` for the field used."""
    r = reader(api.OPEN_INTEREST)
    rows, _ = result_rows(body, api.OPEN_INTEREST)
    _check_symbol(r, body, symbol)
    out = []
    rules = plausible.Rules(VENUE, r.endpoint, symbol)
    for item in rows:
        row = r.obj(item, "result.list item")
        side = one_side(r, row)
        rules.amount(side.field, side.amount)
        out.append((r.time_ms(row, "timestamp"), side))
    return out


# --- kline -------------------------------------------------------------------------------------

#: The fields of a kline array, by position: ``[startTime, open, high, low, close, volume, turnover]``.
_KLINE_FIELDS = {"startTime": 0, "openPrice": 1, "highPrice": 2, "lowPrice": 3, "closePrice": 4}
_KLINE_VOLUMES = {"volume": 5, "turnover": 6}


@dataclass(frozen=True, slots=True)
class Kline:
    """One candle: its start (epoch ms), open and close, per unit of the venue's base (per 1000 PEPE for
    ``1000PEPEUSDT``)."""

    start_ms: int
    open: float
    close: float


@dataclass(frozen=True, slots=True)
class Bar:
    """One kline row as sent: start (epoch ms), open, high, low, close per unit of the venue's base, and
    ``volume`` / ``turnover`` (None when the row stops before them). Linear: ``volume`` in the venue's base coin
    (``1000PEPE`` units), ``turnover`` in the quote (USDT, USDC); inverse: ``volume`` in USD contracts,
    ``turnover`` in the coin."""

    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None = None
    turnover: float | None = None


def parse_bars(body: Any, symbol: str) -> list[Bar]:
    """The rows of one kline page, in the venue's order (newest first), every field read
    (``bybit__ccxt_fetchOHLCV.json``: ``["1706637600000", "43376.1", "43474.1", "43264.8", "43352.8", "1575.305",
    "68345898.1407"]``). Prices must be > 0 with low <= open, close <= high; volumes >= 0."""
    r = reader(api.KLINE)
    rows, _ = result_rows(body, api.KLINE)
    _check_symbol(r, body, symbol)
    out = []
    rules = plausible.Rules(VENUE, r.endpoint, symbol)
    for item in rows:
        candle = r.arr(item, "result.list item")
        if len(candle) <= max(_KLINE_FIELDS.values()):
            raise r.fail(f"kline {candle!r} has {len(candle)} fields, expected 7")
        named = {key: candle[i] for key, i in (_KLINE_FIELDS | _KLINE_VOLUMES).items() if i < len(candle)}
        bar = Bar(r.ms(named, "startTime"), r.num(named, "openPrice"), r.num(named, "highPrice"),
                  r.num(named, "lowPrice"), r.num(named, "closePrice"), r.opt_num(named, "volume"),
                  r.opt_num(named, "turnover"))
        rules.bar(bar.open, bar.high, bar.low, bar.close, ("openPrice", "highPrice", "lowPrice", "closePrice"))
        rules.amount("volume", bar.volume)
        rules.amount("turnover", bar.turnover)
        out.append(bar)
    return out


def parse_klines(body: Any, symbol: str) -> list[Kline]:
    """The candles of one kline page (start, open, close), in the venue's order (newest first)."""
    return [Kline(b.start_ms, b.open, b.close) for b in parse_bars(body, symbol)]


def candles(bars: Iterable[Bar], instrument: Instrument, period_seconds: int, received: datetime) -> list[Candle]:
    """``Candle`` records of kline rows, ascending by open time (one per open time), prices per ONE unit of the
    asset (divided by the multiplier). Volumes read: linear ``volume`` (the venue's base coin, x the multiplier)
    as ``volume_base`` and ``turnover`` (the quote, USDT or USDC taken as USD) as ``volume_usd``; inverse
    ``volume`` (USD contracts, x ``contract_size`` USD) as ``volume_usd`` and ``turnover`` (coins) as
    ``volume_base``. A bar whose span holds ``received`` is still open (``closed`` False): Bybit marks none."""
    per = instrument.multiplier
    received_ms = utc_to_ms(received)
    step = period_seconds * 1000
    out: dict[int, Candle] = {}
    for bar in bars:
        if instrument.margin is Margin.INVERSE:
            usd = None if bar.volume is None else bar.volume * instrument.contract_size
            base = None if bar.turnover is None else bar.turnover * per
        else:
            usd = bar.turnover
            base = None if bar.volume is None else bar.volume * per
        out[bar.start_ms] = Candle(
            venue=VENUE, symbol=instrument.symbol, time=ms_to_utc(bar.start_ms), period_seconds=period_seconds,
            open=bar.open / per, high=bar.high / per, low=bar.low / per, close=bar.close / per,
            received_at=received, volume_base=base, volume_usd=usd, closed=bar.start_ms + step <= received_ms)
    return [out[t] for t in sorted(out)]


# --- orderbook ---------------------------------------------------------------------------------


def parse_orderbook(body: Any, instrument: Instrument, limit: int, received: datetime) -> OrderBook:
    """An orderbook answer (``result`` = ``{s, b, a, ts, u, seq}``, ``bybit__ccxt_fetchOrderBook.json``) as an
    ``OrderBook``: bids descending and asks ascending as sent (an answer out of that order, or crossed, is refused),
    ``time`` from ``ts`` (ms), ``sequence`` from ``u`` (the update id of the WebSocket book), ``limit`` the levels
    asked. ``unit``: the venue's quantity (linear: the base coin; inverse: USD contracts of ``contract_size``)."""
    r = reader(api.ORDERBOOK)
    result = r.obj(r.field(r.obj(body), "result"), "result")
    got = result.get("s", instrument.symbol)
    if got != instrument.symbol:
        raise r.fail(f"book of {got!r}, asked for {instrument.symbol!r}")
    rules = plausible.Rules(VENUE, r.endpoint, instrument.symbol)
    unit, unit_text = oi_unit(instrument)  # linear: the base coin; inverse: USD contracts, at each level's price
    bids = array_side(r, r.field(result, "b"), "b", instrument, unit, rules)
    asks = array_side(r, r.field(result, "a"), "a", instrument, unit, rules)
    check_book(r, rules, instrument, bids, asks, "b/a")
    time = r.opt_time_ms(result, "ts")
    rules.time("ts", time, received)
    sequence = r.opt_num(result, "u")
    return OrderBook(instrument=instrument, bids=bids, asks=asks, unit=unit, limit=limit, time=time,
                     received_at=received, sequence=None if sequence is None else int(sequence),
                     note=f"sizes from {unit_text}" + (", at each level's price" if unit is Unit.USD else ""))


# --- risk-limit --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskTier:
    """One risk-limit row of a symbol as fractions: ``cap`` (``riskLimitValue``, the tier's upper bound: USDT or
    USDC for linear, coins for inverse), ``mmr`` / ``imr`` (``maintenanceMargin`` / ``initialMargin``),
    ``max_leverage``, ``deduction`` (``mmDeduction``; None when "" or absent), ``percent``: the row was in percent
    (converted)."""

    id: int
    cap: float
    mmr: float
    imr: float
    max_leverage: float
    deduction: float | None
    percent: bool


@dataclass(frozen=True, slots=True)
class RiskLimitPage:
    """The rows of one symbol in one risk-limit page, and the next cursor ("" at the end)."""

    tiers: tuple[RiskTier, ...]
    cursor: str


#: ``initialMargin`` x ``maxLeverage`` is 1 for fractions (live: "0.01" x "100.00"; testnet "0.6993" x "1.43") and
#: 100 for percent (the docs example: "1" x "100.00"); anything far from both is not a tier Bybit publishes.
_FRACTION, _PERCENT = (0.5, 2.0), (50.0, 200.0)


def _risk_tier(r: Reader, row: Mapping[str, Any], rules: plausible.Rules) -> RiskTier:
    cap, mmr, imr, lev = (r.num(row, k) for k in ("riskLimitValue", "maintenanceMargin", "initialMargin",
                                                  "maxLeverage"))
    rules.price("riskLimitValue", cap)
    rules.price("maxLeverage", lev)
    check = imr * lev
    if _PERCENT[0] <= check <= _PERCENT[1]:
        mmr, imr, percent = mmr / 100.0, imr / 100.0, True
    elif _FRACTION[0] <= check <= _FRACTION[1]:
        percent = False
    else:
        raise rules.refuse("initialMargin", imr, f"initialMargin x maxLeverage is {check:g}: neither a fraction "
                                                 "(1) nor a percent (100)")
    if not 0 < mmr <= imr <= 1:
        raise rules.refuse("maintenanceMargin", mmr, f"needs 0 < maintenanceMargin <= initialMargin ({imr:g}) <= 1")
    deduction = r.opt_num(row, "mmDeduction")
    rules.amount("mmDeduction", deduction)
    return RiskTier(int(r.num(row, "id")), cap, mmr, imr, lev, deduction, percent)


def parse_risk_limit(body: Any, symbol: str) -> RiskLimitPage:
    """One risk-limit page: the rows of ``symbol`` (other symbols' rows are not read) and ``nextPageCursor``.

    Bybit's documented example is in PERCENT (``"maintenanceMargin": "0.5"``, ``"initialMargin": "1"`` beside
    ``"maxLeverage": "100.00"``) while live answers are FRACTIONS (``"0.005"``, ``"0.01"``): each row is read by
    ``initialMargin x maxLeverage`` (100 -> percent, divided by 100; 1 -> fractions). Numbers come as strings or
    JSON numbers (the docs type them as numbers)."""
    r = reader(api.RISK_LIMIT)
    rows, cursor = result_rows(body, api.RISK_LIMIT)
    rules = plausible.Rules(VENUE, r.endpoint, symbol)
    tiers = [_risk_tier(r, row, rules) for row in rows if isinstance(row, Mapping) and row.get("symbol") == symbol]
    return RiskLimitPage(tuple(tiers), cursor)


def margin_tiers(tiers: Iterable[RiskTier], instrument: Instrument, time: datetime | None,
                 received: datetime) -> tuple[MarginTier, ...]:
    """The risk-limit rows of one contract as ``MarginTier`` records, lowest first (by ``riskLimitValue``).

    ``riskLimitValue`` is the tier's CAP; its floor is the previous tier's cap (0 for the lowest). Unit: linear
    tiers are position notional in the quote (USDT / USDC, taken as USD), inverse tiers in coins (``base``).
    ``mmDeduction`` is in the same currency; "" on the lowest tier is 0, and a tier without one gets the
    continuity value ``deduction_n = deduction_n-1 + floor_n x (mmr_n - mmr_n-1)`` (the note says so). Two rows with
    one cap, or a table without rows, are ParseErrors."""
    r = reader(api.RISK_LIMIT)
    ordered = sorted({t.id: t for t in tiers}.values(), key=lambda t: t.cap)
    if not ordered:
        raise r.fail(f"no risk-limit rows for {instrument.symbol}")
    inverse = instrument.margin is Margin.INVERSE
    unit = Unit.BASE if inverse else Unit.USD
    what = f"riskLimitValue in {instrument.asset if inverse else instrument.settle} (the tier's cap; floor = the " \
           f"previous tier's cap)"
    out: list[MarginTier] = []
    floor, prev_mmr, prev_deduction = 0.0, 0.0, 0.0
    for n, tier in enumerate(ordered, start=1):
        if out and tier.cap <= floor:
            raise r.fail(f"{instrument.symbol}: two risk-limit tiers with cap {tier.cap:g}")
        notes = [what]
        if tier.deduction is not None:
            deduction = tier.deduction
        elif n == 1:
            deduction = 0.0
            notes.append('mmDeduction "" on the lowest tier: 0')
        else:
            deduction = prev_deduction + floor * (tier.mmr - prev_mmr)
            notes.append("mmDeduction absent: derived by continuity")
        if tier.percent:
            notes.append("rates sent in percent, converted to fractions")
        out.append(MarginTier(
            venue=VENUE, symbol=instrument.symbol, tier=n, floor=floor, cap=tier.cap, unit=unit, mmr=tier.mmr,
            deduction=deduction, max_leverage=tier.max_leverage, time=time, received_at=received, imr=tier.imr,
            source=api.RISK_LIMIT, note="; ".join(notes)))
        floor, prev_mmr, prev_deduction = tier.cap, tier.mmr, deduction
    return tuple(out)


# --- account-ratio -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountRatio:
    """One account-ratio row: the shares of accounts net long (``buy``) and net short (``sell``)."""

    time: datetime
    buy: float
    sell: float


def parse_account_ratio(body: Any, symbol: str) -> AccountRatio | None:
    """The latest account-ratio row of ``symbol`` (None for an empty list)."""
    r = reader(api.ACCOUNT_RATIO)
    rows, _ = result_rows(body, api.ACCOUNT_RATIO)
    out: list[AccountRatio] = []
    for item in rows:
        row = r.obj(item, "result.list item")
        if row.get("symbol", symbol) != symbol:
            raise r.fail(f"row for {row.get('symbol')!r} in the ratio of {symbol!r}")
        buy, sell = r.num(row, "buyRatio"), r.num(row, "sellRatio")
        if buy < 0 or sell < 0 or buy + sell <= 0:
            raise r.fail(f"{symbol}: buyRatio {buy:g} / sellRatio {sell:g} are not shares")
        out.append(AccountRatio(r.time_ms(row, "timestamp"), buy, sell))
    return max(out, key=lambda a: a.time, default=None)


def long_short(perp: Instrument, latest: AccountRatio, received: datetime) -> LongShortRatio:
    """The account ratio of a USDT perpetual as a ``LongShortRatio``: longs / shorts = buyRatio / sellRatio,
    the long share buyRatio / (buyRatio + sellRatio), at the row's own ``timestamp``."""
    return LongShortRatio(
        venue=VENUE, asset=perp.asset, symbol=perp.symbol,
        definition=f"accounts net long / net short (USDT perpetual {perp.symbol})",
        ratio=latest.buy / latest.sell if latest.sell > 0 else float("inf"),
        long_share=latest.buy / (latest.buy + latest.sell), time=latest.time, received_at=received,
        period=api.ACCOUNT_RATIO_PERIOD,
    )


# --- options -----------------------------------------------------------------------------------

#: ``BTC-28MAR25-90000-C`` (USDC-settled) and ``BTC-30MAY25-68000-P-USDT`` (USDT-settled).
_OPTION_SYMBOL = re.compile(r"^(?P<base>[A-Z0-9]+)-(?P<day>\d{1,2})(?P<month>[A-Z]{3})(?P<year>\d{2})"
                            r"-(?P<strike>\d+(?:\.\d+)?)-(?P<cp>[CP])(?:-(?P<settle>[A-Z]+))?$")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_OPTIONS_TYPES = {api.OPTION_CALL: True, api.OPTION_PUT: False}
_TAKER_SIDES = {"Buy": "buy", "Sell": "sell"}


@dataclass(frozen=True, slots=True)
class OptionTerms(OptionSpec):
    """What one Bybit option is (contracts of one coin, settled in USDC or USDT) and ``source``, where the terms
    come from (``instruments-info`` or the symbol alone)."""

    source: str


def option_terms(r: Reader, symbol: str) -> OptionTerms:
    """The terms written in an option's symbol: ``BTC-30MAY25-68000-P-USDT`` is a BTC put struck at 68,000 USD,
    expiring 2025-05-30 08:00 UTC (Bybit's expiry hour), settled in USDT (USDC when there is no suffix)."""
    m = _OPTION_SYMBOL.match(symbol)
    if m is None or m["month"] not in _MONTHS:
        raise r.fail(f"{symbol!r} is not an option symbol (BTC-28MAR25-90000-C[-USDT])")
    try:
        expiry = datetime(2000 + int(m["year"]), _MONTHS.index(m["month"]) + 1, int(m["day"]),
                          api.OPTION_EXPIRY_HOUR, tzinfo=UTC)
    except ValueError:
        raise r.fail(f"{symbol!r} names no real date") from None
    return OptionTerms(symbol, split_multiplier(m["base"])[0], expiry, float(m["strike"]), m["cp"] == "C",
                       contract_size=api.OPTION_CONTRACT_SIZE, settle=m["settle"] or api.OPTION_DEFAULT_SETTLE,
                       source="symbol")


@dataclass(frozen=True, slots=True)
class OptionInstrumentsPage:
    """One instruments-info page of the option category: the trading options' terms by symbol, the rows that
    did not parse ("<symbol>: <detail>") and the next cursor."""

    terms: Mapping[str, OptionTerms]
    broken: tuple[str, ...]
    cursor: str


def _option_row_terms(r: Reader, row: Mapping[str, Any]) -> OptionTerms:
    """An instruments-info option row: the symbol's terms with ``deliveryTime`` (ms), ``optionsType``,
    ``baseCoin`` and ``settleCoin`` as the row states them."""
    named = option_terms(r, r.text(row, "symbol"))
    kind = r.text(row, "optionsType")
    if kind not in _OPTIONS_TYPES:
        raise r.fail(f"optionsType is {kind!r}, expected Call or Put")
    if _OPTIONS_TYPES[kind] is not named.is_call:
        raise r.fail(f"optionsType {kind} contradicts the symbol")
    return replace(named, asset=split_multiplier(r.text(row, "baseCoin"))[0], expiry=r.time_ms(row, "deliveryTime"),
                   settle=r.text(row, "settleCoin"), source="instruments-info")


def parse_option_instruments_page(body: Any) -> OptionInstrumentsPage:
    """One instruments-info page of the option category: its ``Trading`` options (``PreLaunch`` and
    ``Delivering`` rows are not in the chain). A row that does not parse is kept aside in ``broken``; a page
    whose trading rows all fail is a ParseError (the format changed; the page is not cached)."""
    r = reader(api.INSTRUMENTS)
    rows, cursor = result_rows(body, api.INSTRUMENTS)
    trading = [row for row in rows if isinstance(row, Mapping) and row.get("status") == api.STATUS_TRADING]
    terms, broken = parse_each(r, trading, lambda row: _option_row_terms(r, row),
                               lambda row: str(row.get("symbol", "?")), "option row")
    return OptionInstrumentsPage(terms, tuple(broken), cursor)


def _positive(r: Reader, row: Mapping[str, Any], key: str) -> float | None:
    """A price, size or IV where Bybit writes "0" (or nothing) for "none": the empty book side
    (``bid1Price`` "0", ``bid1Iv`` "0" in ``bybit__ccxt_fetchAllGreeks.json``). A negative value is not
    "none": it is kept, for the plausibility rules to refuse."""
    value = r.opt_num(row, key)
    return value if value else None


def _settle_note(settle: str) -> str:
    return f"{settle}-settled, {settle} taken as USD"


def _option_quote(r: Reader, row: Mapping[str, Any], terms: OptionTerms, at: Stamp,
                  forwards: Mapping[datetime, float]) -> OptionQuote:
    """One tickers row as an OptionQuote. Prices are per ONE coin in the settlement coin (USD); the coin price
    is the USD price / ``underlyingPrice`` (the forward of the expiry, what Bybit prices the option on). A row
    without ``underlyingPrice`` takes its expiry's from another row (``forwards``), else the index."""
    index = _positive(r, row, "indexPrice")
    underlying = _positive(r, row, "underlyingPrice")
    note = f"markPrice, bid1Price, ask1Price in USD ({_settle_note(terms.settle)}); coin = USD / underlyingPrice"
    if underlying is None:
        underlying = forwards.get(terms.expiry, index)
        if underlying is None:
            raise r.fail("no underlyingPrice nor indexPrice")
        source = "another option of the expiry" if terms.expiry in forwards else "indexPrice"
        note += f" (this row has none: {source}'s, {underlying:g})"
    mark = _positive(r, row, "markPrice")
    return plausible.option_quote(r.endpoint, OptionQuote(
        venue=VENUE, symbol=terms.symbol, asset=terms.asset, expiry=terms.expiry, strike=terms.strike,
        is_call=terms.is_call, time=at.time, received_at=at.received_at, underlying_price=underlying,
        index_price=index, mark_price_usd=mark, mark_price_coin=mark / underlying if mark is not None else None,
        bid_price_usd=_positive(r, row, "bid1Price"), ask_price_usd=_positive(r, row, "ask1Price"),
        # IVs: fractions already (0.552 = 55.2 %); "0" means none (no bid)
        mark_iv=_positive(r, row, "markIv"), bid_iv=_positive(r, row, "bid1Iv"), ask_iv=_positive(r, row, "ask1Iv"),
        # greeks in Deribit's conventions: delta, gamma per USD, vega USD per vol point, theta USD per day
        delta=r.opt_num(row, "delta"), gamma=r.opt_num(row, "gamma"), vega=r.opt_num(row, "vega"),
        theta=r.opt_num(row, "theta"),
        open_interest=r.opt_num(row, "openInterest") or 0.0, volume=r.opt_num(row, "volume24h") or 0.0,
        contract_size=terms.contract_size, settle=terms.settle, price_note=note,
    ))


def _unquoted(terms: OptionTerms, at: Stamp, forwards: Mapping[datetime, float],
              index: float | None) -> OptionQuote | None:
    """A listed option without a tickers row: no mark, IVs, greeks, OI or volume, priced against its expiry's
    forward from the other rows (else the index); None when neither is known."""
    underlying = forwards.get(terms.expiry, index)
    if underlying is None:
        return None
    return plausible.option_quote(api.INSTRUMENTS, OptionQuote(
        venue=VENUE, symbol=terms.symbol, asset=terms.asset, expiry=terms.expiry, strike=terms.strike,
        is_call=terms.is_call, time=at.time, received_at=at.received_at, underlying_price=underlying, index_price=index,
        contract_size=terms.contract_size, settle=terms.settle,
        price_note="listed in instruments-info without a tickers row: no mark"))


def parse_option_chain(body: Any, asset: str, listed: Mapping[str, OptionTerms],
                       received: datetime) -> tuple[list[OptionQuote], list[ParseError]]:
    """The option chain of ``asset`` from one tickers answer (``category=option&baseCoin=``) and the trading
    options of instruments-info (``listed``, by symbol; may be empty when it could not be read).

    Every tickers row of the asset becomes a quote, with the terms of ``listed`` (exact ``deliveryTime``,
    ``settleCoin``), else those written in its symbol (a new listing the cached list does not hold yet). A
    listed option without a row (quoted nowhere yet) is kept with no mark, if it has not expired. A row that
    does not parse is an error of its own (naming the symbol); the other rows still serve.
    """
    r = reader(api.TICKERS)
    rows, _ = result_rows(body, api.TICKERS)
    at = answer_time(body, api.TICKERS, received)
    found: list[tuple[Mapping[str, Any], OptionTerms]] = []
    errors: list[ParseError] = []
    for row in rows:
        symbol = row.get("symbol") if isinstance(row, Mapping) else None
        if not isinstance(symbol, str):
            errors.append(r.fail(f"a row without a symbol: {row!r}"[:200]))
            continue
        try:
            terms = listed.get(symbol) or option_terms(r, symbol)
        except ParseError as err:
            errors.append(err)
            continue
        if terms.asset == asset:
            found.append((row, terms))
    forwards: dict[datetime, float] = {}
    index: float | None = None
    for row, terms in found:
        try:
            # only positive prices price other rows (a row with an absurd one is refused below)
            if (fwd := _positive(r, row, "underlyingPrice")) is not None and fwd > 0:
                forwards.setdefault(terms.expiry, fwd)
            if index is None and (idx := _positive(r, row, "indexPrice")) is not None and idx > 0:
                index = idx
        except ParseError:
            continue  # the row's own error is reported below
    quotes: list[OptionQuote] = []
    for row, terms in found:
        try:
            quotes.append(_option_quote(r, row, terms, at, forwards))
        except ParseError as err:
            errors.append(r.about(terms.symbol, err))
    quoted = {t.symbol for _, t in found}
    for terms in listed.values():
        if terms.symbol in quoted or terms.asset != asset or terms.expiry <= at.observed_at:
            continue
        try:
            quote = _unquoted(terms, at, forwards, index)
        except ParseError as err:  # terms of instruments-info no market can have (an expiry decades away)
            errors.append(err)
            continue
        if quote is None:
            errors.append(r.fail(f"{terms.symbol}: listed, but no tickers row gives a price to quote it against"))
        else:
            quotes.append(quote)
    return quotes, errors


def _option_trade(r: Reader, row: Mapping[str, Any], terms: OptionTerms, received: datetime) -> OptionTrade:
    side = r.text(row, "side")
    if side not in _TAKER_SIDES:
        raise r.fail(f"side is {side!r}, expected Buy or Sell")
    block = row.get("isBlockTrade", False)
    if not isinstance(block, bool):
        raise r.fail(f"isBlockTrade is {block!r}, expected a boolean")
    return plausible.option_trade(r.endpoint, OptionTrade(
        venue=VENUE, symbol=terms.symbol, asset=terms.asset, expiry=terms.expiry, strike=terms.strike,
        is_call=terms.is_call, time=r.time_ms(row, "time"), received_at=received,
        side=_TAKER_SIDES[side],  # the taker's side
        amount=r.num(row, "size"), contract_size=terms.contract_size, price_usd=r.num(row, "price"),
        index_price=r.num(row, "iP"), iv=_positive(r, row, "iv"), block=block, trade_id=r.text(row, "execId"),
    ))


def parse_option_trades(body: Any, asset: str, received: datetime) -> tuple[list[OptionTrade], list[ParseError]]:
    """The option trades of ``asset`` in one recent-trade answer (``category=option``), in the venue's order:
    ``side`` is the taker's, ``size`` in coins (contracts of one coin), ``price`` USD per coin, ``iP`` the index,
    ``iv`` a fraction, ``isBlockTrade`` marks blocks. Terms come from the symbol (expiry at 08:00 UTC). A row
    that does not parse is an error of its own."""
    r = reader(api.RECENT_TRADE)
    rows, _ = result_rows(body, api.RECENT_TRADE)
    trades: list[OptionTrade] = []
    errors: list[ParseError] = []
    for item in rows:
        try:
            row = r.obj(item, "result.list item")
            terms = option_terms(r, r.text(row, "symbol"))
            if terms.asset == asset:
                trades.append(_option_trade(r, row, terms, received))
        except ParseError as err:
            symbol = item.get("symbol") if isinstance(item, Mapping) else None
            errors.append(r.about(str(symbol), err) if symbol else err)
    return trades, errors


def hv_series(asset: str, period_days: int) -> str:
    """The name of a historical-volatility series (a ``VolPoint``'s symbol): ``BTC-HV30D``, the ``period``-day
    realized volatility of ``baseCoin``."""
    return f"{asset}-HV{period_days}D"


def parse_historical_volatility(body: Any, asset: str, period_days: int, received: datetime) -> list[VolPoint]:
    """The points of one historical-volatility answer: (hour, realized volatility as a FRACTION, 0.45 = 45 %),
    named ``hv_series(asset, period_days)``.

    Its envelope differs from the other endpoints' (``bybit__rest_historical_volatility__docs.json``):
    ``category`` sits beside ``result``, which is the list itself. A row of another ``period`` is an error.
    """
    r = reader(api.HISTORICAL_VOLATILITY)
    result = r.field(r.obj(body), "result")
    rows = r.arr(result.get("list") if isinstance(result, Mapping) else result, "result")
    out: list[VolPoint] = []
    for item in rows:
        row = r.obj(item, "result item")
        period = r.opt_num(row, "period")
        if period is not None and period != period_days:
            raise r.fail(f"a {period:g}-day row in the {period_days}-day series")
        value = r.num(row, "value")
        plausible.Rules(VENUE, r.endpoint, hv_series(asset, period_days)).amount("value", value)
        out.append(VolPoint(venue=VENUE, symbol=hv_series(asset, period_days), time=r.time_ms(row, "time"),
                            value=value, received_at=received))
    return out
