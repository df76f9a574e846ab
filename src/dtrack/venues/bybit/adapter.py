"""Bybit v5 adapter: the venue's only I/O (instrument pages, bulk tickers, funding history pages).

Requests per funding query with a warm cache: one tickers call per category involved (linear,
inverse), concurrently. A cold cache first pages through instruments-info (categories concurrently);
it is re-read (disk-cached) for funding intervals only when a ticker lacks ``fundingIntervalHour``
or a history holds a single settlement. Open interest and prices come in the same tickers answer,
so there is no enrichment call that could fail on its own: a bad row of an asked symbol fails the
venue, a bad row of any other symbol is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, ClassVar

from dtrack.errors import ParseError, VenueError
from dtrack.records import FundingHistory, FundingRate, Instrument
from dtrack.venues.base import Adapter, FundingResult
from dtrack.venues.bybit import api, parse
from dtrack.venues.fields import Listing, latest_spacing, ms_to_utc, points_from_settlements, utc_to_ms, within

#: A guard against a venue that keeps handing out cursors (1000 x 1000 symbols is far beyond Bybit's list).
_MAX_PAGES = 1000
#: A guard on funding/history paging: hourly funding since 2018 is ~75,000 rows, 375 pages of 200
#: (more if the venue serves shorter pages). Each page must also end before the previous one.
_MAX_HISTORY_PAGES = 5000


class BybitAdapter(Adapter):
    """Linear (USDT ``BTCUSDT``, USDC ``BTCPERP``) and inverse (``BTCUSD``) perpetuals on Bybit v5."""

    name = "bybit"
    hosts = api.HOSTS
    main_host = api.MAIN_HOST
    instruments_endpoint = api.INSTRUMENTS
    limits = api.LIMITS
    funding_history_depth = None  # Bybit serves funding history back to each symbol's listing

    #: instruments-info page size (lower it in tests to exercise the cursor paging).
    instruments_page_size: ClassVar[int] = api.INSTRUMENTS_MAX_LIMIT
    #: funding/history page size asked for (the venue may answer fewer rows per page).
    history_page_size: ClassVar[int] = api.HISTORY_MAX_LIMIT

    def remap_status(self, status: int, text: str) -> tuple[int, float | None] | None:
        """Bybit answers an IP rate-limit breach with HTTP 403 "access too frequent": a ban of at least
        10 minutes (read as a 418), not a geo-block."""
        if status == 403 and api.TOO_FREQUENT in text.lower():
            return 418, api.BAN_SECONDS
        return None

    def check(self, body: Any) -> None:
        """Raise for a non-zero ``retCode`` in a 200 answer."""
        parse.check_envelope(body)

    # --- instruments ------------------------------------------------------------------------

    async def _instrument_pages(self, category: str, ttl: float) -> list[parse.InstrumentsPage]:
        """Every instruments-info page of one category, each page disk-cached for ``ttl`` seconds."""
        pages: list[parse.InstrumentsPage] = []
        cursor = ""
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {"category": category, "limit": self.instruments_page_size}
            if cursor:
                params["cursor"] = parse.cursor_param(cursor)
            page = await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, params, ttl=ttl,
                                         parse=parse.parse_instruments_page)
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
        """Every trading linear and inverse perpetual (instruments-info, every page of both categories,
        cached for ``instruments_ttl``); a category that cannot be read is ``missing``, the other serves."""
        ttl = self.ctx.settings.instruments_ttl
        parts = await asyncio.gather(*(self._category_listing(c, ttl) for c in api.PERP_CATEGORIES),
                                     return_exceptions=True)
        return Listing.of_parts(parts)

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

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """Current funding of these perpetuals from the bulk tickers of each category involved."""
        wanted = {i.symbol: i for i in instruments}
        categories = sorted({i.market for i in instruments})
        bodies = await asyncio.gather(
            *(self.get(api.MAIN_HOST, api.TICKERS, {"category": c}) for c in categories))
        received = self.ctx.now()
        lacking = sorted(set().union(*(parse.symbols_without_interval(b, wanted) for b in bodies)))
        intervals = await self._funding_intervals([wanted[s] for s in lacking]) if lacking else {}
        result = FundingResult(self.name)
        for body in bodies:
            result.rates += parse.parse_tickers(body, wanted, received, intervals)
        result.errors += self._missing(wanted, result.rates)
        return result

    def _missing(self, wanted: dict[str, Instrument], rates: list[FundingRate]) -> list[VenueError]:
        """An error per asked perpetual that the tickers did not list (e.g. delisted since cached)."""
        found = {r.instrument.symbol for r in rates}
        return [VenueError(self.name, f"{api.TICKERS}: no ticker for {sym} (category {inst.market})")
                for sym, inst in wanted.items() if sym not in found]

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
        oldest_ms = min((utc_to_ms(t) for t, _ in series), default=None)
        points = points_from_settlements(series, await self._current_interval(instrument, series)) if series else ()
        return FundingHistory(self.name, instrument.symbol, start, end, within(points, start, end),
                              self._history_note(instrument, start_ms, oldest_ms, exhausted))

    async def _history_page(self, instrument: Instrument, end_ms: int) -> list[tuple[datetime, float]]:
        """One funding/history page: up to ``history_page_size`` settlements at or before ``end_ms``."""
        params = {"category": instrument.market, "symbol": instrument.symbol, "endTime": end_ms,
                  "limit": self.history_page_size}
        body = await self.get(api.MAIN_HOST, api.FUNDING_HISTORY, params)
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
