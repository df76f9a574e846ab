"""Bybit v5 JSON -> records (pure: no I/O, no clock; the receive time is passed in).

Owns the ``retCode`` envelope, instruments-info pages (perpetuals and their ``fundingInterval``),
tickers (current funding, prices, open interest) and funding/history rows.

Quirks handled here, with the payload that shows them:
- ``fundingInterval`` in instruments-info is in MINUTES (480 = 8 h; docs example
  ``bybit__rest_instruments_info__docs.json``); tickers' ``fundingIntervalHour`` is in hours and
  is absent from older tickers (the 2024 capture ``bybit__ccxt_fetchFundingRates.json``).
- ``openInterest`` is documented as both sides added since 2026-06-11 (docs example: openInterest =
  2 x ``singleOpenInterest``), with ``singleOpenInterest`` one side. Payloads WITHOUT the key predate
  that and carry one side in ``openInterest`` (the 2024 capture: 69,656 BTC, in line with one-sided
  figures elsewhere); a payload that has the key but sends it empty ("" or null) is a current one,
  so one side is ``openInterest`` / 2. The choice goes by the key's presence, never by its value.
- Linear open interest is in the base coin (``1000PEPE`` units for ``1000PEPEUSDT``); inverse open
  interest is in USD contracts of 1 USD, and there ``openInterestValue`` is in the coin
  (``bybit__rest_tickers__docs.json``: 240,113,967 USD / mark 114,898 = 2,089.8 BTC).
- ccxt's captures re-serialised ``retCode`` and ``time`` as strings: both types are accepted.

Bulk lists (instruments-info, tickers) may hold rows dtrack was not asked about in shapes it does not
know: those are skipped, never parsed. Only the rows asked for must parse.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from dtrack.errors import ParseError, RateLimited, VenueError
from dtrack.records import FundingRate, Instrument, Kind, Margin, Unit
from dtrack.symbols import split_multiplier
from dtrack.venues.bybit import api
from dtrack.venues.fields import Listing, Reader, Row

VENUE = "bybit"

_MARGINS = {api.LINEAR_PERPETUAL: Margin.LINEAR, api.INVERSE_PERPETUAL: Margin.INVERSE}


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


def answer_time(body: Any, endpoint: str, received: datetime) -> datetime:
    """The venue's own ``time`` of an answer (epoch ms, number or string), else ``received``."""
    return reader(endpoint).opt_time_ms(reader(endpoint).obj(body), "time") or received


# --- instruments-info --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InstrumentsPage:
    """One instruments-info page: its trading perpetuals (and, in ``listing.broken``, the perpetual
    rows that did not parse), their funding intervals (hours, from ``fundingInterval`` in minutes)
    and the next cursor."""

    listing: Listing
    intervals: Mapping[str, float]
    #: symbol -> why its ``fundingInterval`` is unusable (the instrument itself parsed)
    bad_intervals: Mapping[str, str]
    cursor: str


def _is_live_perp(row: Mapping[str, Any]) -> bool:
    """A perpetual that trades now (not a dated future, option, pre-launch/settling or unknown row)."""
    kind, status = row.get("contractType"), row.get("status")
    return isinstance(kind, str) and kind in _MARGINS and status == api.STATUS_TRADING


#: Quote suffixes of Bybit perpetual symbols, to guess the asset of a row without ``baseCoin``.
_SUFFIXES = ("USDT", "USDC", "PERP", "USD")


def _identify(row: Row) -> tuple[str, str]:
    """(asset, symbol) of a (possibly malformed) row: the asset from ``baseCoin``, else guessed from
    the symbol ("" where unreadable)."""
    symbol = row.get("symbol")
    symbol = symbol if isinstance(symbol, str) else ""
    base = row.get("baseCoin")
    if not isinstance(base, str) or not base:
        base = next((symbol[: -len(s)] for s in _SUFFIXES if symbol.endswith(s) and len(symbol) > len(s)), symbol)
    return (split_multiplier(base)[0] if base else ""), symbol


def parse_instruments_page(body: Any) -> InstrumentsPage:
    """One instruments-info page. Rows that are not trading perpetuals (other contract types, other
    statuses, not even objects) are skipped; a trading perpetual whose row does not parse is kept
    aside in ``listing.broken`` under its asset, so one odd row does not fail the venue unless its
    asset is asked for."""
    r = reader(api.INSTRUMENTS)
    rows, cursor = result_rows(body, api.INSTRUMENTS)
    intervals: dict[str, float] = {}
    bad_intervals: dict[str, str] = {}

    def perpetual(row: Row) -> Instrument:
        inst = _instrument(r, row)
        try:
            intervals[inst.symbol] = _interval_hours(r, row)
        except ParseError as err:
            bad_intervals[inst.symbol] = err.detail
        return inst

    live = [row for row in rows if isinstance(row, Mapping) and _is_live_perp(row)]
    return InstrumentsPage(Listing.read(live, perpetual, _identify), intervals, bad_intervals, cursor)


