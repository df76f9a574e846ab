"""Deribit JSON -> dtrack records (pure: no I/O, no clock; the receive time is passed in).

What it owns: the instrument list (``public/get_instruments``: perpetuals and dated futures), current
funding, open interest and prices from the per-currency book summary
(``public/get_book_summary_by_currency``) or one ticker (``public/ticker``), the index
(``public/get_index_price``), the hourly funding history (``public/get_funding_rate_history``) and
candle closes (``public/get_tradingview_chart_data``).

Deribit perpetuals have no discrete settlement: funding accrues continuously and the venue quotes it
as ``funding_8h``, an 8 h-equivalent rate. dtrack reports that rate with ``interval_hours = 8`` and no
next funding time. Units differ by margin: inverse perps (``BTC-PERPETUAL``) count contracts and open
interest in USD; linear USDC perps (``BTC_USDC-PERPETUAL``) count them in the base coin. Inverse dated
futures (``BTC-28NOV25``) count USD like the inverse perps. Open interest is one side's.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from dtrack.records import (
    FundingPoint,
    FundingRate,
    Instrument,
    Kind,
    Margin,
    OpenInterest,
    PricePoint,
    PriceQuote,
    Unit,
    oi_base_and_usd,
)
from dtrack.symbols import split_multiplier
from dtrack.venues.deribit import api
from dtrack.venues.fields import Listing, Reader, Row, ms_to_utc

INTERVAL_HOURS = 8.0
INTERVAL_SOURCE = "funding_8h: 8 h-equivalent of continuous funding"
CONTINUOUS_NOTE = "funding accrues continuously (no discrete settlement); rate = funding_8h, its 8 h-equivalent"
HISTORY_NOTE = ("hourly samples of the 8 h-equivalent rate (interest_8h, funding over the trailing 8 h); "
                "consecutive samples overlap, do not sum them")

_INSTRUMENTS = Reader(api.VENUE, "public/get_instruments")
_BOOK_SUMMARY = Reader(api.VENUE, "public/get_book_summary_by_currency")
_TICKER = Reader(api.VENUE, "public/ticker")
_HISTORY = Reader(api.VENUE, "public/get_funding_rate_history")
_INDEX = Reader(api.VENUE, "public/get_index_price")
_CHART = Reader(api.VENUE, "public/get_tradingview_chart_data")


def _result(r: Reader, body: Any) -> Any:
    """The ``result`` member of a JSON-RPC answer."""
    return r.field(r.obj(body), "result")


# --- instruments ----------------------------------------------------------------------------------


def parse_instruments(body: Any) -> Listing:
    """Trading futures and perpetuals of a ``get_instruments`` answer (options and combos are skipped,
    and rows that are not trading: ``is_active`` false or a ``state`` other than ``open``).

    One odd row does not fail the list: a future that does not parse (an ``instrument_type`` dtrack
    does not know, a missing field) is skipped; a perpetual that does not parse is also noted in
    ``broken`` under its asset: a query for BTC funding must not silently lose BTC-PERPETUAL.
    """
    r = _INSTRUMENTS
    rows = [r.obj(raw, "instrument") for raw in r.arr(_result(r, body), "result")]
    # the 2021 capture lists options in the same answer (no kind filter was sent); combos have
    # kind future_combo / option_combo
    # the 2021 capture has no ``state``; the docs rows have "open"
    futures = [row for row in rows if row.get("kind") == "future" and row.get("is_active") is not False
               and row.get("state", api.OPEN_STATE) == api.OPEN_STATE]
    return Listing.read(futures, _instrument, _perpetual_of)


def _perpetual_of(row: Row) -> tuple[str, str]:
    """(asset, instrument name) of a perpetual's row, read leniently (the row may be malformed): the
    asset from ``base_currency``, else from the name (``BTC-PERPETUAL``, ``SOL_USDC-PERPETUAL``).
    The asset is "" for a row that is no perpetual (a dated future nobody asks funding of) or names
    no asset."""
    name = row.get("instrument_name")
    name = name if isinstance(name, str) else ""
    if row.get("settlement_period") != api.PERPETUAL and not name.endswith("-" + api.PERPETUAL.upper()):
        return "", name
    base = row.get("base_currency")
    if not isinstance(base, str) or not base:
        base = name.split("-")[0].split("_")[0]
    return (split_multiplier(base)[0] if base else ""), name


def _margin(row: Mapping[str, Any], quote: str) -> Margin:
    """Inverse ("reversed") or linear, from ``instrument_type``.

    The 2021 capture (deribit__rest_get_instruments__capture.json) has no ``instrument_type``: every
    future then was inverse and quoted in USD, while the linear ones are quoted in USDC. A row without
    the field is therefore read by its quote currency.
    """
    kind = row.get("instrument_type")
    if kind is None:
        return Margin.INVERSE if quote == "USD" else Margin.LINEAR
    if kind == api.INVERSE_TYPE:
        return Margin.INVERSE
    if kind == api.LINEAR_TYPE:
        return Margin.LINEAR
    raise _INSTRUMENTS.fail(f"instrument_type is {kind!r}, expected 'reversed' or 'linear'")


def _instrument(row: Mapping[str, Any]) -> Instrument:
    r = _INSTRUMENTS
    base = r.text(row, "base_currency")
    quote = r.text(row, "quote_currency")
    asset, multiplier = split_multiplier(base)
    margin = _margin(row, quote)
    # settlement_currency is missing from the 2021 capture too: inverse futures settle in the coin
    settle = r.text(row, "settlement_currency") if "settlement_currency" in row else (
        base if margin is Margin.INVERSE else quote)
    perpetual = row.get("settlement_period") == api.PERPETUAL
    return Instrument(
        venue=api.VENUE,
        symbol=r.text(row, "instrument_name"),
        asset=asset,
        quote=quote,
        settle=settle,
        kind=Kind.PERP if perpetual else Kind.FUTURE,
        margin=margin,
        multiplier=multiplier,
        # inverse contracts are worth a fixed USD amount (BTC-PERPETUAL: 10 USD); linear ones a coin amount
        contract_size=r.num(row, "contract_size"),
        contract_unit=Unit.USD if margin is Margin.INVERSE else Unit.BASE,
        expiry=None if perpetual else r.time_ms(row, "expiration_timestamp"),
        # the currency Deribit groups the book summaries by (``currency=`` of get_book_summary_by_currency)
        market=settle,
    )


# --- current funding ------------------------------------------------------------------------------


def oi_unit(inst: Instrument) -> Unit:
    """The unit of a future's or perpetual's ``open_interest``: USD when inverse, the venue's base coin
    when linear."""
    return Unit.USD if inst.margin is Margin.INVERSE else Unit.BASE


def _unit_name(inst: Instrument) -> str:
    return inst.asset if inst.multiplier == 1.0 else f"units of {inst.multiplier:g} {inst.asset}"


def _open_interest_usd(inst: Instrument, amount: float | None, mark: float) -> tuple[float | None, str]:
    """One-sided OI in USD and how it was converted: inverse perps count USD, linear ones the coin."""
    if amount is None:
        return None, "OI not reported"
    usd = oi_base_and_usd(inst, amount, oi_unit(inst), mark / inst.multiplier)[1]
    if inst.margin is Margin.INVERSE:
        return usd, "OI = open_interest (USD, inverse perp)"
    return usd, f"OI = open_interest ({_unit_name(inst)}) x mark"


def _funding_rate(r: Reader, row: Mapping[str, Any], inst: Instrument, *, index_key: str, time_key: str,
                  received: datetime) -> FundingRate:
    """One perpetual's FundingRate from a book-summary row or a ticker (same field names but the index)."""
    mark = r.num(row, "mark_price")
    index = r.opt_num(row, index_key)
    oi_usd, oi_note = _open_interest_usd(inst, r.opt_num(row, "open_interest"), mark)
    return FundingRate(
        instrument=inst,
        rate=r.num(row, "funding_8h"),
        interval_hours=INTERVAL_HOURS,
        interval_source=INTERVAL_SOURCE,
        time=r.opt_time_ms(row, time_key) or received,
        predicted_rate=None,
        next_funding_time=None,
        mark_price=mark / inst.multiplier,
        index_price=None if index is None else index / inst.multiplier,
        open_interest_usd=oi_usd,
        note=f"{CONTINUOUS_NOTE}; index = {index_key}; {oi_note}",
    )


