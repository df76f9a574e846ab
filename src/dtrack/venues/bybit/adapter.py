"""Bybit v5 adapter: the venue's only I/O (instrument pages, bulk tickers, funding history pages).

Requests per funding query with a warm cache: one tickers call per category involved (linear,
inverse), concurrently. A cold cache first pages through instruments-info (categories concurrently);
it is re-read (disk-cached) for funding intervals only when a ticker lacks ``fundingIntervalHour``.
Open interest and prices come in the same tickers answer, so there is no enrichment call that
could fail on its own: a bad tickers answer fails the venue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

from dtrack.errors import ParseError, VenueError
from dtrack.records import FundingHistory, FundingRate, Instrument
from dtrack.venues.base import Adapter, FundingResult
from dtrack.venues.bybit import api, parse
from dtrack.venues.fields import ms_to_utc, points_from_settlements, utc_to_ms

#: A guard against a venue that keeps handing out cursors (1000 x 1000 symbols is far beyond Bybit's list).
_MAX_PAGES = 1000


class BybitAdapter(Adapter):
    """Linear (USDT ``BTCUSDT``, USDC ``BTCPERP``) and inverse (``BTCUSD``) perpetuals on Bybit v5."""

    name = "bybit"
    hosts = api.HOSTS
    main_host = api.MAIN_HOST
    limits = api.LIMITS
    funding_history_depth = None  # Bybit serves funding history back to each symbol's listing

    #: instruments-info page size (lower it in tests to exercise the cursor paging).
    instruments_page_size: ClassVar[int] = api.INSTRUMENTS_MAX_LIMIT
    #: funding/history page size.
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

    async def _instrument_pages(self, category: str, ttl: float) -> list[Any]:
        """Every instruments-info page of one category, each page disk-cached for ``ttl`` seconds."""
        pages: list[Any] = []
        cursor = ""
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            params: dict[str, Any] = {"category": category, "limit": self.instruments_page_size}
            if cursor:
                params["cursor"] = parse.cursor_param(cursor)
            body = await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, params, ttl=ttl)
            pages.append(body)
            _, cursor = parse.result_rows(body, api.INSTRUMENTS)
            if not cursor:
                return pages
            if cursor in seen:
                raise ParseError(self.name, api.INSTRUMENTS, f"nextPageCursor {cursor!r} repeats")
            seen.add(cursor)
        raise ParseError(self.name, api.INSTRUMENTS, f"more than {_MAX_PAGES} pages")

    async def _all_pages(self, categories: Sequence[str], ttl: float) -> list[Any]:
        """The instruments-info pages of several categories, the categories concurrently."""
        per_category = await asyncio.gather(*(self._instrument_pages(c, ttl) for c in categories))
        return [page for pages in per_category for page in pages]

    async def instruments(self) -> list[Instrument]:
        """Every trading linear and inverse perpetual (instruments-info, cached for ``instruments_ttl``)."""
        pages = await self._all_pages(api.PERP_CATEGORIES, self.ctx.settings.instruments_ttl)
        return [inst for page in pages for inst in parse.parse_instruments(page)]

    async def _funding_intervals(self, categories: Sequence[str]) -> dict[str, float]:
        """``{symbol: hours}`` from instruments-info ``fundingInterval`` (cached for ``funding_interval_ttl``)."""
        pages = await self._all_pages(categories, self.ctx.settings.funding_interval_ttl)
        return {sym: hours for page in pages for sym, hours in parse.funding_intervals(page).items()}

    # --- current funding --------------------------------------------------------------------

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """Current funding of these perpetuals from the bulk tickers of each category involved."""
        wanted = {i.symbol: i for i in instruments}
        categories = sorted({i.market for i in instruments})
        bodies = await asyncio.gather(
            *(self.get(api.MAIN_HOST, api.TICKERS, {"category": c}) for c in categories))
        received = self.ctx.now()
        lacking = set().union(*(parse.symbols_without_interval(b, wanted) for b in bodies))
        intervals = await self._funding_intervals(categories) if lacking else {}
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
        """Settled funding of one perpetual over ``[start, end]``, paging backwards with ``endTime``."""
        start_ms, end_ms = utc_to_ms(start), utc_to_ms(end)
        series: list[tuple[datetime, float]] = []
        oldest_ms: int | None = None
        cursor = end_ms
        exhausted = False
        while True:
            page = await self._history_page(instrument, cursor)
            series += [(t, rate) for t, rate in page if start <= t <= end]
            if len(page) < self.history_page_size:
                exhausted = True  # nothing older exists
            if page:
                page_oldest = min(utc_to_ms(t) for t, _ in page)
                if page_oldest > cursor:
                    raise ParseError(self.name, api.FUNDING_HISTORY, f"rows after endTime {cursor}")
                oldest_ms = page_oldest if oldest_ms is None else min(oldest_ms, page_oldest)
            if exhausted or oldest_ms is None or oldest_ms <= start_ms:
                break
            cursor = oldest_ms - 1
        points = points_from_settlements(series, await self._latest_interval(instrument, series)) if series else ()
        return FundingHistory(self.name, instrument.symbol, start, end, points,
                              self._history_note(instrument, start_ms, oldest_ms, exhausted))

    async def _history_page(self, instrument: Instrument, end_ms: int) -> list[tuple[datetime, float]]:
        """One funding/history page: up to ``history_page_size`` settlements at or before ``end_ms``."""
        params = {"category": instrument.market, "symbol": instrument.symbol, "endTime": end_ms,
                  "limit": self.history_page_size}
        body = await self.get(api.MAIN_HOST, api.FUNDING_HISTORY, params)
        return parse.parse_funding_history(body, instrument.symbol)

    async def _latest_interval(self, instrument: Instrument, series: list[tuple[datetime, float]]) -> float:
        """The symbol's current interval in hours: the spacing of its last two settlements, or (with
        a single one in the window) instruments-info ``fundingInterval``."""
        times = sorted(t for t, _ in series)
        if len(times) >= 2 and (hours := round((times[-1] - times[-2]).total_seconds() / 3600.0)) >= 1:
            return float(hours)
        intervals = await self._funding_intervals([instrument.market])
        if instrument.symbol not in intervals:
            raise ParseError(self.name, api.INSTRUMENTS, f"no fundingInterval for {instrument.symbol}")
        return intervals[instrument.symbol]

    def _history_note(self, instrument: Instrument, start_ms: int, oldest_ms: int | None, exhausted: bool) -> str:
        """Say so when Bybit has less history than asked (a symbol listed after the window start)."""
        if not exhausted or (oldest_ms is not None and oldest_ms <= start_ms):
            return ""
        if oldest_ms is None:
            return f"Bybit has no funding history for {instrument.symbol}"
        return (f"Bybit has funding history for {instrument.symbol} only from "
                f"{ms_to_utc(oldest_ms):%Y-%m-%d %H:%M} UTC (its listing); asked from "
                f"{ms_to_utc(start_ms):%Y-%m-%d %H:%M} UTC")
