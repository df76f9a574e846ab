"""dYdX v4 indexer JSON -> dtrack records (pure: no I/O, no clock; the receive time is passed in).

What it owns: reading the indexer answers dtrack uses (``perpetualMarkets``, ``historicalFunding``, ``candles``,
``orderbooks``, ``trades``) and the venue's units (real payload: ``tests/payloads/dydx__ccxt_fetchMarkets.json``):
- markets are keyed by ticker (``BTC-USD``), USD-priced and USDC-margined, linear, one contract = one coin;
- ``nextFundingRate`` is a 1-HOUR rate: the indexer turns each premium sample (an 8-hour rate in ppm) into a
  1-hour one and averages them, plus ``defaultFundingRate1H`` (see ``api.INTERVAL_SOURCE``). It is the rate of the
  settlement at the next whole hour (UTC); the answer carries no time of its own;
- ``openInterest`` is one side, in coins: the indexer sums the LONG positions (roundtable ``market-updater.ts``,
  ``getOpenInterestLong``), so USD = openInterest x oraclePrice. (``baseOpenInterest`` is the open interest the
  open-interest-based margin fraction was last set from, not the current figure: not read.)
- prices: ``oraclePrice`` is the index, which the protocol also marks positions at: dYdX publishes no mark apart
  from it. The perpetual's own price is its order book (``orderbooks``: the mid of the best bid and ask);
- ``historicalFunding`` rows are settled 1-hour rates at ``effectiveAt`` (a second or so past the hour), newest
  first; candles (``startedAt`` open time, OHLC, ``baseTokenVolume`` in coins, ``usdVolume`` in USD,
  ``startingOpenInterest`` in coins) newest first;
- the order book's ``size`` is in coins of the ticker (at most 100 levels a side); margin is one tier per market
  (``initialMarginFraction``, ``maintenanceMarginFraction``; the IMF may scale with open interest between
  ``openInterestLowerCap`` and ``openInterestUpperCap``);
- trades (``trades/perpetualMarket``, and the ``v4_trades`` channel) are taker fills; those of type LIQUIDATED are
  liquidations, the POSITION side being the opposite of the row's order ``side`` (``trade_liquidations``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from dtrack import records
from dtrack.errors import DtrackError, Implausible, ParseError
from dtrack.records import (
    BookSide,
    Coverage,
    FundingRate,
    Instrument,
    Kind,
    Liquidation,
    Margin,
    MarginTier,
    OIPoint,
    OpenInterest,
    OrderBook,
    PriceKind,
    PriceQuote,
    Unit,
)
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.books import check_book, object_side
from dtrack.venues.dydx import api
from dtrack.venues.fields import (
    Listing,
    Reader,
    each_instrument,
    ms_to_utc,
    next_settlement_after,
    ohlcv_candles,
    utc_to_ms,
)
from dtrack.venues.streaming import LiquidationTerms

VENUE = "dydx"
#: what ``OpenInterest.price_source`` says for dYdX
OI_PRICE_SOURCE = "oracle"
_QUOTE_SUFFIX = "-USD"

T = TypeVar("T")


def reader(path: str) -> Reader:
    """The field reader of one endpoint (errors name ``GET <path>``)."""
    return Reader(VENUE, f"GET {path}")


# --- instruments -----------------------------------------------------------------------------


def instrument(ticker: str) -> Instrument:
    """The Instrument of a perpetual ticker (``BTC-USD``; a ``1000X-USD`` base is 1000 X)."""
    asset, multiplier = split_multiplier(ticker.removesuffix(_QUOTE_SUFFIX))
    return Instrument(venue=VENUE, symbol=ticker, asset=asset, quote=api.QUOTE, settle=api.QUOTE, kind=Kind.PERP,
                      margin=Margin.LINEAR, multiplier=multiplier, contract_size=1.0, contract_unit=Unit.BASE)


def markets(body: Any) -> Mapping[str, Any]:
    """The ``markets`` object of a ``perpetualMarkets`` answer: ``{ticker: market}``."""
    r = reader(api.PERPETUAL_MARKETS)
    return r.obj(r.field(r.obj(body), "markets"), "markets")


def _listed(r: Reader, key: str, row: Any) -> Instrument | None:
    """The perpetual of one market entry, None when its status holds no positions (``api.LISTED_STATUSES``)."""
    row = r.obj(row, f"market {key}")
    ticker = r.text(row, "ticker")
    if ticker != key:
        raise r.fail(f"market keyed {key!r} has ticker {ticker!r}")
    if not ticker.endswith(_QUOTE_SUFFIX) or len(ticker) == len(_QUOTE_SUFFIX):
        raise r.fail(f"ticker {ticker!r} is not <BASE>-USD")
    return instrument(ticker) if r.text(row, "status") in api.LISTED_STATUSES else None


def parse_listing(body: Any) -> Listing:
    """The listed perpetuals of a ``perpetualMarkets`` answer (statuses that hold positions).

    An entry that does not parse is left out and noted under its asset (``Listing.broken``): it fails only a query
    about that asset; every entry failing means the format changed (a ParseError, so the answer is not cached).
    """
    r = reader(api.PERPETUAL_MARKETS)
    entries = [(key, row) for key, row in markets(body).items()]
    out: list[Instrument] = []
    broken: dict[str, str] = {}
    failed: list[str] = []
    for key, row in entries:
        try:
            inst = _listed(r, key, row)
        except ParseError as exc:
            failed.append(f"{key}: {exc.detail}")
            broken.setdefault(split_multiplier(key.removesuffix(_QUOTE_SUFFIX))[0], failed[-1])
            continue
        if inst is not None:
            out.append(inst)
    if failed and not out:
        raise r.fail(f"no market parsed ({len(failed)} malformed; first: {failed[0]})")
    return Listing(tuple(out), broken)


def _market(r: Reader, rows: Mapping[str, Any], inst: Instrument) -> Mapping[str, Any] | None:
    row = rows.get(inst.symbol)
    if row is None:
        return None
    row = r.obj(row, f"market {inst.symbol}")
    if row.get("ticker") != inst.symbol:
        raise r.fail(f"market keyed {inst.symbol!r} has ticker {row.get('ticker')!r}")
    return row


# --- funding, open interest, prices ---------------------------------------------------------------


def funding_cap(row: Mapping[str, Any], r: Reader) -> plausible.FundingCap:
    """The bound of a market's ``nextFundingRate`` per hour: a premium sample is clamped at 6,000 % x (IMF - MMF)
    per 8 hours (``api.PREMIUM_VOTE_CLAMP_FACTOR``), the rate averages samples before the settlement clamp, and
    ``defaultFundingRate1H`` is added. A row without usable margin fractions gets the backstop."""
    imf, mmf = r.opt_num(row, "initialMarginFraction"), r.opt_num(row, "maintenanceMarginFraction")
    if imf is None or mmf is None or not imf > mmf >= 0:
        return plausible.BACKSTOP
    default = abs(r.opt_num(row, "defaultFundingRate1H") or 0.0)
    per_hour = api.PREMIUM_VOTE_CLAMP_FACTOR * (imf - mmf) / 8.0 + default
    return plausible.FundingCap.symmetric(per_hour, "dYdX clamps a premium sample at 6,000 % x (initial - "
                                                    "maintenance margin fraction) per 8 h, + defaultFundingRate1H")


def funding_rate(inst: Instrument, row: Any, received: datetime) -> FundingRate:
    """One perpetual's FundingRate from its ``perpetualMarkets`` entry: ``nextFundingRate`` per hour, settled at the
    next whole hour UTC; index = ``oraclePrice``; OI USD = ``openInterest`` (coins, one side) x ``oraclePrice``."""
    r = reader(api.PERPETUAL_MARKETS)
    row = r.obj(row, f"market {inst.symbol}")
    oracle, oi_coins = r.num(row, "oraclePrice"), r.num(row, "openInterest")
    mult = inst.multiplier
    return plausible.funding_rate(r.endpoint, FundingRate(
        instrument=inst,
        rate=r.num(row, "nextFundingRate"),
        interval_hours=api.FUNDING_INTERVAL_HOURS,
        interval_source=api.INTERVAL_SOURCE,
        time=None,  # the market entry carries no time
        received_at=received,
        next_funding_time=next_settlement_after(received, api.FUNDING_INTERVAL_HOURS),
        mark_price=None,  # dYdX publishes no mark apart from its oracle price (the index)
        index_price=oracle / mult,
        open_interest_usd=oi_coins * oracle,
        note=_note(inst, row),
    ), funding_cap(row, r))


def _note(inst: Instrument, row: Mapping[str, Any]) -> str:
    note = "OI = openInterest (coins, one side: the longs) x oraclePrice; index = oraclePrice (also the mark)"
    status, kind = row.get("status"), row.get("marketType")
    if status != "ACTIVE":
        note += f"; market status {status}"
    if kind == "ISOLATED":
        note += "; isolated-margin market"
    return note


def open_interest(inst: Instrument, row: Any, received: datetime) -> OpenInterest:
    """One perpetual's open interest: ``openInterest`` (one side, in coins of the ticker) valued at ``oraclePrice``."""
    r = reader(api.PERPETUAL_MARKETS)
    row = r.obj(row, f"market {inst.symbol}")
    amount, oracle = r.num(row, "openInterest"), r.num(row, "oraclePrice")
    return plausible.open_interest(r.endpoint, instrument=inst, amount=amount, unit=Unit.BASE,
                                   price=oracle / inst.multiplier, price_source=OI_PRICE_SOURCE, time=None,
                                   received_at=received,
                                   note="openInterest is one side (the sum of long positions), in coins; "
                                        "USD = openInterest x oraclePrice")