def parse_book_summary(body: Any, perps: Mapping[str, Instrument], received: datetime) -> dict[str, FundingRate]:
    """Funding of the wanted perpetuals (by symbol) found in one currency's book summary.

    Book-summary rows carry no ``index_price``: for futures and perpetuals the index is
    ``estimated_delivery_price`` (``underlying_price`` is for options only); the BTC-PERPETUAL ticker
    example shows both fields equal (36297.02). A wanted perpetual whose
    row is absent, or lacks ``funding_8h``, is left out: the caller asks its ticker instead. Rows of
    other instruments are not read, so an odd one does not fail the answer.
    """
    r = _BOOK_SUMMARY
    out: dict[str, FundingRate] = {}
    for raw in r.arr(_result(r, body), "result"):
        row = r.obj(raw, "book summary")
        name = row.get("instrument_name")
        inst = perps.get(name) if isinstance(name, str) else None  # other rows are not read at all
        if inst is None or r.opt_num(row, "funding_8h") is None:
            continue
        out[inst.symbol] = _funding_rate(r, row, inst, index_key="estimated_delivery_price",
                                         time_key="creation_timestamp", received=received)
    return out


def parse_ticker(body: Any, inst: Instrument, received: datetime) -> FundingRate:
    """Funding of one perpetual from its ``public/ticker`` answer (``funding_8h`` required)."""
    r = _TICKER
    row = r.obj(_result(r, body), "result")
    name = r.text(row, "instrument_name")
    if name != inst.symbol:
        raise r.fail(f"ticker is for {name!r}, asked {inst.symbol!r}")
    return _funding_rate(r, row, inst, index_key="index_price", time_key="timestamp", received=received)