def _instrument(r: Reader, row: Mapping[str, Any]) -> Instrument:
    margin = _MARGINS[r.text(row, "contractType")]
    category = margin.value  # Bybit's category names equal dtrack's margin names
    base = r.text(row, "baseCoin")
    asset, multiplier = split_multiplier(base)  # 1000PEPE -> PEPE x 1000
    if margin is Margin.INVERSE:
        size, unit = api.INVERSE_CONTRACT_USD, Unit.USD
    else:
        size, unit = 1.0, Unit.BASE
    return Instrument(
        venue=VENUE, symbol=r.text(row, "symbol"), asset=asset, quote=r.text(row, "quoteCoin"),
        settle=r.text(row, "settleCoin"), kind=Kind.PERP, margin=margin, multiplier=multiplier,
        contract_size=size, contract_unit=unit, market=category,
    )


def _interval_hours(r: Reader, row: Mapping[str, Any]) -> float:
    """``fundingInterval`` (minutes) in hours."""
    minutes = r.num(row, "fundingInterval")
    if minutes <= 0:
        raise r.fail(f"fundingInterval of {row.get('symbol')!r} is {minutes:g} minutes")
    return minutes / 60.0


# --- tickers -----------------------------------------------------------------------------------


def _wanted_rows(body: Any, wanted: Mapping[str, Instrument]) -> list[tuple[Mapping[str, Any], Instrument]]:
    """Rows of a tickers answer for the ``wanted`` perpetuals, matched by symbol AND category
    (``BTCUSDT`` is both a linear perpetual and a spot pair)."""
    r = reader(api.TICKERS)
    rows, _ = result_rows(body, api.TICKERS)
    category = r.text(r.obj(r.field(body, "result"), "result"), "category")
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
) -> list[FundingRate]:
    """Current funding of the ``wanted`` perpetuals (by symbol) found in one tickers answer.

    ``intervals`` (hours, from instruments-info) is used only for rows without ``fundingIntervalHour``.
    """
    when = answer_time(body, api.TICKERS, received)
    r = reader(api.TICKERS)
    return [_funding(r, row, inst, when, intervals or {}) for row, inst in _wanted_rows(body, wanted)]


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


def _open_interest(r: Reader, row: Mapping[str, Any], inst: Instrument, mark: float) -> tuple[float, str]:
    """One-sided open interest in USD, and how it was converted.

    By the PRESENCE of ``singleOpenInterest`` (never by its value): absent -> an answer from before
    2026-06-11, whose ``openInterest`` is one side; present -> today's semantics, where ``openInterest``
    is both sides, so an empty ``singleOpenInterest`` ("" or null) falls back to ``openInterest`` / 2.
    """
    if "singleOpenInterest" not in row:
        amount, field = r.num(row, "openInterest"), "openInterest"
        caveat = "; no singleOpenInterest in this answer, so openInterest is taken as one side (pre-2026-06-11)"
    elif (single := r.opt_num(row, "singleOpenInterest")) is not None:
        amount, field, caveat = single, "singleOpenInterest", ""
    else:
        amount, field = r.num(row, "openInterest") / 2.0, "openInterest / 2"
        caveat = ("; singleOpenInterest is empty, and openInterest counts both sides since 2026-06-11"
                  " (documented as 2 x singleOpenInterest)")
    if inst.margin is Margin.INVERSE:
        usd = amount * inst.contract_size
        how = f"OI = {field} (USD contracts of {inst.contract_size:g} USD)"
    else:
        base = f"{inst.multiplier:g}{inst.asset}" if inst.multiplier != 1 else inst.asset
        usd = amount * mark
        how = f"OI = {field} ({base}) x mark"
    return usd, how + caveat


def _funding(r: Reader, row: Mapping[str, Any], inst: Instrument, when: datetime,
             intervals: Mapping[str, float]) -> FundingRate:
    hours, source = _interval(r, row, inst.symbol, intervals)
    mark = r.num(row, "markPrice")  # per unit of the venue's base (per 1000 PEPE for 1000PEPEUSDT)
    index = r.opt_num(row, "indexPrice")
    oi_usd, note = _open_interest(r, row, inst, mark)
    return FundingRate(
        instrument=inst,
        rate=r.num(row, "fundingRate"),  # the rate of the settlement at nextFundingTime
        interval_hours=hours,
        interval_source=source,
        time=when,
        predicted_rate=None,  # Bybit publishes no separate forecast
        next_funding_time=r.time_ms(row, "nextFundingTime"),
        mark_price=mark / inst.multiplier,
        index_price=index / inst.multiplier if index is not None else None,
        open_interest_usd=oi_usd,
        note=note,
    )


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
        out.append((r.time_ms(row, "fundingRateTimestamp"), r.num(row, "fundingRate")))
    return out

