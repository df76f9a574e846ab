"""dYdX v4 indexer JSON -> dtrack records (pure: no I/O, no clock; the receive time is passed in).

What it owns: reading the indexer answers dtrack uses (``perpetualMarkets``, ``historicalFunding``, ``candles``,
``orderbooks``) and the venue's units (real payload: ``tests/payloads/dydx__ccxt_fetchMarkets.json``):
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
  first; candles (``startedAt`` open time, ``close``, ``startingOpenInterest`` in coins) newest first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from dtrack.errors import DtrackError, ParseError
from dtrack.records import FundingRate, Instrument, Kind, Margin, OIPoint, OpenInterest, PriceQuote, Unit
from dtrack.symbols import split_multiplier
from dtrack.venues import plausible
from dtrack.venues.dydx import api
from dtrack.venues.fields import Listing, Reader, each_instrument, ms_to_utc, next_settlement_after, utc_to_ms

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
    """The best levels of an order book (prices in USD per coin of the ticker); None on an empty side."""

    best_bid: float | None
    best_ask: float | None

    @property
    def mid(self) -> float | None:
        """The mid of the best bid and ask, None on a book without two sides."""
        if self.best_bid is None or self.best_ask is None:
            return None
        return (self.best_bid + self.best_ask) / 2.0


def parse_book(body: Any, ticker: str) -> Book:
    """An ``orderbooks/perpetualMarket/{ticker}`` answer -> its best bid and ask (``{bids, asks: [{price, size}]}``).

    Levels are read whatever their order (the best is the highest bid, the lowest ask); a price <= 0 or a
    negative size is implausible."""
    r = reader(api.ORDERBOOK.format(ticker=ticker))
    book = r.obj(body)
    rules = plausible.Rules(VENUE, r.endpoint, ticker)
    best: list[float | None] = []
    for side in ("bids", "asks"):
        prices = []
        for level in r.arr(r.field(book, side), side):
            row = r.obj(level, f"{side} level")
            price, size = r.num(row, "price"), r.num(row, "size")
            rules.price(f"{side}.price", price)
            rules.amount(f"{side}.size", size)
            prices.append(price)
        best.append((max(prices) if side == "bids" else min(prices)) if prices else None)
    return Book(best[0], best[1])


def price_quote(inst: Instrument, row: Any, book: Book | None, received: datetime) -> PriceQuote:
    """One perpetual's prices per unit of the asset: index = ``oraclePrice``, last = the order-book mid (None without
    a two-sided book), no mark (dYdX marks positions at the oracle price: the index); the 24 h volume
    ``volume24H`` (USD, per the indexer docs; no base-coin figure is sent)."""
    r = reader(api.PERPETUAL_MARKETS)
    row = r.obj(row, f"market {inst.symbol}")
    mult = inst.multiplier
    mid = book.mid if book is not None else None
    return plausible.price_quote(r.endpoint, PriceQuote(
        instrument=inst, time=None, received_at=received, mark_price=None,
        index_price=r.num(row, "oraclePrice") / mult, last_price=mid / mult if mid is not None else None,
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


@dataclass(frozen=True, slots=True)
class Candle:
    """One indexer candle: open time (epoch ms), close (USD per coin of the ticker), open interest at its start
    (coins of the ticker, one side)."""

    open_ms: int
    close: float
    starting_oi: float


def parse_candles(body: Any, ticker: str, resolution: str) -> list[Candle]:
    """``candles/perpetualMarkets/{ticker}`` -> candles in the answer's order (newest first). A candle of another
    ticker or resolution is a ParseError; a close <= 0 or a negative open interest is implausible."""
    r = reader(api.CANDLES.format(ticker=ticker))
    rules = plausible.Rules(VENUE, r.endpoint, ticker)
    out: list[Candle] = []
    for item in r.arr(r.field(r.obj(body), "candles"), "candles"):
        row = r.obj(item, "candle")
        if row.get("ticker") != ticker or row.get("resolution") != resolution:
            raise r.fail(f"candle of {row.get('ticker')!r} {row.get('resolution')!r} in an answer about "
                         f"{ticker!r} {resolution!r}")
        close, oi = r.num(row, "close"), r.num(row, "startingOpenInterest")
        rules.price("close", close)
        rules.amount("startingOpenInterest", oi)
        out.append(Candle(utc_to_ms(r.time_iso(row, "startedAt")), close, oi))
    return out


def oi_points(candles: Sequence[Candle], inst: Instrument, received: datetime) -> tuple[OIPoint, ...]:
    """Open-interest history from candles: ``startingOpenInterest`` (one side, coins) at each candle's open time, in
    units of the asset, ascending and de-duplicated. No USD: the indexer's figure is in coins only."""
    by_open = {c.open_ms: c.starting_oi for c in candles}
    return tuple(OIPoint(venue=VENUE, symbol=inst.symbol, time=ms_to_utc(t), base=oi * inst.multiplier,
                         received_at=received) for t, oi in sorted(by_open.items()))
