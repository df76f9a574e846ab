"""dYdX v4 adapter: the venue's only I/O (``GET`` on the indexer host, ``/v4/...``).

- instruments: ``perpetualMarkets`` (every market in one answer; disk-cached for ``instruments_ttl``), the markets
  whose status holds positions (ACTIVE, POST_ONLY, CANCEL_ONLY);
- current funding, open interest and the index: the same ``perpetualMarkets`` answer (1 request; concurrent callers
  in one event loop share one in-flight request): ``nextFundingRate`` (1 h), ``openInterest`` (coins, one side) x
  ``oraclePrice``;
- quotes: ``perpetualMarkets`` (index = oracle) and, concurrently, ``orderbooks/perpetualMarket/{ticker}`` per
  contract (last = the book mid: the perpetual's own price). A book that fails costs only its contract's last price;
- funding history: ``historicalFunding/{ticker}``, newest first, 1000 rows a page, paged backwards by
  ``effectiveBeforeOrAt`` (the answer is newest-first, so the next page is not known before this one arrives);
- klines and open-interest history: ``candles/perpetualMarkets/{ticker}`` (1HOUR / 4HOURS / 1DAY; ``close``, and
  ``startingOpenInterest`` for OI history), every 1000-candle page of the window requested at once (the window is
  known); the two share their requests when asked for the same window;
- rate limits: 100 requests per 10 s per IP (``api.LIMITS``), metered locally. A 429 carries ``Retry-After`` in
  milliseconds, which the HTTP layer (reading seconds) cannot be handed from here: ``remap_status`` turns it into
  the indexer's window (10 s), the longest wait its limiter can impose;
- candles (OHLCV): the same ``candles`` path at any of the indexer's resolutions (1MIN .. 1DAY);
- order book: ``orderbooks/perpetualMarket/{ticker}`` (no depth parameter; at most 100 levels a side);
- margin tiers: one tier per market from ``perpetualMarkets`` (initial and maintenance margin fractions);
- liquidations: streamed, the trades of type LIQUIDATED on the indexer's WebSocket channel ``v4_trades`` per market
  (``dydx.stream``; every liquidation fill, ``trade-flag``);
- no long/short ratio, spot, options, dated futures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from dtrack.errors import DtrackError, ParseError, UnsupportedError, UsageError, VenueError
from dtrack.records import (
    Candle,
    DataKind,
    FundingHistory,
    FundingRate,
    Instrument,
    MarginTier,
    OIHistory,
    OpenInterest,
    OrderBook,
    PricePoint,
    PriceQuote,
    Record,
)
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.dydx import api, parse
from dtrack.venues.fields import (
    HOUR_MS,
    Kline,
    Listing,
    candle_closes,
    ms_to_utc,
    page_windows,
    points_from_settlements,
    utc_to_ms,
    within,
)


class DydxAdapter(Adapter):
    """dYdX v4 perpetuals (indexer)."""

    name: ClassVar[str] = "dydx"
    hosts = api.HOSTS
    main_host = api.REST
    instruments_endpoint = f"GET {api.PERPETUAL_MARKETS}"
    limits = api.LIMITS
    # Funding history is kept since each market's listing (v4 mainnet: October 2023).
    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset({DataKind.LIQUIDATIONS})

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Liquidations of these perpetuals: the trades of type LIQUIDATED on ``v4_trades`` per market, the backlog
        each subscription repeats handed on once (see ``dydx.stream``)."""
        from dtrack.venues.dydx import stream

        return self.open_streams(kinds, instruments, stream.protocols, terms=False)

    def remap_status(self, status: int, text: str) -> tuple[int, float | None] | None:
        """A 429's ``Retry-After`` is in milliseconds (comlink ``rate-limit.ts``: ``msBeforeNext``): read as seconds
        it would hold the host ~1000x too long. Wait the indexer's whole window instead (10 s, its longest)."""
        if status == api.STATUS_RATE_LIMITED:
            return status, api.RATE_LIMIT_WINDOW_S
        return None

    async def listing(self) -> Listing:
        """Listed perpetuals from ``perpetualMarkets`` (disk-cached)."""
        return await self.cached_get(api.REST, api.PERPETUAL_MARKETS, ttl=self.ctx.settings.instruments_ttl,
                                     parse=parse.parse_listing, endpoint=self.instruments_endpoint)

    async def _markets(self) -> Any:
        """The ``perpetualMarkets`` answer (shared by concurrent callers while in flight; nothing kept)."""
        return await self.get(api.REST, api.PERPETUAL_MARKETS, endpoint=self.instruments_endpoint)

    def _missing(self, tickers: Sequence[str]) -> list[DtrackError]:
        """One error per asked ticker the ``perpetualMarkets`` answer lacks."""
        return [VenueError(self.name, f"GET {api.PERPETUAL_MARKETS}: no market {t!r} (delisted?); left out")
                for t in tickers]

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Current funding of these perpetuals from one ``perpetualMarkets`` answer."""
        body = await self._markets()
        received = self.ctx.now()
        errors: list[DtrackError] = []
        items, missing = parse.per_market(body, instruments,
                                          lambda inst, row: parse.funding_rate(inst, row, received), errors)
        return Answer(self.name, items, errors + self._missing(missing))

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """Open interest of these perpetuals from one ``perpetualMarkets`` answer (coins, one side, x oracle)."""
        body = await self._markets()
        received = self.ctx.now()
        errors: list[DtrackError] = []
        items, missing = parse.per_market(body, instruments,
                                          lambda inst, row: parse.open_interest(inst, row, received), errors)
        return Answer(self.name, items, errors + self._missing(missing))

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Index (``oraclePrice``) and last (order-book mid) of these perpetuals: ``perpetualMarkets`` and each
        contract's order book, concurrently."""
        perps = list(instruments)
        answers = await asyncio.gather(self._markets(), *(self._book(i.symbol) for i in perps),
                                       return_exceptions=True)
        body, books = answers[0], answers[1:]
        if isinstance(body, BaseException):
            raise body
        received = self.ctx.now()
        errors: list[DtrackError] = []
        by_symbol: dict[str, parse.Book | None] = {}
        for inst, book in zip(perps, books, strict=True):
            if isinstance(book, DtrackError):
                errors.append(book)  # the contract keeps its index; it has no last price
                by_symbol[inst.symbol] = None
            elif isinstance(book, BaseException):
                raise book
            else:
                by_symbol[inst.symbol] = book
        items, missing = parse.per_market(
            body, perps, lambda inst, row: parse.price_quote(inst, row, by_symbol.get(inst.symbol), received), errors)
        return Answer(self.name, items, errors + self._missing(missing))

    async def _book(self, ticker: str) -> parse.Book:
        return parse.parse_book(await self._book_body(ticker), ticker)

    async def _book_body(self, ticker: str) -> Any:
        """The ``orderbooks/perpetualMarket/{ticker}`` answer (shared by concurrent callers while in flight)."""
        path = api.ORDERBOOK.format(ticker=ticker)
        return await self.get(api.REST, path, endpoint=f"GET {path}")

    # --- history ------------------------------------------------------------------------------------

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Settled hourly funding of one perpetual over ``[start, end]``, paged backwards 1000 rows at a time."""
        ticker = instrument.symbol
        series = await self._history_series(ticker, start, end)
        points = within(points_from_settlements(series, api.FUNDING_INTERVAL_HOURS, venue=self.name, symbol=ticker,
                                                received_at=self.ctx.now()), start, end)
        return FundingHistory(venue=self.name, symbol=ticker, start=start, end=end, points=points,
                              note=_history_note(ticker, start, end, series))

    async def _history_series(self, ticker: str, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        """Page ``historicalFunding`` backwards from ``end`` until a row older than ``start`` or an empty page.

        A short page is NOT taken as the end (the indexer may cap pages below ``limit``). Every page must move the
        cursor back (the next asks for rows before the oldest seen), so the loop ends; one that does not is a
        ParseError."""
        path = api.HISTORICAL_FUNDING.format(ticker=ticker)
        series: list[tuple[datetime, float]] = []
        cursor = end
        while cursor >= start:
            params = {"limit": api.PAGE_LIMIT, "effectiveBeforeOrAt": iso_ms(cursor)}
            page = parse.parse_funding_history(await self.get(api.REST, path, params, endpoint=f"GET {path}"),
                                               ticker)
            if not page:
                break
            oldest = min(t for t, _ in page)
            if oldest > cursor or max(t for t, _ in page) > cursor:
                raise ParseError(self.name, f"GET {path}", f"page before {iso_ms(cursor)} holds later rows "
                                                           "(no progress)")
            series += page
            cursor = oldest - timedelta(milliseconds=1)
        return series

    async def _candles(self, ticker: str, start: datetime, end: datetime,
                       period_hours: int) -> list[parse.Candle]:
        """The candles whose close falls in ``[start, end]`` (and the one holding ``end``) at ``period_hours``."""
        resolution = api.CANDLE_RESOLUTIONS.get(period_hours)
        if resolution is None:
            raise UnsupportedError(f"{self.name}: no {period_hours} h candles in dtrack (periods: "
                                   f"{', '.join(map(str, api.CANDLE_RESOLUTIONS))} h)")
        period_ms = period_hours * HOUR_MS
        return await self._candle_pages(ticker, resolution, period_ms, utc_to_ms(start) - period_ms, utc_to_ms(end))

    async def _candle_pages(self, ticker: str, resolution: str, period_ms: int, lo: int, hi: int
                            ) -> list[parse.Candle]:
        """The candles opening in ``[lo, hi]`` (epoch ms, on the ``period_ms`` grid), every 1000-candle page of the
        window requested at once: ``fromISO`` inclusive, ``toISO`` exclusive (candle-table.ts)."""
        path = api.CANDLES.format(ticker=ticker)
        pages = page_windows(lo, hi, period_ms, api.PAGE_LIMIT)
        answers = await asyncio.gather(*(self.get(api.REST, path, {
            "resolution": resolution, "limit": api.PAGE_LIMIT, "fromISO": iso_ms(ms_to_utc(a)),
            "toISO": iso_ms(ms_to_utc(b + period_ms))}, endpoint=f"GET {path}") for a, b in pages))
        return [c for body in answers for c in parse.parse_candles(body, ticker, resolution)]

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV bars of the perpetual opening in ``[start, end]``, ascending, at one of the indexer's resolutions (1
        minute to 1 day: ``api.CANDLE_RESOLUTIONS_S``), every 1000-candle page at once (the pages
        ``fetch_price_history`` reads too). Prices per unit of the asset, ``volume_base`` from ``baseTokenVolume``
        (coins), ``volume_usd`` from ``usdVolume``; the candle still open is ``closed=False``."""
        resolution = api.CANDLE_RESOLUTIONS_S.get(period_seconds)
        if resolution is None:
            raise UnsupportedError(f"{self.name}: no {period_seconds} s candles (the indexer's periods in seconds: "
                                   f"{', '.join(map(str, api.CANDLE_RESOLUTIONS_S))})")
        period_ms = period_seconds * 1000
        lo, hi = utc_to_ms(start), min(utc_to_ms(end), utc_to_ms(self.ctx.now()))
        candles = await self._candle_pages(instrument.symbol, resolution, period_ms, lo, hi)
        return parse.bars([c for c in candles if lo <= c.open_ms <= hi], instrument, period_ms, self.ctx.now())

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """The perpetual's book from ``orderbooks/perpetualMarket/{ticker}``: the indexer takes no depth and answers at
        most 100 levels a side (``limit`` 100) whatever ``depth`` is wanted; prices per unit of the asset, sizes in
        coins, no venue time."""
        if depth < 1:
            raise UsageError(f"order-book depth {depth} is not a number of levels; give 1 or more")
        return parse.parse_order_book(await self._book_body(instrument.symbol), instrument, self.ctx.now())

    async def fetch_margin_tiers(self, instrument: Instrument) -> tuple[MarginTier, ...]:
        """The perpetual's one margin tier from ``perpetualMarkets`` (``maintenanceMarginFraction``,
        ``initialMarginFraction``; the note says whether the IMF scales with open interest). A market the answer
        lacks is a VenueError; an implausible entry its ``Implausible``."""
        body = await self._markets()
        errors: list[DtrackError] = []
        received = self.ctx.now()
        items, missing = parse.per_market(body, [instrument],
                                          lambda inst, row: parse.margin_tier(inst, row, received), errors)
        problems = errors + self._missing(missing)
        if problems:
            raise problems[0]
        return (items[0],)

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes, highs and lows of the perpetual's candles whose close falls in ``[start, end]``, per unit of the
        asset; a point's time is the candle's close (the still-open candle: now, its high and low so far)."""
        candles = await self._candles(instrument.symbol, start, end, period_hours)
        points = candle_closes((Kline(c.open_ms, c.close, c.high, c.low) for c in candles), venue=self.name,
                               symbol=instrument.symbol, multiplier=instrument.multiplier,
                               period_ms=period_hours * HOUR_MS, received_at=self.ctx.now())
        return tuple(p for p in points if start <= p.time <= end)

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        """Open-interest history from the candles' ``startingOpenInterest`` (one side, coins) at each candle's open,
        over ``[start, end]``, ascending."""
        candles = await self._candles(instrument.symbol, start, end, period_hours)
        points = tuple(p for p in parse.oi_points(candles, instrument, self.ctx.now()) if start <= p.time <= end)
        note = "" if points else (f"dYdX has no candles of {instrument.symbol} between {start:%Y-%m-%d %H:%M} and "
                                  f"{end:%Y-%m-%d %H:%M} UTC")
        return OIHistory(venue=self.name, symbol=instrument.symbol, period_hours=period_hours, points=points,
                         note=note)


def iso_ms(t: datetime) -> str:
    """An aware UTC datetime as the indexer writes times: ``2025-07-29T05:00:01.053Z``."""
    return ms_to_utc(utc_to_ms(t)).strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc_to_ms(t) % 1000:03d}Z"


def _history_note(ticker: str, start: datetime, end: datetime, series: list[tuple[datetime, float]]) -> str:
    """Say so when the venue has less than the window asked for."""
    if not series:
        return f"dYdX settled no funding for {ticker} between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    first = min(t for t, _ in series)
    if first - start > timedelta(hours=api.FUNDING_INTERVAL_HOURS, minutes=1):
        return (f"dYdX has funding for {ticker} from {first:%Y-%m-%d %H:%M} UTC only (listing or start of its "
                f"history); asked from {start:%Y-%m-%d %H:%M} UTC")
    return ""