# --- open interest and prices (book summary, index) ------------------------------------------------


def book_rows(body: Any, wanted: Collection[str]) -> dict[str, Row]:
    """The rows of the ``wanted`` instruments in a book summary, by name. Rows of other instruments are
    not read (an odd option or combo row does not fail the answer)."""
    r = _BOOK_SUMMARY
    out: dict[str, Row] = {}
    for raw in r.arr(_result(r, body), "result"):
        row = r.obj(raw, "book summary")
        name = row.get("instrument_name")
        if isinstance(name, str) and name in wanted:
            out[name] = row
    return out


def open_interest(row: Row, inst: Instrument, received: datetime) -> OpenInterest:
    """One contract's open interest from its book-summary row (``open_interest`` required).

    Deribit counts one side: inverse perps and futures in USD (contracts x ``contract_size`` USD),
    linear USDC ones in the base coin. Converted at the row's ``mark_price`` per one coin.
    """
    r = _BOOK_SUMMARY
    amount = r.num(row, "open_interest")
    unit = oi_unit(inst)
    what = (f"USD (inverse: contracts x {inst.contract_size:g} USD)" if unit is Unit.USD
            else f"{_unit_name(inst)} (linear)")
    return OpenInterest.of(inst, amount, unit, r.num(row, "mark_price") / inst.multiplier, "mark",
                           r.opt_time_ms(row, "creation_timestamp") or received,
                           f"open_interest in {what}, one side; USD at the mark price")


def parse_open_interest(body: Any, wanted: Mapping[str, Instrument], received: datetime) -> dict[str, OpenInterest]:
    """Open interest of the ``wanted`` instruments (by symbol) a book summary lists with ``open_interest``."""
    rows = book_rows(body, wanted)
    return {name: open_interest(row, wanted[name], received) for name, row in rows.items()
            if _BOOK_SUMMARY.opt_num(row, "open_interest") is not None}


def index_name(inst: Instrument) -> str:
    """Deribit's index of a perpetual or future: ``btc_usd`` for the inverse ones, ``btc_usdc`` for
    the USDC-margined linear ones (the instrument list's ``price_index``)."""
    quote = "usd" if inst.margin is Margin.INVERSE else inst.quote.lower()
    return f"{inst.asset.lower()}_{quote}"


def parse_index_price(body: Any) -> float:
    """The ``index_price`` of a ``get_index_price`` answer."""
    r = _INDEX
    return r.num(r.obj(_result(r, body), "result"), "index_price")


