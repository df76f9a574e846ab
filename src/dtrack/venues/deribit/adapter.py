"""Deribit adapter: the venue's only I/O (instrument list, current funding, funding history).

Requests per funding query: the instrument list once (disk-cached), one book summary per settlement
currency the asked perpetuals need (BTC, ETH, USDC), concurrently; a ticker only for a perpetual the
book summary does not cover. History: one request per 30-day window of hourly samples, the windows
concurrently; a window whose answer stops short of its range (Deribit's cap on rows per answer is
undocumented) is followed by requests for the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from dtrack.errors import DtrackError, RateLimited, VenueError
from dtrack.net.http import RateLimit
from dtrack.records import FundingHistory, FundingPoint, FundingRate, Instrument, Kind
from dtrack.venues.base import Adapter, FundingResult
from dtrack.venues.deribit import api
from dtrack.venues.deribit.parse import (
    HISTORY_NOTE,
    history_points,
    parse_book_summary,
    parse_funding_history,
    parse_instruments,
    parse_ticker,
)
from dtrack.venues.fields import Listing, utc_to_ms, within

HOUR_MS = 3_600_000
#: requests per 30-day window at most (the first one and its follow-ups): enough for answers of 23+
#: rows; past it the rest of the window stays missing and the history note counts the missing hours
MAX_REQUESTS_PER_WINDOW = 32

Samples = list[tuple[datetime, float]]


def history_windows(start: datetime, end: datetime, chunk: timedelta = api.HISTORY_CHUNK) -> list[tuple[int, int]]:
    """``(start_timestamp, end_timestamp)`` pairs covering ``[start, end]`` with at most ``chunk`` of hours each.

    Deribit answers the hours after ``start_timestamp`` up to and including ``end_timestamp`` (the docs
    example asks 00:00-04:00 and gets 01:00-04:00), so the first window opens 1 ms before ``start`` and
    each next one where the previous closed. Windows are cut at whole hours so that each holds at most
    ``chunk`` of hourly rows (720 for 30 days); the last one runs to ``end``.
    """
    per_window = int(chunk / timedelta(hours=1))
    lo, hi = utc_to_ms(start) - 1, utc_to_ms(end)
    windows: list[tuple[int, int]] = []
    while lo < hi:
        last_hour = (lo // HOUR_MS + per_window) * HOUR_MS  # the window's last whole hour
        if last_hour + HOUR_MS > hi:  # no whole hour would be left for another window
            windows.append((lo, hi))
            break
        windows.append((lo, last_hour))
        lo = last_hour
    return windows


class DeribitAdapter(Adapter):
    """Deribit perpetuals: inverse BTC/ETH (USD contracts) and linear USDC-settled ones."""

    name: ClassVar[str] = api.VENUE
    hosts: ClassVar[Mapping[str, str]] = api.HOSTS
    main_host: ClassVar[str] = api.MAIN_HOST
    instruments_endpoint: ClassVar[str] = "public/get_instruments"
    limits: ClassVar[Mapping[str, RateLimit]] = api.LIMITS
    funding_history_depth: ClassVar[timedelta | None] = None  # kept since each perpetual's listing

    def check(self, body: Any) -> None:
        """Raise for a JSON-RPC ``error`` member; ``too_many_requests`` (10028) is a rate limit."""
        if not isinstance(body, Mapping) or body.get("error") is None:
            return
        error = body["error"]
        fields = error if isinstance(error, Mapping) else {"message": error}
        code, message = fields.get("code"), fields.get("message", "")
        data = fields.get("data")
        detail = f"error {code}: {message}" + (f" {data}" if data else "")
        if code == api.TOO_MANY_REQUESTS:
            # the venue ends the session and refills credits continuously; no Retry-After is given
            raise RateLimited(self.name, f"{detail} (out of request credits)", retry_after=None, status=None,
                              code=str(code))
        raise VenueError(self.name, detail, code=None if code is None else str(code))

    async def listing(self) -> Listing:
        """Every active future and perpetual, from one disk-cached ``get_instruments?currency=any`` call."""
        return await self.cached_get(api.MAIN_HOST, api.INSTRUMENTS, api.INSTRUMENTS_PARAMS,
                                     ttl=self.ctx.settings.instruments_ttl, endpoint=self.instruments_endpoint,
                                     parse=parse_instruments)

    async def fetch_funding_rates(self, instruments: Sequence[Instrument]) -> FundingResult:
        """Funding of these perpetuals from the book summaries of their settlement currencies.

        A perpetual missing from its book summary (or without ``funding_8h`` there) is asked through
        ``public/ticker``; if that fails its error goes to ``errors`` and the perpetual has no row.
        A failed book summary fails the venue.
        """
        perps = {i.symbol: i for i in instruments if i.kind is Kind.PERP}
        result = FundingResult(self.name)
        if not perps:
            return result
        currencies = sorted({i.settle for i in perps.values()})
        bodies = await asyncio.gather(*(self._book_summary(c) for c in currencies))
        received = self.ctx.now()
        found: dict[str, FundingRate] = {}
        for body in bodies:
            found.update(parse_book_summary(body, perps, received))
        missing = [i for s, i in perps.items() if s not in found]
        if missing:
            await self._tickers(missing, found, result)
        result.rates = [found[s] for s in perps if s in found]
        return result

    async def _book_summary(self, currency: str) -> Any:
        params = {"currency": currency, "kind": api.BOOK_SUMMARY_KIND}
        return await self.get(api.MAIN_HOST, api.BOOK_SUMMARY, params,
                              endpoint=f"public/get_book_summary_by_currency?currency={currency}")

    async def _tickers(self, perps: Sequence[Instrument], found: dict[str, FundingRate],
                       result: FundingResult) -> None:
        """Fill ``found`` from one ticker per perpetual; failures go to ``result.errors``."""
        done = await asyncio.gather(*(self.fetch_ticker(i) for i in perps), return_exceptions=True)
        for inst, item in zip(perps, done, strict=True):
            if isinstance(item, DtrackError):
                result.errors.append(item)
            elif isinstance(item, BaseException):
                raise item
            else:
                found[inst.symbol] = item

    async def fetch_ticker(self, instrument: Instrument) -> FundingRate:
        """Funding of one perpetual from ``public/ticker`` (the fallback of the book summary)."""
        body = await self.get(api.MAIN_HOST, api.TICKER, {"instrument_name": instrument.symbol},
                              endpoint="public/ticker")
        return parse_ticker(body, instrument, self.ctx.now())

    async def fetch_funding_history(self, instrument: Instrument, start: datetime, end: datetime) -> FundingHistory:
        """Hourly 8 h-equivalent samples over ``[start, end]``: the 30-day windows concurrently."""
        windows = await asyncio.gather(*(self._history_window(instrument.symbol, lo, hi)
                                         for lo, hi in history_windows(start, end)))
        points = within(history_points(s for window in windows for s in window), start, end)
        return FundingHistory(self.name, instrument.symbol, start, end, points, _history_note(points, start, end))

    async def _history_window(self, symbol: str, lo: int, hi: int) -> Samples:
        """Every sample Deribit has in the window ``(lo, hi]``, however few rows one answer holds.

        An answer that is non-empty but stops an hour or more short of either end of the range it
        answered is followed by a request for the rest: from just after its last sample to the end
        (an answer capped at its oldest rows), and from the start to just before its first sample
        (capped at its newest rows, or a perpetual listed inside the window: then that answer is
        empty). A range stops on an empty answer or one with no new sample, and the window after
        ``MAX_REQUESTS_PER_WINDOW`` requests.
        """
        samples: dict[datetime, float] = {}
        pending = [(lo, hi)]
        for _ in range(MAX_REQUESTS_PER_WINDOW):
            if not pending:
                break
            a, b = pending.pop()
            page = parse_funding_history(await self._history_page(symbol, a, b))
            fresh = {t: rate for t, rate in page if t not in samples and a <= utc_to_ms(t) <= b}
            if not fresh:  # empty, or nothing new: no progress on this range
                continue
            samples.update(fresh)
            first, last = utc_to_ms(min(fresh)), utc_to_ms(max(fresh))
            if last + HOUR_MS <= b:
                pending.append((last + 1, b))
            if first - HOUR_MS > a:
                pending.append((a, first - 1))
        return sorted(samples.items())

    async def _history_page(self, symbol: str, lo: int, hi: int) -> Any:
        params = {"instrument_name": symbol, "start_timestamp": lo, "end_timestamp": hi}
        return await self.get(api.MAIN_HOST, api.FUNDING_HISTORY, params, endpoint="public/get_funding_rate_history")


def _history_note(points: Sequence[FundingPoint], start: datetime, end: datetime) -> str:
    """The history note, saying so when Deribit has fewer samples than the window asks: a late first
    sample, an early last one, or missing hours in between."""
    if end - start < timedelta(hours=1):
        return HISTORY_NOTE
    if not points:
        return f"{HISTORY_NOTE}; Deribit returned no samples in the window"
    first, last = points[0].time, points[-1].time
    notes = [HISTORY_NOTE]
    if first - start > timedelta(hours=1):
        notes.append(f"Deribit has samples only from {first:%Y-%m-%d %H:%M} UTC "
                     f"(asked from {start:%Y-%m-%d %H:%M} UTC)")
    if end - last > timedelta(hours=2):  # the current hour's sample may not be published yet
        notes.append(f"Deribit has samples only until {last:%Y-%m-%d %H:%M} UTC "
                     f"(asked until {end:%Y-%m-%d %H:%M} UTC)")
    hours = round((last - first) / timedelta(hours=1)) + 1
    if hours > len(points):
        notes.append(f"Deribit returned no sample for {hours - len(points)} of the {hours} hours from "
                     f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} UTC")
    return "; ".join(notes)