@dataclass(frozen=True, slots=True)
class Book:
    """The best levels of an order book (prices in USD per unit of the asset: ÷ the ticker's multiplier); None on an
    empty side."""

    best_bid: float | None
    best_ask: float | None

    @property
    def mid(self) -> float | None:
        """The mid of the best bid and ask, None on a book without two sides."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2.0


def book_levels(body: Any, inst: Instrument) -> tuple[BookSide, BookSide]:
    """An ``orderbooks/perpetualMarket/{ticker}`` answer (``{bids, asks: [{price, size}]}``) -> (bids, asks) as
    (USD per unit of the asset, coins of the asset): ``price`` ÷ the ticker's multiplier, ``size`` (coins of the
    ticker) x it.

    The indexer serves the book sorted best first, without empty levels and uncrossed (comlink
    ``orderbook-controller.ts`` asks ``getOrderBookLevels`` for ``sortSides`` and ``uncrossBook``, and zero levels
    are removed by default: redis ``orderbook-levels-cache.ts``; dydxprotocol/v4-chain), so the levels are read as
    sent by the shared object reader (``books.object_side``) and the book checked like every venue's
    (``books.check_book``): a side out of that order is a ParseError; a price <= 0, a size <= 0 or a crossed book
    (best bid >= best ask) is implausible."""
    r = reader(api.ORDERBOOK.format(ticker=inst.symbol))
    book = r.obj(body)
    rules = plausible.Rules(VENUE, r.endpoint, inst.symbol)
    fields = ("price", "size")
    bids = object_side(r, r.field(book, "bids"), "bids", inst, Unit.BASE, rules, fields)
    asks = object_side(r, r.field(book, "asks"), "asks", inst, Unit.BASE, rules, fields)
    check_book(r, rules, inst, bids, asks, "bids/asks")
    return bids, asks


def parse_book(body: Any, ticker: str) -> Book:
    """An ``orderbooks/perpetualMarket/{ticker}`` answer -> its best bid and ask per unit of the asset, for the quote's
    mid (``book_levels``; a book it refuses raises: the adapter then quotes the index without a last price and lists
    the error)."""
    bids, asks = book_levels(body, instrument(ticker))
    return Book(bids[0][0] if bids else None, asks[0][0] if asks else None)


def parse_order_book(body: Any, inst: Instrument, received: datetime) -> OrderBook:
    """An ``orderbooks/perpetualMarket/{ticker}`` answer -> the perpetual's ``OrderBook`` (``book_levels``): prices per
    unit of the asset (÷ multiplier), sizes in coins (``size`` is in the ticker's base coin; x multiplier). The
    indexer sends at most ``api.BOOK_LEVELS`` (100) levels a side (its ``limit``), no time and no sequence."""
    bids, asks = book_levels(body, inst)
    note = "sizes in the base coin; at most 100 levels a side (the indexer's cap)"
    return OrderBook(instrument=inst, bids=bids, asks=asks, unit=Unit.BASE, limit=api.BOOK_LEVELS,
                     time=None, received_at=received, note=note)


def price_quote(inst: Instrument, row: Any, book: Book | None, received: datetime) -> PriceQuote:
    """One perpetual's prices per unit of the asset: index = ``oraclePrice``, last = the order-book mid (None without
    a two-sided book), no mark (dYdX marks positions at the oracle price: the index); the 24 h volume
    ``volume24H`` (USD, per the indexer docs; no base-coin figure is sent)."""
    r = reader(api.PERPETUAL_MARKETS)
    row = r.obj(row, f"market {inst.symbol}")
    return plausible.price_quote(r.endpoint, PriceQuote(
        instrument=inst, time=None, received_at=received, mark_price=None,
        index_price=r.num(row, "oraclePrice") / inst.multiplier, last_price=book.mid if book is not None else None,
        volume_24h_usd=r.opt_num(row, "volume24H")))


def per_market(body: Any, instruments: Iterable[Instrument], read: Callable[[Instrument, Mapping[str, Any]], T],
               errors: list[DtrackError]) -> tuple[list[T], list[str]]:
    """``read(instrument, its market entry)`` for each of ``instruments`` from a ``perpetualMarkets`` answer, and the
    tickers the answer lacks. An implausible entry costs only its ticker (its ``Implausible`` goes to ``errors``);
    an entry that does not parse fails the answer (a ParseError)."""
    r = reader(api.PERPETUAL_MARKETS)
    rows = markets(body)
    return each_instrument(instruments, lambda inst: _market(r, rows, inst), read, errors)


# --- history -----------------------------------------------------------------------------------


def parse_funding_history(body: Any, ticker: str) -> list[tuple[datetime, float]]:
    """``historicalFunding`` -> (settlement time ``effectiveAt``, 1-hour rate), in the answer's order (newest first).

    A row of another ticker is a ParseError (the answer is not what was asked for); a rate beyond the backstop or an
    oracle ``price`` <= 0 is implausible."""
    r = reader(api.HISTORICAL_FUNDING.format(ticker=ticker))
    rules = plausible.Rules(VENUE, r.endpoint, ticker)
    out: list[tuple[datetime, float]] = []
    for item in r.arr(r.field(r.obj(body), "historicalFunding"), "historicalFunding"):
        row = r.obj(item, "history row")
        if row.get("ticker") != ticker:
            raise r.fail(f"row for ticker {row.get('ticker')!r} in an answer about {ticker!r}")
        rules.price("price", r.num(row, "price"))
        out.append((r.time_iso(row, "effectiveAt"), plausible.settlement(rules, r.num(row, "rate"))))
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One indexer candle: open time (epoch ms), prices (USD per coin of the ticker), open interest at its start
    (coins of the ticker, one side), volume in coins of the ticker (``baseTokenVolume``) and in USD
    (``usdVolume``)."""

    open_ms: int
    open: float
    high: float
    low: float
    close: float
    starting_oi: float
    base_volume: float
    usd_volume: float


