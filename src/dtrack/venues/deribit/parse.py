"""Deribit JSON -> dtrack records (pure: no I/O, no clock; the receive time is passed in).

What it owns: the instrument list (``public/get_instruments``: perpetuals and dated futures), current
funding, open interest and prices from the per-currency book summary
(``public/get_book_summary_by_currency``) or one ticker (``public/ticker``), the index
(``public/get_index_price``), the hourly funding history (``public/get_funding_rate_history``), candles
(``public/get_tradingview_chart_data``: closes and OHLCV bars, ``volume`` in the base coin, ``cost`` in the quote
currency) and order books (``public/get_order_book``: amounts in USD for inverse contracts, in the base coin for
linear ones); and the options: their terms
(``public/get_instruments?kind=option``), the chain (``public/get_book_summary_by_currency?kind=option``, or one
``public/ticker``), option trades (``public/get_last_trades_by_currency``), DVOL
(``public/get_volatility_index_data``) and realized volatility (``public/get_historical_volatility``).

Deribit perpetuals have no discrete settlement: funding accrues continuously and the venue quotes it
as ``funding_8h``, an 8 h-equivalent rate. dtrack reports that rate with ``interval_hours = 8`` and no
next funding time. Units differ by margin: inverse perps (``BTC-PERPETUAL``) count contracts and open
interest in USD; linear USDC perps (``BTC_USDC-PERPETUAL``) count them in the base coin. Inverse dated
futures (``BTC-28NOV25``) count USD like the inverse perps. Open interest is one side's.

Options: BTC and ETH options are inverse, priced in the coin per one coin of underlying; Deribit's USD price is
the coin price times the row's ``underlying_price`` (the forward of the option's expiry, the price its Black-76
marks run on). Linear USDC options (``SOL_USDC-...``) are priced in USDC, read as USD. IVs (``mark_iv``,
``bid_iv``, ``ask_iv``, a trade's ``iv``), DVOL and realized volatility come in percent points: dtrack divides
them by 100. Option open interest, volume and trade ``amount`` are in coins; dtrack counts contracts of
``contract_size`` coins.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import (
    Candle,
    FundingPoint,
    FundingRate,
    Instrument,
    Kind,
    Margin,
    OpenInterest,
    OptionQuote,
    OptionTrade,
    OrderBook,
    PricePoint,
    PriceQuote,
    Unit,
    VolPoint,
    oi_base_and_usd,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.books import array_side, check_book
from dtrack.venues.deribit import api
from dtrack.venues.fields import (
    DAY_MS,
    Kline,
    Listing,
    OptionSpec,
    Reader,
    Row,
    kline,
    ms_to_utc,
    ohlcv_candles,
    parse_each,
    price_point,
)

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
_OPTION_INSTRUMENTS = Reader(api.VENUE, "public/get_instruments?kind=option")
_OPTION_SUMMARY = Reader(api.VENUE, "public/get_book_summary_by_currency?kind=option")
_TRADES = Reader(api.VENUE, "public/get_last_trades_by_currency")
_VOL_INDEX = Reader(api.VENUE, "public/get_volatility_index_data")
_HISTORICAL_VOL = Reader(api.VENUE, "public/get_historical_volatility")
_ORDER_BOOK = Reader(api.VENUE, "public/get_order_book")

#: Deribit sends IVs, DVOL and realized volatility in percent points (52.3 = 52.3 %)
PERCENT = 100.0
#: quote currencies of linear options (priced in them, read as USD)
USD_QUOTES = ("USD", "USDC", "USDT")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: ``BTC-24APR26-72000-C``, ``SOL_USDC-28MAR25-200-C``, ``XRP_USDC-30AUG24-0d625-P`` (``d``: the decimal point)
_OPTION_NAME = re.compile(r"^(?P<asset>[A-Z0-9]+)(?:_(?P<quote>[A-Z]+))?-(?P<day>\d{1,2})(?P<month>[A-Z]{3})"
                          r"(?P<year>\d{2})-(?P<strike>\d+(?:d\d+)?)-(?P<cp>[CP])$")


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
    rules = plausible.Rules(api.VENUE, r.endpoint, inst.symbol)
    rules.price("mark_price", mark)  # before it converts the open interest
    rules.amount("open_interest", r.opt_num(row, "open_interest"))
    oi_usd, oi_note = _open_interest_usd(inst, r.opt_num(row, "open_interest"), mark)
    return plausible.funding_rate(r.endpoint, FundingRate(
        instrument=inst,
        rate=r.num(row, "funding_8h"),
        interval_hours=INTERVAL_HOURS,
        interval_source=INTERVAL_SOURCE,
        time=r.opt_time_ms(row, time_key),
        received_at=received,
        predicted_rate=None,
        next_funding_time=None,
        mark_price=mark / inst.multiplier,
        index_price=None if index is None else index / inst.multiplier,
        open_interest_usd=oi_usd,
        note=f"{CONTINUOUS_NOTE}; index = {index_key}; {oi_note}",
    ))


def _kept(errors: list[DtrackError] | None, exc: Implausible) -> None:
    """An implausible row: appended to ``errors`` (the row is dropped, the others serve), or raised without."""
    if errors is None:
        raise exc
    errors.append(exc)


def parse_book_summary(body: Any, perps: Mapping[str, Instrument], received: datetime,
                       errors: list[DtrackError] | None = None) -> dict[str, FundingRate]:
    """Funding of the wanted perpetuals (by symbol) found in one currency's book summary.

    Book-summary rows carry no ``index_price``: for futures and perpetuals the index is
    ``estimated_delivery_price`` (``underlying_price`` is for options only); the BTC-PERPETUAL ticker
    example shows both fields equal (36297.02). A wanted perpetual whose
    row is absent, or lacks ``funding_8h``, is left out: the caller asks its ticker instead. Rows of
    other instruments are not read, so an odd one does not fail the answer. An implausible row of a wanted
    perpetual is dropped too, its ``Implausible`` appended to ``errors`` (raised without).
    """
    r = _BOOK_SUMMARY
    out: dict[str, FundingRate] = {}
    for raw in r.arr(_result(r, body), "result"):
        row = r.obj(raw, "book summary")
        name = row.get("instrument_name")
        inst = perps.get(name) if isinstance(name, str) else None  # other rows are not read at all
        if inst is None or r.opt_num(row, "funding_8h") is None:
            continue
        try:
            out[inst.symbol] = _funding_rate(r, row, inst, index_key="estimated_delivery_price",
                                             time_key="creation_timestamp", received=received)
        except Implausible as exc:
            _kept(errors, exc)
    return out


def ticker_funding(r: Reader, row: Mapping[str, Any], inst: Instrument, received: datetime) -> FundingRate:
    """Funding of one perpetual from a ticker row (``funding_8h`` required): the ``public/ticker`` result, or the
    data of a ``ticker.{instrument}.{interval}`` notification (the same fields), read by ``r``."""
    return _funding_rate(r, row, inst, index_key="index_price", time_key="timestamp", received=received)


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
    # the adapter asks only the currencies of wanted contracts: an empty summary is broken, not "no contract"
    for raw in r.answered(r.arr(_result(r, body), "result"), wanted):
        row = r.obj(raw, "book summary")
        name = row.get("instrument_name")
        if isinstance(name, str) and name in wanted:
            out[name] = row
    return out


def open_interest(row: Row, inst: Instrument, received: datetime, *, reader: Reader = _BOOK_SUMMARY,
                  time_key: str = "creation_timestamp") -> OpenInterest:
    """One contract's open interest from its book-summary row (``open_interest`` required); a ticker (REST, or a
    ``ticker.{instrument}`` notification) with its ``reader`` and ``time_key="timestamp"``.

    Deribit counts one side: inverse perps and futures in USD (contracts x ``contract_size`` USD),
    linear USDC ones in the base coin. Converted at the row's ``mark_price`` per one coin.
    """
    r = reader
    amount = r.num(row, "open_interest")
    unit = oi_unit(inst)
    what = (f"USD (inverse: contracts x {inst.contract_size:g} USD)" if unit is Unit.USD
            else f"{_unit_name(inst)} (linear)")
    return plausible.open_interest(r.endpoint, instrument=inst, amount=amount, unit=unit,
                                   price=r.num(row, "mark_price") / inst.multiplier, price_source="mark",
                                   time=r.opt_time_ms(row, time_key), received_at=received,
                                   note=f"open_interest in {what}, one side; USD at the mark price")


def parse_open_interest(body: Any, wanted: Mapping[str, Instrument], received: datetime,
                        errors: list[DtrackError] | None = None) -> dict[str, OpenInterest]:
    """Open interest of the ``wanted`` instruments (by symbol) a book summary lists with ``open_interest``;
    an implausible row is dropped, its ``Implausible`` appended to ``errors`` (raised without)."""
    out: dict[str, OpenInterest] = {}
    for name, row in book_rows(body, wanted).items():
        if _BOOK_SUMMARY.opt_num(row, "open_interest") is None:
            continue
        try:
            out[name] = open_interest(row, wanted[name], received)
        except Implausible as exc:
            _kept(errors, exc)
    return out


def index_name(inst: Instrument) -> str:
    """Deribit's index of a perpetual or future: ``btc_usd`` for the inverse ones, ``btc_usdc`` for
    the USDC-margined linear ones (the instrument list's ``price_index``)."""
    quote = "usd" if inst.margin is Margin.INVERSE else inst.quote.lower()
    return f"{inst.asset.lower()}_{quote}"


def parse_index_price(body: Any) -> float:
    """The ``index_price`` of a ``get_index_price`` answer."""
    r = _INDEX
    price = r.num(r.obj(_result(r, body), "result"), "index_price")
    plausible.Rules(api.VENUE, r.endpoint, "").price("index_price", price)
    return price


def price_quote(row: Row, inst: Instrument, index: float | None, received: datetime) -> PriceQuote:
    """Mark, index and last price of one contract from its book-summary row, per one coin, and its 24 h volume.

    ``index`` is the venue index (``get_index_price``); without it the row's
    ``estimated_delivery_price`` stands in (the index itself, but for a future's last 30 minutes,
    when it is the running average the future settles at).
    """
    r = _BOOK_SUMMARY
    last = r.opt_num(row, "last")
    if index is None:
        index = r.opt_num(row, "estimated_delivery_price")
    # 24 h volume: ``volume_usd`` (USD) and ``volume`` (base currency, per Deribit's docs; the docs' ticker example
    # of BTC-PERPETUAL: 282615600 USD / 7831.27 BTC = 36088, beside its 36288 mark)
    coins = r.opt_num(row, "volume")
    return plausible.price_quote(r.endpoint, PriceQuote(
        instrument=inst,
        time=r.opt_time_ms(row, "creation_timestamp"),
        received_at=received,
        mark_price=r.num(row, "mark_price") / inst.multiplier,
        index_price=index,
        last_price=None if last is None else last / inst.multiplier,
        volume_24h_usd=r.opt_num(row, "volume_usd"),
        volume_24h_base=None if coins is None else coins * inst.multiplier,
    ))


def parse_quotes(body: Any, wanted: Mapping[str, Instrument], indexes: Mapping[str, float],
                 received: datetime, errors: list[DtrackError] | None = None) -> dict[str, PriceQuote]:
    """Quotes of the ``wanted`` instruments a book summary lists, with their index from ``indexes``
    (by index name); an implausible row is dropped, its ``Implausible`` appended to ``errors`` (raised
    without)."""
    out: dict[str, PriceQuote] = {}
    for name, row in book_rows(body, wanted).items():
        try:
            out[name] = price_quote(row, wanted[name], indexes.get(index_name(wanted[name])), received)
        except Implausible as exc:
            _kept(errors, exc)
    return out


# --- candles --------------------------------------------------------------------------------------


class ChartBar(NamedTuple):
    """One candle of ``get_tradingview_chart_data`` as sent: open time (epoch ms), prices in the quote currency per
    unit of the venue's base, ``volume`` in the base currency and ``cost`` in the quote currency (Deribit's
    OpenAPI: "List of volume bars (in base currency, one per candle)", "List of cost bars (volume in quote
    currency, one per candle)"; the real BTC_USDT capture: volume 0.008, cost 587.580928 = 0.008 x ~73,447)."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    cost: float


_CHART_COLUMNS = ("open", "high", "low", "close", "volume", "cost")


def parse_chart_bars(body: Any) -> list[ChartBar]:
    """The candles of a ``get_tradingview_chart_data`` answer, as sent.

    The answer holds columns (``ticks`` = the candles' OPEN times, ``open``, ``high``, ``low``, ``close``,
    ``volume``, ``cost``) and a ``status``: ``ok``, or ``no_data`` with empty columns. A price <= 0, a negative
    volume or cost, or a high below the open, close or low (a low above them) is implausible.
    """
    r = _CHART
    result = r.obj(_result(r, body), "result")
    status = r.text(result, "status")
    if status not in (api.CHART_OK, api.CHART_NO_DATA):
        raise r.fail(f"status is {status!r}, expected 'ok' or 'no_data'")
    ticks = r.arr(r.field(result, "ticks"), "ticks")
    columns = {key: r.arr(r.field(result, key), key) for key in _CHART_COLUMNS}
    for key, column in columns.items():
        if len(column) != len(ticks):
            raise r.fail(f"{len(ticks)} ticks but {len(column)} {key}s")
    rules = plausible.Rules(api.VENUE, r.endpoint, "")
    bars = []
    for i, tick in enumerate(ticks):
        row = {"tick": tick, **{key: column[i] for key, column in columns.items()}}
        bar = ChartBar(r.ms(row, "tick"), *(r.num(row, key) for key in _CHART_COLUMNS))
        rules.bar(bar.open, bar.high, bar.low, bar.close)
        rules.amount("volume", bar.volume)
        rules.amount("cost", bar.cost)
        bars.append(bar)
    return bars


def parse_chart(body: Any) -> list[Kline]:
    """The klines (candle open time in epoch ms, close, high, low) of a ``get_tradingview_chart_data`` answer, as
    sent (those of ``parse_chart_bars``)."""
    return [Kline(bar.open_ms, bar.close, bar.high, bar.low) for bar in parse_chart_bars(body)]


def chart_candles(bars: Iterable[ChartBar], inst: Instrument, period_ms: int, received: datetime
                  ) -> tuple[Candle, ...]:
    """OHLCV ``Candle`` records of ``inst`` from chart bars of ``period_ms``, ascending and de-duplicated by open
    time (``fields.ohlcv_candles``). Prices per one unit of the asset (÷ multiplier); ``volume_base`` = ``volume``
    (the base currency: coins, x the multiplier), ``volume_usd`` = ``cost`` (the quote currency: USD for the inverse
    contracts, USDC read as USD for the linear ones; None for another quote). The bar still open at ``received`` has
    ``closed`` False."""
    usd = inst.quote in USD_QUOTES
    return ohlcv_candles(bars, inst, period_ms, received,
                         lambda b: (b.volume * inst.multiplier, b.cost if usd else None))


def price_points(candles: Iterable[Kline | tuple[int, float]], candle_ms: int, period_ms: int, now_ms: int,
                 multiplier: float = 1.0, *, symbol: str, received: datetime) -> tuple[PricePoint, ...]:
    """Closes, highs and lows of ``symbol`` per ``period_ms`` from candles of ``candle_ms`` (a divisor of it; both
    aligned on the epoch; ``Kline``, or ``(open time ms, close)`` pairs without high and low), received at
    ``received``.

    A period's close is the close of its last candle, at the period's end; the period still open at
    ``now_ms`` closes at its latest candle, at ``now_ms``. A finished period whose last candle is
    missing is left out (its close is unknown). A period's high and low are the highest high and lowest low of
    its candles when every candle from the period's start to its last one is there with its high and low, else
    None (a missing candle may hold the extreme). Prices are divided by ``multiplier``; ascending.
    """
    periods: dict[int, dict[int, Kline]] = {}  # period end -> its candles by open time (the first of a time kept)
    for candle in map(kline, candles):
        periods.setdefault((candle.open_ms // period_ms + 1) * period_ms, {}).setdefault(candle.open_ms, candle)
    points = []
    for end, got in sorted(periods.items()):
        last = got[max(got)]
        if end <= now_ms and last.open_ms + candle_ms != end:
            continue
        highs = [k.high for k in got.values() if k.high is not None]
        lows = [k.low for k in got.values() if k.low is not None]
        whole = len(highs) == len(lows) == len(got) == (last.open_ms - (end - period_ms)) // candle_ms + 1
        bar = Kline(last.open_ms, last.close, max(highs) if whole else None, min(lows) if whole else None)
        points.append(price_point(bar, venue=api.VENUE, symbol=symbol, time=ms_to_utc(min(end, now_ms)),
                                  multiplier=multiplier, received_at=received))
    return tuple(points)


# --- order book -----------------------------------------------------------------------------------


def book_depth(depth: int) -> int:
    """The ``depth`` dtrack asks ``get_order_book`` for: Deribit's smallest allowed value (``api.BOOK_DEPTHS``)
    that holds ``depth`` levels a side, at most its maximum (10,000)."""
    return next((d for d in api.BOOK_DEPTHS if d >= depth), api.BOOK_DEPTHS[-1])


def parse_order_book(body: Any, inst: Instrument, limit: int, received: datetime) -> OrderBook:
    """A ``get_order_book`` answer -> the ``OrderBook`` of one perpetual or dated future, asked with ``depth`` =
    ``limit``.

    Levels are ``[price, amount]``, best first as sent (``bids`` descending, ``asks`` ascending), read by the shared
    array reader (``books.array_side``): an answer out of that order, or crossed, is refused, and so is a level of
    nothing. The amount is in USD for the inverse contracts (Deribit sizes them in USD: BTC-PERPETUAL in multiples
    of its 10 USD contract) and is converted to coins at that level's own price (coins = amount / price); for the
    linear ones (USDC-settled) it is already in the base coin. Prices per one unit of the asset (÷ multiplier), sizes
    in coins (x the multiplier). ``time`` is the answer's ``timestamp``, ``sequence`` its ``change_id``. A price
    <= 0 or an amount <= 0 is implausible; an answer about another instrument is a ParseError.
    """
    r = _ORDER_BOOK
    result = r.obj(_result(r, body), "result")
    name = r.text(result, "instrument_name")
    if name != inst.symbol:
        raise r.fail(f"the book of {name!r} in an answer about {inst.symbol!r}")
    rules = plausible.Rules(api.VENUE, r.endpoint, inst.symbol)
    unit = oi_unit(inst)
    time = r.time_ms(result, "timestamp")
    rules.time("timestamp", time, received)
    change = r.opt_num(result, "change_id")
    bids = array_side(r, r.field(result, "bids"), "bids", inst, unit, rules, ("price", "amount"))
    asks = array_side(r, r.field(result, "asks"), "asks", inst, unit, rules, ("price", "amount"))
    check_book(r, rules, inst, bids, asks, "bids/asks")
    return OrderBook(instrument=inst, bids=bids, asks=asks, unit=unit, limit=limit, time=time, received_at=received,
                     sequence=None if change is None else int(change), note=_book_note(inst))


def _book_note(inst: Instrument) -> str:
    if inst.margin is Margin.INVERSE:
        return "amounts in USD (inverse contracts), converted to coins at each level's price"
    note = f"amounts in the base coin ({_unit_name(inst)})"
    return note + (f"; prices per {inst.asset} = price / {inst.multiplier:g}" if inst.multiplier != 1 else "")


# --- history --------------------------------------------------------------------------------------


def parse_funding_history(body: Any) -> list[tuple[datetime, float]]:
    """(hour, interest_8h) samples of a ``get_funding_rate_history`` answer, as sent."""
    r = _HISTORY
    rows = (r.obj(raw, "history row") for raw in r.arr(_result(r, body), "result"))
    samples = [(r.time_ms(row, "timestamp"), r.num(row, "interest_8h")) for row in rows]
    for _, rate in samples:
        plausible.settlement(plausible.Rules(api.VENUE, r.endpoint, ""), rate, "interest_8h")
    return samples


def history_points(samples: Iterable[tuple[datetime, float]], *, symbol: str,
                   received: datetime) -> tuple[FundingPoint, ...]:
    """Ascending, de-duplicated points of ``symbol``, each an 8 h-equivalent sample (``interval_hours = 8``).

    Not ``points_from_settlements``: its interval is the spacing between points (1 h here), which
    would read each 8 h-equivalent as an hourly rate and inflate it eightfold.
    """
    return tuple(FundingPoint(venue=api.VENUE, symbol=symbol, time=t, rate=rate, interval_hours=INTERVAL_HOURS,
                              received_at=received)
                 for t, rate in sorted(dict(samples).items()))


# --- options: terms -------------------------------------------------------------------------------


def option_currency(asset: str) -> str:
    """The ``currency=`` Deribit groups ``asset``'s options under: the coin for BTC and ETH (inverse options),
    USDC for the others (linear ones)."""
    return asset if asset in api.COIN_OPTION_CURRENCIES else api.LINEAR_OPTION_CURRENCY


def option_index(asset: str) -> str:
    """The index ``asset``'s options settle against: ``btc_usd`` (inverse), ``sol_usdc`` (linear)."""
    return f"{asset.lower()}_{'usd' if asset in api.COIN_OPTION_CURRENCIES else 'usdc'}"


@dataclass(frozen=True, slots=True)
class DeribitOptionSpec(OptionSpec):
    """One listed option's terms (a ``get_instruments?kind=option`` row; expiry at 08:00 UTC) and ``quote``, the
    currency its prices are in: the coin itself (inverse BTC/ETH options) or USDC (linear ones)."""

    quote: str

    @property
    def coin_quoted(self) -> bool:
        """Prices in the coin (inverse options) rather than in USD(C)."""
        return self.quote == self.asset


@dataclass(frozen=True, slots=True)
class OptionListing:
    """The options of one ``get_instruments?kind=option`` answer by name, and the rows that did not parse
    (``"<name>: <detail>"``)."""

    specs: Mapping[str, DeribitOptionSpec]
    broken: tuple[str, ...] = ()


def option_spec(row: Row) -> DeribitOptionSpec:
    """One option's terms from its instrument row (a ParseError when a field is missing or odd)."""
    r = _OPTION_INSTRUMENTS
    base, quote = r.text(row, "base_currency"), r.text(row, "quote_currency")
    if quote != base and quote not in USD_QUOTES:
        raise r.fail(f"quote_currency is {quote!r}, expected {base!r} or one of {', '.join(USD_QUOTES)}")
    option_type = r.text(row, "option_type")
    if option_type not in ("call", "put"):
        raise r.fail(f"option_type is {option_type!r}, expected 'call' or 'put'")
    strike, size = r.num(row, "strike"), r.num(row, "contract_size")
    if strike <= 0 or size <= 0:
        raise r.fail(f"strike {strike:g} and contract_size {size:g} must be positive")
    # the 2021 capture has no settlement_currency: inverse options settle in the coin, linear ones in the quote
    settle = r.text(row, "settlement_currency") if "settlement_currency" in row else quote
    return DeribitOptionSpec(r.text(row, "instrument_name"), base, r.time_ms(row, "expiration_timestamp"), strike,
                             option_type == "call", size, settle=settle, quote=quote)


def parse_option_instruments(body: Any) -> OptionListing:
    """The trading options of a ``get_instruments`` answer (other kinds, inactive rows and states other than
    ``open`` are skipped). A row that does not parse is noted in ``broken`` and the others serve; rows that all
    fail mean the format changed: a ParseError (so the answer is not cached)."""
    r = _OPTION_INSTRUMENTS
    rows = [r.obj(raw, "instrument") for raw in r.arr(_result(r, body), "result")]
    trading = [row for row in rows if row.get("kind") == api.OPTION_KIND and row.get("is_active") is not False
               and row.get("state", api.OPEN_STATE) == api.OPEN_STATE]
    specs, broken = parse_each(r, trading, option_spec, _option_row_name, "option")
    return OptionListing(specs, tuple(broken))


def _option_row_name(row: Row) -> str:
    """An option row's ``instrument_name``, read leniently (for the note of a row that did not parse)."""
    name = row.get("instrument_name")
    return name if isinstance(name, str) and name else "an option row"


@dataclass(frozen=True, slots=True)
class OptionName:
    """What an option's name says: ``BTC-24APR26-72000-C`` -> BTC, quoted in BTC, 2026-04-24 08:00 UTC,
    72000, call."""

    asset: str
    quote: str
    expiry: datetime
    strike: float
    is_call: bool


def option_name(name: str) -> OptionName | None:
    """The terms an option name spells out, None when ``name`` is no Deribit option name."""
    m = _OPTION_NAME.match(name)
    if m is None or m["month"] not in _MONTHS:
        return None
    try:
        expiry = datetime(2000 + int(m["year"]), _MONTHS.index(m["month"]) + 1, int(m["day"]), api.EXPIRY_HOUR,
                          tzinfo=UTC)
    except ValueError:  # 31FEB25
        return None
    return OptionName(m["asset"], m["quote"] or m["asset"], expiry, float(m["strike"].replace("d", ".")),
                      m["cp"] == "C")


def name_asset(name: str) -> str:
    """The asset an instrument name starts with: ``BTC`` of ``BTC-28MAR25-90000-C``, ``SOL`` of ``SOL_USDC-...``."""
    return name.split("-", 1)[0].split("_", 1)[0]


# --- options: the chain ---------------------------------------------------------------------------


def _positive(r: Reader, row: Mapping[str, Any], key: str) -> float | None:
    """A price that is None when absent, null or 0 (Deribit's empty book side: null in book summaries,
    0 in tickers). A negative one is not "none": it is kept, for the plausibility rules to refuse."""
    value = r.opt_num(row, key)
    return value if value else None


def _iv(r: Reader, row: Mapping[str, Any], key: str) -> float | None:
    """An IV sent in percent points as a fraction; None when absent or 0 (a ticker's ``bid_iv`` is 0
    without a bid); a negative one is kept, for the plausibility rules to refuse."""
    value = r.opt_num(row, key)
    return value / PERCENT if value else None


def _usd_and_coin(spec: DeribitOptionSpec, price: float | None, underlying: float) -> tuple[float | None, float | None]:
    """(USD, coin) of a price sent in the option's quote currency, per one coin of underlying."""
    if price is None:
        return None, None
    return (price * underlying, price) if spec.coin_quoted else (price, price / underlying)


def option_quote(r: Reader, row: Mapping[str, Any], spec: DeribitOptionSpec, index: float | None,
                 received: datetime) -> OptionQuote:
    """One option from its book-summary row or its ticker (same field names, but the book sides: ``bid_price``
    / ``ask_price`` in the book summary, ``best_bid_price`` / ``best_ask_price`` in the ticker; greeks,
    ``bid_iv`` and ``ask_iv`` only in the ticker; 24 h volume at the top of a book-summary row, in ``stats``
    of a ticker).

    ``index`` is the venue index (``get_index_price``); without it the row's ``index_price`` (tickers) or
    ``estimated_delivery_price`` stands in. Prices convert with the row's ``underlying_price`` (the expiry's
    forward, as Deribit converts: ``mark_price x underlying_price`` is its USD mark); a row without one is
    converted with the index and ``price_note`` says so. A missing mark leaves the mark fields None.
    """
    row_index = r.opt_num(row, "index_price")
    if row_index is None:
        row_index = r.opt_num(row, "estimated_delivery_price")
    index = row_index if index is None else index
    underlying = _positive(r, row, "underlying_price")
    against = "underlying_price (the expiry's forward)"
    if underlying is None:
        if index is None:
            raise r.fail("neither underlying_price nor an index price to convert with")
        underlying, against = index, "the index (no underlying_price in the row)"
    if spec.coin_quoted:
        note = f"Deribit prices in {spec.quote} per coin (sent); USD = {spec.quote} price x {against}"
    else:
        note = f"Deribit prices in {spec.quote} per coin, read as USD (sent); coin = USD price / {against}"
    ticker = "best_bid_price" in row or "best_ask_price" in row
    plausible.Rules(api.VENUE, r.endpoint, spec.symbol).price("underlying_price", underlying)  # before it converts
    mark_usd, mark_coin = _usd_and_coin(spec, r.opt_num(row, "mark_price"), underlying)
    bid_usd = _usd_and_coin(spec, _positive(r, row, "best_bid_price" if ticker else "bid_price"), underlying)[0]
    ask_usd = _usd_and_coin(spec, _positive(r, row, "best_ask_price" if ticker else "ask_price"), underlying)[0]
    greeks = r.obj(row["greeks"], "greeks") if row.get("greeks") is not None else {}
    stats = r.obj(row["stats"], "stats") if row.get("stats") is not None else {}
    volume = r.opt_num(row, "volume") if "volume" in row else r.opt_num(stats, "volume")
    return plausible.option_quote(r.endpoint, OptionQuote(
        venue=api.VENUE, symbol=spec.symbol, asset=spec.asset, expiry=spec.expiry, strike=spec.strike,
        is_call=spec.is_call,
        time=r.opt_time_ms(row, "timestamp") or r.opt_time_ms(row, "creation_timestamp"), received_at=received,
        underlying_price=underlying, index_price=index,
        mark_price_usd=mark_usd, mark_price_coin=mark_coin, bid_price_usd=bid_usd, ask_price_usd=ask_usd,
        mark_iv=_iv(r, row, "mark_iv"), bid_iv=_iv(r, row, "bid_iv"), ask_iv=_iv(r, row, "ask_iv"),
        delta=r.opt_num(greeks, "delta"), gamma=r.opt_num(greeks, "gamma"), vega=r.opt_num(greeks, "vega"),
        theta=r.opt_num(greeks, "theta"),
        # options count open interest and volume in coins: contracts are coins / contract_size
        open_interest=(r.opt_num(row, "open_interest") or 0.0) / spec.contract_size,
        volume=(volume or 0.0) / spec.contract_size,
        contract_size=spec.contract_size, settle=spec.settle, price_note=note,
    ))


def option_ticker_quote(row: Row, spec: DeribitOptionSpec, received: datetime) -> OptionQuote:
    """One option from its ticker object (the ``result`` of ``public/ticker``, or the ``data`` of a
    ``ticker.<instrument>.<interval>`` notification): with the venue's greeks, bid and ask IVs."""
    r = _TICKER
    name = r.text(row, "instrument_name")
    if name != spec.symbol:
        raise r.fail(f"ticker is for {name!r}, asked {spec.symbol!r}")
    return option_quote(r, row, spec, None, received)


def parse_option_ticker(body: Any, spec: DeribitOptionSpec, received: datetime) -> OptionQuote:
    """One option from a ``public/ticker`` answer."""
    return option_ticker_quote(_TICKER.obj(_result(_TICKER, body), "result"), spec, received)


@dataclass(frozen=True, slots=True)
class OptionRows:
    """An asset's options read from a book summary: the quotes, the names the instrument list does not hold
    (listed since it was cached) and the rows that did not parse."""

    quotes: tuple[OptionQuote, ...]
    unknown: tuple[str, ...]
    errors: tuple[ParseError, ...]


def parse_option_summary(body: Any, asset: str, specs: Mapping[str, DeribitOptionSpec], index: float | None,
                         received: datetime) -> OptionRows:
    """``asset``'s options in a ``get_book_summary_by_currency?kind=option`` answer (rows of other assets,
    under ``currency=USDC``, are not read). A row that does not parse is an error of its own; the others serve."""
    r = _OPTION_SUMMARY
    quotes: list[OptionQuote] = []
    unknown: list[str] = []
    errors: list[ParseError] = []
    for raw in r.arr(_result(r, body), "result"):
        row = r.obj(raw, "book summary")
        name = row.get("instrument_name")
        if not isinstance(name, str) or not name:
            errors.append(r.fail(f"a row without instrument_name: {dict(row)!r:.120}"))
            continue
        if name_asset(name) != asset:
            continue
        spec = specs.get(name)
        if spec is None:
            unknown.append(name)
            continue
        try:
            quotes.append(option_quote(r, row, spec, index, received))
        except ParseError as exc:
            errors.append(r.about(name, exc))
    return OptionRows(tuple(quotes), tuple(unknown), tuple(errors))


# --- options: trades ------------------------------------------------------------------------------


def option_trade(row: Row, received: datetime) -> OptionTrade:
    """One option trade of ``get_last_trades_by_currency``.

    The option's terms come from its name (Deribit expires at 08:00 UTC), so trades of options that expired
    since still read. ``direction`` is the taker's side. ``amount`` is in coins and ``contracts`` in contracts
    (absent from some older rows: then 1-coin contracts, the size of every Deribit coin option); the price is in
    the option's quote currency per coin: an inverse option's USD price is ``price x index_price`` (a trade row
    carries no forward). ``iv`` is in percent points. A ``block_trade_id`` marks a block trade.
    """
    r = _TRADES
    name = r.text(row, "instrument_name")
    terms = option_name(name)
    if terms is None:
        raise r.fail(f"instrument_name {name!r} is not a Deribit option name")
    side = r.text(row, "direction")
    if side not in ("buy", "sell"):
        raise r.fail(f"{name}: direction is {side!r}, expected 'buy' or 'sell'")
    coins, contracts = r.num(row, "amount"), r.opt_num(row, "contracts")
    if contracts is None or contracts <= 0 or coins <= 0:
        contracts, size = coins, 1.0
    else:
        size = coins / contracts
    price, index = r.num(row, "price"), r.num(row, "index_price")
    return plausible.option_trade(r.endpoint, OptionTrade(
        venue=api.VENUE, symbol=name, asset=terms.asset, expiry=terms.expiry, strike=terms.strike,
        is_call=terms.is_call, time=r.time_ms(row, "timestamp"), received_at=received, side=side, amount=contracts,
        contract_size=size,
        price_usd=price * index if terms.quote == terms.asset else price, index_price=index,
        iv=_iv(r, row, "iv"), block=bool(row.get("block_trade_id")), trade_id=r.text(row, "trade_id"),
    ))


@dataclass(frozen=True, slots=True)
class TradePage:
    """One ``get_last_trades_by_currency`` answer: its trades of the asked asset (ascending by time), the rows
    that did not parse, and ``has_more``: the window holds trades beyond the page."""

    trades: tuple[OptionTrade, ...]
    errors: tuple[ParseError, ...]
    has_more: bool


def parse_option_trades(body: Any, asset: str, received: datetime) -> TradePage:
    """``asset``'s option trades in a ``get_last_trades_by_currency`` answer (``{trades, has_more}``)."""
    r = _TRADES
    result = r.obj(_result(r, body), "result")
    trades: list[OptionTrade] = []
    errors: list[ParseError] = []
    for raw in r.arr(r.field(result, "trades"), "trades"):
        row = r.obj(raw, "trade")
        name = row.get("instrument_name")
        if isinstance(name, str) and name_asset(name) != asset:
            continue
        try:
            trades.append(option_trade(row, received))
        except ParseError as exc:
            errors.append(exc)
    has_more = result.get("has_more")
    if not isinstance(has_more, bool):
        raise r.fail(f"has_more is {has_more!r}, expected a boolean")
    return TradePage(tuple(sorted(trades, key=lambda t: (t.time, t.trade_id))), tuple(errors), has_more)


# --- volatility -----------------------------------------------------------------------------------


def parse_vol_index(body: Any) -> tuple[list[tuple[int, float]], int | None]:
    """(candle open time in epoch ms, close in percent points) pairs of a ``get_volatility_index_data``
    answer (``{data: [[ts, open, high, low, close], ...], continuation}``), and its ``continuation``: the
    ``end_timestamp`` of the request for the older rest, None when the answer is whole."""
    r = _VOL_INDEX
    result = r.obj(_result(r, body), "result")
    candles: list[tuple[int, float]] = []
    for raw in r.arr(r.field(result, "data"), "data"):
        candle = r.arr(raw, "candle")
        if len(candle) != 5:
            raise r.fail(f"candle {candle!r:.80} has {len(candle)} values, expected 5 (ts, o, h, l, c)")
        row = {"ts": candle[0], "close": candle[4]}
        candles.append((r.ms(row, "ts"), r.num(row, "close")))
        plausible.Rules(api.VENUE, r.endpoint, "").amount("close", candles[-1][1])
    continuation = r.ms(result, "continuation") if result.get("continuation") else None
    return candles, continuation


def dvol_series(currency: str) -> str:
    """The name of a currency's DVOL series (a ``VolPoint``'s symbol): ``BTC-DVOL``."""
    return f"{currency}-DVOL"


def hv_series(currency: str) -> str:
    """The name of a currency's realized (historical) volatility series (a ``VolPoint``'s symbol): ``BTC-HV``."""
    return f"{currency}-HV"


def vol_points(candles: Iterable[tuple[int, float]], now_ms: int, *, currency: str,
               received: datetime) -> tuple[VolPoint, ...]:
    """Daily DVOL closes of ``currency`` as fractions, each at its candle's close (the day still open: at
    ``now_ms``), ascending."""
    symbol = dvol_series(currency)
    return tuple(VolPoint(venue=api.VENUE, symbol=symbol, time=p.time, value=p.price / PERCENT, received_at=received)
                 for p in price_points(candles, DAY_MS, DAY_MS, now_ms, symbol=symbol, received=received))


def parse_historical_volatility(body: Any, currency: str, received: datetime) -> tuple[VolPoint, ...]:
    """The hourly realized volatility of ``currency`` in a ``get_historical_volatility`` answer (``[[ts, percent],
    ...]``) as fractions, ascending, one point per time (the docs example repeats a row)."""
    r = _HISTORICAL_VOL
    points: dict[int, float] = {}
    for raw in r.arr(_result(r, body), "result"):
        pair = r.arr(raw, "point")
        if len(pair) != 2:
            raise r.fail(f"point {pair!r:.80} has {len(pair)} values, expected 2 (ts, volatility)")
        row = {"ts": pair[0], "value": pair[1]}
        points[r.ms(row, "ts")] = r.num(row, "value") / PERCENT
        plausible.Rules(api.VENUE, r.endpoint, hv_series(currency)).amount("value", points[r.ms(row, "ts")])
    return tuple(VolPoint(venue=api.VENUE, symbol=hv_series(currency), time=ms_to_utc(t), value=v, received_at=received)
                 for t, v in sorted(points.items()))