def price_quote(row: Row, inst: Instrument, index: float | None, received: datetime) -> PriceQuote:
    """Mark, index and last price of one contract from its book-summary row, per one coin.

    ``index`` is the venue index (``get_index_price``); without it the row's
    ``estimated_delivery_price`` stands in (the index itself, but for a future's last 30 minutes,
    when it is the running average the future settles at).
    """
    r = _BOOK_SUMMARY
    last = r.opt_num(row, "last")
    if index is None:
        index = r.opt_num(row, "estimated_delivery_price")
    return PriceQuote(
        instrument=inst,
        time=r.opt_time_ms(row, "creation_timestamp") or received,
        mark_price=r.num(row, "mark_price") / inst.multiplier,
        index_price=index,
        last_price=None if last is None else last / inst.multiplier,
    )


def parse_quotes(body: Any, wanted: Mapping[str, Instrument], indexes: Mapping[str, float],
                 received: datetime) -> dict[str, PriceQuote]:
    """Quotes of the ``wanted`` instruments a book summary lists, with their index from ``indexes``
    (by index name)."""
    return {name: price_quote(row, wanted[name], indexes.get(index_name(wanted[name])), received)
            for name, row in book_rows(body, wanted).items()}


# --- candles --------------------------------------------------------------------------------------


def parse_chart(body: Any) -> list[tuple[int, float]]:
    """(candle open time in epoch ms, close) pairs of a ``get_tradingview_chart_data`` answer, as sent.

    The answer holds columns (``ticks`` = the candles' OPEN times, ``open``, ``high``, ``low``,
    ``close``, ``volume``, ``cost``) and a ``status``: ``ok``, or ``no_data`` with empty columns.
    """
    r = _CHART
    result = r.obj(_result(r, body), "result")
    status = r.text(result, "status")
    if status not in (api.CHART_OK, api.CHART_NO_DATA):
        raise r.fail(f"status is {status!r}, expected 'ok' or 'no_data'")
    ticks, closes = r.arr(r.field(result, "ticks"), "ticks"), r.arr(r.field(result, "close"), "close")
    if len(ticks) != len(closes):
        raise r.fail(f"{len(ticks)} ticks but {len(closes)} closes")
    rows = ({"tick": t, "close": c} for t, c in zip(ticks, closes, strict=True))
    return [(r.ms(row, "tick"), r.num(row, "close")) for row in rows]


def price_points(candles: Iterable[tuple[int, float]], candle_ms: int, period_ms: int, now_ms: int,
                 multiplier: float = 1.0) -> tuple[PricePoint, ...]:
    """Closes per ``period_ms`` from candles of ``candle_ms`` (a divisor of it; both aligned on the epoch).

    A period's close is the close of its last candle, at the period's end; the period still open at
    ``now_ms`` closes at its latest candle, at ``now_ms``. A finished period whose last candle is
    missing is left out (its close is unknown). Prices are divided by ``multiplier``; ascending.
    """
    last: dict[int, tuple[int, float]] = {}  # period end -> (open of its latest candle, close)
    for open_ms, close in candles:
        end = (open_ms // period_ms + 1) * period_ms
        if end not in last or open_ms > last[end][0]:
            last[end] = (open_ms, close)
    points = []
    for end, (open_ms, close) in sorted(last.items()):
        if end > now_ms:
            points.append(PricePoint(ms_to_utc(now_ms), close / multiplier))
        elif open_ms + candle_ms == end:
            points.append(PricePoint(ms_to_utc(end), close / multiplier))
    return tuple(points)


# --- history --------------------------------------------------------------------------------------


def parse_funding_history(body: Any) -> list[tuple[datetime, float]]:
    """(hour, interest_8h) samples of a ``get_funding_rate_history`` answer, as sent."""
    r = _HISTORY
    rows = (r.obj(raw, "history row") for raw in r.arr(_result(r, body), "result"))
    return [(r.time_ms(row, "timestamp"), r.num(row, "interest_8h")) for row in rows]


def history_points(samples: Iterable[tuple[datetime, float]]) -> tuple[FundingPoint, ...]:
    """Ascending, de-duplicated points, each an 8 h-equivalent sample (``interval_hours = 8``).

    Not ``points_from_settlements``: its interval is the spacing between points (1 h here), which
    would read each 8 h-equivalent as an hourly rate and inflate it eightfold.
    """
    return tuple(FundingPoint(time=t, rate=rate, interval_hours=INTERVAL_HOURS)
                 for t, rate in sorted(dict(samples).items()))