def parse_candles(body: Any, ticker: str, resolution: str) -> list[Candle]:
    """``candles/perpetualMarkets/{ticker}`` -> candles in the answer's order (newest first). A candle of another
    ticker or resolution is a ParseError; a price <= 0, an open or close outside [low, high] (``Rules.bar``), or a
    negative open interest or volume is implausible."""
    r = reader(api.CANDLES.format(ticker=ticker))
    rules = plausible.Rules(VENUE, r.endpoint, ticker)
    out: list[Candle] = []
    for item in r.arr(r.field(r.obj(body), "candles"), "candles"):
        row = r.obj(item, "candle")
        if row.get("ticker") != ticker or row.get("resolution") != resolution:
            raise r.fail(f"candle of {row.get('ticker')!r} {row.get('resolution')!r} in an answer about "
                         f"{ticker!r} {resolution!r}")
        candle = Candle(open_ms=utc_to_ms(r.time_iso(row, "startedAt")), open=r.num(row, "open"),
                        high=r.num(row, "high"), low=r.num(row, "low"), close=r.num(row, "close"),
                        starting_oi=r.num(row, "startingOpenInterest"), base_volume=r.num(row, "baseTokenVolume"),
                        usd_volume=r.num(row, "usdVolume"))
        rules.bar(candle.open, candle.high, candle.low, candle.close)
        rules.amount("startingOpenInterest", candle.starting_oi)
        rules.amount("baseTokenVolume", candle.base_volume)
        rules.amount("usdVolume", candle.usd_volume)
        out.append(candle)
    return out


