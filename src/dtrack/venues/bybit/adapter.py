"""Bybit v5 adapter: the venue's only I/O (instrument pages, bulk tickers, funding, open-interest,
kline and account-ratio pages).

Requests per query with a warm instrument cache (a cold one first pages through instruments-info,
categories concurrently):
- funding: one tickers call per category involved (linear, inverse), concurrently; instruments-info
  is re-read (disk-cached) for funding intervals only when a ticker lacks ``fundingIntervalHour`` or a
  history holds a single settlement. Open interest and prices come in the same tickers answer, so
  there is no enrichment call that could fail on its own: a malformed row of an asked symbol fails the
  venue (an implausible one costs only its own perpetual), a bad row of any other symbol is never read.
- open interest and quotes: the same bulk tickers (perpetuals and dated futures share them), one
  round; a bad row costs only its own contract.
- open-interest history and klines: every page of the window at once (windows of 200 open-interest
  points and 1000 candles, computed up front), one round, never a cursor followed page by page.
- spot: one tickers call (category spot). Long/short: one account-ratio call per USDT perpetual.
- option chain: the option tickers of the asset (core) and its option instruments-info pages (disk-cached:
  none on a warm cache; a cold one pages with the cursor, its first page beside the tickers), one round.
  instruments-info is an enrichment (exact ``deliveryTime``, ``settleCoin``, options not quoted yet): when it
  fails the chain is served from the tickers with terms read from the symbols, and the failure is an error.
- option trades: recent-trade of the asset's calls and of its puts (1000 each, the most Bybit serves), one
  round; realized volatility: historical-volatility windows of 30 days, all at once.
- order book: one orderbook call (``limit`` = the depth asked, at most 500). Candles: the kline pages of the
  window at once (as for klines). Margin tiers: risk-limit of the symbol, its cursor pages one after the other
  (one page for a symbol in practice).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, TypeVar

from dtrack.errors import DtrackError, ParseError, UnsupportedError, UsageError, VenueError
from dtrack.records import (
    Candle,
    DataKind,
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
    Record,
    SpotPrice,
    Unit,
    VolPoint,
    oi_base_and_usd,
)
from dtrack.results import settle
from dtrack.venues.base import Adapter, Answer
from dtrack.venues.bybit import api, parse
from dtrack.venues.fields import (
    HOUR_MS,
    Kline,
    Listing,
    latest_spacing,
    ms_to_utc,
    page_windows,
    points_from_settlements,
    price_point,
    utc_to_ms,
    within,
)

T = TypeVar("T")


class _Page(Protocol):
    @property
    def cursor(self) -> str: ...


P = TypeVar("P", bound=_Page)

#: A guard against a venue that keeps handing out cursors (1000 x 1000 symbols is far beyond Bybit's list).
_MAX_PAGES = 1000
#: A guard on funding/history paging: hourly funding since 2018 is ~75,000 rows, 375 pages of 200
#: (more if the venue serves shorter pages). Each page must also end before the previous one.
_MAX_HISTORY_PAGES = 5000


def _interval(intervals: Mapping[int, str], period_hours: int, what: str) -> str:
    if period_hours not in intervals:
        raise UnsupportedError(f"bybit: no {period_hours} h {what}; periods: "
                               f"{', '.join(f'{h} h' for h in intervals)}")
    return intervals[period_hours]


class BybitAdapter(Adapter):
    """Linear (USDT ``BTCUSDT``, USDC ``BTCPERP``) and inverse (``BTCUSD``) perpetuals, and linear
    (``BTCUSDT-28NOV25``, USDC ``BTC-26DEC25``) and inverse (``BTCUSDZ25``) dated futures, on Bybit v5."""

    name = "bybit"
    hosts = api.HOSTS
    main_host = api.MAIN_HOST
    instruments_endpoint = api.INSTRUMENTS
    limits = api.LIMITS

    #: instruments-info page size (lower it in tests to exercise the cursor paging).
    instruments_page_size: ClassVar[int] = api.INSTRUMENTS_MAX_LIMIT
    #: funding/history page size asked for (the venue may answer fewer rows per page).
    history_page_size: ClassVar[int] = api.HISTORY_MAX_LIMIT
    #: open-interest points and candles per page asked for (lower them in tests to get many pages).
    oi_page_size: ClassVar[int] = api.OI_HISTORY_MAX_LIMIT
    kline_page_size: ClassVar[int] = api.KLINE_MAX_LIMIT

    def remap_status(self, status: int, text: str) -> tuple[int, float | None] | None:
        """Bybit answers an IP rate-limit breach with HTTP 403 "access too frequent": a ban of at least
        10 minutes (read as a 418), not a geo-block."""
        if status == 403 and api.TOO_FREQUENT in text.lower():
            return 418, api.BAN_SECONDS
        return None

    def check(self, body: Any) -> None:
        """Raise for a non-zero ``retCode`` in a 200 answer."""
        parse.check_envelope(body)

    async def _get(self, path: str, params: Mapping[str, Any]) -> Any:
        """GET one public endpoint from the REST host, at its weight in the shared IP budget."""
        return await self.get(api.MAIN_HOST, path, params, weight=api.WEIGHTS[path])

    stream_kinds: ClassVar[frozenset[DataKind]] = frozenset({DataKind.FUNDING, DataKind.OPEN_INTEREST, DataKind.QUOTES,
                                                             DataKind.LIQUIDATIONS})

    def stream(self, kinds: Collection[DataKind], instruments: Sequence[Instrument]) -> AsyncIterator[Record]:
        """Live funding, one-sided open interest and prices over ``tickers.{symbol}`` and every liquidation over
        ``allLiquidation.{symbol}`` on the linear and inverse streams (see ``bybit.stream``)."""
        from dtrack.venues.bybit import stream

        return self.open_streams(kinds, instruments, stream.protocols, terms=True)

    # --- instruments ------------------------------------------------------------------------

    async def _instrument_pages(self, category: str, ttl: float) -> list[parse.InstrumentsPage]:
        """Every instruments-info page of one category, each page disk-cached for ``ttl`` seconds."""
        return await self._pages({"category": category}, ttl, parse.parse_instruments_page)

    async def _pages(self, query: Mapping[str, Any], ttl: float, read: Callable[[Any], P]) -> list[P]:
        """Every instruments-info page of ``query``, following ``nextPageCursor`` (each page disk-cached for
        ``ttl`` seconds, so a warm cache answers without a request)."""
        pages: list[P] = []
        cursor = ""
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {**query, "limit": self.instruments_page_size}
            if cursor:
                params["cursor"] = parse.cursor_param(cursor)
            page = await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, params, ttl=ttl, parse=read,
                                         weight=api.WEIGHTS[api.INSTRUMENTS])
            pages.append(page)
            cursor = page.cursor
            if not cursor:
                return pages
            if cursor in seen:
                raise ParseError(self.name, api.INSTRUMENTS, f"nextPageCursor {cursor!r} repeats")
            seen.add(cursor)
        raise ParseError(self.name, api.INSTRUMENTS, f"more than {_MAX_PAGES} pages")

    async def _all_pages(self, categories: Iterable[str], ttl: float) -> list[parse.InstrumentsPage]:
        """The instruments-info pages of several categories, the categories concurrently."""
        per_category = await asyncio.gather(*(self._instrument_pages(c, ttl) for c in sorted(set(categories))))
        return [page for pages in per_category for page in pages]

    async def listing(self) -> Listing:
        """Every trading linear and inverse perpetual and dated future (instruments-info, every page of both
        categories, cached for ``instruments_ttl``); a category that cannot be read is ``missing``, the
        other serves."""
        ttl = self.ctx.settings.instruments_ttl
        return Listing.of_parts(await settle([self._category_listing(c, ttl) for c in api.PERP_CATEGORIES]))

    async def _category_listing(self, category: str, ttl: float) -> Listing:
        return Listing.merge(page.listing for page in await self._instrument_pages(category, ttl))

    async def _funding_intervals(self, needed: Sequence[Instrument]) -> dict[str, float]:
        """``{symbol: hours}`` from instruments-info ``fundingInterval`` for the ``needed`` perpetuals
        (their categories' pages, cached for ``funding_interval_ttl``); a ParseError if one has none."""
        pages = await self._all_pages((i.market for i in needed), self.ctx.settings.funding_interval_ttl)
        intervals = {sym: hours for page in pages for sym, hours in page.intervals.items()}
        bad = {sym: why for page in pages for sym, why in page.bad_intervals.items()}
        for inst in needed:
            if inst.symbol in bad:
                raise ParseError(self.name, api.INSTRUMENTS, f"{inst.symbol}: {bad[inst.symbol]}")
            if inst.symbol not in intervals:
                raise ParseError(self.name, api.INSTRUMENTS,
                                 f"no fundingInterval for {inst.symbol} (not a trading {inst.market} perpetual)")
        return intervals

    # --- current funding --------------------------------------------------------------------

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> Answer[FundingRate]:
        """Current funding of these perpetuals from the bulk tickers of each category involved."""
        wanted = {i.symbol: i for i in instruments}
        categories = sorted({i.market for i in instruments})
        bodies = await self._tickers(categories)
        received = self.ctx.now()
        lacking = sorted(set().union(*(parse.symbols_without_interval(b, wanted) for b in bodies)))
        intervals = await self._funding_intervals([wanted[s] for s in lacking]) if lacking else {}
        result: Answer[FundingRate] = Answer(self.name)
        listed: set[str] = set()
        for body in bodies:  # an implausible row costs only its own perpetual
            result.items += parse.parse_tickers(body, wanted, received, intervals, result.errors)
            listed |= parse.listed_symbols(body, wanted)
        result.errors += self._missing(wanted, listed)
        return result

    async def _tickers(self, categories: Iterable[str]) -> list[Any]:
        """The bulk tickers answers of these categories, concurrently."""
        return list(await asyncio.gather(*(self._get(api.TICKERS, {"category": c}) for c in sorted(set(categories)))))

    def _missing(self, wanted: Mapping[str, Instrument], found: set[str]) -> list[VenueError]:
        """An error per asked contract that the tickers did not list (e.g. delisted since cached); a dated
        future that expired since the instrument list was cached is simply gone, not an error."""
        now = self.ctx.now()
        return [VenueError(self.name, f"{api.TICKERS}: no ticker for {sym} (category {inst.market})")
                for sym, inst in wanted.items()
                if sym not in found and (inst.expiry is None or inst.expiry > now)]

    # --- funding history --------------------------------------------------------------------

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Settled funding of one perpetual over ``[start, end]``, paging backwards with ``endTime``.

        Paging stops on an empty page (nothing older: the symbol's listing) or once the oldest row
        reaches ``start``; a short page is NOT the end (the venue may serve fewer rows than asked).
        The rows fetched before ``start`` give the first point in the window its real spacing.
        """
        start_ms, end_ms = utc_to_ms(start), utc_to_ms(end)
        series: list[tuple[datetime, float]] = []
        cursor = end_ms
        exhausted = False
        for _ in range(_MAX_HISTORY_PAGES):
            page = await self._history_page(instrument, cursor)
            if not page:
                exhausted = True  # nothing at or before ``cursor``
                break
            stamps = [utc_to_ms(t) for t, _ in page]
            if max(stamps) > cursor:  # also guarantees progress: each page ends before the last began
                raise ParseError(self.name, api.FUNDING_HISTORY, f"rows after endTime {cursor}")
            series += page
            if min(stamps) <= start_ms:
                break
            cursor = min(stamps) - 1
        else:
            raise ParseError(self.name, api.FUNDING_HISTORY, f"more than {_MAX_HISTORY_PAGES} pages")
        received = self.ctx.now()
        oldest_ms = min((utc_to_ms(t) for t, _ in series), default=None)
        points = points_from_settlements(series, await self._current_interval(instrument, series), venue=self.name,
                                         symbol=instrument.symbol, received_at=received) if series else ()
        return FundingHistory(venue=self.name, symbol=instrument.symbol, start=start, end=end,
                              points=within(points, start, end),
                              note=self._history_note(instrument, start_ms, oldest_ms, exhausted))

    async def _history_page(self, instrument: Instrument, end_ms: int) -> list[tuple[datetime, float]]:
        """One funding/history page: up to ``history_page_size`` settlements at or before ``end_ms``."""
        params = {"category": instrument.market, "symbol": instrument.symbol, "endTime": end_ms,
                  "limit": self.history_page_size}
        body = await self._get(api.FUNDING_HISTORY, params)
        return parse.parse_funding_history(body, instrument.symbol)

    async def _current_interval(self, instrument: Instrument, series: list[tuple[datetime, float]]) -> float:
        """The symbol's current interval in hours: the spacing of its last two settlements, or (a
        single settlement since listing) instruments-info ``fundingInterval``."""
        hours = latest_spacing(t for t, _ in series)
        if hours is not None:
            return hours
        return (await self._funding_intervals([instrument]))[instrument.symbol]

    def _history_note(self, instrument: Instrument, start_ms: int, oldest_ms: int | None, exhausted: bool) -> str:
        """Say so when Bybit has less history than asked (a symbol listed after the window start)."""
        if not exhausted or (oldest_ms is not None and oldest_ms <= start_ms):
            return ""
        if oldest_ms is None:
            return f"Bybit has no funding history for {instrument.symbol}"
        return (f"Bybit has funding history for {instrument.symbol} only from "
                f"{ms_to_utc(oldest_ms):%Y-%m-%d %H:%M} UTC (its listing); asked from "
                f"{ms_to_utc(start_ms):%Y-%m-%d %H:%M} UTC")

    # --- open interest, quotes, spot ----------------------------------------------------------

    async def _from_tickers(
        self, instruments: Sequence[Instrument],
        read: Callable[[Any, Mapping[str, Instrument], datetime], tuple[list[T], list[ParseError]]],
    ) -> Answer[T]:
        """``read`` over the bulk tickers of the categories of ``instruments`` (one round). A category whose
        tickers failed, a row that did not parse and a contract without a ticker are errors of their own;
        the call fails only when no category answered."""
        answer: Answer[T] = Answer(self.name)
        categories = sorted({i.market for i in instruments})
        done = await asyncio.gather(*(self._get(api.TICKERS, {"category": c}) for c in categories),
                                    return_exceptions=True)
        received = self.ctx.now()
        failures = [body for body in done if isinstance(body, BaseException)]
        for exc in failures:
            if not isinstance(exc, DtrackError) or len(failures) == len(done):
                raise exc
            answer.errors.append(exc)
        failed = {c for c, body in zip(categories, done, strict=True) if isinstance(body, BaseException)}
        wanted = {i.symbol: i for i in instruments if i.market not in failed}
        listed: set[str] = set()
        for body in done:
            if not isinstance(body, BaseException):
                items, errors = read(body, wanted, received)
                answer.items += items
                answer.errors += errors
                listed |= parse.listed_symbols(body, wanted)
        answer.errors += self._missing(wanted, listed)
        return answer

    async def fetch_open_interest(self, instruments: Sequence[Instrument]) -> Answer[OpenInterest]:
        """One-sided open interest of these perpetuals and dated futures from the bulk tickers (linear in
        the base coin, inverse in USD), converted with the mark price; ``singleOpenInterest`` where the
        answer has it (``openInterest`` counts both sides since 2026-06-11), the note says which."""
        return await self._from_tickers(instruments, parse.parse_open_interest)

    async def fetch_quotes(self, instruments: Sequence[Instrument]) -> Answer[PriceQuote]:
        """Mark, index and last prices of these perpetuals and dated futures from the bulk tickers."""
        return await self._from_tickers(instruments, parse.parse_quotes)

    async def fetch_spot(self, assets: Sequence[str]) -> Answer[SpotPrice]:
        """Last prices of the ``<ASSET>USDT`` spot pairs (one bulk spot tickers call); an asset without a
        pair is absent."""
        answer: Answer[SpotPrice] = Answer(self.name)
        if not assets:
            return answer
        body = await self._get(api.TICKERS, {"category": api.SPOT_CATEGORY})
        prices, errors = parse.parse_spot(body, assets, self.ctx.now())
        answer.items += prices
        answer.errors += errors
        return answer

    # --- long/short ---------------------------------------------------------------------------

    async def fetch_long_short(self, asset: str, perps: Sequence[Instrument]) -> Answer[LongShortRatio]:
        """The latest 5-minute account ratio of each USDT perpetual of ``asset`` (Bybit publishes it for
        USDT perpetuals): the shares of accounts net long and net short."""
        usdt = [p for p in perps if p.asset == asset and p.kind is Kind.PERP and p.margin is Margin.LINEAR
                and p.quote == api.SPOT_QUOTE]
        return await self._each(usdt, self._account_ratio)

    async def _account_ratio(self, perp: Instrument) -> list[LongShortRatio]:
        params = {"category": perp.market, "symbol": perp.symbol, "period": api.ACCOUNT_RATIO_PERIOD, "limit": 1}
        latest = parse.parse_account_ratio(await self._get(api.ACCOUNT_RATIO, params), perp.symbol)
        received = self.ctx.now()
        if latest is None:
            return []
        return [parse.long_short(perp, latest, received)]

    async def _each(self, items: Sequence[Instrument],
                    job: Callable[[Instrument], Awaitable[list[T]]]) -> Answer[T]:
        """``job`` on every item concurrently: what answered, and the errors of the others (the first
        error is raised when none answered)."""
        answer: Answer[T] = Answer(self.name)
        done = await asyncio.gather(*(job(i) for i in items), return_exceptions=True)
        for item in done:
            if isinstance(item, DtrackError):
                answer.errors.append(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                answer.items += item
        if answer.errors and len(answer.errors) == len(done):
            raise answer.errors[0]
        return answer

    # --- klines ------------------------------------------------------------------------------

    async def fetch_price_history(self, instrument: Instrument, start: datetime, end: datetime,
                                  period_hours: int) -> tuple[PricePoint, ...]:
        """Closes, highs and lows of the contract's trade klines whose close time lies in ``[start, end]``,
        ascending, per one unit of the asset; the candle still open is stamped ``now`` (its high and low so far).
        Every page at once."""
        step = period_hours * HOUR_MS
        # the first candle that closes at or after ``start`` opens a step earlier
        klines = await self._klines(instrument, period_hours, utc_to_ms(start) - step, utc_to_ms(end))
        now = self.ctx.now()
        points = (price_point(Kline(k.start_ms, k.close, k.high, k.low), venue=self.name, symbol=instrument.symbol,
                              time=min(ms_to_utc(k.start_ms + step), now), multiplier=instrument.multiplier,
                              received_at=now)
                  for _, k in sorted(klines.items()))
        return tuple(p for p in points if start <= p.time <= end)

    async def _klines(self, instrument: Instrument, period_hours: int, first_ms: int,
                      last_ms: int) -> dict[int, parse.Bar]:
        """The candles opening in ``[first_ms, last_ms]`` by start time, every page concurrently."""
        interval = _interval(api.KLINE_INTERVALS, period_hours, "kline")
        return await self._bars(instrument, interval, period_hours * HOUR_MS, first_ms, last_ms)

    async def _bars(self, instrument: Instrument, interval: str, step_ms: int, first_ms: int,
                    last_ms: int) -> dict[int, parse.Bar]:
        """The kline rows of ``interval`` (``step_ms`` long) opening in ``[first_ms, last_ms]`` by start time: the
        pages of the window (``kline_page_size`` candles each) computed up front and requested at once."""
        windows = page_windows(first_ms, last_ms, step_ms, self.kline_page_size)
        pages = await asyncio.gather(*(self._kline_page(instrument, interval, a, b) for a, b in windows))
        return {k.start_ms: k for page in pages for k in page}

    async def _kline_page(self, instrument: Instrument, interval: str, first_ms: int,
                          last_ms: int) -> list[parse.Bar]:
        params = {"category": instrument.market, "symbol": instrument.symbol, "interval": interval,
                  "start": first_ms, "end": last_ms, "limit": self.kline_page_size}
        return parse.parse_bars(await self._get(api.KLINE, params), instrument.symbol)

    async def fetch_candles(self, instrument: Instrument, start: datetime, end: datetime,
                            period_seconds: int) -> tuple[Candle, ...]:
        """OHLCV bars of the contract's trade klines opening in ``[start, end]`` (up to now), ascending, prices per
        ONE unit of the asset, volumes in coins and USD (``parse.candles`` says which field gives which); the bar
        still open is ``closed=False``. Pages of 1000 bars, all requested at once."""
        interval = api.CANDLE_INTERVALS.get(period_seconds)
        if interval is None:
            raise UnsupportedError(f"bybit: no {period_seconds} s klines; periods (s): "
                                   f"{', '.join(str(p) for p in api.CANDLE_INTERVALS)}")
        last = min(end, self.ctx.now())
        if last < start:
            return ()
        bars = await self._bars(instrument, interval, period_seconds * 1000, utc_to_ms(start), utc_to_ms(last))
        out = parse.candles(bars.values(), instrument, period_seconds, self.ctx.now())
        return tuple(c for c in out if start <= c.time <= end)

    # --- order book, risk limits -----------------------------------------------------------------

    async def fetch_order_book(self, instrument: Instrument, depth: int) -> OrderBook:
        """The contract's order book, ``depth`` levels a side (at most 500, Bybit's cap; ``OrderBook.limit`` says
        what was asked): prices per ONE unit of the asset, sizes in coins (inverse: USD contracts at each level's
        price). One request."""
        if depth < 1:
            raise UsageError(f"order-book depth {depth}: give a number of levels a side, 1 or more")
        limit = min(depth, api.BOOK_MAX_LIMIT)
        params = {"category": instrument.market, "symbol": instrument.symbol, "limit": limit}
        body = await self._get(api.ORDERBOOK, params)
        return parse.parse_orderbook(body, instrument, limit, self.ctx.now())

    async def fetch_margin_tiers(self, instrument: Instrument) -> tuple[MarginTier, ...]:
        """The contract's risk-limit tiers, lowest first: every page of ``/v5/market/risk-limit?symbol=`` followed
        with ``cursor`` (pages come one after the other: each names the next). Linear tiers are notional in the
        quote (USD), inverse tiers coins; rates are fractions whatever form the answer used."""
        params: dict[str, Any] = {"category": instrument.market, "symbol": instrument.symbol}
        tiers: list[parse.RiskTier] = []
        seen: set[str] = set()
        first: Any = None
        for _ in range(api.RISK_LIMIT_MAX_PAGES):
            body = await self._get(api.RISK_LIMIT, params)
            first = body if first is None else first
            page = parse.parse_risk_limit(body, instrument.symbol)
            tiers += page.tiers
            if not page.cursor:
                received = self.ctx.now()
                stamp = parse.answer_time(first, api.RISK_LIMIT, received)
                return parse.margin_tiers(tiers, instrument, stamp.time, received)
            if page.cursor in seen:
                raise ParseError(self.name, api.RISK_LIMIT, f"nextPageCursor {page.cursor!r} repeats")
            seen.add(page.cursor)
            params = {**params, "cursor": parse.cursor_param(page.cursor)}
        raise ParseError(self.name, api.RISK_LIMIT, f"more than {api.RISK_LIMIT_MAX_PAGES} pages")

    # --- open-interest history ----------------------------------------------------------------

    async def fetch_oi_history(self, instrument: Instrument, start: datetime, end: datetime,
                               period_hours: int) -> OIHistory:
        """Open interest of one contract at every ``period_hours`` boundary in ``[start, end]``, one side,
        in units of the asset and USD, ascending.

        The open-interest pages (200 points each) and the klines of the same window (1000 a page) are
        requested all at once. A point is converted with the open of the candle starting at its time
        (the trade price then): to USD for linear contracts (reported in the coin), to the coin for
        inverse ones (reported in USD). Without klines a linear history keeps its coin amounts (no USD,
        the note says why); an inverse one cannot be converted and fails.
        """
        interval = _interval(api.OI_INTERVALS, period_hours, "open-interest interval")
        start_ms, end_ms = utc_to_ms(start), utc_to_ms(end)
        windows = page_windows(start_ms, end_ms, period_hours * HOUR_MS, self.oi_page_size)
        pages_job = asyncio.gather(*(self._oi_page(instrument, interval, a, b) for a, b in windows),
                                   return_exceptions=True)
        klines, pages = await asyncio.gather(self._klines_or_error(instrument, period_hours, start_ms, end_ms),
                                             pages_job)
        rows: dict[datetime, parse.OneSide] = {}
        for page in pages:
            if isinstance(page, BaseException):
                raise page
            rows.update(page)
        rows = {t: side for t, side in rows.items() if start <= t <= end}
        notes = sorted({f"{side.field}: {side.explanation}" for side in rows.values()})
        if isinstance(klines, DtrackError):
            if instrument.margin is Margin.INVERSE:
                raise klines
            notes.append(f"no USD values: klines failed ({klines})")
            klines = {}
        prices = {ms_to_utc(opened): k.open / instrument.multiplier for opened, k in klines.items()}
        points, unconverted = self._oi_points(instrument, rows, prices, self.ctx.now())
        if unconverted:
            notes.append(f"{unconverted} point(s) without a kline to convert them from USD were left out")
        notes += self._oi_depth_note(instrument, points, windows, start)
        return OIHistory(venue=self.name, symbol=instrument.symbol, period_hours=float(period_hours), points=points,
                         note="; ".join(notes))

    async def _klines_or_error(self, instrument: Instrument, period_hours: int, first_ms: int,
                               last_ms: int) -> dict[int, parse.Bar] | DtrackError:
        try:
            return await self._klines(instrument, period_hours, first_ms, last_ms)
        except DtrackError as err:
            return err

    async def _oi_page(self, instrument: Instrument, interval: str, first_ms: int,
                       last_ms: int) -> list[tuple[datetime, parse.OneSide]]:
        params = {"category": instrument.market, "symbol": instrument.symbol, "intervalTime": interval,
                  "startTime": first_ms, "endTime": last_ms, "limit": self.oi_page_size}
        return parse.parse_oi_history(await self._get(api.OPEN_INTEREST, params), instrument.symbol)

    def _oi_points(self, instrument: Instrument, rows: Mapping[datetime, parse.OneSide],
                   prices: Mapping[datetime, float], received: datetime) -> tuple[tuple[OIPoint, ...], int]:
        """The points in units of the asset (and USD where a price is known), ascending, and how many
        USD-denominated points had no price to convert them; ``received``: when the pages arrived."""
        unit, _ = parse.oi_unit(instrument)
        points: list[OIPoint] = []
        unconverted = 0
        for t in sorted(rows):
            amount, price = rows[t].amount, prices.get(t)
            if price is not None:
                base, usd = oi_base_and_usd(instrument, amount, unit, price)
                points.append(OIPoint(venue=self.name, symbol=instrument.symbol, time=t, base=base, usd=usd,
                                      received_at=received))
            elif unit is Unit.BASE:
                points.append(OIPoint(venue=self.name, symbol=instrument.symbol, time=t,
                                      base=amount * instrument.multiplier, usd=None, received_at=received))
            else:
                unconverted += 1
        return tuple(points), unconverted

    def _oi_depth_note(self, instrument: Instrument, points: Sequence[OIPoint], windows: Sequence[tuple[int, int]],
                       start: datetime) -> list[str]:
        """Say so when Bybit has less history than asked (a contract launched after ``start``)."""
        if not windows:
            return []
        first = ms_to_utc(windows[0][0])
        if not points:
            return [f"Bybit has no open-interest history for {instrument.symbol} in the window"]
        if points[0].time <= first:
            return []
        return [f"Bybit has open-interest history for {instrument.symbol} only from "
                f"{points[0].time:%Y-%m-%d %H:%M} UTC (its launch); asked from {start:%Y-%m-%d %H:%M} UTC"]

    # --- options ------------------------------------------------------------------------------

    #: recent-trade rows asked for per option type (lower it in tests).
    trades_page_size: ClassVar[int] = api.TRADES_MAX_LIMIT

    async def _option_listing(self, asset: str) -> tuple[dict[str, parse.OptionTerms], list[ParseError]]:
        """The trading options of ``asset`` by symbol (instruments-info, every page, cached for
        ``instruments_ttl``) and an error per row that did not parse (its option keeps the symbol's terms)."""
        query = {"category": api.OPTION_CATEGORY, "baseCoin": asset}
        pages = await self._pages(query, self.ctx.settings.instruments_ttl, parse.parse_option_instruments_page)
        broken = [ParseError(self.name, api.INSTRUMENTS, b) for page in pages for b in page.broken]
        return {sym: terms for page in pages for sym, terms in page.terms.items()}, broken

    async def fetch_option_chain(self, asset: str) -> Answer[OptionQuote]:
        """Every trading option on ``asset`` (USDC- and USDT-settled) from the bulk option tickers, with the
        instruments-info terms; prices per ONE coin in USD (the settlement coin) and in the coin (USD /
        ``underlyingPrice``), IVs as fractions, OI and volume in contracts of one coin, Bybit's greeks.

        The tickers are the core (their failure raises); instruments-info is an enrichment: when it fails,
        the chain comes from the tickers alone, expiries read from the symbols (08:00 UTC), and the failure is
        in ``errors``. A listed option without a ticker is kept with no mark.
        """
        params = {"category": api.OPTION_CATEGORY, "baseCoin": asset}
        listing: tuple[dict[str, parse.OptionTerms], list[ParseError]] | BaseException
        body: Any
        listing, body = await asyncio.gather(self._option_listing(asset), self._get(api.TICKERS, params),
                                             return_exceptions=True)
        if isinstance(body, BaseException):
            raise body
        answer: Answer[OptionQuote] = Answer(self.name)
        terms: dict[str, parse.OptionTerms] = {}
        if isinstance(listing, DtrackError):
            answer.errors.append(listing)
        elif isinstance(listing, BaseException):
            raise listing
        else:
            terms, broken = listing
            answer.errors += broken
        answer.items, errors = parse.parse_option_chain(body, asset, terms, self.ctx.now())
        answer.errors += errors
        return answer

    async def fetch_option_trades(self, asset: str, start: datetime, end: datetime) -> Answer[OptionTrade]:
        """Option trades on ``asset`` with ``start <= time <= end``, ascending: taker side, size in contracts of
        one coin, USD price per coin, index, IV fraction, block flag. Bybit serves only the latest trades (no
        time parameters): the latest 1000 calls and 1000 puts, asked for at once; a window reaching further
        back is cut to what they hold. Both calls are the core: a failure raises."""
        bodies = await asyncio.gather(*(
            self._get(api.RECENT_TRADE, {"category": api.OPTION_CATEGORY, "baseCoin": asset, "optionType": kind,
                                         "limit": self.trades_page_size})
            for kind in api.OPTION_TYPES))
        received = self.ctx.now()
        answer: Answer[OptionTrade] = Answer(self.name)
        seen: dict[str, OptionTrade] = {}
        for body in bodies:
            trades, errors = parse.parse_option_trades(body, asset, received)
            answer.errors += errors
            for trade in trades:
                if start <= trade.time <= end:
                    seen.setdefault(trade.trade_id, trade)
        answer.items = sorted(seen.values(), key=lambda t: (t.time, t.trade_id))
        return answer

    async def fetch_realized_vol(self, asset: str, start: datetime, end: datetime) -> tuple[VolPoint, ...]:
        """Bybit's published 30-day realized volatility of ``asset`` (hourly points, fractions) in ``[start,
        end]``, ascending: windows of at most 30 days (the endpoint's limit), all requested at once. Bybit keeps
        two years: a window reaching further back starts there."""
        now = self.ctx.now()
        first = max(start, now - timedelta(days=api.HV_MAX_AGE_DAYS))
        windows = page_windows(utc_to_ms(first), utc_to_ms(min(end, now)), HOUR_MS, api.HV_MAX_SPAN_HOURS)
        pages = await asyncio.gather(*(self._hv_page(asset, a, b) for a, b in windows))
        points = {p.time: p for page in pages for p in page}
        return tuple(points[t] for t in sorted(points) if start <= t <= end)

    async def _hv_page(self, asset: str, first_ms: int, last_ms: int) -> list[VolPoint]:
        params = {"category": api.OPTION_CATEGORY, "baseCoin": asset, "period": api.HV_PERIOD_DAYS,
                  "startTime": first_ms, "endTime": last_ms}
        body = await self._get(api.HISTORICAL_VOLATILITY, params)
        return parse.parse_historical_volatility(body, asset, api.HV_PERIOD_DAYS, self.ctx.now())