def bars(candles: Iterable[Candle], inst: Instrument, period_ms: int, received: datetime
         ) -> tuple[records.Candle, ...]:
    """OHLCV ``Candle`` records from indexer candles of ``period_ms``, ascending and de-duplicated by open time
    (``fields.ohlcv_candles``): prices per unit of the asset (÷ multiplier), ``volume_base`` = ``baseTokenVolume``
    (coins of the ticker, x multiplier), ``volume_usd`` = ``usdVolume``. The candle still open at ``received`` has
    ``closed`` False."""
    return ohlcv_candles(candles, inst, period_ms, received, lambda c: (c.base_volume * inst.multiplier, c.usd_volume))


def oi_points(candles: Sequence[Candle], inst: Instrument, received: datetime) -> tuple[OIPoint, ...]:
    """Open-interest history from candles: ``startingOpenInterest`` (one side, coins) at each candle's open time, in
    units of the asset, ascending and de-duplicated. No USD: the indexer's figure is in coins only."""
    by_open = {c.open_ms: c.starting_oi for c in candles}
    return tuple(OIPoint(venue=VENUE, symbol=inst.symbol, time=ms_to_utc(t), base=oi * inst.multiplier,
                         received_at=received) for t, oi in sorted(by_open.items()))


# --- margin --------------------------------------------------------------------------------------------


def margin_tier(inst: Instrument, row: Any, received: datetime) -> MarginTier:
    """The perpetual's one margin tier from its ``perpetualMarkets`` entry: ``maintenanceMarginFraction`` (mmr) and
    ``initialMarginFraction`` (imr; max leverage = 1 / IMF) at any size (dYdX has no size tiers), deduction 0,
    bounds in USD notional.

    The note says what scales instead: with ``openInterestLowerCap`` / ``openInterestUpperCap`` set, the protocol
    raises the IMF linearly from its base value at open interest <= the lower cap to 100 % at the upper cap (open
    interest margin fraction, OIMF: v4-chain liquidity-tier proto); both 0: the IMF does not scale. Whether the MMF
    scales with it is UNCONFIRMED. An IMF or MMF outside (0, 1], or an MMF above the IMF, is implausible.
    """
    r = reader(api.PERPETUAL_MARKETS)
    row = r.obj(row, f"market {inst.symbol}")
    rules = plausible.Rules(VENUE, r.endpoint, inst.symbol)
    imf, mmf = r.num(row, "initialMarginFraction"), r.num(row, "maintenanceMarginFraction")
    for key, value in (("initialMarginFraction", imf), ("maintenanceMarginFraction", mmf)):
        if not 0 < value <= 1:
            raise rules.refuse(key, value, "a margin fraction must lie in (0, 1]")
    if mmf > imf:
        raise rules.refuse("maintenanceMarginFraction", mmf, f"above the initial margin fraction {imf}")
    lower, upper = r.opt_num(row, "openInterestLowerCap"), r.opt_num(row, "openInterestUpperCap")
    if lower and upper:
        scaling = (f"IMF scales linearly from {imf:g} at open interest <= {lower:g} (openInterestLowerCap) to 1 at "
                   f"{upper:g} (openInterestUpperCap): OIMF; whether the MMF scales too is unconfirmed")
    else:
        scaling = "openInterestLowerCap/UpperCap 0: the IMF does not scale with open interest"
    return MarginTier(venue=VENUE, symbol=inst.symbol, tier=1, floor=0.0, cap=None, unit=Unit.USD, mmr=mmf,
                      deduction=0.0, max_leverage=1.0 / imf, time=None, received_at=received, imr=imf,
                      source=f"GET {api.PERPETUAL_MARKETS}",
                      note=f"one tier: mmr = maintenanceMarginFraction, max leverage = 1 / initialMarginFraction; "
                           f"{scaling}")


# --- trades: liquidations -------------------------------------------------------------------------------------

#: a trade's ``type`` (comlink ``TradeType``: the TAKER fill's type) that is a liquidation order's fill
LIQUIDATED = "LIQUIDATED"
#: a deleveraging (ADL or final-settlement) fill: read, and not counted (see ``trade_liquidations``)
DELEVERAGED = "DELEVERAGED"
#: the order side a trade names -> the side of the POSITION it closed (the taker's order closes the taker's own
#: position: a SELL closes a long)
_CLOSES = {"SELL": "long", "BUY": "short"}


def trade_liquidations(trades: Any, terms: LiquidationTerms, received_at: datetime, records: list[Liquidation],
                       dropped: list[Implausible]) -> None:
    """The liquidations among trade rows of one market (``trades`` of a ``/v4/trades/perpetualMarket/{ticker}``
    answer, or of a ``v4_trades`` message) into ``records``; implausible ones into ``dropped``.

    A row is ``{id, side, size, price, type, createdAt[, createdAtHeight]}`` (real payload:
    ``tests/payloads/dydx__rest_trades_liquidated__capture.json``). A trade is the TAKER fill of a match (comlink
    ``trades-controller.ts`` reads fills with ``liquidity: TAKER``; ender ``generateTradeKafkaEventFromTakerOrderFill``
    publishes the same fill on ``v4_trades``), and a liquidation's taker is the protocol's liquidation order on the
    liquidated subaccount (ender ``dydx_liquidation_fill_handler_per_order.sql``: the taker fill's subaccount is
    ``liquidated`` and its side ``isBuy``); the protocol builds that order with ``isBuy = !isLiquidatingLong``
    (``protocol/x/clob/keeper/liquidations.go`` ``GetLiquidationOrderForPerpetual``), so ``side`` SELL closes a
    LONG and BUY a short (Tardis reads it so: tardis-node ``src/mappers/dydxv4.ts``). Every source: dydxprotocol/
    v4-chain@84d4664b (2026-03-04).

    Only ``type == "LIQUIDATED"`` counts. ``DELEVERAGED`` rows are not counted: they are not liquidation orders
    but deleveraging matches against an offsetting subaccount at the bankruptcy price when a liquidation could not
    fill in the book, AND the closing of every position of a market being wound down at the oracle price (final
    settlement: ``DeleveragingEventV1.is_final_settlement``), which the trade row does not tell apart; counting
    them would add healthy positions closed by a delisting to the liquidation totals. ``LIMIT`` and
    ``TWAP_SUBORDER`` are ordinary trades.

    ``size`` is in coins of the ticker's base (``Unit.BASE``), ``price`` the fill's (the maker's price:
    ``PriceKind.TRADE``), USD = size x price, the time ``createdAt``. Every liquidation fill is on chain and every
    taker fill is published: ``Coverage.TRADE_FLAG``. The key is the trade ``id`` (the fill's event id: block
    height, transaction and event index in hex), unique on the chain. A row of another shape is a ``ParseError``.
    """
    if trades.__class__ is not list:
        raise _malformed(terms, f"trades is a {type(trades).__name__}, expected a list")
    for row in trades:
        if row.__class__ is not dict:
            raise _malformed(terms, f"a trade is a {type(row).__name__}")
        if row.get("type") != LIQUIDATED:
            continue
        try:
            side = _CLOSES[row["side"]]
            size, price = float(row["size"]), float(row["price"])
            ms = iso_ms(row["createdAt"])
            key = row["id"]
            if key.__class__ is not str or not key:
                raise ValueError(f"id {key!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _malformed(terms, f"a trade {str(row)[:120]!r}: {type(exc).__name__} {exc}") from None
        try:
            records.append(terms.record(side=side, price=price, price_kind=PriceKind.TRADE, amount=size, ms=ms,
                                        received_at=received_at, coverage=Coverage.TRADE_FLAG, key=key))
        except Implausible as exc:
            dropped.append(exc)


def liquidation_terms(inst: Instrument, endpoint: str) -> LiquidationTerms:
    """How a trade's ``size`` of ``inst`` is counted: coins of the ticker's base (``Unit.BASE``), as open interest;
    ``endpoint`` names the source in errors (``GET /v4/trades/...`` or the WebSocket channel)."""
    return LiquidationTerms(inst, endpoint, Unit.BASE)


def _malformed(terms: LiquidationTerms, detail: str) -> ParseError:
    """The error of a trade row of another shape, naming the endpoint ``terms`` were made for."""
    return ParseError(VENUE, terms.rules.endpoint, detail)


def iso_ms(text: str) -> int:
    """Epoch milliseconds of an indexer time (``2025-07-29T05:16:49.920Z``; ISO-8601 with an offset); a text that
    is not one, or a time without an offset, is a ``ValueError``."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return utc_to_ms(when)
